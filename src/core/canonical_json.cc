#include "core/canonical_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/file_util.h"

namespace dg {
namespace {

using json = nlohmann::json;

constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

// UTF-8 → UTF-16 code units, for RFC 8785 §3.2.3 member ordering. Input is
// already valid UTF-8 (nlohmann validates on parse and on dump).
std::u16string ToUtf16(std::string_view s) {
  std::u16string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 6) { cp = c & 0x1f; len = 2; }
    else if ((c >> 4) == 14) { cp = c & 0x0f; len = 3; }
    else { cp = c & 0x07; len = 4; }
    for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

// True when one of the 8 bytes of `x` is a control character, '"' or '\\'
// (exact: the borrow tricks below never report a byte that is not there).
inline bool AnyNeedsEscape(uint64_t x) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
  auto has_zero = [](uint64_t v) { return ((v - kOnes) & ~v & kHighs) != 0; };
  const bool control = ((x - kOnes * 0x20) & ~x & kHighs) != 0;  // a byte below 0x20
  return control || has_zero(x ^ (kOnes * '"')) || has_zero(x ^ (kOnes * '\\'));
}

void AppendString(std::string_view s, std::string& out) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the pending run of bytes that need no escape
  for (size_t i = 0; i < s.size(); ++i) {
    // Eight bytes at a time while none needs an escape.
    while (i + 8 <= s.size()) {
      uint64_t x;
      std::memcpy(&x, s.data() + i, 8);
      if (AnyNeedsEscape(x)) break;
      i += 8;
    }
    if (i == s.size()) break;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s, run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.append(s, run, std::string::npos);
  out.push_back('"');
}


// Appends the canonical form of v. On failure returns false and sets *why;
// *pointer collects the JSON pointer of the offending value (built on the
// way back up, so the success path never formats pointers).
bool Append(const json& v, std::string& out, std::string* why, std::string* pointer, int depth) {
  if (depth > kMaxJsonDepth && (v.is_array() || v.is_object())) {  // depth: this container and those around it
    *why = "is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    return false;
  }
  switch (v.type()) {
    case json::value_t::null: out += "null"; return true;
    case json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return true;
    case json::value_t::number_integer: {
      int64_t i = v.get<int64_t>();
      if (i > kMaxSafeInteger || i < -kMaxSafeInteger) {
        *why = "is an integer outside the exactly representable range ±(2^53-1)";
        return false;
      }
      out += std::to_string(i);
      return true;
    }
    case json::value_t::number_unsigned: {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(kMaxSafeInteger)) {
        *why = "is an integer outside the exactly representable range ±(2^53-1)";
        return false;
      }
      out += std::to_string(u);
      return true;
    }
    case json::value_t::number_float: {
      double d = v.get<double>();
      if (!std::isfinite(d)) {
        *why = "is not a finite number";
        return false;
      }
      // ECMAScript writes a double below 1e21 without an exponent: one of
      // magnitude 2^53 or more would read as an integer outside ±(2^53-1),
      // which no canonical text may hold (IsCanonicalJson rejects it). Such a
      // number is refused here rather than recorded in a form that can never
      // verify again (e.g. 1e17, 84888848444444444.8).
      if (std::fabs(d) > static_cast<double>(kMaxSafeInteger) && std::fabs(d) < 1e21) {
        *why = "is a number of magnitude 2^53 or more that is not exactly representable in canonical JSON";
        return false;
      }
      out += FormatJcsNumber(d);
      return true;
    }
    case json::value_t::string: AppendString(v.get_ref<const std::string&>(), out); return true;
    case json::value_t::array: {
      out.push_back('[');
      size_t i = 0;
      for (const auto& e : v) {
        if (i) out.push_back(',');
        if (!Append(e, out, why, pointer, depth + 1)) {
          *pointer = "/" + std::to_string(i) + *pointer;
          return false;
        }
        ++i;
      }
      out.push_back(']');
      return true;
    }
    case json::value_t::object: {
      // nlohmann keeps members in a std::map, ordered by UTF-8 bytes, which is
      // code point order. UTF-16 code unit order (RFC 8785 §3.2.3) differs
      // from it only for characters above U+FFFF (4-byte UTF-8), so only
      // objects with such a key are re-sorted.
      bool astral = false;
      for (auto it = v.begin(); it != v.end() && !astral; ++it) {
        for (unsigned char c : it.key()) {
          if (c >= 0xf0) {
            astral = true;
            break;
          }
        }
      }
      auto member = [&](json::const_iterator it, bool first) {
        if (!first) out.push_back(',');
        AppendString(it.key(), out);
        out.push_back(':');
        if (Append(it.value(), out, why, pointer, depth + 1)) return true;
        *pointer = "/" + EscapePointerToken(it.key()) + *pointer;
        return false;
      };
      out.push_back('{');
      if (!astral) {  // the map's order is the canonical order
        for (auto it = v.begin(); it != v.end(); ++it) {
          if (!member(it, it == v.begin())) return false;
        }
      } else {
        std::vector<std::pair<std::u16string, json::const_iterator>> keys;
        keys.reserve(v.size());
        for (auto it = v.begin(); it != v.end(); ++it) keys.emplace_back(ToUtf16(it.key()), it);
        std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (size_t i = 0; i < keys.size(); ++i) {
          if (!member(keys[i].second, i == 0)) return false;
        }
      }
      out.push_back('}');
      return true;
    }
    case json::value_t::binary:
    case json::value_t::discarded:
      break;
  }
  *why = "is not representable in JSON";
  return false;
}

