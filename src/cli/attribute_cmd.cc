// `distillgate attribute`: which candidate teacher, if any, a suspect model
// imitates, tested against independent references (docs/attribution.md).
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <algorithm>
#include <map>
#include <optional>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <iostream>

#include "attribute/attribution.h"
#include "attribute/attribution_run.h"
#include "attribute/endpoint.h"
#include "attribute/probes.h"
#include "cli/arg_checks.h"
#include "cli/commands.h"
#include "cli/trainer_exec.h"
#include "core/canonical_json.h"
#include "core/encoding.h"
#include "model/model_dir.h"
#include "core/hash.h"
#include "core/file_util.h"
#include "core/interrupt.h"
#include "ledger/fsck.h"
#include "ledger/key_files.h"
#include "ledger/ledger.h"

namespace dg::cli {
namespace {

using attribute::ModelRef;
using attribute::ProbeKind;

// --answer-bytes when not given; a run that generates no answer refuses any other.
constexpr size_t kDefaultAnswerBytes = 8;

struct AttributeArgs {
  std::string suspect, probe_data, api_key_env, distance = "prefix", statistic = "relative", positions = "answer", ledger, key, ref_job;
  size_t train_references = 0;
  std::vector<std::string> teachers, references;
  size_t probes = 200, probe_length = 32, max_tokens = kDefaultAnswerBytes;
  double alpha = 0.05, timeout_s = 60, soften = 1.0;
  uint64_t seed = 0;
  bool as_json = false;
};

void PrintSet(const char* title, const attribute::SetOutcome& r, bool regression) {
  std::cout << title << " (" << r.probes << " " << attribute::ProbeKindName(r.kind) << " probes, sha256 " << r.sha256.substr(0, 16)
            << "…):\n";
  for (const auto& c : r.result.candidates) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-20s %s %.4f   references %.4f ± %.4f   p %.3g   Holm p %.3g%s\n", c.id.c_str(),
                  regression ? "coefficient" : "distance", c.statistic, c.null_mean, c.null_sd, c.p, c.p_holm, c.significant ? "   significant" : "");
    std::cout << line;
  }
  std::cout << "  " << (r.result.identified.empty() ? "none identified" : "identified: " + r.result.identified) << " — "
            << r.result.reason << "\n";
}

// A byte-level LM file served on 127.0.0.1 for as long as this lives
// (`distillgate-train serve-teacher --port 0`); killed and reaped on
// destruction.
class ServedLm {
 public:
  static StatusOr<std::unique_ptr<ServedLm>> Start(const std::string& path) {
    // A server never outlives the command (not even a kill -9 of it).
    DG_ASSIGN_OR_RETURN(SpawnedTrainer child, SpawnTrainer({"serve-teacher", "--model", path, "--port", "0"}, true));
    const pid_t pid = child.pid;
    const int out_fd = child.stdout_fd;
    std::unique_ptr<ServedLm> s(new ServedLm(pid, out_fd));
    std::string line;
    char c;
    while (::read(out_fd, &c, 1) == 1 && c != '\n') line.push_back(c);
    const size_t at = line.find("127.0.0.1:");
    if (at == std::string::npos) return Status::InvalidInput(path + ": serve-teacher did not start (its error is above)");
    s->url_ = "http://" + line.substr(at);
    return s;
  }
  ~ServedLm() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    ::close(fd_);
  }
  const std::string& url() const { return url_; }

 private:
  ServedLm(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  pid_t pid_;
  int fd_;
  std::string url_;
};

// The LM servers a command started (they stop when it returns).
std::vector<std::unique_ptr<ServedLm>>& Servers() {
  static std::vector<std::unique_ptr<ServedLm>> servers;
  return servers;
}

