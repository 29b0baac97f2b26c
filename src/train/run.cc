#include "train/run.h"

#include <unistd.h>

#include "core/clock.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "license/knowledge_base.h"
#include "record/manifest.h"
#include "record/recorded_run.h"
#include "record/run_record.h"

namespace dg {
namespace {

// Teacher calls appended per signed checkpoint (one fsync'd commit each): a
// KD epoch over Fashion-MNIST makes 469 calls of ~0.15 ms of recording each
// (hashing the batch and the logits), and each commit costs a few ms, so
// batches of 256 keep recording near 1 % of the training time.
constexpr size_t kCallsPerCheckpoint = 256;

}  // namespace

nlohmann::json RunSummary::ToJson() const {
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& e : result.epochs) {
    epochs.push_back({{"epoch", e.epoch}, {"loss", e.loss}, {"test_accuracy", e.test_accuracy}, {"seconds", e.seconds}});
  }
  nlohmann::json j = {{"verdict", verdict}, {"trained", trained}, {"decision_index", decision_index}, {"run", run_id}, {"ledger_size", ledger_size}};
  if (trained) {
    j["teacher_accuracy"] = result.teacher_accuracy < 0 ? nlohmann::json() : nlohmann::json(result.teacher_accuracy);
    j["student_accuracy"] = result.student_accuracy;
    j["teacher_calls"] = result.teacher_calls;
    j["model"] = {{"path", result.model_path}, {"sha256", result.model_sha256}};
    j["device"] = result.device;
    j["epochs"] = epochs;
    j["train_seconds"] = result.train_seconds;
    j["recording_seconds"] = result.recording_seconds;
  }
  return j;
}

