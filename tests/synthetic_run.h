// A completed run written straight into a ledger, without LibTorch: the same
// entries `distillgate run` writes, through the same lifecycle (decision by
// Gate::Decide, then a RecordedRun: run_start, a dataset manifest of a JSONL
// file, teacher calls, model, run_end). For attestation, report and verification tests and
// benchmarks that must not depend on training.
#ifndef DISTILLGATE_TESTS_SYNTHETIC_RUN_H_
#define DISTILLGATE_TESTS_SYNTHETIC_RUN_H_

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "ledger/ledger.h"
#include "ledger/note.h"
#include "license/knowledge_base.h"
#include "record/call_recorder.h"
#include "record/manifest.h"
#include "record/recorded_run.h"
#include "record/run_record.h"
#include "policy/evaluate.h"
#include "policy/gate.h"
#include "policy/job.h"

namespace dg::testing {

struct SyntheticRunOptions {
  std::string teacher_license = "MIT";
  std::string student_name = "acme-student";
  std::string distribution = "internal";
  bool commercial = false;
  std::string purpose = "research";
  uint64_t teacher_calls = 40;
  size_t flush_every = 64;
  uint64_t records = 50;
  std::string origin = "test.example/runs";
};

// Llama 3.1 outputs, an open-weights commercial student named "Llama-…":
// allowed with a (met) name-prefix obligation.
inline SyntheticRunOptions LlamaPrefixedOptions() {
  SyntheticRunOptions o;
  o.teacher_license = "llama3.1";
  o.student_name = "Llama-Acme-8B";
  o.distribution = "open_weights";
  o.commercial = true;
  o.purpose = "production";
  return o;
}

struct SyntheticRun {
  std::string dir, ledger, key, vkey, pub, job, model, data, teacher;
  std::string run_id, verdict;
  uint64_t decision_index = 0;
};

inline Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  return f.good() ? Status::Ok() : Status::IoError("cannot write " + path);
}