// A MODEL as given: an endpoint (URL#model), or a model file — an image
// classifier (a distillgate checkpoint with its .json, or TorchScript), run
// locally by the trainer, or a byte-level LM (X.pt with its
// distillgate-byte-lm-v1 .json), served on 127.0.0.1 by the trainer's
// serve-teacher for the command's duration and queried as an endpoint.
// `with_id`: "ID=MODEL".
StatusOr<ModelRef> ResolveModel(const std::string& spec, bool with_id, const std::string& option) {
  std::string id, rest = spec;
  if (with_id) {
    const size_t eq = rest.find('=');
    if (eq == std::string::npos || eq == 0) return attribute::ParseModelRef(spec, with_id, option);  // its message
    id = rest.substr(0, eq);
    rest = rest.substr(eq + 1);
  }
  if (rest.rfind("http://", 0) == 0 || rest.rfind("https://", 0) == 0 || rest.find("://") != std::string::npos) {
    return attribute::ParseModelRef(spec, with_id, option);
  }
  if (!FileExists(rest)) {
    return Status::InvalidInput(option + " \"" + spec + "\": neither an endpoint URL#model nor an existing model file");
  }
  if (std::filesystem::is_directory(rest)) {  // a model directory: the one model file in it
    DG_ASSIGN_OR_RETURN(RunnableModel dir, ReadRunnableModel(rest, option + " \"" + spec + "\""));
    rest = dir.exec_path;
  }
  if (FileExists(rest + ".json")) {
    DG_ASSIGN_OR_RETURN(std::string meta_text, ReadFile(rest + ".json"));
    auto meta = ParseJsonStrict(meta_text, rest + ".json");
    const std::string format = meta.ok() && meta->is_object() ? meta->value("format", "") : "";
    if (format == "distillgate-byte-lm-v1") {
      if (!HaveTrainer()) {
        return Status::InvalidInput(option + " \"" + spec + "\": this build has no trainer (" + TrainerPath() + ") to serve the LM file");
      }
      ModelRef m;
      m.file = rest;
      DG_ASSIGN_OR_RETURN(Hash h, Sha256File(rest));
      m.file_sha256 = HexEncode(h);
      m.model = meta->value("name", std::string());
      if (m.model.empty()) return Status::InvalidInput(rest + ".json: /name: the LM has no name");
      DG_ASSIGN_OR_RETURN(auto server, ServedLm::Start(rest));
      m.base_url = server->url();
      Servers().push_back(std::move(server));
      m.id = id.empty() ? m.model : id;
      return m;
    }
    if (format != "distillgate-model-v1") {
      return Status::InvalidInput(option + " \"" + spec + "\": " + rest + ".json is not a distillgate model description (format " +
                                  "distillgate-model-v1)");
    }
  }
  if (!HaveTrainer()) {
    return Status::InvalidInput(option + " \"" + spec + "\": this build has no trainer (" + TrainerPath() + ") to run model files");
  }
  ModelRef m;
  m.file = rest;
  DG_ASSIGN_OR_RETURN(Hash h, Sha256File(rest));
  m.file_sha256 = HexEncode(h);
  const size_t slash = rest.rfind('/');
  m.model = slash == std::string::npos ? rest : rest.substr(slash + 1);
  m.id = id.empty() ? m.model : id;
  return m;
}

// Runs model files (image classifiers) in the trainer's `classify`. The
// first query of a run computes every expected (model file, probe set)
// pair in one trainer process — LibTorch loads once — and later queries
// are answered from that; each answer is still recorded as its query comes.
class LocalClassifier {
 public:
  void Expect(const attribute::Plan& plan) {
    for (const ModelRef* m : {&plan.suspect}) models_.push_back(*m);
    for (const auto* list : {&plan.candidates, &plan.references}) models_.insert(models_.end(), list->begin(), list->end());
    sets_ = {&plan.test, &plan.baseline};
  }
  StatusOr<std::vector<attribute::Answer>> operator()(const ModelRef& m, const attribute::ProbeSet& set) {
    if (!set.images) return Status::InvalidInput(m.id + ": a model file (an image classifier) needs image probes (--probe-data DIR)");
    DG_ASSIGN_OR_RETURN(std::string set_sha, set.Sha256());
    auto hit = cache_.find({m.file, set_sha});
    if (hit == cache_.end()) {
      DG_RETURN_IF_ERROR(Compute(m, set));
      hit = cache_.find({m.file, set_sha});
      if (hit == cache_.end()) return Status::Internal(m.id + ": the trainer did not classify the probes");
    }
    return hit->second;
  }

