#include "train/run.h"

#include <unistd.h>

#include <cstring>

#include "core/canonical_json.h"
#include "core/clock.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/interrupt.h"
#include "license/knowledge_base.h"
#include "model/model_dir.h"
#include "record/manifest.h"
#include "record/recorded_run.h"
#include "record/run_record.h"
#include "train/ranks.h"

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
    nlohmann::json ej = {{"epoch", e.epoch}, {"loss", e.loss}, {"test_accuracy", e.test_accuracy}, {"seconds", e.seconds}};
    if (!e.params_sha256.empty()) ej["params_sha256"] = e.params_sha256;
    epochs.push_back(std::move(ej));
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
    if (world > 1) {
      j["world_size"] = world;
      j["teacher_calls_per_rank"] = result.calls_per_rank;
      j["allreduce_wait_seconds"] = result.allreduce_wait_seconds;
      j["gradient_buckets"] = result.gradient_buckets;
    }
  }
  return j;
}

namespace {

// What a run reads and checks before anything is decided (every rank reads it).
struct Inputs {
  Job job;
  Policy policy;
  TrainConfig config;
  nlohmann::json init_from;  // what run_start records of a fine-tuning start
  std::string data_dir, model_out;
  std::string model_dir;  // set when the student is written as a model directory
  ImageSet train, test;
  std::vector<DatasetManifest> extra;  // further datasets (then the training data's manifests)
  TeacherSpec teacher;
  nlohmann::json teacher_identity;  // schemas/model-identity.schema.json
};

StatusOr<Inputs> ReadInputs(const RunOptions& o) {
  Inputs in;
  DG_ASSIGN_OR_RETURN(in.job, LoadJob(o.job_path));
  DG_ASSIGN_OR_RETURN(in.policy, LoadPolicy(o.policy_path));
  const Job& job = in.job;
  DG_ASSIGN_OR_RETURN(in.config, TrainConfig::FromJson(job.doc.value("training", nlohmann::json()), o.job_path));
  TrainConfig& config = in.config;
  config.device = o.device;
  config.quiet = o.quiet;
  // train-teacher trains the default CNN unless the job names an arch.
  if (o.train_teacher && !job.doc.value("training", nlohmann::json::object()).contains("arch")) config.arch = "cnn";
  if (!config.init_from.empty()) {
    // A model that starts from another is derived from it: the job must say so.
    if (!job.student.base_model) {
      return Status::InvalidInput(o.job_path + ": /training/init_from: a model fine-tuned from " + config.init_from +
                                  " derives from it; declare it as /student/base_model (name and license) so the gate judges it");
    }
    DG_ASSIGN_OR_RETURN(RunnableModel base, ReadRunnableModel(job.Resolve(config.init_from), o.job_path + ": /training/init_from"));
    config.init_from = base.exec_path;
    config.init_from_sha256 = base.exec_sha256;
    in.init_from = {{"path", config.init_from}, {"sha256", config.init_from_sha256}, {"base_model", job.student.base_model->name},
                    {"model_signing_root", HexEncode(base.identity.root)}};
    if (base.identity.directory) in.init_from["identity"] = base.identity.ToJson();
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
  in.data_dir = job.Resolve(job.datasets[0].path);
  in.model_out =
      job.Resolve(job.doc.contains("output") ? job.doc["output"].value("model", job.name + ".pt") : job.name + ".pt");
  // "output": {"model": "DIR/"}: the student is a model directory (model.pt
  // and model.pt.json in it, beside whatever else is there), recorded by its
  // identity and model_signing root.
  if (!in.model_out.empty() && in.model_out.back() == '/') {
    in.model_dir = in.model_out.substr(0, in.model_out.size() - 1);
    in.model_out = in.model_dir + "/model.pt";
  }
  // Inputs are read before anything is decided, so bad input changes nothing.
  DG_ASSIGN_OR_RETURN(in.train, ReadImageSet(in.data_dir, "train"));
  DG_ASSIGN_OR_RETURN(in.test, ReadImageSet(in.data_dir, "t10k"));
  // Further datasets (a directory, a JSONL file, a file) are recorded, not trained on.
  for (size_t i = 1; i < job.datasets.size(); ++i) {
    const auto& d = job.datasets[i];
    if (d.path.empty()) continue;
    auto m = ManifestPath(d.id, d.license, job.Resolve(d.path));
    if (!m.ok()) return m.status().WithContext(o.job_path + ": /datasets/" + std::to_string(i));
    in.extra.push_back(std::move(m).value());
  }
  if (!o.train_teacher) {
    in.teacher.id = job.teachers[0].id;
    // The teacher: its file, or its model directory, and the one file the
    // trainer executes — loaded here, before anything is decided, so a
    // teacher it cannot run leaves the ledger untouched.
    DG_ASSIGN_OR_RETURN(RunnableModel teacher, ReadRunnableModel(job.Resolve(job.teachers[0].model_file), o.job_path + ": /teachers/0/model_file"));
    if (Status st = CheckRunnableTeacher(teacher.exec_path); !st.ok()) {
      return Status::InvalidInput(o.job_path + ": /teachers/0/model_file: the trainer cannot execute this teacher: " + st.message());
    }
    in.teacher.path = teacher.exec_path;
    in.teacher.sha256 = teacher.exec_sha256;
    in.teacher_identity = teacher.identity.ToJson();
    if (config.init_from_sha256 == in.teacher.sha256) {
      return Status::InvalidInput(o.job_path + ": /training/init_from: the student would start from its own teacher's file");
    }
  }
  return in;
}

// The training split's manifest, as every rank computes it (the call
// digests' input hashes are over its record leaves).
StatusOr<DatasetManifest> TrainManifest(const Inputs& in, const std::string& prefix, const ImageSet& set) {
  return ManifestImageSet(in.job.datasets[0].id + ":" + prefix, in.job.datasets[0].license, in.data_dir, prefix, set,
                          prefix == "train" ? in.config.train_limit : 0);
}

StatusOr<RankEnv> RanksOf(const RunOptions& o) {
  DG_ASSIGN_OR_RETURN(RankEnv env, RankEnvFromEnvironment(o.rank_timeout_seconds));
  if (o.nproc < 1) return Status::InvalidInput("--nproc must be at least 1");
  if (o.nproc > 1) {
    if (env.from_launcher && env.world != o.nproc) {
      return Status::InvalidInput("--nproc " + std::to_string(o.nproc) + " inside a launcher's world of " + std::to_string(env.world) +
                                  " (WORLD_SIZE): give one or the other");
    }
    if (!env.from_launcher) {
      env.world = o.nproc;
      env.rank = 0;
      env.master_addr = "127.0.0.1";
      env.master_port = 0;  // any free port; the spawned ranks are told it
    }
  }
  if (env.distributed() && !HaveGloo()) {
    return Status::InvalidInput("a data-parallel run needs the Gloo backend, which this build of distillgate-train lacks "
                                "(install libgloo-dev and rebuild: scripts/setup.sh)");
  }
  if (env.distributed() && o.device != "cpu") {
    return Status::InvalidInput("--device " + o.device + ": data-parallel runs use the Gloo backend on the CPU in this build (NCCL needs a CUDA LibTorch)");
  }
  return env;
}

// A rank other than 0: rank 0's word first, then a permit of its own from
// the ledger for the run rank 0 opened, then its shard. It writes nothing to
// the ledger; whatever it finds wrong it tells rank 0 (the store key
// admitted/<rank>) before it returns.
StatusOr<RunSummary> JoinRun(const RunOptions& o, const RankEnv& env) {
  DG_ASSIGN_OR_RETURN(std::unique_ptr<RankGroup> group, RankGroup::Open(env));
  const std::string me = "rank " + std::to_string(env.rank);
  const std::string admitted = "admitted/" + std::to_string(env.rank);
  auto refuse = [&](Status why) -> Status {
    group->Publish(admitted, why.message().empty() ? "refused" : why.message()).IgnoreError();
    return why;
  };
  StatusOr<Inputs> read = ReadInputs(o);
  if (!read.ok()) return refuse(read.status().WithContext(me));
  Inputs& in = *read;
  DG_ASSIGN_OR_RETURN(std::string word, group->Wait("permit", [] { return CheckNotStopped("").ok() ? "" : "stopped by a signal"; }));
  auto parsed = ParseJsonStrict(word, "rank 0's word");
  if (!parsed.ok() || !parsed->is_object()) return refuse(Status::VerifyFailed(me + ": rank 0 sent no permit"));
  const nlohmann::json w = *parsed;
  RunSummary s;
  s.rank = env.rank;
  s.world = env.world;
  s.verdict = w.value("verdict", "");
  s.run_id = w.value("run", "");
  s.decision_index = w.value("decision_index", uint64_t{0});
  if (!w.value("allowed", false)) {
    s.exit_code = w.value("exit_code", 1);
    group->Publish(admitted, "refused by the gate").IgnoreError();  // rank 0 may end now
    return s;  // refused: rank 0 recorded it; nothing is trained anywhere
  }
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(o.ledger_path, Ledger::Mode::kReadOnly));
  Hash leaf{};
  const std::optional<std::string> leaf_bytes = Base64Decode(w.value("decision_leaf_hash", ""));
  if (!leaf_bytes || leaf_bytes->size() != leaf.size()) return refuse(Status::VerifyFailed(me + ": rank 0's permit names no decision leaf"));
  std::memcpy(leaf.data(), leaf_bytes->data(), leaf.size());
  StatusOr<Permit> permit = Gate::Admit(in.job, *ledger, s.decision_index, leaf);
  if (!permit.ok()) return refuse(permit.status().WithContext(me + " refuses to train"));
  // The run must be the one rank 0 opened for this decision, and still open.
  if (RunIdFor(in.job.sha256, s.decision_index) != s.run_id) return refuse(Status::VerifyFailed(me + ": rank 0 named another run"));
  StatusOr<RunRecord> rec = LoadRunRecord(*ledger, s.run_id);
  if (!rec.ok()) return refuse(rec.status().WithContext(me));
  if (!rec->run_start || rec->status() != RunStatus::kIncomplete) {
    return refuse(Status::VerifyFailed(me + " refuses to train: run " + s.run_id + " is " + RunStatusName(rec->status()) +
                                       ", not open"));
  }
  DG_ASSIGN_OR_RETURN(DatasetManifest train_manifest, TrainManifest(in, "train", in.train));
  ShareCores(env);
  DG_RETURN_IF_ERROR(group->Publish(admitted, "ok"));
  DG_RETURN_IF_ERROR(group->ConnectCollectives());
  StatusOr<TrainResult> r = o.train_teacher
                                ? TrainTeacher(*permit, in.job, *ledger, in.train, in.test, in.config, "", group.get())
                                : Distill(*permit, in.job, *ledger, in.train, train_manifest.record_leaves, in.test, in.teacher,
                                          nullptr, in.config, "", group.get());
  if (!r.ok()) return r.status().WithContext(me);
  s.result = *r;
  s.trained = true;
  return s;
}

}  // namespace

