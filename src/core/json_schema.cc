#include "core/json_schema.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <set>
#include <map>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "core/canonical_json.h"
#include "core/schema_fast_check.h"

namespace dg {

// Generated from schemas/*.json by CMake (builtin_schemas.cc).
extern const std::pair<const char*, const char*> kBuiltinSchemas[];
extern const size_t kBuiltinSchemaCount;

namespace {

using json = nlohmann::json;

std::string FileNameOf(const std::string& uri) {
  size_t slash = uri.find_last_of('/');
  std::string name = slash == std::string::npos ? uri : uri.substr(slash + 1);
  size_t hash = name.find('#');
  return hash == std::string::npos ? name : name.substr(0, hash);
}

// "<root>" "[proof]" "[0]" → "/proof/0"
std::string PointerOf(const std::vector<std::string>& context) {
  std::string out;
  for (const std::string& c : context) {
    if (c == "<root>" || c.size() < 2 || c.front() != '[' || c.back() != ']') continue;
    std::string token = c.substr(1, c.size() - 2);
    if (token.size() >= 2 && token.front() == '"' && token.back() == '"') token = token.substr(1, token.size() - 2);
    std::string escaped;
    for (char ch : token) {
      if (ch == '~') escaped += "~0";
      else if (ch == '/') escaped += "~1";
      else escaped.push_back(ch);
    }
    out += "/" + escaped;
  }
  return out.empty() ? "/" : out;
}

// The tokens of a valijson context ("<root>" "[proof]" "[0]" → "proof", "0").
std::vector<std::string> TokensOf(const std::vector<std::string>& context) {
  std::vector<std::string> out;
  for (const std::string& c : context) {
    if (c == "<root>" || c.size() < 2 || c.front() != '[' || c.back() != ']') continue;
    std::string token = c.substr(1, c.size() - 2);
    if (token.size() >= 2 && token.front() == '"' && token.back() == '"') token = token.substr(1, token.size() - 2);
    out.push_back(std::move(token));
  }
  return out;
}

// Optimal string alignment distance (Levenshtein plus adjacent transpositions:
// "expected_mua" is one edit from "expected_mau").
size_t EditDistance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

}  // namespace

std::string NearestKey(const std::string& key, const std::set<std::string>& known) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const std::string& k : known) {
    const size_t d = EditDistance(key, k);
    if (d < best_d) best_d = d, best = k;
  }
  // Close enough to be a typo: at most 2 edits, or a third of the key.
  if (best.empty() || best_d > std::max<size_t>(2, key.size() / 3)) return "";
  return best;
}

class JsonSchema::Impl {
 public:
  valijson::Schema schema;
  std::string name;
  std::unique_ptr<SchemaFastCheck> quick;  // null: every document goes to valijson
  json doc;                                // the schema itself, for the names of known keys
  std::function<const json*(const std::string& file)> referenced;  // other schema files, by name

  // The keys the schema defines for the object at `tokens` of `instance`:
  // the union over every branch (allOf, anyOf, oneOf, if/then/else, $ref)
  // that reaches it. Empty when none is found.
  std::set<std::string> KnownKeysAt(const std::vector<std::string>& tokens, const json& instance) const {
    std::set<std::string> out;
    Collect(&doc, &doc, tokens, 0, &instance, 0, &out);
    return out;
  }

 private:
  const json* Resolve(const json* root, const std::string& ref, const json** new_root) const {
    const size_t hash = ref.find('#');
    const std::string file = ref.substr(0, hash);
    const json* base = root;
    if (!file.empty()) {
      base = referenced ? referenced(FileNameOf(file)) : nullptr;
      if (base == nullptr) return nullptr;
    }
    *new_root = base;
    if (hash == std::string::npos || hash + 1 >= ref.size()) return base;
    try {
      const json& target = base->at(json::json_pointer(ref.substr(hash + 1)));
      return &target;
    } catch (const json::exception&) {
      return nullptr;
    }
  }