 private:
  Status Compute(const ModelRef& wanted, const attribute::ProbeSet& wanted_set) {
    std::vector<ModelRef> models;
    std::vector<const attribute::ProbeSet*> sets;
    for (const ModelRef& m : models_) {
      if (!m.file.empty() && m.base_url.empty()) models.push_back(m);
    }
    for (const attribute::ProbeSet* s : sets_) sets.push_back(s);
    if (std::none_of(models.begin(), models.end(), [&](const ModelRef& m) { return m.file == wanted.file; })) models.push_back(wanted);
    if (std::find(sets.begin(), sets.end(), &wanted_set) == sets.end()) sets.push_back(&wanted_set);
    std::vector<std::string> args = {"classify"};
    for (const ModelRef& m : models) {
      DG_ASSIGN_OR_RETURN(Hash h, Sha256File(m.file));
      if (HexEncode(h) != m.file_sha256) return Status::VerifyFailed(m.file + ": the model file changed since the plan was made");
      args.insert(args.end(), {"--model", m.file});
    }
    std::vector<std::string> paths;
    Status st = Status::Ok();
    for (const attribute::ProbeSet* s : sets) {
      std::string pixels;
      for (const std::string& p : s->probes) {
        std::optional<std::string> bytes = Base64Decode(p);
        if (!bytes || bytes->size() != 28 * 28) return Status::InvalidInput("an image probe is not base64 of 28×28 bytes");
        pixels += *bytes;
      }
      const char* tmpdir = std::getenv("TMPDIR");
      std::string path = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/distillgate-probes-XXXXXX";
      const int fd = ::mkstemp(path.data());
      if (fd < 0) {
        st = Status::IoError("cannot create a temporary file for the probes");
        break;
      }
      ::close(fd);
      paths.push_back(path);
      st = WriteFileAtomic(path, pixels, 0600, false);
      if (!st.ok()) break;
      args.insert(args.end(), {"--images", path});
    }
    StatusOr<TrainerRun> r = st.ok() ? RunTrainer(args) : StatusOr<TrainerRun>(st);
    for (const std::string& p : paths) ::unlink(p.c_str());
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return Status::InvalidInput("the trainer could not run the model files (exit " + std::to_string(r->exit_code) + "; its error is above)");
    }
    const nlohmann::json results = r->summary.value("results", nlohmann::json::array());
    if (!results.is_array() || results.size() != models.size() * sets.size()) return Status::Internal("the trainer's classify output is incomplete");
    for (size_t i = 0; i < models.size(); ++i) {
      for (size_t k = 0; k < sets.size(); ++k) {
        const nlohmann::json& res = results[i * sets.size() + k];
        if (res.value("model_sha256", "") != models[i].file_sha256) return Status::VerifyFailed(models[i].file + ": the trainer ran another file");
        DG_ASSIGN_OR_RETURN(auto answers, attribute::AnswersFromProbabilities(res, sets[k]->probes.size()));
        DG_ASSIGN_OR_RETURN(std::string sha, sets[k]->Sha256());
        cache_[{models[i].file, sha}] = std::move(answers);
      }
    }
    return Status::Ok();
  }

  std::vector<ModelRef> models_;
  std::vector<const attribute::ProbeSet*> sets_;
  std::map<std::pair<std::string, std::string>, std::vector<attribute::Answer>> cache_;  // (file, probe set sha256) → answers
};