// Single-pass checker for IsCanonicalJson().
class CanonicalChecker {
 public:
  explicit CanonicalChecker(std::string_view t) : t_(t) {}

  bool Run(std::string* why, size_t* members) {
    bool ok = Value(0, members) && (pos_ == t_.size() || Fail("trailing bytes"));
    if (!ok && why) *why = error_ + " at byte " + std::to_string(pos_);
    return ok;
  }

 private:
  static constexpr int kMaxDepth = kMaxJsonDepth;

  bool Fail(const char* what) {
    if (error_.empty()) error_ = what;
    return false;
  }
  bool Literal(std::string_view word) {
    if (t_.substr(pos_, word.size()) != word) return Fail("invalid literal");
    pos_ += word.size();
    return true;
  }

  bool Value(int depth, size_t* members) {
    // depth: the containers around this value; at most kMaxJsonDepth nested.
    if (depth >= kMaxDepth && pos_ < t_.size() && (t_[pos_] == '{' || t_[pos_] == '[')) return Fail("nesting too deep");
    if (pos_ >= t_.size()) return Fail("unexpected end");
    switch (t_[pos_]) {
      case '{': return Object(depth, members);
      case '[': return Array(depth);
      case '"': return String(nullptr, nullptr);
      case 't': return Literal("true");
      case 'f': return Literal("false");
      case 'n': return Literal("null");
      default: return Number();
    }
  }