StatusOr<RunSummary> RunJob(const RunOptions& o) {
  DG_ASSIGN_OR_RETURN(Job job, LoadJob(o.job_path));
  DG_ASSIGN_OR_RETURN(Policy policy, LoadPolicy(o.policy_path));
  DG_ASSIGN_OR_RETURN(TrainConfig config, TrainConfig::FromJson(job.doc.value("training", nlohmann::json()), o.job_path));
  config.device = o.device;
  config.quiet = o.quiet;
  // train-teacher trains the default CNN unless the job names an arch.
  if (o.train_teacher && !job.doc.value("training", nlohmann::json::object()).contains("arch")) config.arch = "cnn";
  nlohmann::json init_from;  // what run_start records of a fine-tuning start
  if (!config.init_from.empty()) {
    // A model that starts from another is derived from it: the job must say so.
    if (!job.student.base_model) {
      return Status::InvalidInput(o.job_path + ": /training/init_from: a model fine-tuned from " + config.init_from +
                                  " derives from it; declare it as /student/base_model (name and license) so the gate judges it");
    }
    config.init_from = job.Resolve(config.init_from);
    DG_ASSIGN_OR_RETURN(Hash ih, Sha256File(config.init_from));
    config.init_from_sha256 = HexEncode(ih);
    init_from = {{"path", config.init_from}, {"sha256", config.init_from_sha256}, {"base_model", job.student.base_model->name}};
  }
  if (Status st = TrainsOnCuda(config).status(); !st.ok()) return Status::InvalidInput(o.job_path + ": " + st.message());
  if (o.train_teacher && !job.teachers.empty()) {
    return Status::InvalidInput(o.job_path + ": /teachers: a train-teacher job trains on labels and names no teachers");
  }
  if (!o.train_teacher) {
    if (job.teachers.size() != 1) return Status::InvalidInput(o.job_path + ": /teachers: `run` needs exactly one teacher");
    if (job.teachers[0].kind != "local" || job.teachers[0].model_file.empty()) {
      return Status::InvalidInput(o.job_path + ": /teachers/0: `run` needs a local teacher with a model_file "
                                  "(API teachers are not supported by this runner yet)");
    }
  }
  if (job.datasets.empty() || job.datasets[0].path.empty()) {
    return Status::InvalidInput(o.job_path + ": /datasets/0/path: the IDX dataset directory is required");
  }
  const std::string data_dir = job.Resolve(job.datasets[0].path);
  const std::string model_out =
      job.Resolve(job.doc.contains("output") ? job.doc["output"].value("model", job.name + ".pt") : job.name + ".pt");
  // Inputs are read before anything is decided, so bad input changes nothing.
  DG_ASSIGN_OR_RETURN(ImageSet train, ReadImageSet(data_dir, "train"));
  DG_ASSIGN_OR_RETURN(ImageSet test, ReadImageSet(data_dir, "t10k"));
  // Further datasets (a directory, a JSONL file, a file) are recorded, not trained on.
  std::vector<DatasetManifest> extra;  // then the training data's manifests are added
  for (size_t i = 1; i < job.datasets.size(); ++i) {
    const auto& d = job.datasets[i];
    if (d.path.empty()) continue;
    auto m = ManifestPath(d.id, d.license, job.Resolve(d.path));
    if (!m.ok()) return m.status().WithContext(o.job_path + ": /datasets/" + std::to_string(i));
    extra.push_back(std::move(m).value());
  }
  TeacherSpec teacher;
  if (!o.train_teacher) {
    teacher.id = job.teachers[0].id;
    teacher.path = job.Resolve(job.teachers[0].model_file);
    DG_ASSIGN_OR_RETURN(Hash th, Sha256File(teacher.path));
    teacher.sha256 = HexEncode(th);
    if (config.init_from_sha256 == teacher.sha256) {
      return Status::InvalidInput(o.job_path + ": /training/init_from: the student would start from its own teacher's file");
    }
  }
  DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::LoadPemFile(o.key_path));
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(o.ledger_path, Ledger::Mode::kReadWrite));
  DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::Builtin());

  RunSummary s;
  DG_ASSIGN_OR_RETURN(GateResult gate, Gate::Decide(job, policy, *kb, *ledger, key, TodayUtc()));
  s.verdict = VerdictName(gate.decision.verdict);
  s.decision_index = gate.decision_index;
  s.exit_code = gate.decision.ExitCode();
  s.run_id = RunIdFor(job.sha256, gate.decision_index);
  if (!gate.permit) {
    DG_ASSIGN_OR_RETURN(s.ledger_size, ledger->Size());
    return s;  // refused: recorded, nothing trained
  }
  nlohmann::json start = {{"training", config.ToJson()}, {"runtime", TorchDescription()}};
  if (!init_from.is_null()) start["init_from"] = init_from;
  if (!o.train_teacher) {
    start["teacher"] = {{"id", teacher.id}, {"sha256", teacher.sha256}, {"license", job.teachers[0].license}};
    // What a teacher_call's input_sha256 hashes (docs/runner.md).
    start["teacher_input_hash"] = "sha256-of-record-leaves";
  }
  DG_ASSIGN_OR_RETURN(
      std::unique_ptr<RecordedRun> run,
      RecordedRun::Begin(*gate.permit, job, *ledger, key,
                         {o.train_teacher ? "train-teacher" : "distill", std::move(start), kCallsPerCheckpoint}));
  // From here on, every path closes the run: completed, failed or interrupted.
  // Dataset manifests: per-record leaves under one root, per-file SHA-256.
  const size_t train_manifest = extra.size();
  for (const auto& [prefix, set] : {std::make_pair(std::string("train"), &train), std::make_pair(std::string("t10k"), &test)}) {
    auto m = ManifestImageSet(job.datasets[0].id + ":" + prefix, job.datasets[0].license, data_dir, prefix, *set,
                              prefix == "train" ? config.train_limit : 0);
    if (!m.ok()) return run->Fail(m.status());
    extra.push_back(std::move(m).value());
  }
  std::vector<nlohmann::json> manifests;
  for (const auto& m : extra) manifests.push_back(m.ToEntryBody());
  if (Status st = run->AppendAll("dataset_manifest", std::move(manifests)); !st.ok()) return run->Fail(st);

  StatusOr<TrainResult> r = o.train_teacher
                                ? TrainTeacher(*gate.permit, job, *ledger, train, test, config, model_out)
                                : Distill(*gate.permit, job, *ledger, train, extra[train_manifest].record_leaves, test,
                                          teacher, run->calls(), config, model_out);
  if (!r.ok()) return run->Fail(r.status());
  s.result = *r;
  s.trained = true;
  nlohmann::json epochs = s.ToJson()["epochs"];
  Status st = run->Append("model", {{"path", model_out}, {"sha256", r->model_sha256}, {"student", job.student.name},
                                    {"arch", config.arch},
                                    {"metrics", {{"test_accuracy", r->student_accuracy}, {"epochs", epochs}}}});
  if (!st.ok()) return run->Fail(st);
  st = run->Complete({{"teacher_calls", r->teacher_calls},
                      {"teacher_calls_root", Base64Encode(run->calls().calls_root())},
                      {"examples_seen", r->examples_seen},
                      {"student_accuracy", r->student_accuracy},
                      {"teacher_accuracy", r->teacher_accuracy < 0 ? nlohmann::json() : nlohmann::json(r->teacher_accuracy)},
                      {"model_sha256", r->model_sha256}});
  if (!st.ok()) return run->Fail(st);
  DG_ASSIGN_OR_RETURN(s.ledger_size, ledger->Size());
  return s;
}

}  // namespace dg