// --train-references K --job JOB: K references of the suspect's kind,
// each a recorded `train-teacher` run of JOB with another seed (JOB + i),
// written beside the ledger (<ledger>.references/). A job that names
// teachers is refused by train-teacher itself (references are trained
// without any candidate); a byte-level LM job is refused here.
StatusOr<std::vector<ModelRef>> TrainReferences(const std::string& job_path, size_t k, const std::string& ledger, const std::string& key) {
  DG_ASSIGN_OR_RETURN(nlohmann::json job, LoadJsonFile(job_path));
  if (!job.is_object()) return Status::InvalidInput(job_path + ": not a job");
  nlohmann::json training = job.value("training", nlohmann::json::object());
  if (!training.is_object() || training.value("arch", "") == "byte-gru") {
    return Status::InvalidInput("--train-references: " + job_path + " trains a byte-level LM; train its references with train-lm, serve "
                                "them with serve-teacher and give them as --reference URL#model");
  }
  if (!HaveTrainer()) return Status::InvalidInput("--train-references: this build has no trainer (" + TrainerPath() + ")");
  std::string dir = job_path.substr(0, job_path.rfind('/') == std::string::npos ? 0 : job_path.rfind('/') + 1);
  if (dir.empty()) dir = "./";
  // The derived jobs live elsewhere: their relative paths are made absolute.
  auto absolute = [&dir](const std::string& p) {
    if (p.empty() || p[0] == '/') return p;
    char* real = ::realpath((dir + p).c_str(), nullptr);
    std::string out = real ? real : dir + p;
    std::free(real);
    return out;
  };
  if (job.contains("datasets") && job["datasets"].is_array()) {
    for (auto& d : job["datasets"]) {
      if (d.is_object() && d.contains("path") && d["path"].is_string()) d["path"] = absolute(d["path"].get<std::string>());
    }
  }
  if (training.contains("init_from")) return Status::InvalidInput("--train-references: a reference is trained from scratch (no init_from)");
  const std::string out_dir = ledger + ".references";
  if (::mkdir(out_dir.c_str(), 0755) != 0 && errno != EEXIST) return Status::IoError("cannot create " + out_dir);
  const std::string name = job.value("name", std::string("reference"));
  const int64_t seed = training.value("seed", int64_t{1});
  std::vector<ModelRef> refs;
  for (size_t i = 1; i <= k; ++i) {
    nlohmann::json derived = job;
    const std::string id = name + "-reference-" + std::to_string(i);
    derived["name"] = id;
    derived["training"] = training;
    derived["training"]["seed"] = seed + static_cast<int64_t>(i);
    derived["output"] = {{"model", out_dir + "/" + id + ".pt"}};
    const std::string derived_path = out_dir + "/" + id + ".job.json";
    DG_RETURN_IF_ERROR(WriteFileAtomic(derived_path, derived.dump(2) + "\n", 0644, false));
    std::cerr << "training reference " << i << "/" << k << " (" << id << ", seed " << seed + static_cast<int64_t>(i) << ")\n";
    DG_ASSIGN_OR_RETURN(TrainerRun r, RunTrainer({"train-teacher", "--job", derived_path, "--ledger", ledger, "--key", key, "--quiet"}));
    if (r.exit_code != 0 || !r.summary.value("trained", false)) {
      return Status::InvalidInput("--train-references: " + id + " was not trained (train-teacher exit " + std::to_string(r.exit_code) +
                                  (r.summary.is_object() ? ", verdict " + r.summary.value("verdict", std::string("?")) : std::string()) + ")");
    }
    DG_ASSIGN_OR_RETURN(ModelRef m, ResolveModel(out_dir + "/" + id + ".pt", false, "--train-references"));
    m.run = r.summary.value("run", "");
    refs.push_back(std::move(m));
  }
  return refs;
}

