#include "core/json_schema.h"

#include <fstream>
#include <map>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

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

}  // namespace

class JsonSchema::Impl {
 public:
  valijson::Schema schema;
  std::string name;
  std::unique_ptr<SchemaFastCheck> quick;  // null: every document goes to valijson
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
  while (results.popError(err)) {
    std::string pointer = PointerOf(err.context), what = err.description;
    if (what.compare(0, kMissing.size(), kMissing) == 0) {  // point at the missing member itself
      std::string name = what.substr(kMissing.size());
      name = name.substr(0, name.find('\''));
      pointer = (pointer == "/" ? "" : pointer) + "/" + name;
      what = "required, but missing";
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
