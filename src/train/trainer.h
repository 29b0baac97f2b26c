// The distillation runner's training side. This header stays free of
// LibTorch so that the CLI and tests including it compile quickly; only
// src/train/*.cc include torch.
//
// The trainer never writes to the ledger itself: every teacher call goes
// through the gateway into the run's CallRecorder, and the caller (RunJob)
// closes the run. Errors: InvalidInput for a teacher or device that cannot
// be used, VerifyFailed for a teacher file changed since its decision or a
// permit that does not match, Internal for LibTorch failures, Interrupted
// when SIGINT/SIGTERM stops training (all calls answered so far are handed
// to the recorder first). One training per thread; LibTorch's own pool
// uses the cores this process may use.
#ifndef DISTILLGATE_TRAIN_TRAINER_H_
#define DISTILLGATE_TRAIN_TRAINER_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/hash.h"
#include "core/status.h"
#include "record/call_recorder.h"
#include "record/idx.h"
#include "policy/gate.h"

namespace dg {

// Sizes LibTorch's thread pool to the cores this process may use and keeps
// OpenBLAS from running a second pool beside it (once per process).
void UseAvailableCores();

struct TrainConfig {
  std::string device = "cpu";    // cpu | cuda | auto
  std::string precision = "fp32";  // fp32 | bf16 (the teacher runs in bfloat16; CUDA only)
  std::string arch = "mlp";      // mlp | cnn | cnn-wide (students and teachers alike)
  std::vector<int64_t> hidden = {64, 64};
  std::string loss = "kd";       // kd | reverse_kd | hard
  double temperature = 4.0;      // T
  double alpha = 0.9;            // weight of the soft (distillation) term; 1-alpha weighs hard-label CE
  int epochs = 3;
  int64_t batch_size = 128;
  double lr = 1e-3;              // Adam
  std::string lr_schedule = "constant";  // constant | cosine (decays to 0 over the run's steps)
  uint64_t seed = 1;
  size_t labelled_examples = 0;  // 0: every training label is used; N: only the first N labels
  size_t train_limit = 0;        // 0: all training images; N: the first N (tests)
  // A distillgate checkpoint (mlp/cnn, the same arch and hidden sizes) the
  // model starts from instead of a fresh initialisation (fine-tuning); ""
  // none. The job must then declare it as the student's base_model.
  std::string init_from;
  std::string init_from_sha256;  // its hex SHA-256 when decided: re-checked before it is loaded
  bool quiet = false;