StatusOr<int> RunAttribute(const AttributeArgs& a) {
  // Required unless `attribute verify` is run (checked here, not by CLI11).
  for (const auto& [given, option] : {std::pair{!a.suspect.empty(), "--suspect"}, std::pair{!a.teachers.empty(), "--teacher"},
                                      std::pair{!a.probe_data.empty(), "--probe-data"}}) {
    if (!given) return Status::InvalidInput(std::string(option) + " is required");
  }
  if (a.ledger.empty() != a.key.empty()) return Status::InvalidInput("--ledger and --key go together: the run is signed with the ledger's key");
  attribute::Plan plan;
  DG_ASSIGN_OR_RETURN(plan.suspect, ResolveModel(a.suspect, false, "--suspect"));
  plan.suspect.id = "suspect";
  for (const auto& t : a.teachers) {
    DG_ASSIGN_OR_RETURN(ModelRef m, ResolveModel(t, true, "--teacher"));
    plan.candidates.push_back(std::move(m));
  }
  for (size_t i = 0; i < a.references.size(); ++i) {
    DG_ASSIGN_OR_RETURN(ModelRef m, ResolveModel(a.references[i], false, "--reference"));
    m.id = "reference-" + std::to_string(i + 1);
    plan.references.push_back(std::move(m));
  }
  if (a.positions == "probe" && a.train_references > 0) {  // before anything is trained
    return Status::InvalidInput("--train-references trains image classifiers; --positions probe scores text at endpoints "
                                "(train LM references with train-lm and serve them)");
  }
  if (a.positions == "probe" && a.max_tokens != kDefaultAnswerBytes) {
    return Status::InvalidInput("--answer-bytes: with --positions probe nothing is generated; each probe's own bytes are scored");
  }
  if (a.train_references > 0) {
    if (a.ref_job.empty()) return Status::InvalidInput("--train-references needs --job: the job its references are trained from");
    if (a.ledger.empty()) return Status::InvalidInput("--train-references needs --ledger and --key: each reference is a recorded run");
    if (a.train_references < 2 && plan.references.empty()) {
      return Status::InvalidInput("--train-references: attribution needs at least 2 independent reference models for its null");
    }
  } else if (!a.ref_job.empty()) {
    return Status::InvalidInput("--job goes with --train-references K");
  }
  for (const auto& m : plan.candidates) {
    if (m.id == "suspect" || m.id.rfind("reference-", 0) == 0) {
      return Status::InvalidInput("--teacher: the id \"" + m.id + "\" is reserved (the suspect and the references are named so)");
    }
  }
  plan.options.distance = a.distance;
  plan.options.statistic = a.statistic;
  plan.options.soften = a.soften;
  plan.options.alpha = a.alpha;
  plan.options.answer_bytes = a.max_tokens;
  plan.options.positions = a.positions;
  plan.probe_length = a.probe_length;
  if (a.train_references > 0) {
    // Everything else is checked first: a bad suspect or corpus trains nothing.
    DG_ASSIGN_OR_RETURN(attribute::ProbeCorpus check, attribute::LoadProbeCorpus(a.probe_data));
    if (!check.images) return Status::InvalidInput("--train-references trains image classifiers: --probe-data must be a directory of IDX images");
    DG_RETURN_IF_ERROR(PrivateKey::LoadPemFile(a.key).status());
    DG_ASSIGN_OR_RETURN(auto trained, TrainReferences(a.ref_job, a.train_references, a.ledger, a.key));
    for (auto& m : trained) {
      m.id = "reference-" + std::to_string(plan.references.size() + 1);
      plan.references.push_back(std::move(m));
    }
  }
  if (plan.references.size() >= 2) {  // else CheckPlan says so, before the corpus is read
    DG_ASSIGN_OR_RETURN(attribute::ProbeCorpus corpus, attribute::LoadProbeCorpus(a.probe_data));
    for (const ModelRef* m : [&] {
           std::vector<const ModelRef*> all = {&plan.suspect};
           for (const auto& c : plan.candidates) all.push_back(&c);
           for (const auto& r : plan.references) all.push_back(&r);
           return all;
         }()) {
      if (corpus.images != (!m->file.empty() && m->base_url.empty())) {
        return Status::InvalidInput(m->id + ": " +
                                    (corpus.images ? "image probes (--probe-data DIR) go to image classifier files, not endpoints or LMs"
                                                   : "a model file (an image classifier) needs image probes: --probe-data DIR with IDX images"));
      }
    }
    DG_ASSIGN_OR_RETURN(plan.test, corpus.Make(ProbeKind::kData, a.probes, a.probe_length, a.seed));
    DG_ASSIGN_OR_RETURN(plan.baseline, corpus.Make(ProbeKind::kRandom, a.probes, a.probe_length, a.seed));
    if (corpus.images && a.max_tokens != kDefaultAnswerBytes) {
      return Status::InvalidInput("--answer-bytes: an image classifier's answer is its top class and its distribution");
    }
    if (corpus.images) plan.options.answer_bytes = 1;  // prefix: top-1 disagreement
  }
  DG_RETURN_IF_ERROR(attribute::CheckPlan(plan));
  attribute::QueryOptions q;
  q.timeout_s = a.timeout_s;
  auto local = std::make_shared<LocalClassifier>();
  local->Expect(plan);
  q.local = [local](const ModelRef& m, const attribute::ProbeSet& set) { return (*local)(m, set); };
  if (!a.api_key_env.empty()) {
    const char* k = std::getenv(a.api_key_env.c_str());
    if (k == nullptr || *k == '\0') return Status::InvalidInput("--api-key-env: $" + a.api_key_env + " is not set");
    q.api_key = k;
  }
  attribute::Outcome out;
  if (a.ledger.empty()) {
    DG_ASSIGN_OR_RETURN(out, attribute::RunAttribution(plan, q));
  } else {
    DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::LoadPemFile(a.key));
    DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadWrite));
    InstallStopHandlers();
    DG_ASSIGN_OR_RETURN(out, attribute::RunRecordedAttribution(plan, q, *ledger, key));
  }
  if (a.as_json) {
    nlohmann::json j = out.ToJson(plan.options);
    j["suspect"] = a.suspect;
    std::cout << j.dump(2) << "\n";
  } else {
    PrintSet("data probes (the test)", out.test, a.statistic == "regression");
    PrintSet("random probes (baseline, not the test)", out.baseline, a.statistic == "regression");
    std::cout << "queries: " << out.queries << " (" << out.models << " models × " << out.test.probes + out.baseline.probes
              << " probes), "
              << (plan.test.images ? (plan.options.distance == "jsd" ? "distance: JSD of the class probabilities" : "distance: top-1 disagreement")
                  : plan.options.positions == "probe"
                      ? "distance: JSD of the distributions that scored each probe byte (teacher-forced, the same contexts for every model)"
                  : plan.options.distance == "jsd" ? "distance: JSD of the reported next-token distributions where the contexts agree"
                                                 : "distance: shared prefix of the answers' first " + std::to_string(a.max_tokens) + " bytes")
              << "\n";
    if (!out.run_id.empty()) {
      std::cout << "recorded: run " << out.run_id << " in " << a.ledger << " (plan pre-registered as decision " << out.decision_index
                << "; re-check offline: distillgate attribute verify --ledger " << a.ledger << " --run " << out.run_id
                << " --pubkey KEY.pub)\n";
    }
    std::cout << "  an identification is evidence of imitation, not of a breach of terms; none identified is not proof of "
                 "independence (docs/attribution.md)\n";
  }
  return out.test.result.identified.empty() ? 1 : 0;
}

