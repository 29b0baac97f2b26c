#include "license/text_match.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace dg {

struct LicenseTemplate::Element {
  enum class Type { kWord, kVar, kOptional } type = Type::kWord;
  std::string word;
  // kVar: what may stand in its place.
  size_t max_chars = 0;                 // total characters of the words it takes (spaces included)
  bool nonempty = false;
  std::shared_ptr<const std::regex> re; // null: any words up to max_chars
  std::vector<std::string> original;    // its original text, normalised
  size_t max_words = 0;
  bool copyright = false;                // stands for a copyright notice: only notice-like words may fill it
  std::set<std::string> operatives;     // operative words of the original (others may not appear in its place)
  std::vector<Element> children;        // kOptional
};

namespace {

using Element = LicenseTemplate::Element;

// SPDX equivalentwords.txt (the pairs that occur in license texts), British
// and variant spellings to one form. Hyphenated words are joined before
// (sub-license → sublicense, non-commercial → noncommercial).
const std::unordered_map<std::string, std::string>& Equivalents() {
  static const std::unordered_map<std::string, std::string> m = {
      {"acknowledgment", "acknowledgement"}, {"analogue", "analog"},         {"analyse", "analyze"},
      {"artefact", "artifact"},             {"authorisation", "authorization"}, {"authorised", "authorized"},
      {"calibre", "caliber"},               {"cancelled", "canceled"},       {"capitalisations", "capitalizations"},
      {"catalogue", "catalog"},             {"categorise", "categorize"},    {"centre", "center"},
      {"emphasised", "emphasized"},         {"favour", "favor"},             {"favourite", "favorite"},
      {"fulfil", "fulfill"},                {"fulfilment", "fulfillment"},   {"initialise", "initialize"},
      {"judgment", "judgement"},            {"labelling", "labeling"},       {"labour", "labor"},
      {"licence", "license"},               {"licences", "licenses"},        {"licenced", "licensed"},
      {"licencee", "licensee"},             {"licencor", "licensor"},        {"licencing", "licensing"},
      {"maximise", "maximize"},             {"modelled", "modeled"},         {"modelling", "modeling"},
      {"offence", "offense"},               {"optimise", "optimize"},        {"organisation", "organization"},
      {"organisations", "organizations"},   {"organise", "organize"},        {"practise", "practice"},
      {"programme", "program"},             {"realise", "realize"},          {"recognise", "recognize"},
      {"signalling", "signaling"},          {"utilisation", "utilization"},  {"whilst", "while"},
      {"wilful", "willful"},                {"https", "http"},               {"percent", "percent"},
  };
  return m;
}

bool IsWordByte(unsigned char c) { return std::isalnum(c) || c >= 0x80; }

// Typographic quotes, dashes, bullets and spaces (UTF-8) that separate words.
size_t SeparatorLength(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80) {
    const unsigned char d = static_cast<unsigned char>(s[i + 2]);
    if ((d >= 0x90 && d <= 0xA7) || d == 0xB2 || d == 0xB3) return 3;  // hyphens, dashes, quotes, bullet, primes
  }
  if (c == 0xC2 && i + 1 < s.size()) {
    const unsigned char d = static_cast<unsigned char>(s[i + 1]);
    if (d == 0xA0 || d == 0xA7 || d == 0xA9 || d == 0xAB || d == 0xBB || d == 0xB6 || d == 0xB7) return 2;  // nbsp § © « » ¶ ·
  }
  return 0;
}

// Strips, at the start of a line, code comment markers and list bullets or
// numbering (SPDX guidelines 5 and 6); returns where the text starts.
size_t LineTextStart(std::string_view line) {
  size_t i = 0;
  for (int round = 0; round < 4; ++round) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::string_view rest = line.substr(i);
    size_t skip = 0;
    for (std::string_view marker : {"//", "/*", "*/", "#", "*", ";", "--", "-", "+", "\xE2\x80\xA2"}) {
      if (rest.substr(0, marker.size()) == marker && (rest.size() == marker.size() || !IsWordByte(static_cast<unsigned char>(rest[marker.size()])))) {
        skip = marker.size();
        break;
      }
    }
    if (skip == 0) {
      // (a)  a.  1.  1.2.  (iv)  iv)  — a short label ending in '.' or ')'
      size_t j = 0;
      const bool paren = !rest.empty() && rest[0] == '(';
      if (paren) ++j;
      const size_t label = j;
      while (j < rest.size() && j - label < 6 && (std::isalnum(static_cast<unsigned char>(rest[j])) || rest[j] == '.')) ++j;
      const bool digits = j > label && std::all_of(rest.begin() + static_cast<long>(label), rest.begin() + static_cast<long>(j),
                                                   [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)) || ch == '.'; });
      const bool letter = j == label + 1 || (j == label + 2 && rest[label + 1] == '.');
      const bool roman = j > label && std::all_of(rest.begin() + static_cast<long>(label), rest.begin() + static_cast<long>(j),
                                                  [](char ch) { return std::strchr("ivxlcIVXLC.", ch) != nullptr; });
      if (j > label && j < rest.size() && (rest[j] == ')' || rest[j - 1] == '.') && (digits || letter || roman)) {
        const size_t end = rest[j] == ')' ? j + 1 : j;
        if (end >= rest.size() || rest[end] == ' ' || rest[end] == '\t') skip = end;
      }
    }
    if (skip == 0) break;
    i += skip;
  }
  return i;
}