  bool Object(int depth, size_t* members) {
    ++pos_;
    size_t count = 0;
    // Member names must strictly increase in UTF-16 code-unit order. For
    // names of plain ASCII without escapes that is byte order, compared in
    // place; any other name is decoded to UTF-16 for the comparison.
    std::string_view prev_raw;
    std::u16string prev16, key16;
    bool prev_plain = false;
    if (pos_ < t_.size() && t_[pos_] == '}') {
      ++pos_;
    } else {
      for (;;) {
        if (pos_ >= t_.size() || t_[pos_] != '"') return Fail("expected a member name");
        const size_t name_start = pos_;
        bool plain = true;
        if (!String(nullptr, &plain)) return false;
        const std::string_view raw = t_.substr(name_start + 1, pos_ - 2 - name_start);
        if (!plain) {  // decode (rare): escapes or non-ASCII
          const size_t end = pos_;
          pos_ = name_start;
          key16.clear();
          String(&key16, nullptr);
          pos_ = end;
        }
        if (count > 0) {
          bool ordered;
          if (plain && prev_plain) {
            ordered = prev_raw < raw;
          } else {
            if (prev_plain) prev16.assign(prev_raw.begin(), prev_raw.end());
            if (plain) key16.assign(raw.begin(), raw.end());
            ordered = prev16 < key16;
          }
          if (!ordered) return Fail("members not in strictly increasing UTF-16 order");
        }
        prev_raw = raw;
        prev_plain = plain;
        if (!plain) prev16.swap(key16);
        if (pos_ >= t_.size() || t_[pos_++] != ':') return Fail("expected ':' (no whitespace allowed)");
        if (!Value(depth + 1, nullptr)) return false;
        ++count;
        if (pos_ >= t_.size()) return Fail("unexpected end in object");
        char c = t_[pos_++];
        if (c == '}') break;
        if (c != ',') return Fail("expected ',' or '}'");
      }
    }
    if (members) *members = count;
    return true;
  }

  bool Array(int depth) {
    ++pos_;
    if (pos_ < t_.size() && t_[pos_] == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      if (!Value(depth + 1, nullptr)) return false;
      if (pos_ >= t_.size()) return Fail("unexpected end in array");
      char c = t_[pos_++];
      if (c == ']') return true;
      if (c != ',') return Fail("expected ',' or ']'");
    }
  }