struct VerifyArgs {
  std::string ledger, run, pubkey, probe_data, api_key_env;
  std::vector<std::string> requery;
  double timeout_s = 60;
  bool as_json = false;
};

StatusOr<int> RunAttributeVerify(const VerifyArgs& a) {
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadOnly));
  DG_ASSIGN_OR_RETURN(NoteVerifier trusted, LoadTrustedKey(a.pubkey, ledger->origin()));
  attribute::ProbeCorpus corpus;
  if (!a.probe_data.empty()) {
    DG_ASSIGN_OR_RETURN(corpus, attribute::LoadProbeCorpus(a.probe_data));
  }
  attribute::RecheckOptions options;
  options.corpus = a.probe_data.empty() ? nullptr : &corpus;
  options.query.timeout_s = a.timeout_s;
  auto local = std::make_shared<LocalClassifier>();
  options.query.local = [local](const ModelRef& m, const attribute::ProbeSet& set) { return (*local)(m, set); };
  if (!a.api_key_env.empty()) {
    const char* k = std::getenv(a.api_key_env.c_str());
    if (k == nullptr || *k == '\0') return Status::InvalidInput("--api-key-env: $" + a.api_key_env + " is not set");
    options.query.api_key = k;
  }
  for (const std::string& spec : a.requery) {
    ModelRef m;
    if (spec.find('=') == std::string::npos) {
      m.id = spec;  // at its recorded endpoint
    } else {
      DG_ASSIGN_OR_RETURN(m, ResolveModel(spec, true, "--requery"));
    }
    options.requery.push_back(std::move(m));
  }
  // The ledger first: its tree, entries and signed checkpoints under the trusted key.
  DG_ASSIGN_OR_RETURN(FsckReport fsck, Fsck(*ledger, trusted, FsckOptions{}));
  DG_ASSIGN_OR_RETURN(attribute::Recheck r, attribute::RecheckAttribution(*ledger, a.run, options));
  const bool ledger_ok = fsck.problem_count == 0;
  r.checks.insert(r.checks.begin(), {"ledger", ledger_ok,
                                     ledger_ok ? std::to_string(fsck.tree_size) + " entries and " + std::to_string(fsck.checkpoints_checked) +
                                                     " signed checkpoints verify under the trusted key"
                                               : std::to_string(fsck.problem_count) + " problems: " +
                                                     (fsck.problems.empty() ? std::string() : fsck.problems.front())});
  if (a.as_json) {
    std::cout << r.ToJson().dump(2) << "\n";
  } else {
    const nlohmann::json& plan = r.plan;
    if (plan.is_object()) {
      auto spec = [](const nlohmann::json& m) {
        return m.value("file", "").empty() ? m.value("endpoint", "") + "#" + m.value("model", "") : m.value("file", "") + " (sha256 " +
                                                                                               m.value("sha256", "").substr(0, 16) + "…)";
      };
      std::cout << "plan: suspect " << spec(plan.value("suspect", nlohmann::json::object())) << "\n";
      for (const auto& m : plan.value("candidates", nlohmann::json::array())) std::cout << "  candidate " << m.value("id", "") << ": " << spec(m) << "\n";
      for (const auto& m : plan.value("references", nlohmann::json::array())) std::cout << "  reference " << m.value("id", "") << ": " << spec(m) << "\n";
    }
    for (const auto& c : r.checks) std::cout << (c.ok ? "  ok    " : "  FAIL  ") << c.name << ": " << c.detail << "\n";
    std::cout << (r.ok() ? "VERIFIED" : "FAILED") << ": attribution run " << r.run_id << "\n";
    if (!r.other_runs.empty()) {
      std::string runs;
      for (const auto& id : r.other_runs) runs += (runs.empty() ? "" : ", ") + id;
      std::cout << "  this ledger holds " << r.other_runs.size() << " other attribution run(s) of the same suspect: " << runs
                << " (re-check each; a result is one of them)\n";
    }
    if (r.ok()) {
      std::vector<std::string> unasked;
      if (plan.is_object()) {
        std::vector<std::string> all = {plan.value("suspect", nlohmann::json::object()).value("id", "suspect")};
        for (const char* list : {"candidates", "references"}) {
          for (const auto& m : plan.value(list, nlohmann::json::array())) all.push_back(m.value("id", ""));
        }
        for (const auto& id : all) {
          if (std::find(r.requeried.begin(), r.requeried.end(), id) == r.requeried.end()) unasked.push_back(id);
        }
      }
      std::string list;
      for (const auto& id : unasked) list += (list.empty() ? "" : ", ") + id;
      std::cout << "  not checked: " << (unasked.empty() ? "" : "that " + list + " really answered so (--requery ID[=MODEL] asks again); ")
                << "that the references are independent of the candidates and of the suspect's kind (the plan names them); "
                   "that no other attribution was run and left unreported (pre-registration binds this run only)\n";
    }
  }
  return r.ok() ? 0 : 1;
}

}  // namespace