// Words that grant, forbid or condition: a copyright notice holds none, and a
// replaceable part of a template may hold none its original does not. A
// line or a part that adds one changes what the license says.
bool IsOperativeWord(const std::string& w) {
  static const std::set<std::string> kWords = {
      "not",        "no",         "nor",        "never",     "may",        "shall",       "must",      "will",
      "grant",      "granted",    "grants",     "license",   "licensed",   "licenses",    "licensing", "sublicense",
      "permission", "permitted",  "permit",     "permits",   "prohibited", "prohibit",    "forbidden", "restrict",
      "restricted", "restriction","restrictions","except",   "unless",     "only",        "provided",  "condition",
      "conditions", "terms",      "agreement",  "use",       "used",       "uses",        "using",     "train",
      "training",   "trained",    "distill",    "distillation", "distilled", "output",    "outputs",   "model",
      "models",     "improve",    "commercial", "noncommercial", "compete", "competing",  "revoke",    "terminate",
      "display",    "attribution","require",    "required",  "requires",   "obligation",  "you",       "your"};
  return kWords.count(w) > 0;
}

std::vector<std::string> WordsOf(std::string_view s);

// A copyright notice line (SPDX guideline 9 lets it be ignored): it begins
// with "Copyright", "(c)", "©" or "All rights reserved", is short, and says
// nothing operative — "(c) You may not use …" is a clause, not a notice.
bool IsCopyrightLine(std::string_view line) {
  std::string lower;
  for (size_t i = 0; i < line.size() && lower.size() < 24; ++i) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(line[i]))));
  const bool starts = lower.rfind("copyright", 0) == 0 || lower.rfind("(c)", 0) == 0 || lower.rfind("\xC2\xA9", 0) == 0 ||
                      lower.rfind("all rights reserved", 0) == 0;
  if (!starts) return false;
  const std::vector<std::string> words = WordsOf(line);
  if (words.size() > 24) return false;
  return std::none_of(words.begin(), words.end(), IsOperativeWord);
}

// Appends the normalised words of one piece of text (no line handling).
void AppendWords(std::string_view s, std::vector<std::string>* out) {
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    auto it = Equivalents().find(word);
    out->push_back(it == Equivalents().end() ? word : it->second);
    word.clear();
  };
  for (size_t i = 0; i < s.size() && out->size() < kMaxLicenseTokens;) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (const size_t sep = SeparatorLength(s, i)) {
      // A Unicode hyphen between letters joins the word, like '-'.
      const bool hyphen = sep == 3 && (static_cast<unsigned char>(s[i + 2]) == 0x90 || static_cast<unsigned char>(s[i + 2]) == 0x91);
      if (!(hyphen && !word.empty() && i + 3 < s.size() && IsWordByte(static_cast<unsigned char>(s[i + 3])))) flush();
      i += sep;
      continue;
    }
    if (c == '-' && !word.empty() && i + 1 < s.size() && IsWordByte(static_cast<unsigned char>(s[i + 1]))) {
      ++i;  // sub-license → sublicense
      continue;
    }
    if (IsWordByte(c)) {
      word.push_back(static_cast<char>(std::tolower(c)));
    } else {
      flush();
    }
    ++i;
  }
  flush();
}

std::vector<std::string> WordsOf(std::string_view s) {
  std::vector<std::string> out;
  AppendWords(s, &out);
  return out;
}

// The lines of a text with the line-level rules applied: copyright notices
// dropped, comment markers and list labels stripped.
std::string NormaliseLines(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    const size_t lead = line.find_first_not_of(" \t");
    const bool copyright = lead != std::string_view::npos && IsCopyrightLine(line.substr(lead));
    line = line.substr(LineTextStart(line));
    if (!copyright && !IsCopyrightLine(line)) {
      out.append(line.data(), line.size());
      out.push_back('\n');
    }
    if (end == text.size()) break;
    pos = end + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& words, size_t from, size_t to) {
  std::string s;
  for (size_t i = from; i < to; ++i) {
    if (i > from) s.push_back(' ');
    s += words[i];
  }
  return s;
}

