#include "train/lm_run.h"

#include <chrono>
#include <ctime>
#include <optional>

#include "core/clock.h"
#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "ledger/ledger.h"
#include "license/knowledge_base.h"
#include "ledger/merkle.h"
#include "model/model_dir.h"
#include "record/call_recorder.h"
#include "record/manifest.h"
#include "record/recorded_run.h"
#include "record/run_record.h"
#include "transcripts/reader.h"
#include "transcripts/transcript_run.h"
#include "policy/evaluate.h"
#include "policy/gate.h"
#include "policy/job.h"
#include "policy/policy.h"
#include "train/lm.h"
#include "train/trainer.h"

namespace dg {

using json = nlohmann::json;

namespace {

// The device from --device, checked before anything is decided (bad input:
// exit 2, nothing written).
Status SetLmDevice(const TrainLmOptions& o, ByteLmConfig* config) {
  if (Status st = TrainsOnCuda(o.device).status(); !st.ok()) return Status::InvalidInput(o.job_path + ": " + st.message());
  config->device = o.device;
  config->quiet = o.quiet;
  return Status::Ok();
}

// Held-out bits per byte of student and baseline and, with a teacher, the
// teacher's and both students' agreement with its next-byte choices (on its
// own greedy text and on the held-out corpus).
json CompareStudents(const ByteLm* teacher, const ByteLm& student, const ByteLm& baseline, const std::string& heldout) {
  json m = {{"heldout_bytes", heldout.size()},
            {"student_heldout_bits_per_byte", student.BitsPerByte(heldout)},
            {"baseline_heldout_bits_per_byte", baseline.BitsPerByte(heldout)}};
  if (teacher == nullptr) return m;
  std::string probe;
  for (int i = 0; i < 8; ++i) probe += teacher->Generate(std::string(1, static_cast<char>('a' + i)), 96, 0, 0);
  m["teacher_heldout_bits_per_byte"] = teacher->BitsPerByte(heldout);
  m["agreement_probe"] = "the teacher's own greedy continuations of a..h, 96 bytes each";
  m["student_agreement"] = student.NextByteAgreement(*teacher, probe);
  m["baseline_agreement"] = baseline.NextByteAgreement(*teacher, probe);
  m["student_heldout_agreement"] = student.NextByteAgreement(*teacher, heldout);
  m["baseline_heldout_agreement"] = baseline.NextByteAgreement(*teacher, heldout);
  return m;
}

// Where the job's model goes: output.model, else "<job name>.pt", beside the
// job. "DIR/" (a trailing slash) makes the student a model directory:
// DIR/model.pt and DIR/model.pt.json, beside whatever else DIR holds.
struct ModelOut {
  std::string file;
  std::string directory;  // "" for a single file
};
ModelOut ModelOutPath(const Job& job) {
  ModelOut out;
  out.file = job.Resolve(job.doc.contains("output") ? job.doc["output"].value("model", job.name + ".pt") : job.name + ".pt");
  if (!out.file.empty() && out.file.back() == '/') {
    out.directory = out.file.substr(0, out.file.size() - 1);
    out.file = out.directory + "/model.pt";
  }
  return out;
}

// A saved student: its `model` entry's identity fields and what the command's
// summary says of it.
struct SavedStudent {
  std::string sha256;  // hex, of the file
  json entry;          // path, sha256, model_signing_root (a file: the root of
                       // the one resource "."; a directory: of all its files,
                       // as `model sign` and `attest --model DIR` name it) and,
                       // for a directory, its identity
  json summary;        // path, sha256 and, for a directory, its path
};

// Saves the student where the job says. A directory is hashed once: the
// file's digest is taken from its manifest.
StatusOr<SavedStudent> SaveStudent(const ByteLm& lm, const ModelOut& out) {
  if (!out.directory.empty()) DG_RETURN_IF_ERROR(MakeDirectories(out.directory));
  DG_RETURN_IF_ERROR(lm.Save(out.file));
  SavedStudent saved;
  if (out.directory.empty()) {
    DG_ASSIGN_OR_RETURN(Hash sha, Sha256File(out.file));
    saved.sha256 = HexEncode(sha);
    saved.entry = {{"model_signing_root", HexEncode(ModelSigningRoot({sha}))}};
  } else {
    DG_ASSIGN_OR_RETURN(ModelManifest dir, HashModel(out.directory));
    const ModelFile* f = dir.Find("model.pt");
    if (f == nullptr) return Status::Internal(out.file + ": not in the manifest of " + out.directory + " after saving");
    saved.sha256 = HexEncode(f->sha256);
    saved.entry = {{"model_signing_root", HexEncode(dir.root)}, {"directory", dir.ToJson()}};
  }
  saved.entry["path"] = out.file;
  saved.entry["sha256"] = saved.sha256;
  saved.summary = {{"path", out.file}, {"sha256", saved.sha256}};
  if (!out.directory.empty()) saved.summary["directory"] = out.directory;
  return saved;
}

// A local LM teacher named by the job (a byte-LM file or a model directory
// holding one), loaded, and what run_start records of it.
struct LmTeacher {
  ByteLm lm;
  std::string sha256;  // hex, of the file executed
  json identity;       // schemas/model-identity.schema.json
};
StatusOr<LmTeacher> LoadLmTeacher(const Job& job, const std::string& job_path) {
  const std::string what = job_path + ": /teachers/0/model_file";
  DG_ASSIGN_OR_RETURN(RunnableModel m, ReadRunnableModel(job.Resolve(job.teachers[0].model_file), what));
  auto lm = ByteLm::Load(m.exec_path);
  if (!lm.ok()) return lm.status().WithContext(what);
  return LmTeacher{std::move(lm).value(), m.exec_sha256, m.identity.ToJson()};
}

// run_start's teacher: as `run` records a local teacher.
json TeacherStart(const JobTeacher& t, const LmTeacher& lm) {
  return {{"id", t.id}, {"license", t.license}, {"sha256", lm.sha256},
          {"model_signing_root", lm.identity["model_signing"]["root_sha256"]}, {"identity", lm.identity}};
}

// The gate of an LM run: the decision recorded, and, when it allows, the
// ledger and key kept open for the run (they outlive it: both are owned here
// on the heap, so moving the GatedRun moves no address the run holds).
struct GatedRun {
  json summary;  // verdict, decision_index, run, exit_code, trained:false
  std::string corpus;        // datasets[0] as the LM reads it (AsciiLines)
  DatasetManifest manifest;  // of datasets[0], read before the decision
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<PrivateKey> key;
  std::optional<Permit> permit;  // set when the decision allows training