  static StatusOr<TrainConfig> FromJson(const nlohmann::json& j, const std::string& where);
  nlohmann::json ToJson() const;  // recorded in the ledger with the exact loss formula
};

struct EpochMetrics {
  int epoch = 0;
  double loss = 0, test_accuracy = 0, seconds = 0;
  std::string params_sha256;  // data-parallel runs: the parameters' hash every rank agreed on after the epoch
};

struct TrainResult {
  double teacher_accuracy = -1;  // -1 when there is no teacher
  double student_accuracy = 0;
  uint64_t teacher_calls = 0;
  uint64_t examples_seen = 0;
  std::string model_path, model_sha256, device;
  std::vector<EpochMetrics> epochs;
  double train_seconds = 0;
  double recording_seconds = 0;  // hashing teacher inputs/outputs and appending their ledger entries
  // Data-parallel runs (world > 1): every rank's calls (rank order), the
  // seconds backward's end waited for gradient all-reduces (this rank), and
  // the gradient buckets.
  int world = 1;
  std::vector<uint64_t> calls_per_rank;
  double allreduce_wait_seconds = 0;
  size_t gradient_buckets = 0;
};

class RankGroup;

// The teacher as the trainer sees it: a distillgate checkpoint (cnn) file.
struct TeacherSpec {
  std::string id, path, sha256;
};

// Loads the teacher at `path` on the CPU and drops it: OK only for a file the
// trainer can execute (a distillgate checkpoint with its X.pt.json, or a
// TorchScript module). `run` calls it before anything is decided, so a
// teacher it cannot run (safetensors weights without an architecture) writes
// nothing to the ledger. InvalidInput naming the file otherwise.
Status CheckRunnableTeacher(const std::string& path);

// Whether a run on `device` (auto | cpu | cuda) at `precision` (fp32 | bf16)
// can run here: `cuda` needs a usable CUDA device, and bf16 a CUDA device
// (checked before anything is decided). Returns whether the run trains on
// CUDA (`auto` picks it when usable).
StatusOr<bool> TrainsOnCuda(const std::string& device, const std::string& precision = "fp32");
inline StatusOr<bool> TrainsOnCuda(const TrainConfig& config) { return TrainsOnCuda(config.device, config.precision); }

// Trains a student on the teacher's outputs. Every teacher call goes through
// the gateway, which hands its entries to the recorder a batch of the
// recorder's size at a time (outputs hashed from one host copy), the last
// batch before the model is saved; a recording failure stops the run. The
// Permit is re-verified against
// `job` and `ledger` first: a job changed after its decision does not train.
// `train_leaves` are the training manifest's record leaves (the RFC 6962
// leaf hash of each record trained on, in order): a teacher call's
// input_sha256 is the SHA-256 of its batch's leaves (docs/runner.md).
//
// Data-parallel (`ranks` not null, docs/runner.md): every rank trains on its
// shard of each epoch's order (the seeded shuffle, padded to a multiple of
// the world as PyTorch's DistributedSampler pads it, rank r taking every
// world-th position from r), gradients are averaged by all-reduce, and after
// every teacher call the ranks all-gather the call's digest: rank 0, the only
// ledger writer, records every rank's calls (naming the rank) through
// `recorder`; the other ranks pass a null recorder and save no model. After
// every epoch the ranks all-gather their parameters' SHA-256 and stop with
// VerifyFailed unless they agree. A rank that stops answering fails the
// collectives with IoError (within the group's timeout).
StatusOr<TrainResult> Distill(const Permit& permit, const Job& job, Ledger& ledger, const ImageSet& train,
                              const std::vector<Hash>& train_leaves, const ImageSet& test, const TeacherSpec& teacher, CallRecorder* recorder,
                              const TrainConfig& config, const std::string& model_out, RankGroup* ranks = nullptr);

// Trains the default teacher (a small CNN) on hard labels, under a permit
// (data-parallel as Distill when `ranks` is set).
StatusOr<TrainResult> TrainTeacher(const Permit& permit, const Job& job, Ledger& ledger, const ImageSet& train,
                                   const ImageSet& test, const TrainConfig& config, const std::string& model_out,
                                   RankGroup* ranks = nullptr);

// The output_sha256 a teacher_call entry holds for each batch of `set`'s
// records (indices into `set`), recomputed on the CPU in float32: lets
// someone holding the teacher file and the data re-check recorded calls.
// Bit-for-bit for runs on the CPU (same LibTorch, same threads); a GPU or
// bf16 run's logits may differ in their last bits.
StatusOr<std::vector<Hash>> TeacherOutputHashes(const std::string& teacher_path, const ImageSet& set,
                                                const std::vector<std::vector<int64_t>>& batches);

// Which LibTorch this binary runs ("1.13.1", and whether CUDA is usable).
std::string TorchDescription();

// `distillgate-train classify`: the class probabilities (softmax of the
// logits) a classifier — a distillgate checkpoint (X.pt with X.pt.json) or a
// TorchScript module taking [N,1,28,28] — gives each image of `images_path`,
// a file of N×784 bytes (28×28 greyscale, row-major; what attribution's
// image probes are), normalised as in training. {"count", "model_sha256",
// "probabilities": [[p0 … p9], …]}. InvalidInput for a file that is not
// whole images or a model that cannot be loaded.
StatusOr<nlohmann::json> Classify(const std::string& model_path, const std::string& images_path);

}  // namespace dg

#endif  // DISTILLGATE_TRAIN_TRAINER_H_
