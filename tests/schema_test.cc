// The JSON Schemas in schemas/: they compile, the CLI's JSON outputs match
// them, and violations are reported with file and JSON pointer.
#include <gtest/gtest.h>

#include <filesystem>
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

}  // namespace
}  // namespace dg
