// A small byte-level language model (embedding → GRU → 256-way softmax) in
// LibTorch: trained on a text corpus by `train-lm`, served by
// `serve-teacher`. This header includes no torch.
//
// A ByteLm is a value sharing its weights (copies see the same model); it is
// used by one thread at a time (serve-teacher generates under a mutex).
// Errors: InvalidInput for a corpus too small or a model file that is not a
// distillgate LM, VerifyFailed for a model whose file changed, IoError for
// the file system; Interrupted when SIGINT/SIGTERM stops training.
#ifndef DISTILLGATE_TRAIN_LM_H_
#define DISTILLGATE_TRAIN_LM_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/hash.h"
#include "core/status.h"

namespace dg {

struct ByteLmConfig {
  int64_t embed = 32, hidden = 192;
  int64_t seq_len = 64, batch = 32, steps = 600;
  double lr = 3e-3;
  uint64_t seed = 1;
  std::string name = "distillgate-byte-lm";
  std::string device = "cpu";  // cpu | cuda | auto: where training runs (not part of the model's description)
  bool quiet = false;          // no progress line (neither is it part of the description)
  static StatusOr<ByteLmConfig> FromJson(const nlohmann::json& training, const std::string& where);
  nlohmann::json ToJson() const;
};

class ByteLm {
 public:
  // Trains on `text` (bytes), holding out its last 5 % for the metric.
  static StatusOr<ByteLm> Train(const std::string& text, const ByteLmConfig& config, std::vector<double>* losses);
  // Token-level distillation from a local LM teacher: loss = alpha · T² ·
  // KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 − alpha) · CE(student,
  // next byte), averaged over positions. The teacher is reached only through
  // `record` (called with SHA-256 of the batch's bytes and of the teacher's
  // float32 logits, and the number of positions) before its output is used;
  // a recording error stops training.
  using CallRecorderFn = std::function<Status(const Hash& input_sha256, const Hash& output_sha256, uint64_t positions)>;
  static StatusOr<ByteLm> TrainKd(const std::string& text, const ByteLmConfig& config, const ByteLm& teacher,
                                  double temperature, double alpha, const CallRecorderFn& record);
  // X.pt with its X.pt.json description ({format: distillgate-byte-lm-v1, …}).
  static StatusOr<ByteLm> Load(const std::string& path);
  Status Save(const std::string& path) const;  // writes X.pt, then X.pt.json with its SHA-256

  // Continues `prompt` by up to `max_new` bytes (stopping at `stop` when it
  // is not 0); temperature 0 picks the most likely byte. Only printable ASCII
  // and newlines are produced, so answers are valid UTF-8.
  // With `step_logprobs`, each generated position's log-probabilities over
  // the 256 bytes (of the masked distribution at temperature 1) are appended
  // to it, position by position: what an endpoint reports as logprobs.
  std::string Generate(const std::string& prompt, int max_new, double temperature, uint64_t seed, char stop = 0,
                       std::vector<std::vector<float>>* step_logprobs = nullptr) const;
  // Teacher-forced scoring: for each j in 0..size-1, the log-probabilities
  // over the 256 bytes of the byte after text[0..j] (the same masked
  // distribution at temperature 1 as Generate's `step_logprobs`), so element
  // j scores text[j + 1] and the last one the first byte Generate would add.
  // Empty for an empty text.
  std::vector<std::vector<float>> ScoreLogprobs(const std::string& text) const;
  // Mean bits per byte of `text` under the model (held-out perplexity = 2^bpb).
  double BitsPerByte(const std::string& text) const;
  // The fraction of positions in `text` where this model's most likely next
  // byte is `teacher`'s (agreement with the teacher's next-byte choices).
  double NextByteAgreement(const ByteLm& teacher, const std::string& text) const;
  const ByteLmConfig& config() const;
  double heldout_bits_per_byte() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// The corpus as the LM sees it: lines of printable ASCII only (others dropped), "\n"-joined.
std::string AsciiLines(const std::string& text);

}  // namespace dg

#endif  // DISTILLGATE_TRAIN_LM_H_