// Reads `name="value"` fields of a <<var;…>> tag.
std::map<std::string, std::string> TagFields(std::string_view tag) {
  std::map<std::string, std::string> f;
  size_t i = 0;
  while (i < tag.size()) {
    const size_t eq = tag.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= tag.size() || tag[eq + 1] != '"') break;
    std::string key(tag.substr(i, eq - i));
    key.erase(0, key.find_first_not_of("; \t"));
    const size_t close = tag.find('"', eq + 2);
    if (close == std::string_view::npos) break;
    f[key] = std::string(tag.substr(eq + 2, close - eq - 2));
    i = close + 1;
  }
  return f;
}

// The end of the markup tag that starts at `at` ("<<"): the position after
// ">>", skipping ">>" inside quoted values; npos when unclosed.
size_t TagEnd(std::string_view s, size_t at) {
  bool quoted = false;
  for (size_t i = at + 2; i + 1 < s.size(); ++i) {
    if (s[i] == '"') quoted = !quoted;
    if (!quoted && s[i] == '>' && s[i + 1] == '>') return i + 2;
  }
  return std::string_view::npos;
}

Status ParseTemplate(std::string_view s, const std::string& where, std::vector<Element>* out) {
  std::vector<std::vector<Element>*> stack = {out};
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t at = s.find("<<", pos);
    const std::string_view literal = s.substr(pos, (at == std::string_view::npos ? s.size() : at) - pos);
    std::vector<std::string> words;
    AppendWords(literal, &words);
    for (auto& w : words) {
      Element e;
      e.word = std::move(w);
      stack.back()->push_back(std::move(e));
    }
    if (at == std::string_view::npos) break;
    const size_t end = TagEnd(s, at);
    if (end == std::string_view::npos) return Status::InvalidInput(where + ": offset " + std::to_string(at) + ": unclosed <<");
    const std::string_view tag = s.substr(at + 2, end - at - 4);
    if (tag.rfind("beginOptional", 0) == 0) {
      Element e;
      e.type = Element::Type::kOptional;
      stack.back()->push_back(std::move(e));
      stack.push_back(&stack.back()->back().children);
    } else if (tag.rfind("endOptional", 0) == 0) {
      if (stack.size() == 1) return Status::InvalidInput(where + ": offset " + std::to_string(at) + ": <<endOptional>> without <<beginOptional>>");
      stack.pop_back();
    } else if (tag.rfind("var", 0) == 0) {
      const auto fields = TagFields(tag.substr(3));
      auto m = fields.find("match");
      if (m == fields.end()) return Status::InvalidInput(where + ": offset " + std::to_string(at) + ": <<var>> without match=\"…\"");
      Element e;
      e.type = Element::Type::kVar;
      if (auto o = fields.find("original"); o != fields.end()) AppendWords(NormaliseLines(o->second), &e.original);
      std::string var_name = fields.count("name") ? fields.at("name") : "";
      std::transform(var_name.begin(), var_name.end(), var_name.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      e.copyright = var_name.find("copyright") != std::string::npos && var_name.find("holder") == std::string::npos;
      for (const auto& w : e.original) {
        if (IsOperativeWord(w)) e.operatives.insert(w);
      }
      static const std::regex kBounded(R"(^\.\{(\d+),(\d+)\}$)");
      std::smatch bm;
      const std::string match = m->second;
      if (std::regex_match(match, bm, kBounded)) {
        e.nonempty = std::stoul(bm[1]) > 0;
        e.max_chars = std::min<size_t>(std::stoul(bm[2]), 2000);
        e.max_words = 300;
      } else if (match == ".+" || match == ".*") {
        e.nonempty = match == ".+";
        e.max_chars = 400;
        e.max_words = 60;
      } else {
        try {
          e.re = std::make_shared<std::regex>(match, std::regex::icase | std::regex::ECMAScript);
        } catch (const std::regex_error&) {
          e.re = nullptr;
        }
        e.max_chars = 400;
        e.max_words = 12;
      }
      // A replaceable part stands for a name, a date, a label: bounded by
      // its original, so that a clause cannot hide in it.
      e.max_words = std::min(e.max_words, e.copyright ? size_t{40} : std::max<size_t>(10, 3 * e.original.size()));
      stack.back()->push_back(std::move(e));
    } else {
      return Status::InvalidInput(where + ": offset " + std::to_string(at) + ": unknown template markup <<" +
                                  std::string(tag.substr(0, 20)) + ">>");
    }
    pos = end;
  }
  if (stack.size() != 1) return Status::InvalidInput(where + ": <<beginOptional>> is never closed");
  return Status::Ok();
}