  void Collect(const json* root, const json* node, const std::vector<std::string>& tokens, size_t at, const json* instance,
               int depth, std::set<std::string>* out) const {
    if (node == nullptr || !node->is_object() || depth > 64) return;
    if (auto ref = node->find("$ref"); ref != node->end() && ref->is_string()) {
      const json* new_root = root;
      const json* target = Resolve(root, *ref, &new_root);
      Collect(new_root, target, tokens, at, instance, depth + 1, out);
    }
    for (const char* k : {"allOf", "anyOf", "oneOf"}) {
      if (auto it = node->find(k); it != node->end() && it->is_array()) {
        for (const json& branch : *it) Collect(root, &branch, tokens, at, instance, depth + 1, out);
      }
    }
    for (const char* k : {"then", "else"}) {
      if (auto it = node->find(k); it != node->end()) Collect(root, &*it, tokens, at, instance, depth + 1, out);
    }
    auto props = node->find("properties");
    if (at == tokens.size()) {
      if (props != node->end() && props->is_object()) {
        for (auto it = props->begin(); it != props->end(); ++it) out->insert(it.key());
      }
      return;
    }
    const std::string& token = tokens[at];
    const json* child = nullptr;
    if (instance != nullptr && instance->is_object() && instance->contains(token)) child = &(*instance)[token];
    if (instance != nullptr && instance->is_array()) {
      size_t i = 0;
      if (std::all_of(token.begin(), token.end(), ::isdigit) && !token.empty() && (i = std::stoul(token)) < instance->size()) {
        child = &(*instance)[i];
      }
      if (auto items = node->find("items"); items != node->end() && items->is_object()) {
        Collect(root, &*items, tokens, at + 1, child, depth + 1, out);
      }
      return;
    }
    if (props != node->end() && props->is_object() && props->contains(token)) {
      Collect(root, &(*props)[token], tokens, at + 1, child, depth + 1, out);
    } else if (auto add = node->find("additionalProperties"); add != node->end() && add->is_object()) {
      Collect(root, &*add, tokens, at + 1, child, depth + 1, out);
    }
  }
};

const std::string& JsonSchema::Name() const { return impl_->name; }

JsonSchema::JsonSchema(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JsonSchema::~JsonSchema() = default;

std::string_view BuiltinSchemaText(std::string_view file_name) {
  for (size_t i = 0; i < kBuiltinSchemaCount; ++i) {
    if (file_name == kBuiltinSchemas[i].first) return kBuiltinSchemas[i].second;
  }
  return {};
}

StatusOr<std::shared_ptr<const JsonSchema>> JsonSchema::Builtin(std::string_view file_name) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const JsonSchema>, std::less<>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(file_name);
  if (it != cache.end()) return it->second;

  std::string_view text = BuiltinSchemaText(file_name);
  if (text.empty()) return Status::Internal("no built-in schema named " + std::string(file_name));
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return Status::Internal("built-in schema " + std::string(file_name) + " is not JSON");
  auto impl = std::make_unique<Impl>();
  impl->name = std::string(file_name);
  impl->doc = doc;
  impl->referenced = [](const std::string& file) -> const json* {
    // The built-in schemas never change: each referenced one is parsed once.
    static std::mutex ref_mu;
    static std::map<std::string, json> parsed;
    std::lock_guard<std::mutex> ref_lock(ref_mu);
    auto found = parsed.find(file);
    if (found == parsed.end()) {
      std::string_view t = BuiltinSchemaText(file);
      if (t.empty()) return nullptr;
      found = parsed.emplace(file, json::parse(t, nullptr, false)).first;
    }
    return found->second.is_discarded() ? nullptr : &found->second;
  };
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(doc);
    auto fetch = [](const std::string& uri) -> const json* {
      std::string_view t = BuiltinSchemaText(FileNameOf(uri));
      if (t.empty()) return nullptr;
      json* j = new json(json::parse(t, nullptr, false));
      return j;
    };
    auto free_doc = [](const json* j) { delete j; };
    parser.populateSchema(adapter, impl->schema, fetch, free_doc);
  } catch (const std::exception& e) {
    return Status::Internal("built-in schema " + std::string(file_name) + ": " + e.what());
  }
  if (doc.value("$schema", "").find("draft-07") != std::string::npos) {
    std::map<std::string, json> referenced;
    impl->quick = SchemaFastCheck::Compile(doc, impl->name, [&](const std::string& file) -> const json* {
      std::string_view t = BuiltinSchemaText(file);
      if (t.empty()) return nullptr;
      json& d = referenced[file] = json::parse(t, nullptr, false);
      return d.is_discarded() ? nullptr : &d;
    });
  }
  std::shared_ptr<const JsonSchema> schema(new JsonSchema(std::move(impl)));
  cache.emplace(std::string(file_name), schema);
  return schema;
}