  // Opens the recorded run (run_start; the permit is re-checked first).
  StatusOr<std::unique_ptr<RecordedRun>> Begin(const Job& job, const std::string& mode, json fields, size_t calls_per_batch = 256) {
    return RecordedRun::Begin(*permit, job, *ledger, *key, {mode, std::move(fields), calls_per_batch});
  }
};

StatusOr<GatedRun> DecideRun(const Job& job, const Policy& policy, const TrainLmOptions& o) {
  // The corpus is read before anything is decided: bad input writes nothing.
  const std::string corpus_path = job.Resolve(job.datasets[0].path);
  DG_ASSIGN_OR_RETURN(std::string raw, ReadFile(corpus_path));
  DG_ASSIGN_OR_RETURN(DatasetManifest manifest, ManifestPath(job.datasets[0].id, job.datasets[0].license, corpus_path));
  DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::LoadPemFile(o.key_path));
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(o.ledger_path, Ledger::Mode::kReadWrite));
  DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::ForThisProcess());
  DG_ASSIGN_OR_RETURN(GateResult gate, Gate::Decide(job, policy, *kb, *ledger, key, TodayUtc()));
  GatedRun g;
  g.summary = {{"verdict", VerdictName(gate.decision.verdict)},
               {"decision_index", gate.decision_index},
               {"run", RunIdFor(job.sha256, gate.decision_index)},
               {"exit_code", gate.decision.ExitCode()},
               {"trained", false}};
  g.corpus = AsciiLines(raw);
  g.manifest = std::move(manifest);
  g.ledger = std::move(ledger);
  g.key = std::make_unique<PrivateKey>(std::move(key));
  g.permit = std::move(gate.permit);
  return g;
}

}  // namespace

