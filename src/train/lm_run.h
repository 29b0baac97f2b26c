// `distillgate train-lm` (a gated, recorded run that trains the byte-level
// LM teacher on a text corpus) and `distillgate distill-lm`. No torch here.
//
// The same contract as RunJob (train/run.h): inputs are checked before the
// decision (nothing written on bad input), an allowed run is a RecordedRun
// closed on every path, and SIGINT/SIGTERM stop training between steps.
#ifndef DISTILLGATE_TRAIN_LM_RUN_H_
#define DISTILLGATE_TRAIN_LM_RUN_H_

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

struct TrainLmOptions {
  std::string job_path, policy_path, ledger_path, key_path;
  std::string device = "cpu";  // cpu | cuda | auto (the models are saved and evaluated on the CPU)
  bool quiet = false;          // no progress line (shown on a terminal only)
};

// Decides the job (its first dataset is the corpus; no teachers), then
// records run_start, the corpus manifest, the model and run_end. Returns
// {verdict, run, decision_index, exit_code, trained, model: {path, sha256},
// heldout_bits_per_byte, ...}.
StatusOr<nlohmann::json> RunTrainLm(const TrainLmOptions& options);

// Sequence-level distillation of a smaller byte LM from an API teacher's
// transcript (`transcripts collect` or `record` output): the job's teacher
// names its `transcript` (and, for the metrics, its `model_file`); datasets[0]
// is the text corpus, used for the held-out metrics and for a baseline
// student trained on the same number of raw corpus bytes. The transcript is
// checked (every line, the teacher's model on every answer) before the
// decision. Records run_start (with the transcript files' SHA-256),
// dataset manifests, the model with teacher/student/baseline metrics, run_end.
StatusOr<nlohmann::json> RunDistillLm(const TrainLmOptions& options);

}  // namespace dg

#endif  // DISTILLGATE_TRAIN_LM_RUN_H_