// Writes job, data, teacher and model files into `dir` (which must exist), a
// ledger with its keys, and the run. A run whose decision does not allow
// stops after the decision, as `run` does.
inline StatusOr<SyntheticRun> MakeSyntheticRun(const std::string& dir, const SyntheticRunOptions& o = {}) {
  SyntheticRun r;
  r.dir = dir;
  r.ledger = dir + "/runs.ledger";
  r.key = dir + "/ledger.key";
  r.vkey = dir + "/ledger.vkey";
  r.pub = dir + "/ledger.pub";
  r.job = dir + "/job.json";
  r.model = dir + "/student.pt";
  r.data = dir + "/data.jsonl";
  r.teacher = dir + "/teacher.pt";
  DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::FromSeed(std::string(32, 'k')));
  DG_RETURN_IF_ERROR(key.SavePemFile(r.key));
  DG_ASSIGN_OR_RETURN(NoteVerifier v, NoteVerifier::Make(o.origin, key.public_key()));
  DG_RETURN_IF_ERROR(WriteText(r.vkey, v.ToString() + "\n"));
  DG_RETURN_IF_ERROR(WriteText(r.pub, key.public_key().ToPem()));
  std::string data;
  for (uint64_t i = 0; i < o.records; ++i) data += "{\"text\":\"record " + std::to_string(i) + "\",\"n\":" + std::to_string(i) + "}\n";
  DG_RETURN_IF_ERROR(WriteText(r.data, data));
  DG_RETURN_IF_ERROR(WriteText(r.teacher, std::string(4096, 't')));
  DG_RETURN_IF_ERROR(WriteText(r.model, "synthetic student weights " + o.student_name));
  nlohmann::json job = {
      {"name", "synthetic-" + o.student_name},
      {"teachers", {{{"id", "teacher-1"}, {"kind", "local"}, {"license", o.teacher_license}, {"model_file", "teacher.pt"}}}},
      {"datasets", {{{"id", "corpus"}, {"license", "MIT"}, {"path", "data.jsonl"}}}},
      {"student", {{"name", o.student_name}, {"model_type", "classifier"}, {"architecture", "mlp"}}},
      {"use", {{"commercial", o.commercial}, {"distribution", o.distribution}, {"purpose", o.purpose},
               {"expected_mau", 1000}, {"competes_with", nlohmann::json::array()}, {"domicile", {"US"}}, {"markets", {"US"}}}}};
  DG_RETURN_IF_ERROR(WriteText(r.job, job.dump(2)));

  DG_RETURN_IF_ERROR(Ledger::Init(r.ledger, key, o.origin));
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(r.ledger, Ledger::Mode::kReadWrite));
  DG_ASSIGN_OR_RETURN(Job parsed, LoadJob(r.job));
  DG_ASSIGN_OR_RETURN(Policy policy, LoadPolicy(""));
  DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::Builtin());
  DG_ASSIGN_OR_RETURN(GateResult gate, Gate::Decide(parsed, policy, *kb, *ledger, key, "2026-11-29"));
  r.decision_index = gate.decision_index;
  r.run_id = RunIdFor(parsed.sha256, gate.decision_index);
  r.verdict = VerdictName(gate.decision.verdict);
  if (!gate.permit) return r;

  DG_ASSIGN_OR_RETURN(Hash teacher_sha, Sha256File(r.teacher));
  DG_ASSIGN_OR_RETURN(
      std::unique_ptr<RecordedRun> run,
      RecordedRun::Begin(*gate.permit, parsed, *ledger, key,
                         {"distill",
                          {{"training", {{"loss", "kd"}, {"seed", 1}}},
                           {"runtime", "synthetic"},
                           {"teacher", {{"id", "teacher-1"}, {"sha256", HexEncode(teacher_sha)}, {"license", o.teacher_license}}}},
                          o.flush_every}));
  DG_ASSIGN_OR_RETURN(DatasetManifest m, ManifestJsonLines("corpus", "MIT", r.data));
  DG_RETURN_IF_ERROR(run->Append("dataset_manifest", m.ToEntryBody()));
  CallRecorder& rec = run->calls();
  for (uint64_t i = 0; i < o.teacher_calls; ++i) {
    TeacherCall c;
    c.teacher_id = "teacher-1";
    c.teacher_sha256 = HexEncode(teacher_sha);
    c.sequence = i;
    c.input_sha256 = Sha256("input " + std::to_string(i));
    c.output_sha256 = Sha256("output " + std::to_string(i));
    c.items = 8;
    c.time = "2026-11-29T12:00:00Z";
    DG_RETURN_IF_ERROR(rec.Record(c));
  }
  DG_RETURN_IF_ERROR(rec.Flush());
  DG_ASSIGN_OR_RETURN(Hash model_sha, Sha256File(r.model));
  DG_RETURN_IF_ERROR(run->Append("model", {{"path", r.model}, {"sha256", HexEncode(model_sha)},
                                      {"student", o.student_name}, {"arch", "mlp"},
                                      {"metrics", {{"test_accuracy", 0.8125},
                                                   {"epochs", {{{"epoch", 1}, {"loss", 1.5}, {"test_accuracy", 0.75}, {"seconds", 1.0}},
                                                               {{"epoch", 2}, {"loss", 0.875}, {"test_accuracy", 0.8125}, {"seconds", 1.0}}}}}}}));
  DG_RETURN_IF_ERROR(run->Complete({{"teacher_calls", rec.recorded()},
                                     {"teacher_calls_root", Base64Encode(rec.calls_root())}, {"examples_seen", o.records},
                                     {"student_accuracy", 0.8125}, {"teacher_accuracy", 0.875},
                                     {"model_sha256", HexEncode(model_sha)}}));
  return r;
}

}  // namespace dg::testing

#endif  // DISTILLGATE_TESTS_SYNTHETIC_RUN_H_
