// The one run lifecycle (record/recorded_run.h) without LibTorch: a run opens
// only from the gate's permit, always closes with run_end, records every
// buffered call before it closes, and takes nothing after its end.
#include <signal.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/interrupt.h"
#include "ledger_fixture.h"
#include "license/knowledge_base.h"
#include "policy/gate.h"
#include "record/recorded_run.h"
#include "record/run_record.h"

namespace dg {
namespace {

using json = nlohmann::json;

Job MakeJob(const std::string& name) {
  json doc = {{"name", name},
              {"teachers", {{{"id", "t"}, {"kind", "local"}, {"license", "MIT"}, {"model_file", "t.pt"}}}},
              {"student", {{"name", "s"}, {"model_type", "classifier"}}},
              {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}}};
  auto job = ParseJob(doc, "job.json");
  EXPECT_TRUE(job.ok()) << job.status().ToString();
  return *job;
}

class LifecycleTest : public testing::LedgerTest {
 protected:
  GateResult Decide(const Job& job) {
    auto kb = KnowledgeBase::Builtin();
    auto gate = Gate::Decide(job, *LoadPolicy(""), **kb, *ledger_, key_, "2026-12-01");
    EXPECT_TRUE(gate.ok()) << gate.status().ToString();
    EXPECT_TRUE(gate->permit.has_value());
    return *gate;
  }
  std::unique_ptr<RecordedRun> Begin(const Job& job, const GateResult& gate, size_t batch = 256) {
    auto run = RecordedRun::Begin(*gate.permit, job, *ledger_, key_, {"test-kind", {{"extra", 1}}, batch});
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    return std::move(run).value();
  }
  RunRecord Record(const std::string& id) {
    auto r = LoadRunRecord(*ledger_, id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return *r;
  }
  static TeacherCall Call(uint64_t i) {
    TeacherCall c;
    c.teacher_id = "t";
    c.teacher_sha256 = std::string(64, 'a');
    c.sequence = i;
    c.items = 4;
    c.time = "2026-12-01T00:00:00Z";
    return c;
  }
};

TEST_F(LifecycleTest, RunStartCarriesTheFieldsEveryRunHas) {
  const Job job = MakeJob("lifecycle");
  const GateResult gate = Decide(job);
  auto run = Begin(job, gate);
  EXPECT_EQ(run->id(), RunIdFor(job.sha256, gate.decision_index));
  ASSERT_TRUE(run->Complete({{"teacher_calls", 0}}).ok());
  const RunRecord r = Record(run->id());
  ASSERT_TRUE(r.run_start.has_value());
  const json& b = r.run_start->body;
  EXPECT_EQ(b["run"], run->id());
  EXPECT_EQ(b["job"], "lifecycle");
  EXPECT_EQ(b["job_sha256"], job.sha256);
  EXPECT_EQ(b["decision_index"], gate.decision_index);
  EXPECT_EQ(b["mode"], "test-kind");
  EXPECT_EQ(b["extra"], 1);
  EXPECT_EQ(r.status(), RunStatus::kCompleted);
  EXPECT_EQ(Check().problem_count, 0u);
}

TEST_F(LifecycleTest, APermitForAnotherJobOpensNothing) {
  const Job decided = MakeJob("decided");
  const GateResult gate = Decide(decided);
  const uint64_t size = *ledger_->Size();
  auto run = RecordedRun::Begin(*gate.permit, MakeJob("changed afterwards"), *ledger_, key_, {"test-kind", json::object(), 1});
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), Status::Code::kVerifyFailed) << run.status().ToString();
  EXPECT_EQ(*ledger_->Size(), size) << "nothing may be appended for a job that was not decided";
}

TEST_F(LifecycleTest, ARunLeftOpenIsClosedAsFailed) {
  const Job job = MakeJob("left-open");
  const GateResult gate = Decide(job);
  std::string id;
  {
    auto run = Begin(job, gate);
    id = run->id();
    ASSERT_TRUE(run->Append("model", {{"sha256", "00"}}).ok());
  }  // an early return or an exception: the destructor closes it
  const RunRecord r = Record(id);
  ASSERT_TRUE(r.run_end.has_value());
  EXPECT_EQ(r.status(), RunStatus::kFailed);
  EXPECT_NE(r.run_end->body.value("error", "").find("without closing"), std::string::npos) << r.run_end->body.dump();
  EXPECT_EQ(Check().problem_count, 0u);
}

