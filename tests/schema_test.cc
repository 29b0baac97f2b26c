// The JSON Schemas in schemas/: they compile, the CLI's JSON outputs match
// them, and violations are reported with file and JSON pointer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/json_schema.h"
#include "test_util.h"

namespace dg {
namespace {

using nlohmann::json;

TEST(Schemas, EveryFileInSchemasIsBuiltInAndCompiles) {
  size_t n = 0;
  for (const auto& f : std::filesystem::directory_iterator(std::string(DG_SOURCE_DIR) + "/schemas")) {
    if (f.path().extension() != ".json") continue;
    const std::string name = f.path().filename().string();
    EXPECT_EQ(BuiltinSchemaText(name), testing::ReadAll(f.path().string())) << name << " is stale in the binary";
    auto s = JsonSchema::Builtin(name);
    EXPECT_TRUE(s.ok()) << name << ": " << s.status().ToString();
    ++n;
  }
  EXPECT_GE(n, 5u);
  EXPECT_FALSE(JsonSchema::Builtin("no-such.schema.json").ok());
}

TEST(Schemas, ViolationsNameThePointer) {
  auto s = *JsonSchema::Builtin("inclusion-proof.schema.json");
  json doc = {{"leaf_index", -1}, {"tree_size", 3}, {"leaf_hash", "x"}, {"proof", {"not-a-hash"}}, {"checkpoint", "c"}};
  Status st = s->Validate(doc, "p.json");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Status::Code::kInvalidInput);
  for (const char* ptr : {"/leaf_index", "/leaf_hash", "/proof/0"}) {
    EXPECT_NE(st.message().find(std::string("p.json")), std::string::npos);
    EXPECT_NE(st.message().find(ptr), std::string::npos) << ptr << " missing from: " << st.message();
  }
  json entry_bad = {{"leaf_index", 0}, {"tree_size", 1}, {"leaf_hash", std::string(43, 'A') + "="}, {"proof", json::array()},
                    {"checkpoint", "c"}, {"entry", {{"kind", "Bad Kind"}, {"body", {}}}}};
  st = s->Validate(entry_bad, "p.json");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/entry/kind"), std::string::npos) << st.message();
}

class CliOutputs : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(testing::RunCli({"keys", "generate", "--out", dir_.File("k"), "--name", "s.example/log"}).exit_code, 0);
    ASSERT_EQ(testing::RunCli({"ledger", "init", "--ledger", Ledger(), "--key", dir_.File("k/ledger.key"), "--origin",
                               "s.example/log"})
                  .exit_code,
              0);
    std::string lines;
    for (int i = 0; i < 20; ++i) lines += "{\"i\":" + std::to_string(i) + ",\"s\":\"\\u00e9\\n\"}\n";
    ASSERT_EQ(testing::RunCli({"ledger", "append", "--ledger", Ledger(), "--key", dir_.File("k/ledger.key"), "--kind",
                               "test"},
                              lines)
                  .exit_code,
              0);
  }
  std::string Ledger() { return dir_.File("l.db"); }
  void ExpectValid(const std::string& schema, const json& doc) {
    Status s = (*JsonSchema::Builtin(schema))->Validate(doc, schema);
    EXPECT_TRUE(s.ok()) << s.ToString() << "\n" << doc.dump();
  }
  testing::TempDir dir_;
};

TEST_F(CliOutputs, MatchTheirSchemas) {
  auto r = testing::RunCli({"ledger", "prove", "--ledger", Ledger(), "--index", "13"});
  ASSERT_EQ(r.exit_code, 0);
  ExpectValid("inclusion-proof.schema.json", json::parse(r.out));
  r = testing::RunCli({"ledger", "consistency", "--ledger", Ledger(), "--old", "3"});
  ASSERT_EQ(r.exit_code, 0);
  ExpectValid("consistency-proof.schema.json", json::parse(r.out));
  r = testing::RunCli({"ledger", "verify", "--ledger", Ledger(), "--pubkey", dir_.File("k/ledger.vkey"), "--json"});
  ASSERT_EQ(r.exit_code, 0);
  ExpectValid("ledger-verify-report.schema.json", json::parse(r.out));
  r = testing::RunCli({"ledger", "show", "--ledger", Ledger(), "--json"});
  ASSERT_EQ(r.exit_code, 0);
  std::istringstream in(r.out);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    json j = json::parse(line);
    ExpectValid("ledger-show-line.schema.json", j);
    ExpectValid("ledger-entry.schema.json", j["entry"]);
    ++n;
  }
  EXPECT_EQ(n, 20u);
}

// ---- the accept-only pre-check in front of valijson (core/schema_fast_check.h) ----