void Flatten(const std::vector<Element>& elements, std::vector<std::string>* out) {
  for (const Element& e : elements) {
    if (e.type == Element::Type::kWord) out->push_back(e.word);
    else if (e.type == Element::Type::kVar) out->insert(out->end(), e.original.begin(), e.original.end());
    else Flatten(e.children, out);
  }
}

// Whether words [from, to) of `t` may stand for the replaceable part `v`
// (their length is already within its bounds).
bool VarAccepts(const Element& v, const std::vector<std::string>& t, size_t from, size_t to) {
  if (to == from) return !v.nonempty;
  for (size_t i = from; i < to; ++i) {
    if (IsOperativeWord(t[i]) && (v.copyright || !v.operatives.count(t[i]))) return false;  // a clause, not a name
  }
  if (!v.re) return true;
  if (v.original.size() == to - from && std::equal(v.original.begin(), v.original.end(), t.begin() + static_cast<long>(from))) return true;
  // The template's pattern is written for the original text; the words here
  // are normalised (lower case, no punctuation), so the original always
  // passes above and the pattern decides the rest.
  return std::regex_match(Join(t, from, to), *v.re);
}

// The positions of `t` that the elements can reach from `starts`.
std::vector<size_t> Reach(const std::vector<Element>& elements, const std::vector<std::string>& t, std::vector<size_t> starts) {
  std::vector<size_t> cur = std::move(starts);
  for (const Element& e : elements) {
    std::set<size_t> next;
    switch (e.type) {
      case Element::Type::kWord:
        for (size_t p : cur) {
          if (p < t.size() && t[p] == e.word) next.insert(p + 1);
        }
        break;
      case Element::Type::kVar:
        for (size_t p : cur) {
          size_t chars = 0;
          for (size_t k = 0; p + k <= t.size() && k <= e.max_words; ++k) {
            if (k > 0) chars += t[p + k - 1].size() + (k > 1 ? 1 : 0);
            if (chars > e.max_chars) break;
            if (VarAccepts(e, t, p, p + k)) next.insert(p + k);
          }
        }
        break;
      case Element::Type::kOptional: {
        next.insert(cur.begin(), cur.end());
        for (size_t p : Reach(e.children, t, cur)) next.insert(p);
        break;
      }
    }
    cur.assign(next.begin(), next.end());
    if (cur.empty()) break;
    if (cur.size() > 4096) cur.resize(4096);  // bounded work on adversarial input
  }
  return cur;
}

uint64_t Mix(uint64_t h, const std::string& w) { return (h ^ std::hash<std::string>{}(w)) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL; }

std::vector<uint64_t> Shingles(const std::vector<std::string>& t, size_t n) {
  std::vector<uint64_t> out;
  if (t.size() < n) n = std::max<size_t>(1, t.size());
  for (size_t i = 0; i + n <= t.size(); ++i) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t k = 0; k < n; ++k) h = Mix(h, t[i + k]);
    out.push_back(h);
  }
  return out;
}

}  // namespace

std::vector<std::string> LicenseTokens(std::string_view text) {
  std::vector<std::string> out;
  AppendWords(NormaliseLines(text), &out);
  return out;
}

StatusOr<LicenseTemplate> LicenseTemplate::Compile(std::string_view text, bool spdx_template, const std::string& where) {
  auto elements = std::make_shared<std::vector<Element>>();
  const std::string lines = NormaliseLines(text);
  if (spdx_template) {
    DG_RETURN_IF_ERROR(ParseTemplate(lines, where, elements.get()));
  } else {
    std::vector<std::string> words;
    AppendWords(lines, &words);
    for (auto& w : words) {
      Element e;
      e.word = std::move(w);
      elements->push_back(std::move(e));
    }
  }
  LicenseTemplate t;
  Flatten(*elements, &t.reference_);
  if (t.reference_.empty()) return Status::InvalidInput(where + ": the reference text has no words");
  t.elements_ = std::move(elements);
  return t;
}

bool LicenseTemplate::Matches(const std::vector<std::string>& tokens) const {
  if (!elements_ || tokens.empty()) return false;
  const std::vector<size_t> ends = Reach(*elements_, tokens, {0});
  return std::find(ends.begin(), ends.end(), tokens.size()) != ends.end();
}