  // Checks a string is written exactly as AppendString writes it; appends
  // its UTF-16 code units to *u16 when given. *plain (when given) is left
  // true only for ASCII without escapes.
  bool String(std::u16string* u16, bool* plain = nullptr) {
    ++pos_;
    for (;;) {
      if (u16 == nullptr) {  // skip a run of plain printable ASCII quickly
        while (pos_ < t_.size()) {
          const unsigned char b = static_cast<unsigned char>(t_[pos_]);
          if (b < 0x20 || b >= 0x80 || b == '"' || b == '\\') break;
          ++pos_;
        }
      }
      if (pos_ >= t_.size()) return Fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(t_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("unescaped control character");
      if (c == '\\') {
        if (plain) *plain = false;
        if (pos_ + 1 >= t_.size()) return Fail("unterminated escape");
        char e = t_[pos_ + 1];
        char16_t unit;
        switch (e) {
          case '"': unit = '"'; break;
          case '\\': unit = '\\'; break;
          case 'b': unit = '\b'; break;
          case 'f': unit = '\f'; break;
          case 'n': unit = '\n'; break;
          case 'r': unit = '\r'; break;
          case 't': unit = '\t'; break;
          case 'u': {
            // Only controls without a short form may use \u00xx, lowercase.
            std::string_view hex = t_.substr(pos_ + 2, 4);
            if (hex.size() != 4 || hex[0] != '0' || hex[1] != '0' || !(hex[2] == '0' || hex[2] == '1')) {
              return Fail("non-canonical \\u escape");
            }
            char h = hex[3];
            int lo = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : -1;
            if (lo < 0) return Fail("non-canonical \\u escape");
            unit = static_cast<char16_t>((hex[2] - '0') * 16 + lo);
            if (unit == '\b' || unit == '\f' || unit == '\n' || unit == '\r' || unit == '\t') {
              return Fail("control character with a short escape written as \\u");
            }
            pos_ += 4;
            break;
          }
          default: return Fail("non-canonical escape");
        }
        pos_ += 2;
        if (u16) u16->push_back(unit);
        continue;
      }
      if (c < 0x80) {
        if (u16) u16->push_back(c);
        ++pos_;
        continue;
      }
      if (plain) *plain = false;
      size_t len;
      uint32_t cp;
      if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
      else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
      else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
      else return Fail("invalid UTF-8");
      if (pos_ + len > t_.size()) return Fail("invalid UTF-8");
      for (size_t k = 1; k < len; ++k) {
        unsigned char cc = static_cast<unsigned char>(t_[pos_ + k]);
        if ((cc & 0xc0) != 0x80) return Fail("invalid UTF-8");
        cp = (cp << 6) | (cc & 0x3f);
      }
      static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return Fail("invalid UTF-8");
      if (u16) {
        if (cp >= 0x10000) {
          u16->push_back(static_cast<char16_t>(0xd800 + ((cp - 0x10000) >> 10)));
          u16->push_back(static_cast<char16_t>(0xdc00 + ((cp - 0x10000) & 0x3ff)));
        } else {
          u16->push_back(static_cast<char16_t>(cp));
        }
      }
      pos_ += len;
    }
  }

  bool Number() {
    const size_t start = pos_;
    bool integer = true;
    while (pos_ < t_.size()) {
      char c = t_[pos_];
      if (c == '.' || c == 'e' || c == 'E') integer = false;
      else if (!((c >= '0' && c <= '9') || c == '-' || c == '+')) break;
      ++pos_;
    }
    std::string_view num = t_.substr(start, pos_ - start);
    if (num.empty()) return Fail("expected a value");
    if (integer) {
      // Mirrors Canonicalize(): integers are written in decimal and must be
      // within ±(2^53-1); literals beyond 64 bits are doubles (nlohmann's model).
      std::string_view digits = num[0] == '-' ? num.substr(1) : num;
      if (digits.empty() || (digits.size() > 1 && digits[0] == '0') || num == "-0") {
        return Fail("non-canonical integer");
      }
      for (char c : digits) {
        if (c < '0' || c > '9') return Fail("invalid number");
      }
      if (digits.size() <= 15) return true;  // < 10^15 < 2^53
      if (digits.size() <= 16) {
        uint64_t v = 0;
        for (char c : digits) v = v * 10 + static_cast<uint64_t>(c - '0');
        if (v > (uint64_t{1} << 53) - 1) return Fail("integer outside ±(2^53-1)");
        return true;
      }
      // 17 digits or more: beyond 2^53-1, whether read as an integer or (past
      // 64 bits) as a double; Canonicalize() refuses both, so no canonical
      // text holds one.
      return Fail("integer outside ±(2^53-1)");
    }
    double d = 0;
    auto res = std::from_chars(num.data(), num.data() + num.size(), d);
    if (res.ec != std::errc() || res.ptr != num.data() + num.size() || !std::isfinite(d)) {
      return Fail("invalid number");
    }
    if (FormatJcsNumber(d) != num) return Fail("number not in ECMAScript canonical form");
    return true;
  }

  std::string_view t_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

std::string EscapePointerToken(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out.push_back(c);
  }
  return out;
}

bool IsCanonicalJson(std::string_view text, std::string* why, size_t* top_level_members) {
  return CanonicalChecker(text).Run(why, top_level_members);
}

std::string FormatJcsNumber(double v) {
  if (v == 0) return "0";  // also -0
  // Shortest round-trip digits in scientific form: "d[.ddd]e[+-]XX".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp10 = std::stoi(sci.substr(e + 1));
  std::string digits;
  for (char c : mant) if (c != '.') digits.push_back(c);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;  // value = 0.d1d2..dk × 10^n
  std::string out = neg ? "-" : "";
  if (k <= n && n <= 21) {
    out += digits + std::string(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<size_t>(n)) + "." + digits.substr(static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0." + std::string(static_cast<size_t>(-n), '0') + digits;
  } else {
    out += digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += "e";
    out += (n - 1 >= 0) ? "+" : "-";
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

StatusOr<json> LoadJsonFile(const std::string& path) {
  DG_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseJsonStrict(text, path);
}

Status AppendCanonical(const json& value, std::string* out) {
  std::string why, pointer;
  if (!Append(value, *out, &why, &pointer, 1)) {
    return Status::InvalidInput("value at " + (pointer.empty() ? std::string("/") : pointer) + " " + why +
                                " (RFC 8785 canonical JSON)");
  }
  return Status::Ok();
}

void CanonicalObjectBuilder::Member(std::string_view key) {
  // UTF-8 byte order is UTF-16 code unit order but for characters above U+FFFF.
  auto astral = [](std::string_view k) {
    for (char c : k) {
      if (static_cast<unsigned char>(c) >= 0xf0) return true;
    }
    return false;
  };
  const bool in_order = astral(key) || astral(last_key_) ? ToUtf16(last_key_) < ToUtf16(key) : std::string_view(last_key_) < key;
  if (!first_ && !in_order && status_.ok()) {
    status_ = Status::Internal("canonical object: member \"" + std::string(key) + "\" is out of order or repeated");
  }
  last_key_.assign(key);
  text_.push_back(first_ ? '{' : ',');
  first_ = false;
  AppendString(key, text_);
  text_.push_back(':');
}

CanonicalObjectBuilder& CanonicalObjectBuilder::String(std::string_view key, std::string_view value) {
  Member(key);
  AppendString(value, text_);
  return *this;
}

CanonicalObjectBuilder& CanonicalObjectBuilder::Bool(std::string_view key, bool value) {
  Member(key);
  text_ += value ? "true" : "false";
  return *this;
}

CanonicalObjectBuilder& CanonicalObjectBuilder::Null(std::string_view key) {
  Member(key);
  text_ += "null";
  return *this;
}

CanonicalObjectBuilder& CanonicalObjectBuilder::Uint(std::string_view key, uint64_t value) {
  Member(key);
  if (value > static_cast<uint64_t>(kMaxSafeInteger) && status_.ok()) {
    status_ = Status::InvalidInput("canonical object: member \"" + std::string(key) + "\" is an integer above 2^53-1");
  }
  text_ += std::to_string(value);
  return *this;
}

CanonicalObjectBuilder& CanonicalObjectBuilder::Value(std::string_view key, const json& value) {
  Member(key);
  Status s = AppendCanonical(value, &text_);
  if (!s.ok() && status_.ok()) status_ = s;
  return *this;
}

CanonicalObjectBuilder& CanonicalObjectBuilder::Object(std::string_view key, CanonicalObjectBuilder&& object) {
  Member(key);
  auto text = object.Finish();
  if (!text.ok()) {
    if (status_.ok()) status_ = text.status();
  } else {
    text_ += *text;
  }
  return *this;
}

CanonicalObjectBuilder& CanonicalObjectBuilder::Hole(std::string_view key) {
  Member(key);
  if (holed_ && status_.ok()) status_ = Status::Internal("canonical object: a second hole (\"" + std::string(key) + "\")");
  holed_ = true;
  head_ = std::move(text_);
  text_.clear();
  return *this;
}

StatusOr<std::string> CanonicalObjectBuilder::Finish() {
  if (holed_ && status_.ok()) status_ = Status::Internal("canonical object: has a hole; use FinishWithHole()");
  if (!status_.ok()) return status_;
  if (first_) text_.push_back('{');
  text_.push_back('}');
  first_ = true;
  last_key_.clear();
  return std::move(text_);
}

StatusOr<CanonicalObjectWithHole> CanonicalObjectBuilder::FinishWithHole() {
  if (!holed_ && status_.ok()) status_ = Status::Internal("canonical object: no Hole() to fill");
  if (!status_.ok()) return status_;
  text_.push_back('}');
  CanonicalObjectWithHole o;
  o.head_ = std::move(head_);
  o.tail_ = std::move(text_);
  first_ = true;
  holed_ = false;
  last_key_.clear();
  head_.clear();
  text_.clear();
  return o;
}

Status CanonicalObjectWithHole::AppendFilled(uint64_t value, std::string* out) const {
  if (head_.empty()) return Status::Internal("canonical object: empty (not made by CanonicalObjectBuilder)");
  if (value > static_cast<uint64_t>(kMaxSafeInteger)) return Status::InvalidInput("canonical object: a value above 2^53-1");
  out->reserve(out->size() + size() + 20);
  out->append(head_);
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out->append(digits, end);
  out->append(tail_);
  return Status::Ok();
}

StatusOr<std::string> Canonicalize(const json& value) {
  std::string out, why, pointer;
  if (!Append(value, out, &why, &pointer, 1)) {
    return Status::InvalidInput("value at " + (pointer.empty() ? std::string("/") : pointer) + " " + why +
                                " (RFC 8785 canonical JSON)");
  }
  return out;
}

namespace {

// Builds the DOM from nlohmann's SAX events, as json::parse does, and notes
// a member name that repeats in one object (RFC 8785 requires I-JSON input,
// which has none) instead of letting the last one win.
class StrictDomBuilder {
 public:
  StrictDomBuilder() { stack_.reserve(16); }  // one allocation for the usual depths
  json root;
  bool duplicate = false;
  std::string duplicate_key;  // the first repeated member name, in document order
  std::string error;          // what the parser reported

  bool null() { return Put(json(nullptr)); }
  bool boolean(bool v) { return Put(json(v)); }
  bool number_integer(json::number_integer_t v) { return Put(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return Put(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) { return Put(json(v)); }
  bool string(json::string_t& v) { return Put(json(std::move(v))); }
  bool binary(json::binary_t& v) { return Put(json::binary(std::move(v))); }
  bool start_object(std::size_t) { return Open(json::value_t::object); }
  bool too_deep = false;
  bool key(json::string_t& k) {
    auto inserted = stack_.back()->get_ptr<json::object_t*>()->emplace(std::move(k), nullptr);
    if (!inserted.second && !duplicate) {
      duplicate = true;
      duplicate_key = inserted.first->first;
    }
    slot_ = &inserted.first->second;
    return true;
  }
  bool end_object() { return Close(); }
  bool start_array(std::size_t) { return Open(json::value_t::array); }
  bool end_array() { return Close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
    error = ex.what();
    return false;
  }

 private:
  // Puts a value where the open container (or the key just read) wants it.
  json* Place(json&& v) {
    if (stack_.empty()) {
      root = std::move(v);
      return &root;
    }
    if (json::array_t* a = stack_.back()->get_ptr<json::array_t*>()) {
      a->push_back(std::move(v));
      return &a->back();  // stable: nothing is added to `a` while this child is open
    }
    *slot_ = std::move(v);
    return slot_;
  }
  bool Put(json&& v) {
    Place(std::move(v));
    return true;
  }
  bool Open(json::value_t t) {
    if (stack_.size() >= static_cast<size_t>(kMaxJsonDepth)) {  // one depth limit everywhere: nothing deeper is built
      too_deep = true;
      return false;
    }
    stack_.push_back(Place(json(t)));
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }
  std::vector<json*> stack_;
  json* slot_ = nullptr;
};

}  // namespace

StatusOr<json> ParseJsonStrict(std::string_view text, const std::string& where) {
  // JSON text holds no raw NUL (control characters in strings are escaped),
  // and a NUL must not end the text early with bytes after it unread.
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return Status::InvalidInput(where + ": malformed JSON: a NUL byte at offset " + std::to_string(nul));
  }
  StrictDomBuilder builder;
  const bool ok = json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json, /*strict=*/true,
                                  /*ignore_comments=*/false);
  if (builder.too_deep) {
    return Status::InvalidInput(where + ": malformed JSON: nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  if (!ok) {  // parse_error, and out_of_range for number overflow
    std::string msg = builder.error;
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
    size_t p = msg.find("] ");
    if (p != std::string::npos) msg = msg.substr(p + 2);
    return Status::InvalidInput(where + ": malformed JSON: " + msg);
  }
  if (builder.duplicate) {
    return Status::InvalidInput(where + ": duplicate object key \"" + builder.duplicate_key + "\"");
  }
  return std::move(builder.root);
}

}  // namespace dg