TEST_F(LifecycleTest, AnInterruptedRunRecordsItsBufferedCallsThenTheSignal) {
  const Job job = MakeJob("interrupted");
  const GateResult gate = Decide(job);
  auto run = Begin(job, gate, /*batch=*/100);
  for (uint64_t i = 0; i < 7; ++i) ASSERT_TRUE(run->calls().Record(Call(i)).ok());
  ASSERT_EQ(run->calls().pending(), 7u);  // buffered, not yet in the ledger
  Status why = Status::Interrupted(SIGINT, "training stopped by SIGINT");
  Status got = run->Fail(why);
  EXPECT_EQ(got.code(), Status::Code::kInterrupted);
  EXPECT_EQ(got.ExitCode(), 130);
  EXPECT_TRUE(run->closed());
  const RunRecord r = Record(run->id());
  EXPECT_EQ(r.teacher_calls, 7u) << "every call made is recorded before the run's end";
  ASSERT_TRUE(r.run_end.has_value());
  EXPECT_GT(r.run_end->index, r.run_start->index);
  EXPECT_EQ(r.status(), RunStatus::kInterrupted);
  EXPECT_EQ(r.run_end->body["signal"], "SIGINT");
  EXPECT_EQ(Status::Interrupted(SIGTERM, "x").ExitCode(), 143);
  EXPECT_EQ(Check().problem_count, 0u);
}

TEST_F(LifecycleTest, AFailedRunKeepsTheError) {
  const Job job = MakeJob("failed");
  const GateResult gate = Decide(job);
  auto run = Begin(job, gate);
  Status got = run->Fail(Status::IoError("/nowhere/model.pt: cannot save model"));
  EXPECT_EQ(got.code(), Status::Code::kIoError);
  const RunRecord r = Record(run->id());
  EXPECT_EQ(r.status(), RunStatus::kFailed);
  EXPECT_EQ(r.run_end->body["error"], "/nowhere/model.pt: cannot save model");
  EXPECT_FALSE(r.run_end->body.contains("signal"));
}

TEST_F(LifecycleTest, NothingFollowsTheEnd) {
  const Job job = MakeJob("closed");
  const GateResult gate = Decide(job);
  auto run = Begin(job, gate);
  ASSERT_TRUE(run->Complete({{"teacher_calls", 0}}).ok());
  const uint64_t size = *ledger_->Size();
  EXPECT_EQ(run->Append("model", {{"sha256", "00"}}).code(), Status::Code::kInternal);
  EXPECT_EQ(run->Complete({}).code(), Status::Code::kInternal);
  EXPECT_EQ(*ledger_->Size(), size);
  // run_end can only say how a run ended.
  const Job job2 = MakeJob("closed, second");
  auto other = Begin(job2, Decide(job2));
  EXPECT_EQ(other->End(RunStatus::kIncomplete, {}).code(), Status::Code::kInternal);
  EXPECT_EQ(other->End(RunStatus::kDecided, {}).code(), Status::Code::kInternal);
  EXPECT_FALSE(other->closed());
  ASSERT_TRUE(other->End(RunStatus::kRefused, {{"reason", "test"}}).ok());
  EXPECT_EQ(Record(other->id()).status(), RunStatus::kRefused);
}

TEST_F(LifecycleTest, ADecisionOpensOneRunOnly) {
  const Job job = MakeJob("once");
  const GateResult gate = Decide(job);
  auto first = Begin(job, gate);
  ASSERT_TRUE(first->Complete({{"teacher_calls", 0}}).ok());
  const uint64_t size = *ledger_->Size();
  auto again = RecordedRun::Begin(*gate.permit, job, *ledger_, key_, {"test-kind", json::object(), 1});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kVerifyFailed) << again.status().ToString();
  EXPECT_EQ(*ledger_->Size(), size);
}

TEST_F(LifecycleTest, AnUnknownRunEndStatusNeverReadsAsCompleted) {
  const Job job = MakeJob("odd-end");
  const GateResult gate = Decide(job);
  auto run = Begin(job, gate);
  const std::string id = run->id();
  run->Discard();
  ASSERT_TRUE(ledger_->Append({*LedgerEntry::Make("run_end", {{"run", id}, {"status", "Completed"}})}, key_).ok());
  EXPECT_EQ(Record(id).status(), RunStatus::kIncomplete);
}