double ContainmentEstimate(const std::vector<std::string>& text, const std::vector<std::string>& reference) {
  if (reference.empty() || text.empty()) return 0;
  const std::vector<uint64_t> ref = Shingles(reference, 5);
  const std::vector<uint64_t> txt = Shingles(text, 5);
  const std::unordered_set<uint64_t> have(txt.begin(), txt.end());
  size_t hit = 0;
  for (uint64_t h : ref) hit += have.count(h);
  return ref.empty() ? 0 : static_cast<double>(hit) / static_cast<double>(ref.size());
}

TextComparison CompareTokens(const std::vector<std::string>& text, const std::vector<std::string>& reference, size_t max_edits) {
  TextComparison c;
  // Words as integers.
  std::unordered_map<std::string, int> ids;
  auto intern = [&ids](const std::vector<std::string>& v) {
    std::vector<int> out;
    out.reserve(v.size());
    for (const auto& w : v) out.push_back(ids.emplace(w, static_cast<int>(ids.size())).first->second);
    return out;
  };
  const std::vector<int> a = intern(text), b = intern(reference);
  const long n = static_cast<long>(a.size()), m = static_cast<long>(b.size());
  const long dmax = std::min<long>(static_cast<long>(max_edits), n + m);
  // Myers' O((N+M)D) diff; trace[d] holds V for k in [-d, d] (index k + d).
  std::vector<std::vector<long>> trace;
  std::vector<long> v(static_cast<size_t>(2 * dmax + 3), 0);
  const long off = dmax + 1;
  long found = -1;
  for (long d = 0; d <= dmax && found < 0; ++d) {
    for (long k = -d; k <= d; k += 2) {
      long x = (k == -d || (k != d && v[static_cast<size_t>(off + k - 1)] < v[static_cast<size_t>(off + k + 1)]))
                   ? v[static_cast<size_t>(off + k + 1)]
                   : v[static_cast<size_t>(off + k - 1)] + 1;
      long y = x - k;
      while (x < n && y < m && a[static_cast<size_t>(x)] == b[static_cast<size_t>(y)]) ++x, ++y;
      v[static_cast<size_t>(off + k)] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
    trace.emplace_back(v.begin() + (off - d), v.begin() + (off + d + 1));
  }
  if (found < 0) {
    c.coverage = ContainmentEstimate(text, reference);
    c.exact = false;
    return c;
  }
  // Walk back: a step right (x+1) takes a word of the text the reference
  // lacks (added); a step down (y+1) a word of the reference the text lacks.
  std::vector<char> ops;  // '=' '+' '-' in reverse
  long x = n, y = m;
  for (long d = found; d > 0; --d) {
    const std::vector<long>& prev = trace[static_cast<size_t>(d - 1)];
    auto at = [&prev, d](long k) { return prev[static_cast<size_t>(k + d - 1)]; };
    const long k = x - y;
    const bool down = k == -d || (k != d && at(k - 1) < at(k + 1));
    const long pk = down ? k + 1 : k - 1;
    const long px = at(pk), py = px - pk;
    while (x > (down ? px : px + 1) && y > (down ? py + 1 : py)) ops.push_back('='), --x, --y;
    if (down) ops.push_back('-'), --y;
    else ops.push_back('+'), --x;
  }
  while (x > 0 && y > 0) ops.push_back('='), --x, --y;
  std::reverse(ops.begin(), ops.end());
  // Counts and the runs that differ.
  size_t ti = 0, ri = 0;
  char run = 0;
  std::vector<std::string> words;
  auto close_run = [&] {
    if (run == 0 || words.empty()) return;
    if (c.differences.size() < 6) {
      std::string s = (run == '+' ? "adds “" : "omits “");
      for (size_t i = 0; i < words.size() && i < 24; ++i) s += (i ? " " : "") + words[i];
      s += words.size() > 24 ? "…”" : "”";
      s += " (" + std::to_string(words.size()) + (words.size() == 1 ? " word)" : " words)");
      c.differences.push_back(s);
    }
    words.clear();
  };
  for (char op : ops) {
    if (op != run) close_run();
    run = op == '=' ? 0 : op;
    if (op == '=') {
      ++c.common, ++ti, ++ri;
    } else if (op == '+') {
      ++c.added;
      words.push_back(text[ti++]);
    } else {
      ++c.removed;
      words.push_back(reference[ri++]);
    }
  }
  close_run();
  c.exact = true;
  c.coverage = m == 0 ? 0 : static_cast<double>(c.common) / static_cast<double>(m);
  return c;
}

}  // namespace dg