StatusOr<RunSummary> RunJob(const RunOptions& o) {
  DG_ASSIGN_OR_RETURN(RankEnv env, RanksOf(o));
  if (env.rank > 0) return JoinRun(o, env);
  DG_ASSIGN_OR_RETURN(Inputs in, ReadInputs(o));
  // The output model is never overwritten silently: an attestation of the
  // earlier one would no longer verify. --force overwrites, and run_start
  // records what it replaced.
  nlohmann::json replaced;
  if (FileExists(in.model_out)) {
    if (!o.force) {
      return Status::InvalidInput(o.job_path + ": /output/model: " + in.model_out +
                                  " exists (an earlier run's model?); choose another output.model or pass --force, which the run records");
    }
    DG_ASSIGN_OR_RETURN(Hash old_sha, Sha256File(in.model_out));
    replaced = {{"path", in.model_out}, {"sha256", HexEncode(old_sha)}};
  }
  const Job& job = in.job;
  TrainConfig& config = in.config;
  std::vector<DatasetManifest>& extra = in.extra;
  DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::LoadPemFile(o.key_path));
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(o.ledger_path, Ledger::Mode::kReadWrite));
  DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::ForThisProcess());
  // Rank 0 hosts the ranks' store before it decides, so a launcher's ranks
  // can wait for its word (a port taken is bad input: nothing is decided).
  std::unique_ptr<RankGroup> group;
  if (env.distributed()) {
    DG_ASSIGN_OR_RETURN(group, RankGroup::Open(env));
  }

  RunSummary s;
  s.world = env.world;
  DG_ASSIGN_OR_RETURN(GateResult gate, Gate::Decide(job, in.policy, *kb, *ledger, key, TodayUtc()));
  s.verdict = VerdictName(gate.decision.verdict);
  s.decision_index = gate.decision_index;
  s.exit_code = gate.decision.ExitCode();
  s.run_id = RunIdFor(job.sha256, gate.decision_index);
  if (!gate.permit) {
    if (group && env.from_launcher) {
      // The launcher's other ranks are waiting: tell them nothing is trained.
      // Rank 0 hosts the store, so it stays until each has read the word.
      group->Publish("permit", nlohmann::json{{"allowed", false}, {"verdict", s.verdict}, {"exit_code", s.exit_code},
                                              {"run", s.run_id}, {"decision_index", s.decision_index}}.dump()).IgnoreError();
      for (int r = 1; r < env.world; ++r) group->Wait("admitted/" + std::to_string(r)).status().IgnoreError();
    }
    DG_ASSIGN_OR_RETURN(s.ledger_size, ledger->Size());
    return s;  // refused: recorded, nothing trained
  }
  nlohmann::json start = {{"training", config.ToJson()}, {"runtime", TorchDescription()}};
  if (!in.init_from.is_null()) start["init_from"] = in.init_from;
  if (!replaced.is_null()) start["overwrites"] = replaced;  // --force
  if (!o.train_teacher) {
    start["teacher"] = {{"id", in.teacher.id}, {"sha256", in.teacher.sha256}, {"license", job.teachers[0].license},
                        {"model_signing_root", in.teacher_identity["model_signing"]["root_sha256"]},
                        {"identity", in.teacher_identity}};
    // What a teacher_call's input_sha256 hashes (docs/runner.md).
    start["teacher_input_hash"] = "sha256-of-record-leaves";
  }
  if (env.distributed()) {
    // How the ranks share the data (docs/runner.md, More than one process).
    start["data_parallel"] = {{"world_size", env.world}, {"backend", "gloo"},
                              {"sampler", "seeded-shuffle-padded-strided-v1"}, {"gradient_average", "all-reduce mean"}};
  }
  DG_ASSIGN_OR_RETURN(
      std::unique_ptr<RecordedRun> run,
      RecordedRun::Begin(*gate.permit, job, *ledger, key,
                         {o.train_teacher ? "train-teacher" : "distill", std::move(start), kCallsPerCheckpoint}));
  // From here on, every path closes the run: completed, failed or interrupted.
  // Dataset manifests: per-record leaves under one root, per-file SHA-256.
  const size_t train_manifest = extra.size();
  for (const auto& [prefix, set] : {std::make_pair(std::string("train"), &in.train), std::make_pair(std::string("t10k"), &in.test)}) {
    auto m = TrainManifest(in, prefix, *set);
    if (!m.ok()) return run->Fail(m.status());
    extra.push_back(std::move(m).value());
  }
  std::vector<nlohmann::json> manifests;
  for (const auto& m : extra) manifests.push_back(m.ToEntryBody());
  if (Status st = run->AppendAll("dataset_manifest", std::move(manifests)); !st.ok()) return run->Fail(st);

  // The other ranks: started here (--nproc) or by a launcher; each must take
  // its own permit from the ledger before rank 0 goes on.
  std::vector<pid_t> spawned;
  auto fail_ranks = [&](Status why) -> Status {
    // Ctrl-C reaches every rank of the terminal's process group: a collective
    // that failed because another rank stopped first is an interruption.
    if (Status stopped = CheckNotStopped("training"); !stopped.ok() && why.code() != Status::Code::kInterrupted) {
      why = stopped;
    }
    std::string who = EndedRanks(spawned);
    if (who.empty() && group && why.code() == Status::Code::kIoError) {
      // A killed rank's sockets close before the kernel reports it ended, so
      // a collective can fail first: look again after the heartbeat window
      // and prefer how a rank ended over its silence.
      std::string silent = group->SilentRanks();
      who = EndedRanks(spawned);
      if (who.empty()) who = std::move(silent);
    }
    if (!who.empty()) why = why.WithContext(who);
    ReapRanks(spawned, true);
    return run->Fail(why);
  };
  if (group) {
    if (!env.from_launcher) {
      auto pids = SpawnRanks(env, group->port());
      if (!pids.ok()) return run->Fail(pids.status());
      spawned = std::move(pids).value();
    }
    Status st = group->Publish("permit", nlohmann::json{{"allowed", true}, {"verdict", s.verdict}, {"run", s.run_id},
                                                        {"decision_index", s.decision_index},
                                                        {"decision_leaf_hash", Base64Encode(gate.permit->decision_leaf_hash())}}
                                             .dump());
    if (!st.ok()) return fail_ranks(st);
    auto give_up = [&spawned]() -> std::string {
      if (!CheckNotStopped("").ok()) return "stopped by a signal";
      return EndedRanks(spawned);
    };
    for (int r = 1; r < env.world; ++r) {
      StatusOr<std::string> word = group->Wait("admitted/" + std::to_string(r), give_up);
      if (!word.ok()) return fail_ranks(word.status());
      if (*word != "ok") return fail_ranks(Status::VerifyFailed("rank " + std::to_string(r) + " did not join: " + *word));
    }
    if (Status c = group->ConnectCollectives(); !c.ok()) return fail_ranks(c);
    ShareCores(env);
  }

  if (!in.model_dir.empty()) {
    if (Status st = MakeDirectories(in.model_dir); !st.ok()) return fail_ranks(st);
  }
  StatusOr<TrainResult> r = o.train_teacher
                                ? TrainTeacher(*gate.permit, job, *ledger, in.train, in.test, config, in.model_out, group.get())
                                : Distill(*gate.permit, job, *ledger, in.train, extra[train_manifest].record_leaves, in.test,
                                          in.teacher, &run->calls(), config, in.model_out, group.get());
  if (!r.ok()) return fail_ranks(r.status());
  s.result = *r;
  s.trained = true;
  nlohmann::json epochs = s.ToJson()["epochs"];
  // The student's model_signing root (a file as `model sign` names it: one
  // resource "."; a model directory: all its files), so a model_signing
  // signature, the attestation and this entry carry one digest.
  const std::optional<Hash> model_hash = HashFromHex(r->model_sha256);
  std::string model_root = model_hash ? HexEncode(ModelSigningRoot({*model_hash})) : "";
  nlohmann::json model_entry = {{"path", in.model_out}, {"sha256", r->model_sha256}, {"student", job.student.name}, {"arch", config.arch},
                                {"metrics", {{"test_accuracy", r->student_accuracy}, {"epochs", epochs}}}};
  if (!in.model_dir.empty()) {
    auto dir = HashModel(in.model_dir);
    if (!dir.ok()) return fail_ranks(dir.status());
    model_root = HexEncode(dir->root);
    model_entry["directory"] = dir->ToJson();
  }
  model_entry["model_signing_root"] = model_root;
  Status st = run->Append("model", std::move(model_entry));
  if (!st.ok()) return fail_ranks(st);
  nlohmann::json end = {{"teacher_calls", r->teacher_calls},
                        {"teacher_calls_root", Base64Encode(run->calls().calls_root())},
                        {"examples_seen", r->examples_seen},
                        {"student_accuracy", r->student_accuracy},
                        {"teacher_accuracy", r->teacher_accuracy < 0 ? nlohmann::json() : nlohmann::json(r->teacher_accuracy)},
                        {"model_sha256", r->model_sha256}};
  if (env.distributed()) {
    end["world_size"] = env.world;
    end["teacher_calls_per_rank"] = r->calls_per_rank;
    end["params_sha256"] = r->epochs.empty() ? "" : r->epochs.back().params_sha256;
  }
  st = run->Complete(std::move(end));
  if (!st.ok()) return fail_ranks(st);
  const std::string ended = ReapRanks(spawned, false);
  if (!ended.empty() && !o.quiet) std::fprintf(stderr, "distillgate: after the run completed, %s\n", ended.c_str());
  DG_ASSIGN_OR_RETURN(s.ledger_size, ledger->Size());
  return s;
}

}  // namespace dg