StatusOr<std::shared_ptr<const JsonSchema>> JsonSchema::FromFile(const std::string& path) {
  auto load = [](const std::string& p) -> std::unique_ptr<json> {
    std::ifstream f(p, std::ios::binary);
    if (!f) return nullptr;
    auto j = std::make_unique<json>(json::parse(f, nullptr, false));
    if (j->is_discarded()) return nullptr;
    return j;
  };
  std::unique_ptr<json> doc = load(path);
  if (!doc) return Status::InvalidInput(path + ": not a readable JSON schema");
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string draft = doc->value("$schema", "");
  auto impl = std::make_unique<Impl>();
  impl->name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  impl->doc = *doc;
  try {
    valijson::SchemaParser parser(draft.find("draft-04") != std::string::npos ? valijson::SchemaParser::kDraft4
                                                                                : valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(*doc);
    auto fetch = [&](const std::string& uri) -> const json* { return load(dir + "/" + FileNameOf(uri)).release(); };
    auto free_doc = [](const json* j) { delete j; };
    parser.populateSchema(adapter, impl->schema, fetch, free_doc);
  } catch (const std::exception& e) {
    return Status::InvalidInput(path + ": " + e.what());
  }
  if (draft.find("draft-07") != std::string::npos) {
    std::unique_ptr<json> referenced;
    impl->quick = SchemaFastCheck::Compile(*doc, impl->name, [&](const std::string& file) -> const json* {
      referenced = load(dir + "/" + file);
      return referenced.get();
    });
  }
  return std::shared_ptr<const JsonSchema>(new JsonSchema(std::move(impl)));
}

bool JsonSchema::QuickAccepts(const json& doc) const { return impl_->quick != nullptr && impl_->quick->Accepts(doc); }

std::vector<JsonSchema::Violation> JsonSchema::Violations(const json& doc) const {
  if (QuickAccepts(doc)) return {};
  return ViolationsByValijson(doc);
}

std::vector<JsonSchema::Violation> JsonSchema::ViolationsByValijson(const json& doc) const {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(doc);
  if (validator.validate(impl_->schema, adapter, &results)) return {};
  // valijson reports the whole chain of failures (e.g. "properties" then
  // "type"): keep the first message per pointer, and drop a pointer whose
  // child is also reported (the child says what is wrong).
  std::map<std::string, std::string> by_pointer;
  valijson::ValidationResults::Error err;
  static const std::string kMissing = "Missing required property '";
  static const std::string kUnknown = "or 'additionalProperties' constraints: '";
  while (results.popError(err)) {
    std::string pointer = PointerOf(err.context), what = err.description;
    const std::string parent = pointer == "/" ? "" : pointer;
    if (what.compare(0, kMissing.size(), kMissing) == 0) {  // point at the missing member itself
      std::string name = what.substr(kMissing.size());
      name = name.substr(0, name.find('\''));
      pointer = parent + "/" + name;
      what = "required, but missing";
    } else if (const size_t at = what.find(kUnknown); at != std::string::npos) {
      // A key the schema does not define: valijson names the first; report
      // every one of the object's unknown keys, each with the nearest known
      // key when one is close (a typo must not pass for an absent fact).
      std::string first = what.substr(at + kUnknown.size());
      first = first.substr(0, first.rfind('\''));
      const std::vector<std::string> tokens = TokensOf(err.context);
      const std::set<std::string> known = impl_->KnownKeysAt(tokens, doc);
      const json* object = &doc;
      for (const std::string& t : tokens) {
        if (object->is_object() && object->contains(t)) object = &(*object)[t];
        else if (object->is_array() && !t.empty() && std::all_of(t.begin(), t.end(), ::isdigit) && std::stoul(t) < object->size())
          object = &(*object)[std::stoul(t)];
        else { object = nullptr; break; }
      }
      std::vector<std::string> unknown;
      if (object != nullptr && object->is_object() && !known.empty()) {
        for (auto it = object->begin(); it != object->end(); ++it) {
          if (!known.count(it.key())) unknown.push_back(it.key());
        }
      }
      if (unknown.empty()) unknown.push_back(first);
      for (const std::string& key : unknown) {
        const std::string near = NearestKey(key, known);
        std::string text = "unknown key";
        if (!near.empty()) {
          text += ": did you mean `" + near + "`?";
        } else if (!known.empty()) {
          text += "; the keys allowed here are:";
          for (const std::string& k : known) text += " " + k;
        }
        by_pointer.emplace(parent + "/" + EscapePointerToken(key), text);
      }
      continue;
    }
    by_pointer.emplace(pointer, what);
  }
  std::vector<Violation> out;
  for (auto it = by_pointer.begin(); it != by_pointer.end(); ++it) {
    auto next = std::next(it);
    const std::string prefix = it->first == "/" ? "/" : it->first + "/";
    if (next != by_pointer.end() && next->first.compare(0, prefix.size(), prefix) == 0) continue;
    out.push_back({it->first, it->second});
  }
  return out;
}

Status JsonSchema::Validate(const json& doc, const std::string& where) const {
  const std::vector<Violation> violations = Violations(doc);
  if (violations.empty()) return Status::Ok();
  std::string msg = where + ": does not match its schema (" + Name() + "):";
  for (size_t i = 0; i < violations.size(); ++i) {
    if (i == 8) {
      msg += "\n  …";
      break;
    }
    msg += "\n  " + violations[i].pointer + ": " + violations[i].what;
  }
  return Status::InvalidInput(msg);
}

}  // namespace dg