StatusOr<json> RunTrainLm(const TrainLmOptions& o) {
  DG_ASSIGN_OR_RETURN(Job job, LoadJob(o.job_path));
  DG_ASSIGN_OR_RETURN(Policy policy, LoadPolicy(o.policy_path));
  if (!job.teachers.empty()) return Status::InvalidInput(o.job_path + ": /teachers: train-lm trains from the corpus alone; expected []");
  if (job.datasets.empty() || job.datasets[0].path.empty()) {
    return Status::InvalidInput(o.job_path + ": /datasets/0/path: train-lm needs the corpus file");
  }
  DG_ASSIGN_OR_RETURN(ByteLmConfig config, ByteLmConfig::FromJson(job.doc.value("training", json::object()), o.job_path));
  DG_RETURN_IF_ERROR(SetLmDevice(o, &config));
  config.name = job.student.name;
  const ModelOut model_out = ModelOutPath(job);
  DG_ASSIGN_OR_RETURN(GatedRun g, DecideRun(job, policy, o));
  json summary = g.summary;
  if (!g.permit) return summary;
  const std::string& corpus = g.corpus;
  json training = config.ToJson();
  training["device"] = config.device;
  training["corpus_preprocessing"] = "lines of printable ASCII only, newline-joined (others dropped)";
  training["corpus_bytes_used"] = corpus.size();
  DG_ASSIGN_OR_RETURN(std::unique_ptr<RecordedRun> run,
                      g.Begin(job, "train-lm", {{"training", training}, {"runtime", TorchDescription()}}));
  auto fail = [&run](const Status& st) { return run->Fail(st); };
  Status st = run->Append("dataset_manifest", g.manifest.ToEntryBody());
  if (!st.ok()) return fail(st);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<double> losses;
  auto lm = ByteLm::Train(corpus, config, &losses);
  if (!lm.ok()) return fail(lm.status());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto saved = SaveStudent(*lm, model_out);
  if (!saved.ok()) return fail(saved.status());
  const std::string& sha = saved->sha256;
  json curve = json::array();
  const size_t every = std::max<size_t>(1, losses.size() / 20);
  for (size_t i = 0; i < losses.size(); i += every) curve.push_back({{"step", i + 1}, {"loss", losses[i]}});
  const double bpb = lm->heldout_bits_per_byte();
  json model_entry = saved->entry;
  model_entry.update({{"student", job.student.name}, {"arch", "byte-gru"},
                      {"metrics", {{"heldout_bits_per_byte", bpb}, {"heldout_perplexity", std::pow(2.0, bpb)}, {"loss_curve", curve},
                                   {"epochs", json::array()}, {"seconds", seconds}}}});
  st = run->Append("model", std::move(model_entry));
  if (!st.ok()) return fail(st);
  st = run->Complete({{"teacher_calls", 0}, {"teacher_calls_root", Base64Encode(EmptyRootHash())},
                      {"model_sha256", sha}, {"heldout_bits_per_byte", bpb}});
  if (!st.ok()) return fail(st);
  summary["trained"] = true;
  summary["model"] = saved->summary;
  summary["heldout_bits_per_byte"] = bpb;
  summary["heldout_perplexity"] = std::pow(2.0, bpb);
  summary["train_seconds"] = seconds;
  return summary;
}

