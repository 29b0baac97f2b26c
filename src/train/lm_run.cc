#include "train/lm_run.h"

#include <httplib.h>

#include <chrono>
#include <ctime>
#include <mutex>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "ledger/ledger.h"
#include "license/knowledge_base.h"
#include "ledger/merkle.h"
#include "lineage/manifest.h"
#include "lineage/run_record.h"
#include "policy/evaluate.h"
#include "policy/gate.h"
#include "policy/job.h"
#include "policy/policy.h"
#include "train/lm.h"
#include "train/trainer.h"

namespace dg {

using json = nlohmann::json;

namespace {

Status Append(Ledger& ledger, const PrivateKey& key, const std::string& kind, const json& body) {
  DG_ASSIGN_OR_RETURN(LedgerEntry e, LedgerEntry::Make(kind, body));
  return ledger.Append({e}, key).status();
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
  config.name = job.student.name;
  const std::string corpus_path = job.Resolve(job.datasets[0].path);
  DG_ASSIGN_OR_RETURN(std::string raw, ReadFile(corpus_path));
  const std::string corpus = AsciiLines(raw);
  const std::string model_out =
      job.Resolve(job.doc.contains("output") ? job.doc["output"].value("model", job.name + ".pt") : job.name + ".pt");
  DG_ASSIGN_OR_RETURN(DatasetManifest manifest, ManifestPath(job.datasets[0].id, job.datasets[0].license, corpus_path));
  DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::LoadPemFile(o.key_path));
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(o.ledger_path, Ledger::Mode::kReadWrite));
  DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::Builtin());

  DG_ASSIGN_OR_RETURN(GateResult gate, Gate::Decide(job, policy, *kb, *ledger, key, TodayUtc()));
  json summary = {{"verdict", VerdictName(gate.decision.verdict)},
                  {"decision_index", gate.decision_index},
                  {"run", RunIdFor(job.sha256, gate.decision_index)},
                  {"exit_code", gate.decision.ExitCode()},
                  {"trained", false}};
  if (!gate.permit) return summary;
  DG_RETURN_IF_ERROR(Gate::Verify(*gate.permit, job, *ledger));
  const std::string run = summary["run"];
  auto fail = [&](const Status& st) {
    (void)Append(*ledger, key, "run_end", {{"run", run}, {"status", "failed"}, {"error", st.message()}});
    return st;
  };
  json training = config.ToJson();
  training["corpus_preprocessing"] = "lines of printable ASCII only, newline-joined (others dropped)";
  training["corpus_bytes_used"] = corpus.size();
  Status st = Append(*ledger, key, "run_start",
                     {{"run", run}, {"job", job.name}, {"job_sha256", job.sha256}, {"decision_index", gate.decision_index},
                      {"mode", "train-lm"}, {"training", training}, {"runtime", TorchDescription()}});
  if (!st.ok()) return fail(st);
  json mb = manifest.ToEntryBody();
  mb["run"] = run;
  st = Append(*ledger, key, "dataset_manifest", mb);
  if (!st.ok()) return fail(st);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<double> losses;
  auto lm = ByteLm::Train(corpus, config, &losses);
  if (!lm.ok()) return fail(lm.status());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  st = lm->Save(model_out);
  if (!st.ok()) return fail(st);
  auto sha = Sha256File(model_out);
  if (!sha.ok()) return fail(sha.status());
  json curve = json::array();
  const size_t every = std::max<size_t>(1, losses.size() / 20);
  for (size_t i = 0; i < losses.size(); i += every) curve.push_back({{"step", i + 1}, {"loss", losses[i]}});
  const double bpb = lm->heldout_bits_per_byte();
  st = Append(*ledger, key, "model",
              {{"run", run}, {"path", model_out}, {"sha256", HexEncode(*sha)}, {"student", job.student.name}, {"arch", "byte-gru"},
               {"metrics", {{"heldout_bits_per_byte", bpb}, {"heldout_perplexity", std::pow(2.0, bpb)}, {"loss_curve", curve},
                            {"epochs", json::array()}, {"seconds", seconds}}}});
  if (!st.ok()) return fail(st);
  st = Append(*ledger, key, "run_end",
              {{"run", run}, {"status", "completed"}, {"teacher_calls", 0}, {"teacher_calls_root", Base64Encode(EmptyRootHash())},
               {"model_sha256", HexEncode(*sha)}, {"heldout_bits_per_byte", bpb}});
  if (!st.ok()) return st;
  summary["trained"] = true;
  summary["model"] = {{"path", model_out}, {"sha256", HexEncode(*sha)}};
  summary["heldout_bits_per_byte"] = bpb;
  summary["heldout_perplexity"] = std::pow(2.0, bpb);
  summary["train_seconds"] = seconds;
  return summary;
}

Status ServeTeacher(const ServeOptions& o) {
  DG_ASSIGN_OR_RETURN(ByteLm lm, ByteLm::Load(o.model_path));
  DG_ASSIGN_OR_RETURN(Hash sha, Sha256File(o.model_path));
  const std::string model_name = lm.config().name;
  const std::string fingerprint = "dg_" + HexEncode(sha).substr(0, 12);
  std::mutex mu;  // one generation at a time
  uint64_t served = 0;
  httplib::Server server;
  auto error = [](httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(json{{"error", {{"message", message}, {"type", "invalid_request_error"}}}}.dump(), "application/json");
  };
  server.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
      return error(res, 400, "expected a JSON body with a non-empty messages array");
    }
    if (body.contains("model") && body["model"] != model_name) {
      return error(res, 404, "this server serves the model \"" + model_name + "\"");
    }
    std::string prompt;
    for (const json& m : body["messages"]) {
      if (m.contains("content") && m["content"].is_string()) prompt += m["content"].get<std::string>() + "\n";
    }
    const int max_tokens = body.contains("max_tokens") && body["max_tokens"].is_number_integer()
                               ? std::max(1, std::min(1024, body["max_tokens"].get<int>()))
                               : o.max_tokens;
    const double temperature = body.contains("temperature") && body["temperature"].is_number() ? body["temperature"].get<double>() : 0.0;
    const uint64_t seed = body.contains("seed") && body["seed"].is_number_unsigned() ? body["seed"].get<uint64_t>() : 0;
    std::lock_guard<std::mutex> lock(mu);
    const std::string answer = lm.Generate(prompt, max_tokens, temperature, seed);
    const uint64_t n = served++;
    json out = {{"id", "chatcmpl-dg-" + std::to_string(n)},
                {"object", "chat.completion"},
                {"created", static_cast<int64_t>(std::time(nullptr))},
                {"model", model_name},
                {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", answer}}}, {"finish_reason", "length"}}}},
                {"usage", {{"prompt_tokens", prompt.size()}, {"completion_tokens", answer.size()}, {"total_tokens", prompt.size() + answer.size()}}},
                {"system_fingerprint", fingerprint}};
    res.set_header("x-request-id", "dg-" + std::to_string(n));
    res.set_content(out.dump(), "application/json");
  });
  const int port = o.port == 0 ? server.bind_to_any_port("127.0.0.1") : (server.bind_to_port("127.0.0.1", o.port) ? o.port : -1);
  if (port < 0) return Status::IoError("cannot listen on 127.0.0.1:" + std::to_string(o.port));
  if (o.on_listening) o.on_listening(port);
  if (!server.listen_after_bind()) return Status::IoError("the server stopped");
  return Status::Ok();
}

}  // namespace dg