// Documents near `doc`: each member removed, each value replaced by values
// of other types and edge values, an extra member added.
std::vector<json> Mutations(const json& doc) {
  static const json kPalette = json::array({nullptr, true, false, 0, -1, 1, 1.0, 1.5, -0.5, 18446744073709551615ull, "", "x",
                                            "\u00e9", "\U0001F600", std::string(300, 'y'), json::array(), json::array({1}),
                                            json::object(), json{{"role", "user"}}, "POST", "/v1/chat/completions", 200});
  std::vector<json> out;
  std::vector<json::json_pointer> paths;
  std::function<void(const json&, const json::json_pointer&)> walk = [&](const json& v, const json::json_pointer& at) {
    paths.push_back(at);
    if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) walk(*it, at / it.key());
    } else if (v.is_array()) {
      for (size_t i = 0; i < v.size() && i < 3; ++i) walk(v[i], at / i);
    }
  };
  walk(doc, json::json_pointer());
  for (const auto& p : paths) {
    for (const json& replacement : kPalette) {
      json m = doc;
      m[p] = replacement;
      out.push_back(std::move(m));
    }
    if (!p.empty()) {
      json m = doc;
      json& parent = m[p.parent_pointer()];
      if (parent.is_object()) parent.erase(p.back());
      else parent.erase(static_cast<size_t>(std::stoul(p.back())));
      out.push_back(std::move(m));
    }
    if (doc[p].is_object()) {
      json m = doc;
      m[p]["zz_extra"] = 1;
      out.push_back(std::move(m));
    }
  }
  return out;
}

struct QuickTally {
  size_t documents = 0, valid = 0, quick = 0;
};

// Every document the pre-check accepts, valijson accepts too.
QuickTally HoldToValijson(const JsonSchema& schema, const std::vector<json>& corpus) {
  QuickTally t;
  for (const json& original : corpus) {
    std::vector<json> docs = Mutations(original);
    docs.push_back(original);
    for (const json& d : docs) {
      ++t.documents;
      const bool valid = schema.ViolationsByValijson(d).empty();
      const bool quick = schema.QuickAccepts(d);
      t.valid += valid;
      t.quick += quick;
      if (quick) EXPECT_TRUE(valid) << schema.Name() << ": the pre-check accepted what valijson rejects: " << d.dump();
      if (quick || valid) EXPECT_TRUE(schema.Violations(d).empty()) << d.dump();
    }
  }
  std::cout << "[ quick ] " << schema.Name() << ": " << t.documents << " documents, " << t.valid << " valid, " << t.quick
            << " accepted by the pre-check\n";
  return t;
}

std::vector<json> Exchanges() {
  const json request = {{"model", "gpt-4o"},
                        {"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi \u00e9"}}}},
                        {"temperature", 0.2}};
  const json response = {{"id", "chatcmpl-1"},
                         {"object", "chat.completion"},
                         {"created", 1764400000},
                         {"model", "gpt-4o-2024-08-06"},
                         {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "Hello."}}}, {"finish_reason", "stop"}}}},
                         {"usage", {{"prompt_tokens", 9}, {"completion_tokens", 2}, {"total_tokens", 11}}},
                         {"system_fingerprint", nullptr}};
  json tool_call = response;
  tool_call["choices"][0]["message"] = {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array()}};
  tool_call["usage"] = nullptr;
  return {{{"request", request}, {"response", response}}, {{"request", request}, {"response", tool_call}}};
}

TEST(SchemaQuickCheck, AcceptsOnlyWhatValijsonAccepts_Transcripts) {
  const std::vector<json> exchanges = Exchanges();
  QuickTally t = HoldToValijson(**JsonSchema::Builtin("transcript-exchange.schema.json"), exchanges);
  // The point of the pre-check: valid lines do not reach valijson.
  EXPECT_GT(t.valid, 100u);
  EXPECT_GE(t.quick * 100, t.valid * 95) << t.quick << " of " << t.valid << " valid documents accepted early";

  std::vector<json> responses, inputs, outputs;
  for (const json& e : exchanges) {
    responses.push_back(e["response"]);
    inputs.push_back({{"custom_id", "r1"}, {"method", "POST"}, {"url", "/v1/chat/completions"}, {"body", e["request"]}});
    outputs.push_back({{"id", "batch_req_1"}, {"custom_id", "r1"}, {"response", {{"status_code", 200}, {"request_id", "q"}, {"body", e["response"]}}},
                       {"error", nullptr}});
  }
  outputs.push_back({{"custom_id", "r2"}, {"response", nullptr}, {"error", {{"code", "server_error"}, {"message", "boom"}}}});
  for (const auto& [name, corpus] : {std::pair<const char*, std::vector<json>>{"chat-completion-response.schema.json", responses},
                                     {"openai-batch-input.schema.json", inputs},
                                     {"openai-batch-output.schema.json", outputs}}) {
    QuickTally u = HoldToValijson(**JsonSchema::Builtin(name), corpus);
    EXPECT_GE(u.quick * 100, u.valid * 90) << name << ": " << u.quick << " of " << u.valid;
  }
}