namespace {

// Token-level distillation from a local LM teacher (job teacher kind
// "local" with model_file, training.loss "kd"): every teacher forward pass is
// a recorded teacher_call; the baseline is the same student on hard next-byte
// targets only.
StatusOr<json> RunTokenKd(const Job& job, const Policy& policy, const TrainLmOptions& o, ByteLmConfig config) {
  const JobTeacher& teacher = job.teachers[0];
  const json t = job.doc.value("training", json::object());
  const double T = t.value("temperature", 2.0), alpha = t.value("alpha", 0.9);
  DG_ASSIGN_OR_RETURN(LmTeacher named, LoadLmTeacher(job, o.job_path));
  const ByteLm& teacher_lm = named.lm;
  const ModelOut model_out = ModelOutPath(job);
  DG_ASSIGN_OR_RETURN(GatedRun g, DecideRun(job, policy, o));
  json summary = g.summary;
  if (!g.permit) return summary;
  const std::string heldout = g.corpus.substr(g.corpus.size() - g.corpus.size() / 20);
  const std::string train = g.corpus.substr(0, g.corpus.size() - heldout.size());
  json training = config.ToJson();
  training["device"] = config.device;
  training["method"] = "token-level distillation";
  training["loss"] = "alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, next byte)";
  training["temperature"] = T;
  training["alpha"] = alpha;
  training["baseline"] = "the same model and steps with alpha = 0 (next-byte cross-entropy only)";
  DG_ASSIGN_OR_RETURN(std::unique_ptr<RecordedRun> run,
                      g.Begin(job, "distill-lm",
                              {{"training", training},
                               {"runtime", TorchDescription()},
                               {"teacher", TeacherStart(teacher, named)}},
                              /*calls_per_batch=*/64));
  auto fail = [&run](const Status& st) { return run->Fail(st); };
  Status st = run->Append("dataset_manifest", g.manifest.ToEntryBody());
  if (!st.ok()) return fail(st);
  CallRecorder& recorder = run->calls();
  uint64_t sequence = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto student = ByteLm::TrainKd(train, config, teacher_lm, T, alpha, [&](const Hash& in, const Hash& out, uint64_t positions) {
    TeacherCall c;
    c.teacher_id = teacher.id;
    c.teacher_sha256 = named.sha256;
    c.sequence = sequence++;
    c.input_sha256 = in;
    c.output_sha256 = out;
    c.items = positions;
    c.time = NowRfc3339();
    return recorder.Record(c);
  });
  if (!student.ok()) return fail(student.status());
  st = recorder.Flush();
  if (!st.ok()) return fail(st);
  auto baseline = ByteLm::Train(train, config, nullptr);
  if (!baseline.ok()) return fail(baseline.status());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto saved = SaveStudent(*student, model_out);
  if (!saved.ok()) return fail(saved.status());
  const std::string& sha = saved->sha256;
  json metrics = CompareStudents(&teacher_lm, *student, *baseline, heldout);
  metrics["seconds"] = seconds;
  metrics["epochs"] = json::array();
  json model_entry = saved->entry;
  model_entry.update({{"student", job.student.name}, {"arch", "byte-gru"}, {"metrics", metrics}});
  st = run->Append("model", std::move(model_entry));
  if (!st.ok()) return fail(st);
  st = run->Complete({{"teacher_calls", recorder.recorded()},
                      {"teacher_calls_root", Base64Encode(recorder.calls_root())},
                      {"model_sha256", sha}});
  if (!st.ok()) return fail(st);
  summary["trained"] = true;
  summary["teacher_calls"] = recorder.recorded();
  summary["model"] = saved->summary;
  summary["metrics"] = metrics;
  return summary;
}

}  // namespace