void RegisterAttribute(CLI::App& app, Dispatch& d) {
  auto a = std::make_shared<AttributeArgs>();
  CLI::App* c = app.add_subcommand(
      "attribute",
      "Test which candidate teacher, if any, a suspect model imitates, against independent reference models.\n"
      "Models are OpenAI-compatible endpoints queried as black boxes (URL#model), or image classifier files\n"
      "(distillgate checkpoints, TorchScript) with image probes (--probe-data DIR). Exit 0 a teacher identified,\n"
      "1 none identified, 2 bad input, 3 an endpoint failed.");
  c->add_option("--suspect", a->suspect, "The suspect model: URL#model (e.g. http://127.0.0.1:8080/v1#student) or an image classifier file (required)");
  c->add_option("--teacher", a->teachers, "A candidate teacher: ID=URL#model or ID=FILE (repeat; required)");
  c->add_option("--reference", a->references, "An independently trained reference model of the suspect's kind: URL#model or FILE (at least 2)");
  c->add_option("--probe-data", a->probe_data, "ASCII text the probes are drawn from, or a directory of IDX images for classifiers\n(near the models' training data) (required)");
  c->add_option("--train-references", a->train_references,
                "Train K references of the suspect's kind from --job (image classifiers), each a recorded run in --ledger")
      ->check(IntegerIn(1, 100));
  c->add_option("--job", a->ref_job, "With --train-references: the train-teacher job the references are trained from (seeds JOB+1…)");
  c->add_option("--ledger", a->ledger, "Record the attribution as a run in this ledger: plan pre-registered, every query a call");
  c->add_option("--key", a->key, "The ledger's private key (with --ledger)");
  c->add_option("--probes", a->probes, "Probes per set (the data set and the random baseline each)")
      ->capture_default_str()
      ->check(IntegerIn(1, 100000));
  c->add_option("--probe-length", a->probe_length, "Bytes per probe")->capture_default_str()->check(IntegerIn(1, 4096));
  c->add_option("--answer-bytes", a->max_tokens, "Answer length compared (max_tokens of each request)")
      ->capture_default_str()
      ->check(IntegerIn(1, 1024));
  c->add_option("--distance", a->distance,
                 "prefix: answers' shared prefix (text only); jsd: Jensen-Shannon divergence of the next-token\n"
                 "distributions the endpoints report (logprobs, top 20)")
      ->capture_default_str()
      ->check(CLI::IsMember({"prefix", "jsd"}));
  c->add_option("--positions", a->positions,
                 "With --distance jsd: answer: the distributions of each model's own answer (chat completions);\n"
                 "probe: the distributions that score the probe's own bytes, teacher-forced (/v1/completions with echo\n"
                 "and logprobs; byte-level endpoints such as serve-teacher): every model seen in the same contexts")
      ->capture_default_str()
      ->check(CLI::IsMember({"answer", "probe"}));
  c->add_option("--soften", a->soften, "With --distance jsd: soften each distribution at this temperature first (p^(1/T))")
      ->capture_default_str()
      ->check(NumberIn(0.05, 100));
  c->add_option("--statistic", a->statistic,
                 "relative: a model's distance to the candidate minus its mean distance to independent models;\n"
                 "absolute: the distance itself;\n"
                 "regression (with --distance jsd, at least 3 references): the suspect's deviation from the references\n"
                 "regressed on every candidate's at once (docs/attribution.md)")
      ->capture_default_str()
      ->check(CLI::IsMember({"relative", "absolute", "regression"}));
  c->add_option("--alpha", a->alpha, "Family-wise significance level")->capture_default_str()->check(NumberIn(1e-12, 0.5));
  c->add_option("--seed", a->seed, "Seed of the probe sets")->capture_default_str()->check(IntegerIn(0, int64_t{1} << 53));
  c->add_option("--timeout", a->timeout_s, "Seconds per attempt")->capture_default_str()->check(NumberIn(0.001, 86400));
  c->add_option("--api-key-env", a->api_key_env, "Environment variable holding the endpoints' API key");
  c->add_flag("--json", a->as_json, "Print the result as JSON");
  c->require_subcommand(0, 1);
  auto v = std::make_shared<VerifyArgs>();
  CLI::App* verify = c->add_subcommand(
      "verify",
      "Re-check a recorded attribution offline: the ledger under the trusted key, the plan pre-registered before\n"
      "the first query, the prompts rebuilding its probe sets, and the outcome recomputed from the recorded answers.\n"
      "Exit 0 verified, 1 a check failed, 2 bad input, 3 an endpoint asked again (--requery) failed.");
  verify->add_option("--ledger", v->ledger, "The ledger holding the run")->required();
  verify->add_option("--run", v->run, "The attribution run's id (as `attribute --ledger` printed it)")->required();
  verify->add_option("--pubkey,--vkey", v->pubkey, "Trusted key: ledger.pub (PEM) or ledger.vkey (C2SP); --vkey as elsewhere")->required();
  verify->add_option("--probe-data", v->probe_data, "The probe corpus: also check the probes are the seed's draws from it");
  verify->add_option("--requery", v->requery,
                     "Ask model ID (suspect, a candidate's id, reference-N) the recorded prompts again and compare the answers;\n"
                     "ID=URL#model asks it at another endpoint (the public one). Repeat for several")
      ->type_name("ID[=URL#model]");
  verify->add_option("--timeout", v->timeout_s, "Seconds per attempt (--requery)")->capture_default_str()->check(NumberIn(0.001, 86400));
  verify->add_option("--api-key-env", v->api_key_env, "Environment variable holding the endpoints' API key (--requery)");
  verify->add_flag("--json", v->as_json, "Print the checks as JSON");
  verify->callback([&d, v] {
    d.handler = [v] {
      auto r = RunAttributeVerify(*v);
      Servers().clear();
      return r;
    };
  });
  c->callback([&d, a, verify] {
    if (!verify->parsed()) {
      d.handler = [a] {
        auto r = RunAttribute(*a);
        Servers().clear();  // the LM files served for this run stop
        return r;
      };
    }
  });
}

}  // namespace dg::cli