// A second rank of a data-parallel run takes its permit from the ledger:
// only the allowing decision of exactly this job, at that index and leaf.
TEST_F(LifecycleTest, AnotherRankIsAdmittedOnlyByTheAllowingDecisionOfItsJob) {
  const Job job = MakeJob("ranks");
  const GateResult gate = Decide(job);
  auto admitted = Gate::Admit(job, *ledger_, gate.decision_index, gate.permit->decision_leaf_hash());
  ASSERT_TRUE(admitted.ok()) << admitted.status().ToString();
  EXPECT_EQ(admitted->job_sha256(), job.sha256);
  EXPECT_EQ(admitted->decision_index(), gate.decision_index);
  EXPECT_TRUE(Gate::Verify(*admitted, job, *ledger_).ok());
  // Another job, another leaf hash, another index: refused.
  auto other = Gate::Admit(MakeJob("another"), *ledger_, gate.decision_index, gate.permit->decision_leaf_hash());
  EXPECT_EQ(other.status().code(), Status::Code::kVerifyFailed);
  EXPECT_NE(other.status().message().find("decided another job"), std::string::npos) << other.status().ToString();
  Hash wrong = gate.permit->decision_leaf_hash();
  wrong[0] ^= 1;
  EXPECT_EQ(Gate::Admit(job, *ledger_, gate.decision_index, wrong).status().code(), Status::Code::kVerifyFailed);
  auto run = Begin(job, gate);  // run_start: not a decision
  EXPECT_EQ(Gate::Admit(job, *ledger_, gate.decision_index + 1, gate.permit->decision_leaf_hash()).status().code(),
            Status::Code::kVerifyFailed);
  EXPECT_FALSE(Gate::Admit(job, *ledger_, 999, gate.permit->decision_leaf_hash()).ok());
  ASSERT_TRUE(run->Complete({{"teacher_calls", 0}}).ok());
  // A refused decision admits nobody, even with its own leaf hash.
  json doc = MakeJob("refused").doc;
  doc["teachers"][0]["license"] = "LicenseRef-unknown-terms";
  auto refused_job = *ParseJob(doc, "job.json");
  auto kb = KnowledgeBase::Builtin();
  auto refused = *Gate::Decide(refused_job, *LoadPolicy(""), **kb, *ledger_, key_, "2026-12-01");
  ASSERT_FALSE(refused.permit.has_value());
  auto leaf = *ledger_->GetLeaf(refused.decision_index);
  auto no = Gate::Admit(refused_job, *ledger_, refused.decision_index, leaf.leaf_hash);
  EXPECT_EQ(no.status().code(), Status::Code::kVerifyFailed);
  EXPECT_NE(no.status().message().find("did not allow training"), std::string::npos) << no.status().ToString();
  // An attribution's plan is not a job.
  auto plan = *Gate::DecideAttribution({{"format", "distillgate-attribution-plan-v1"}}, *ledger_, key_);
  EXPECT_EQ(Gate::Admit(job, *ledger_, plan.decision_index, plan.permit->decision_leaf_hash()).status().code(),
            Status::Code::kVerifyFailed);
}

TEST(StopRequest, TheFirstSignalIsReported) {
  ClearStopRequest();
  EXPECT_TRUE(CheckNotStopped("work").ok());
  RequestStop(SIGTERM);
  RequestStop(SIGINT);
  Status st = CheckNotStopped("work");
  EXPECT_EQ(st.code(), Status::Code::kInterrupted);
  EXPECT_EQ(st.signal(), SIGTERM);
  EXPECT_EQ(st.ExitCode(), 143);
  EXPECT_NE(st.message().find("SIGTERM"), std::string::npos);
  ClearStopRequest();
  EXPECT_TRUE(CheckNotStopped("work").ok());
}

TEST(StatusOrContract, ReadingTheValueOfAnErrorAborts) {
  StatusOr<std::string> err = Status::IoError("disk on fire");
  EXPECT_DEATH((void)err.value(), "reading the value of an error: I/O error: disk on fire");
  EXPECT_DEATH((void)*err, "disk on fire");
  StatusOr<int> from_ok = Status::Ok();  // a bug: becomes an error instead of a made-up value
  EXPECT_FALSE(from_ok.ok());
  EXPECT_EQ(from_ok.status().code(), Status::Code::kInternal);
  EXPECT_EQ(StatusOr<int>(Status::IoError("x")).value_or(7), 7);
  EXPECT_EQ(StatusOr<int>(3).value_or(7), 3);
  struct NoDefault {
    explicit NoDefault(int v) : value(v) {}
    int value;
  };
  StatusOr<NoDefault> held = NoDefault(5);  // T need not be default-constructible
  EXPECT_EQ(held->value, 5);
}

}  // namespace
}  // namespace dg