StatusOr<json> RunDistillLm(const TrainLmOptions& o) {
  DG_ASSIGN_OR_RETURN(Job job, LoadJob(o.job_path));
  DG_ASSIGN_OR_RETURN(Policy policy, LoadPolicy(o.policy_path));
  if (job.teachers.size() == 1 && job.teachers[0].kind == "local" && job.doc.value("training", json::object()).value("loss", "") == "kd") {
    if (job.teachers[0].model_file.empty()) return Status::InvalidInput(o.job_path + ": /teachers/0/model_file: the local LM teacher");
    if (job.datasets.empty() || job.datasets[0].path.empty()) {
      return Status::InvalidInput(o.job_path + ": /datasets/0/path: token-level distillation needs the text corpus");
    }
    DG_ASSIGN_OR_RETURN(ByteLmConfig config, ByteLmConfig::FromJson(job.doc.value("training", json::object()), o.job_path));
    DG_RETURN_IF_ERROR(SetLmDevice(o, &config));
    config.name = job.student.name;
    return RunTokenKd(job, policy, o, config);
  }
  const std::vector<TranscriptSource> sources = TranscriptSourcesOf(job);
  if (job.teachers.size() != 1 || sources.size() != 1) {
    return Status::InvalidInput(o.job_path + ": /teachers: distill-lm takes one api teacher with a `transcript`, "
                                "or one local LM teacher (model_file) with training.loss \"kd\"");
  }
  const JobTeacher& teacher = job.teachers[0];
  if (job.datasets.empty() || job.datasets[0].path.empty()) {
    return Status::InvalidInput(o.job_path + ": /datasets/0/path: distill-lm needs the text corpus (held-out metrics, baseline)");
  }
  DG_ASSIGN_OR_RETURN(ByteLmConfig config, ByteLmConfig::FromJson(job.doc.value("training", json::object()), o.job_path));
  DG_RETURN_IF_ERROR(SetLmDevice(o, &config));
  config.name = job.student.name;
  // The teacher's answers, every line checked first.
  std::string distill_text;
  uint64_t used = 0, failed = 0;
  std::vector<std::string> problems;
  DG_RETURN_IF_ERROR(ReadTranscript(
      sources[0],
      [&](Exchange& e) -> Status {
        if (e.failed) {
          ++failed;
          return Status::Ok();
        }
        if (!ModelAllowedFor(teacher.model, e.model)) {
          problems.push_back(e.file + ":" + std::to_string(e.line) + ": /response/model: \"" + e.model +
                             "\" is not the teacher's model \"" + teacher.model + "\"");
          return Status::Ok();
        }
        std::string prompt, answer;
        if (!e.endpoint.empty()) {  // a (legacy) completions exchange: prompt and text
          if (e.request["prompt"].is_string()) prompt = e.request["prompt"];
          answer = e.response["choices"][0].value("text", "");
        } else {
          for (const json& m : e.request["messages"]) {
            if (m.value("role", "") == "user" && m.contains("content") && m["content"].is_string()) prompt = m["content"];
          }
          const json& msg = e.response["choices"][0]["message"];
          answer = msg.contains("content") && msg["content"].is_string() ? msg["content"].get<std::string>() : "";
        }
        distill_text += AsciiLines(prompt + answer + "\n");
        ++used;
        return Status::Ok();
      },
      [&](const TranscriptProblem& p) {
        problems.push_back(p.ToString());
        return Status::Ok();
      }));
  if (!problems.empty()) {
    std::string msg = std::to_string(problems.size()) + " problem(s) in the teacher's transcript; nothing was trained:";
    for (size_t i = 0; i < problems.size() && i < 10; ++i) msg += "\n  " + problems[i];
    return Status::InvalidInput(msg);
  }
  if (distill_text.size() < static_cast<size_t>(4 * config.seq_len + 2)) {
    return Status::InvalidInput((sources[0].output_path.empty() ? sources[0].path : sources[0].output_path) +
                                ": the teacher's answers hold only " + std::to_string(distill_text.size()) + " bytes: collect more");
  }
  // The API teacher's own model, when the job names it (to measure the
  // student's agreement with it): a byte-LM file or a directory holding one.
  std::optional<LmTeacher> named;
  json teacher_start = {{"id", teacher.id}, {"license", teacher.license}, {"model", teacher.model}, {"sha256", ""}};
  if (!teacher.model_file.empty()) {
    DG_ASSIGN_OR_RETURN(LmTeacher t, LoadLmTeacher(job, o.job_path));
    named = std::move(t);
    teacher_start = TeacherStart(teacher, *named);
    teacher_start["model"] = teacher.model;
  }
  const ModelOut model_out = ModelOutPath(job);
  json files = json::array();
  for (const std::string& path : {sources[0].path, sources[0].output_path}) {
    if (path.empty()) continue;
    DG_ASSIGN_OR_RETURN(Hash h, Sha256File(path));
    files.push_back({{"path", path}, {"sha256", HexEncode(h)}});
  }
  DG_ASSIGN_OR_RETURN(GatedRun g, DecideRun(job, policy, o));
  json summary = g.summary;
  if (!g.permit) return summary;
  const std::string& corpus = g.corpus;
  const std::string heldout = corpus.substr(corpus.size() - corpus.size() / 20);
  json training = config.ToJson();
  training["device"] = config.device;
  training["method"] = "sequence-level distillation: next-byte cross-entropy on the teacher's answers (prompt + answer per exchange)";
  training["baseline"] = "the same model and steps on as many raw corpus bytes";
  DG_ASSIGN_OR_RETURN(
      std::unique_ptr<RecordedRun> run,
      g.Begin(job, "distill-lm",
              {{"training", training},
               {"runtime", TorchDescription()},
               {"teacher", teacher_start},
               {"transcript", {{"files", files}, {"exchanges_used", used}, {"failed_calls_skipped", failed},
                               {"distillation_bytes", distill_text.size()}}}}));
  auto fail = [&run](const Status& st) { return run->Fail(st); };
  Status st = run->Append("dataset_manifest", g.manifest.ToEntryBody());
  if (!st.ok()) return fail(st);
  const auto t0 = std::chrono::steady_clock::now();
  auto student = ByteLm::Train(distill_text, config, nullptr);
  if (!student.ok()) return fail(student.status());
  ByteLmConfig base_config = config;
  base_config.name = job.student.name + "-raw-baseline";
  // As many raw corpus bytes, as whole lines spread evenly over the corpus
  // less its held-out tail (a word list is sorted: a prefix would be all "A").
  std::string raw_sample;
  {
    const std::string pool = corpus.substr(0, corpus.size() - heldout.size());
    const size_t stride = std::max<size_t>(1, pool.size() / std::max<size_t>(1, distill_text.size()));
    for (size_t at = 0; at < pool.size() && raw_sample.size() < distill_text.size(); at += stride) {
      const size_t begin = pool.rfind('\n', at) == std::string::npos ? 0 : pool.rfind('\n', at) + 1;
      const size_t end = pool.find('\n', begin);
      if (end == std::string::npos) break;
      raw_sample.append(pool, begin, end - begin + 1);
      at = end;
    }
  }
  auto baseline = ByteLm::Train(raw_sample, base_config, nullptr);
  if (!baseline.ok()) return fail(baseline.status());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto saved = SaveStudent(*student, model_out);
  if (!saved.ok()) return fail(saved.status());
  const std::string& sha = saved->sha256;
  json metrics = CompareStudents(named ? &named->lm : nullptr, *student, *baseline, heldout);
  metrics["training_bytes"] = distill_text.size();
  metrics["seconds"] = seconds;
  metrics["epochs"] = json::array();
  json model_entry = saved->entry;
  model_entry.update({{"student", job.student.name}, {"arch", "byte-gru"}, {"metrics", metrics}});
  st = run->Append("model", std::move(model_entry));
  if (!st.ok()) return fail(st);
  st = run->Complete({{"teacher_calls", 0}, {"teacher_calls_root", Base64Encode(EmptyRootHash())},
                      {"model_sha256", sha}, {"exchanges_used", used}});
  if (!st.ok()) return fail(st);
  summary["trained"] = true;
  summary["model"] = saved->summary;
  summary["metrics"] = metrics;
  return summary;
}

}  // namespace dg