TEST(SchemaQuickCheck, AcceptsOnlyWhatValijsonAccepts_JobsPoliciesLicenses) {
  std::vector<json> jobs, licenses;
  for (const auto& d : std::filesystem::directory_iterator(std::string(DG_SOURCE_DIR) + "/tests/scenarios")) {
    if (std::filesystem::exists(d.path() / "job.json")) jobs.push_back(json::parse(testing::ReadAll((d.path() / "job.json").string())));
    if (jobs.size() == 8) break;
  }
  for (const auto& f : std::filesystem::directory_iterator(std::string(DG_SOURCE_DIR) + "/policies/licenses")) {
    licenses.push_back(json::parse(testing::ReadAll(f.path().string())));
    if (licenses.size() == 4) break;
  }
  ASSERT_FALSE(jobs.empty());
  ASSERT_FALSE(licenses.empty());
  HoldToValijson(**JsonSchema::Builtin("job.schema.json"), jobs);
  HoldToValijson(**JsonSchema::Builtin("license-profile.schema.json"), licenses);
  HoldToValijson(**JsonSchema::Builtin("policy.schema.json"),
                 {json::parse(testing::ReadAll(std::string(DG_SOURCE_DIR) + "/policies/default-policy.json"))});
}

// Random schemas over the keywords the pre-check implements, and random
// documents: whatever it accepts, valijson accepts.
TEST(SchemaQuickCheck, AcceptsOnlyWhatValijsonAccepts_RandomSchemas) {
  std::mt19937 rng(11);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  const std::vector<std::string> names = {"a", "b", "c", "\u00e9"};
  const std::vector<json> scalars = {nullptr, true, false, 0, 1, -1, 2, 7, 1.0, 2.5, -0.5, 9007199254740993ull,
                                     "", "a", "ab", "\u00e9\u00e9", "abcd", "POST"};
  std::function<json(int)> random_doc = [&](int depth) -> json {
    const size_t kind = depth <= 0 ? 0 : pick(4);
    if (kind <= 1) return scalars[pick(scalars.size())];
    if (kind == 2) {
      json a = json::array();
      for (size_t i = pick(4); i > 0; --i) a.push_back(random_doc(depth - 1));
      return a;
    }
    json o = json::object();
    for (const auto& n : names) {
      if (pick(2)) o[n] = random_doc(depth - 1);
    }
    return o;
  };
  std::function<json(int)> random_schema = [&](int depth) -> json {
    if (depth <= 0 || pick(8) == 0) return pick(4) == 0 ? json(pick(2) == 0) : json::object();
    json s = json::object();
    static const char* kTypes[] = {"null", "boolean", "integer", "number", "string", "array", "object"};
    if (pick(3) == 0) s["type"] = kTypes[pick(7)];
    else if (pick(4) == 0) s["type"] = {kTypes[pick(7)], kTypes[pick(7)]};
    if (pick(3) == 0) {
      for (const auto& n : names) {
        if (pick(2)) s["properties"][n] = random_schema(depth - 1);
      }
    }
    if (pick(3) == 0) {
      s["required"] = json::array();
      for (const auto& n : names) {
        if (pick(3) == 0) s["required"].push_back(n);
      }
    }
    if (pick(5) == 0) s["additionalProperties"] = pick(2) ? json(false) : random_schema(depth - 1);
    if (pick(4) == 0) s["items"] = random_schema(depth - 1);
    if (pick(6) == 0) s["minItems"] = pick(3);
    if (pick(6) == 0) s["maxItems"] = pick(3);
    if (pick(6) == 0) s["minLength"] = pick(4);
    if (pick(6) == 0) s["maxLength"] = pick(4);
    const char* bounds[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
    if (pick(4) == 0) s[bounds[pick(4)]] = pick(2) ? json(static_cast<int>(pick(5)) - 2) : json(static_cast<double>(pick(5)) - 1.5);
    if (pick(10) == 0) s["const"] = scalars[pick(scalars.size())];
    if (pick(10) == 0) s["enum"] = {scalars[pick(scalars.size())], scalars[pick(scalars.size())]};
    if (pick(8) == 0) s["allOf"] = {random_schema(depth - 1), random_schema(depth - 1)};
    if (pick(8) == 0) s["anyOf"] = {random_schema(depth - 1), random_schema(depth - 1)};
    if (pick(10) == 0) s["$ref"] = "#/definitions/d";
    return s;
  };
  testing::TempDir dir;
  size_t quick = 0, valid = 0, documents = 0;
  for (int i = 0; i < 2000; ++i) {
    json schema = random_schema(3);
    if (!schema.is_object()) schema = {{"allOf", {schema}}};
    schema["$schema"] = "http://json-schema.org/draft-07/schema#";
    // The target of "$ref" refers to nothing itself: valijson's schema parser
    // recurses without end on a cycle ({"definitions": {"d": {"$ref":
    // "#/definitions/d"}}}), which distillgate's own schemas never have.
    json target = random_schema(2);
    std::function<void(json&)> no_refs = [&](json& j) {
      if (j.is_object()) j.erase("$ref");
      if (j.is_structured()) {
        for (auto& child : j) no_refs(child);
      }
    };
    no_refs(target);
    schema["definitions"] = {{"d", target}};
    const std::string path = dir.File("r" + std::to_string(i) + ".schema.json");
    std::ofstream(path) << schema.dump();
    auto compiled = JsonSchema::FromFile(path);
    ASSERT_TRUE(compiled.ok()) << compiled.status().ToString() << "\n" << schema.dump();
    for (int k = 0; k < 60; ++k) {
      const json doc = random_doc(3);
      const bool is_valid = (*compiled)->ViolationsByValijson(doc).empty();
      const bool accepted = (*compiled)->QuickAccepts(doc);
      ++documents;
      valid += is_valid;
      quick += accepted;
      if (accepted) ASSERT_TRUE(is_valid) << "schema " << schema.dump() << "\ndocument " << doc.dump();
    }
  }
  std::cout << "[ quick ] random schemas: " << documents << " documents, " << valid << " valid, " << quick
            << " accepted by the pre-check\n";
  EXPECT_GT(quick, valid / 2);  // it decides most of them itself
}

// Keywords and values it cannot decide go to valijson, which still decides right.
TEST(SchemaQuickCheck, LeavesWhatItCannotDecideToValijson) {
  testing::TempDir dir;
  const std::string path = dir.File("s.schema.json");
  std::ofstream(path) << R"({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
      "id": {"type": "string", "pattern": "^[a-z]+$"},
      "n": {"type": "integer", "minimum": 1},
      "name": {"type": "string", "minLength": 2, "maxLength": 4},
      "kind": {"enum": ["a", 1]},
      "ref": {"$ref": "#/definitions/d", "description": "annotations beside $ref are fine"},
      "mixed": {"$ref": "#/definitions/d", "minLength": 9},
      "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
      "nothing": false,
      "closed": {"type": "object", "properties": {"a": {"type": "null"}}, "additionalProperties": false},
      "based": {"$id": "other.json", "type": "string"}
    },
    "definitions": {"d": {"type": "string"}}
  })";
  auto schema = JsonSchema::FromFile(path);
  ASSERT_TRUE(schema.ok()) << schema.status().ToString();
  const JsonSchema& s = **schema;
  auto decided = [&](const json& d) {
    const bool valid = s.ViolationsByValijson(d).empty();
    EXPECT_EQ(s.Violations(d).empty(), valid) << d.dump();
    return s.QuickAccepts(d);
  };
  EXPECT_TRUE(decided({{"n", 3}, {"name", "ab"}, {"kind", 1}, {"ref", "x"}, {"closed", {{"a", nullptr}}}}));
  EXPECT_TRUE(decided({{"name", "\u00e9\u00e9"}}));  // 2 code points, 4 bytes: within 2..4 either way
  EXPECT_FALSE(decided({{"name", "\u00e9\u00e9\u00e9"}}));  // 3 code points but 6 bytes: valijson says
  EXPECT_FALSE(decided({{"n", 18446744073709551615ull}}));  // beyond int64
  EXPECT_FALSE(decided({{"id", "abc"}}));      // pattern
  EXPECT_FALSE(decided({{"n", 3.0}}));         // an integral float: "integer" or not is valijson's call
  EXPECT_FALSE(decided({{"n", 0}}));
  EXPECT_FALSE(decided({{"kind", "1"}}));
  EXPECT_FALSE(decided({{"mixed", "x"}}));     // $ref with a constraint beside it
  EXPECT_FALSE(decided({{"either", 1}}));      // oneOf
  EXPECT_FALSE(decided({{"nothing", 1}}));
  EXPECT_FALSE(decided({{"closed", {{"b", 1}}}}));
  EXPECT_FALSE(decided({{"based", "x"}}));     // a nested $id: refs below it would resolve elsewhere
  EXPECT_TRUE(s.Violations({{"id", "ABC"}}).size() == 1);
  EXPECT_TRUE(s.Violations({{"id", "abc"}, {"n", 3}}).empty());
}

}  // namespace
}  // namespace dg
