// LibTorch training: the default CNN teacher, MLP/CNN students, Hinton KD,
// reverse KD and the hard-label baseline. The teacher is reached only through
// TeacherGateway, which records every call (in batches of the recorder's
// size, all before the student is saved).
#include <dlfcn.h>
#include <sched.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <cstdio>
#include <numeric>
#include <random>

#include "core/canonical_json.h"
#include "core/clock.h"
#include "core/interrupt.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "train/trainer.h"

namespace dg {

// LibTorch sizes its thread pool from the host's CPUs, which in a container
// can exceed the cores this process may use; oversubscription halves speed.
void UseAvailableCores() {
  static bool done = [] {
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n > 0) torch::set_num_threads(n);
    // LibTorch already runs its kernels on n OpenMP threads; OpenBLAS's own
    // pool (Debian's libopenblas0-pthread) on top of them oversubscribes the
    // cores, and both spin while waiting (bench/RESULTS.md: one KD epoch
    // 2.2x faster on 2 cores without it). Unless the user chose a number,
    // BLAS calls run on the OpenMP thread that makes them.
    if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) {
      using SetThreads = void (*)(int);
      if (auto set_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set_threads(1);
    }
    return true;
  }();
  (void)done;
}

namespace {

using torch::Tensor;

torch::nn::Sequential MakeModel(const std::string& arch, const std::vector<int64_t>& hidden) {
  torch::nn::Sequential m;
  if (arch == "cnn") {
    // A small CNN: ~90 % on Fashion-MNIST in a few CPU minutes.
    m->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3)));
    m->push_back(torch::nn::ReLU());
    m->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)));
    m->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 3)));
    m->push_back(torch::nn::ReLU());
    m->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)));
    m->push_back(torch::nn::Flatten());
    m->push_back(torch::nn::Linear(32 * 5 * 5, 128));
    m->push_back(torch::nn::ReLU());
    m->push_back(torch::nn::Linear(128, 10));
  } else {
    m->push_back(torch::nn::Flatten());
    int64_t in = 28 * 28;
    for (int64_t h : hidden) {
      m->push_back(torch::nn::Linear(in, h));
      m->push_back(torch::nn::ReLU());
      in = h;
    }
    m->push_back(torch::nn::Linear(in, 10));
  }
  return m;
}


torch::Device DeviceOf(bool cuda) { return torch::Device(cuda ? torch::kCUDA : torch::kCPU); }

// Images as normalised float [N,1,28,28]; labels int64 [N].
std::pair<Tensor, Tensor> ToTensors(const ImageSet& s, size_t limit) {
  const int64_t n = static_cast<int64_t>(limit == 0 ? s.size() : std::min(limit, s.size()));
  Tensor x = torch::from_blob(const_cast<uint8_t*>(s.images.data.data()), {n, 1, 28, 28}, torch::kUInt8)
                 .to(torch::kFloat32)
                 .div(255.0)
                 .sub(0.2860)
                 .div(0.3530);
  Tensor y = torch::from_blob(const_cast<uint8_t*>(s.labels.data.data()), {n}, torch::kUInt8).to(torch::kInt64);
  return {x.clone(), y.clone()};
}

std::string ShapeOf(const Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

Hash HashTensor(const Tensor& t) {
  Tensor c = t.to(torch::kCPU).contiguous();
  return Sha256(std::string_view(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
}

// A model as a function from an input batch to logits (a distillgate
// checkpoint or a TorchScript module).
using Forward = std::function<Tensor(const Tensor&)>;

double Accuracy(const Forward& f, const Tensor& x, const Tensor& y, torch::Device dev) {
  torch::NoGradGuard ng;
  int64_t correct = 0;
  for (int64_t i = 0; i < x.size(0); i += 1000) {
    const int64_t j = std::min<int64_t>(i + 1000, x.size(0));
    Tensor logits = f(x.slice(0, i, j).to(dev));
    correct += logits.argmax(1).eq(y.slice(0, i, j).to(dev)).sum().item<int64_t>();
  }
  return static_cast<double>(correct) / static_cast<double>(x.size(0));
}

double Accuracy(torch::nn::Sequential& m, const Tensor& x, const Tensor& y, torch::Device dev) {
  m->eval();
  const double acc = Accuracy([&m](const Tensor& t) { return m->forward(t); }, x, y, dev);
  m->train();
  return acc;
}

class Progress {
 public:
  Progress(bool enabled, int epochs, int64_t batches) : on_(enabled && isatty(2)), epochs_(epochs), batches_(batches) {}
  void Update(int epoch, int64_t batch) {
    if (!on_ || (batch % 20 != 0 && batch + 1 != batches_)) return;
    const int width = 30, done = static_cast<int>(width * (batch + 1) / batches_);
    std::fprintf(stderr, "\repoch %d/%d [%s%s] %lld/%lld", epoch, epochs_, std::string(done, '#').c_str(),
                 std::string(width - done, ' ').c_str(), static_cast<long long>(batch + 1), static_cast<long long>(batches_));
    if (batch + 1 == batches_) std::fprintf(stderr, "\n");
  }

 private:
  bool on_;
  int epochs_;
  int64_t batches_;
};

// Saves atomically: the checkpoint, then its architecture sidecar.
Status SaveModel(torch::nn::Sequential& m, const std::string& arch, const std::vector<int64_t>& hidden,
                 const std::string& path, std::string* sha256) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  try {
    torch::save(m, tmp);
  } catch (const std::exception& e) {
    ::unlink(tmp.c_str());
    return Status::IoError(path + ": cannot save model: " + e.what());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::IoError(path + ": cannot save model");
  DG_ASSIGN_OR_RETURN(Hash h, Sha256File(path));
  *sha256 = HexEncode(h);
  nlohmann::json meta = {{"format", "distillgate-model-v1"}, {"arch", arch}, {"hidden", hidden}, {"sha256", *sha256},
                         {"libtorch", TORCH_VERSION}};
  return WriteFileAtomic(path + ".json", meta.dump(2) + "\n", 0644, false);
}

StatusOr<torch::nn::Sequential> LoadModel(const std::string& path, std::string* arch_out) {
  DG_ASSIGN_OR_RETURN(std::string meta_text, ReadFile(path + ".json"));
  auto parsed = ParseJsonStrict(meta_text, path + ".json");
  nlohmann::json meta = parsed.ok() ? std::move(parsed).value() : nlohmann::json();
  if (!meta.is_object() || meta.value("format", "") != "distillgate-model-v1") {
    return Status::InvalidInput(path + ".json: not a distillgate model description");
  }
  const std::string arch = meta.value("arch", "");
  std::vector<int64_t> hidden = meta.value("hidden", std::vector<int64_t>{});
  torch::nn::Sequential m = MakeModel(arch, hidden);
  try {
    torch::load(m, path);
  } catch (const std::exception& e) {
    return Status::InvalidInput(path + ": cannot load model (" + arch + "): " + std::string(e.what()).substr(0, 200));
  }
  if (arch_out) *arch_out = arch;
  return m;
}

// A teacher: a distillgate checkpoint (X.pt with its X.pt.json), or else a
// TorchScript module (torch::jit::load) taking [N,1,28,28] and returning [N,10].
// With `bf16` the teacher's weights and inputs are bfloat16 and its logits
// are returned (and hashed) as float32.
StatusOr<Forward> LoadTeacher(const std::string& path, torch::Device dev, bool bf16) {
  if (FileExists(path + ".json")) {
    DG_ASSIGN_OR_RETURN(torch::nn::Sequential m, LoadModel(path, nullptr));
    if (bf16) {
      m->to(dev, torch::kBFloat16);
    } else {
      m->to(dev);
    }
    m->eval();
    if (bf16) return Forward([m](const Tensor& x) mutable { return m->forward(x.to(torch::kBFloat16)).to(torch::kFloat32); });
    return Forward([m](const Tensor& x) mutable { return m->forward(x); });
  }
  try {
    auto module = std::make_shared<torch::jit::Module>(torch::jit::load(path, dev));
    module->eval();
    if (bf16) {
      module->to(torch::kBFloat16);
      return Forward([module](const Tensor& x) { return module->forward({x.to(torch::kBFloat16)}).toTensor().to(torch::kFloat32); });
    }
    return Forward([module](const Tensor& x) { return module->forward({x}).toTensor(); });
  } catch (const c10::Error& e) {
    return Status::InvalidInput(path + ": neither a distillgate checkpoint (no " + path +
                                ".json) nor a TorchScript file: " + std::string(e.what_without_backtrace()).substr(0, 160));
  }
}

// Every teacher call goes through here. A call's entry is completed (its
// output hashed) and handed to the recorder a batch of its size at a time:
// one device-to-host copy per batch instead of a wait for the GPU at every
// call. Finish() completes the rest; the trainer calls it before the student
// is saved, so no saved model has seen an unrecorded teacher output, and a
// recording failure stops the run.
class TeacherGateway {
 public:
  TeacherGateway(Forward model, TeacherSpec spec, CallRecorder& rec)
      : model_(std::move(model)), spec_(std::move(spec)), rec_(rec) {}
  // `input_sha256` pins the batch's source records (what the teacher saw
  // before the fixed normalisation): SHA-256 of their manifest leaves.
  StatusOr<Tensor> Call(const Tensor& input, const Hash& input_sha256) {
    torch::NoGradGuard ng;
    Tensor out = model_(input);
    if (out.dim() != 2 || out.size(0) != input.size(0) || out.size(1) != 10) {
      return Status::InvalidInput("teacher " + spec_.id + " returned logits of shape " + ShapeOf(out) +
                                  ", expected [" + std::to_string(input.size(0)) + ", 10]");
    }
    if (out.scalar_type() != torch::kFloat32) out = out.to(torch::kFloat32);  // what is hashed and used
    auto t0 = std::chrono::steady_clock::now();
    TeacherCall c;
    c.teacher_id = spec_.id;
    c.teacher_sha256 = spec_.sha256;
    c.sequence = calls_++;
    c.input_sha256 = input_sha256;
    c.items = static_cast<uint64_t>(input.size(0));
    c.time = NowRfc3339();
    pending_.push_back(std::move(c));
    pending_out_.push_back(out);
    Status st = pending_.size() >= rec_.flush_every() ? HashAndRecord() : Status::Ok();
    recording_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    DG_RETURN_IF_ERROR(st);
    return out;
  }
  Status Finish() {
    auto t0 = std::chrono::steady_clock::now();
    Status st = HashAndRecord();
    recording_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return st;
  }
  uint64_t calls() const { return calls_; }
  double recording_seconds() const { return recording_seconds_; }

 private:
  // output_sha256 of each pending call: SHA-256 of its float32 logits,
  // row-major, cut from one host copy of them all.
  Status HashAndRecord() {
    if (pending_.empty()) return Status::Ok();
    Tensor all = torch::cat(pending_out_).to(torch::kCPU).contiguous();
    const char* p = static_cast<const char*>(all.data_ptr());
    const size_t row = static_cast<size_t>(all.size(1)) * all.element_size();
    for (TeacherCall& c : pending_) {
      c.output_sha256 = Sha256(std::string_view(p, c.items * row));
      p += c.items * row;
      DG_RETURN_IF_ERROR(rec_.Record(c));
    }
    pending_.clear();
    pending_out_.clear();
    return Status::Ok();
  }

  Forward model_;
  TeacherSpec spec_;
  CallRecorder& rec_;
  std::vector<TeacherCall> pending_;
  std::vector<Tensor> pending_out_;
  uint64_t calls_ = 0;
  double recording_seconds_ = 0;
};

StatusOr<TrainResult> TrainLoop(const ImageSet& train, const std::vector<Hash>* train_leaves, const ImageSet& test,
                                const TrainConfig& cfg, TeacherGateway* teacher, const std::string& arch,
                                const std::string& model_out) {
  UseAvailableCores();
  torch::manual_seed(cfg.seed);
  DG_ASSIGN_OR_RETURN(const bool cuda, TrainsOnCuda(cfg));
  const torch::Device dev = DeviceOf(cuda);
  // The whole split goes to the device once (Fashion-MNIST: 188 MB as
  // float32); batches are gathered there.
  auto [x, y] = ToTensors(train, cfg.train_limit);
  auto [tx, ty] = ToTensors(test, 0);
  x = x.to(dev), y = y.to(dev), tx = tx.to(dev), ty = ty.to(dev);
  const int64_t n = x.size(0);
  const int64_t labelled = cfg.labelled_examples == 0 ? n : std::min<int64_t>(n, static_cast<int64_t>(cfg.labelled_examples));
  // The hard-label baseline sees only the labelled examples; distillation
  // sees every image (through the teacher) and the labels it has.
  const bool distil = teacher != nullptr && cfg.loss != "hard";
  const int64_t pool = distil ? n : labelled;
  if (distil && (train_leaves == nullptr || static_cast<int64_t>(train_leaves->size()) != n)) {
    return Status::Internal("the training manifest's record leaves do not match the " + std::to_string(n) + " training images");
  }
  torch::nn::Sequential model = MakeModel(arch, cfg.hidden);
  if (!cfg.init_from.empty()) {
    // Fine-tuning: the same architecture, its weights.
    DG_ASSIGN_OR_RETURN(std::string meta_text, ReadFile(cfg.init_from + ".json"));
    DG_ASSIGN_OR_RETURN(nlohmann::json meta, ParseJsonStrict(meta_text, cfg.init_from + ".json"));
    const std::vector<int64_t> hidden = meta.value("hidden", std::vector<int64_t>{});
    if (meta.value("arch", "") != arch || (arch == "mlp" && hidden != cfg.hidden)) {
      return Status::InvalidInput("/training/init_from: " + cfg.init_from + " is a " + meta.value("arch", std::string("?")) +
                                  " model of other sizes than the " + arch + " this job trains");
    }
    DG_ASSIGN_OR_RETURN(Hash ih, Sha256File(cfg.init_from));
    if (!cfg.init_from_sha256.empty() && HexEncode(ih) != cfg.init_from_sha256) {
      return Status::VerifyFailed(cfg.init_from + ": the model to start from changed since the run was decided");
    }
    DG_ASSIGN_OR_RETURN(model, LoadModel(cfg.init_from, nullptr));
  }
  model->to(dev);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(cfg.lr));
  std::mt19937_64 rng(cfg.seed);
  std::vector<int64_t> order(static_cast<size_t>(pool));
  std::iota(order.begin(), order.end(), 0);
  const int64_t batches = (pool + cfg.batch_size - 1) / cfg.batch_size;
  Progress progress(!cfg.quiet, cfg.epochs, batches);
  TrainResult r;
  r.device = dev.is_cuda() ? "cuda" : "cpu";
  const double T = cfg.temperature;
  std::string batch_leaves;
  auto start = std::chrono::steady_clock::now();
  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    std::shuffle(order.begin(), order.end(), rng);
    Tensor perm = torch::from_blob(order.data(), {pool}, torch::kInt64).clone();
    Tensor perm_dev = perm.to(dev);
    // Summed on the device: reading each batch's loss would wait for the GPU.
    Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(dev));
    for (int64_t b = 0; b < batches; ++b) {
      DG_RETURN_IF_ERROR(CheckNotStopped("training"));  // SIGINT/SIGTERM: the run is closed as interrupted
      const int64_t from = b * cfg.batch_size, to = std::min(pool, (b + 1) * cfg.batch_size);
      Tensor idx = perm.slice(0, from, to), idx_dev = perm_dev.slice(0, from, to);
      Tensor xb = x.index_select(0, idx_dev), yb = y.index_select(0, idx_dev);
      Tensor logits = model->forward(xb);
      Tensor loss;
      if (!distil) {
        loss = torch::nn::functional::cross_entropy(logits, yb);
      } else {
        batch_leaves.clear();
        const int64_t* ids = idx.data_ptr<int64_t>();
        int64_t with_label = 0;  // examples of the batch whose label the student may use
        for (int64_t k = 0; k < idx.size(0); ++k) {
          batch_leaves += AsBytes((*train_leaves)[static_cast<size_t>(ids[k])]);
          with_label += ids[k] < labelled;
        }
        DG_ASSIGN_OR_RETURN(Tensor t_logits, teacher->Call(xb, Sha256(batch_leaves)));
        Tensor log_ps = torch::log_softmax(logits / T, 1), log_pt = torch::log_softmax(t_logits / T, 1);
        Tensor kd = cfg.loss == "kd" ? (log_pt.exp() * (log_pt - log_ps)).sum(1).mean()
                                     : (log_ps.exp() * (log_ps - log_pt)).sum(1).mean();
        loss = kd * (cfg.alpha * T * T);
        // The hard-label term over the batch's labelled examples: all of
        // them (no mask to gather by), some, or none.
        if (cfg.alpha < 1 && with_label == idx.size(0)) {
          loss = loss + (1 - cfg.alpha) * torch::nn::functional::cross_entropy(logits, yb);
        } else if (cfg.alpha < 1 && with_label > 0) {
          Tensor mask = idx_dev.lt(labelled);
          loss = loss + (1 - cfg.alpha) * torch::nn::functional::cross_entropy(logits.index({mask}), yb.index({mask}));
        }
      }
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += loss.detach();
      r.examples_seen += static_cast<uint64_t>(idx.size(0));
      progress.Update(epoch, b);
    }
    EpochMetrics em;
    em.epoch = epoch;
    em.loss = loss_sum.item<double>() / static_cast<double>(batches);
    em.test_accuracy = Accuracy(model, tx, ty, dev);
    em.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.epochs.push_back(em);
  }
  if (teacher != nullptr) DG_RETURN_IF_ERROR(teacher->Finish());  // every call recorded before the model is saved
  r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.student_accuracy = r.epochs.back().test_accuracy;
  model->to(torch::kCPU);
  r.model_path = model_out;
  DG_RETURN_IF_ERROR(SaveModel(model, arch, cfg.hidden, model_out, &r.model_sha256));
  return r;
}

}  // namespace

StatusOr<TrainResult> Distill(const Permit& permit, const Job& job, Ledger& ledger, const ImageSet& train,
                              const std::vector<Hash>& train_leaves, const ImageSet& test, const TeacherSpec& teacher,
                              CallRecorder& recorder, const TrainConfig& config, const std::string& model_out) {
  DG_RETURN_IF_ERROR(Gate::Verify(permit, job, ledger));
  DG_ASSIGN_OR_RETURN(Hash h, Sha256File(teacher.path));
  if (HexEncode(h) != teacher.sha256) {
    return Status::VerifyFailed(teacher.path + ": teacher file changed since it was recorded");
  }
  DG_ASSIGN_OR_RETURN(const bool cuda, TrainsOnCuda(config));
  const torch::Device dev = DeviceOf(cuda);
  DG_ASSIGN_OR_RETURN(Forward t, LoadTeacher(teacher.path, dev, config.precision == "bf16"));
  TeacherGateway gateway(t, teacher, recorder);
  // Every call the teacher answered is recorded, also when training stops
  // early (an error, an exception, SIGINT): the gateway's pending calls are
  // handed to the recorder before the error goes up.
  auto stopped = [&gateway](const Status& why) {
    try {
      gateway.Finish().IgnoreError();  // the error that stopped the run is the one to report
    } catch (const c10::Error&) {  // the device failed: what stopped the run is reported below
    }
    return why;
  };
  try {
    auto [tx, ty] = ToTensors(test, 0);
    const double teacher_acc = Accuracy(t, tx, ty, dev);
    StatusOr<TrainResult> trained = TrainLoop(train, &train_leaves, test, config, &gateway, config.arch, model_out);
    if (!trained.ok()) return stopped(trained.status());
    TrainResult r = std::move(trained).value();
    auto f0 = std::chrono::steady_clock::now();
    DG_RETURN_IF_ERROR(recorder.Flush());
    r.recording_seconds = gateway.recording_seconds() +
                          std::chrono::duration<double>(std::chrono::steady_clock::now() - f0).count();
    r.teacher_accuracy = teacher_acc;
    r.teacher_calls = gateway.calls();
    return r;
  } catch (const c10::Error& e) {
    return stopped(Status::Internal(std::string("LibTorch: ") + e.what_without_backtrace()));
  }
}

StatusOr<TrainResult> TrainTeacher(const Permit& permit, const Job& job, Ledger& ledger, const ImageSet& train,
                                   const ImageSet& test, const TrainConfig& config, const std::string& model_out) {
  DG_RETURN_IF_ERROR(Gate::Verify(permit, job, ledger));
  TrainConfig c = config;
  c.loss = "hard";
  try {
    return TrainLoop(train, nullptr, test, c, nullptr, c.arch, model_out);
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("LibTorch: ") + e.what_without_backtrace());
  }
}

StatusOr<std::vector<Hash>> TeacherOutputHashes(const std::string& teacher_path, const ImageSet& set,
                                                const std::vector<std::vector<int64_t>>& batches) {
  UseAvailableCores();
  DG_ASSIGN_OR_RETURN(Forward f, LoadTeacher(teacher_path, torch::Device(torch::kCPU), false));
  try {
    torch::NoGradGuard ng;
    auto [x, y] = ToTensors(set, 0);
    std::vector<Hash> out;
    for (const auto& b : batches) {
      for (int64_t i : b) {
        if (i < 0 || i >= x.size(0)) return Status::InvalidInput("record " + std::to_string(i) + " is not in the set");
      }
      Tensor idx = torch::tensor(b, torch::kInt64);
      out.push_back(HashTensor(f(x.index_select(0, idx)).to(torch::kFloat32)));
    }
    return out;
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("LibTorch: ") + e.what_without_backtrace());
  }
}

StatusOr<nlohmann::json> Classify(const std::string& model_path, const std::string& images_path) {
  UseAvailableCores();
  DG_ASSIGN_OR_RETURN(std::string pixels, ReadFile(images_path));
  constexpr size_t kImage = 28 * 28;
  if (pixels.empty() || pixels.size() % kImage != 0) {
    return Status::InvalidInput(images_path + ": " + std::to_string(pixels.size()) + " bytes are not whole 28×28 images");
  }
  DG_ASSIGN_OR_RETURN(Hash sha, Sha256File(model_path));
  DG_ASSIGN_OR_RETURN(Forward f, LoadTeacher(model_path, torch::Device(torch::kCPU), false));
  const int64_t n = static_cast<int64_t>(pixels.size() / kImage);
  try {
    torch::NoGradGuard ng;
    Tensor x = torch::from_blob(pixels.data(), {n, 1, 28, 28}, torch::kUInt8).to(torch::kFloat32).div(255.0).sub(0.2860).div(0.3530);
    nlohmann::json rows = nlohmann::json::array();
    for (int64_t i = 0; i < n; i += 1000) {
      Tensor logits = f(x.slice(0, i, std::min<int64_t>(i + 1000, n)));
      if (logits.dim() != 2 || logits.size(1) != 10) return Status::InvalidInput(model_path + ": the model does not return [N, 10] logits");
      Tensor p = torch::softmax(logits.to(torch::kFloat64), 1).contiguous();
      const double* d = p.data_ptr<double>();
      for (int64_t r = 0; r < p.size(0); ++r) rows.push_back(std::vector<double>(d + r * 10, d + r * 10 + 10));
    }
    return nlohmann::json{{"count", n}, {"model_sha256", HexEncode(sha)}, {"probabilities", rows}};
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("LibTorch: ") + e.what_without_backtrace());
  }
}

// `cuda` without a usable GPU is refused rather than quietly run on the CPU
// (the record names the device used).
StatusOr<bool> TrainsOnCuda(const std::string& device, const std::string& precision) {
  const bool available = torch::cuda::is_available();
  if (device == "cuda" && !available) {
    return Status::InvalidInput("--device cuda: no CUDA device is usable by this build (LibTorch " + std::string(TORCH_VERSION) +
                                "); use --device cpu or auto");
  }
  const bool cuda = device == "cuda" || (device == "auto" && available);
  if (precision == "bf16" && !cuda) {
    return Status::InvalidInput("/training/precision: bf16 runs the teacher in bfloat16 on a CUDA device; this run is on the CPU");
  }
  return cuda;
}

std::string TorchDescription() {
  return std::string("LibTorch ") + TORCH_VERSION + (torch::cuda::is_available() ? " (CUDA available)" : " (CPU)");
}

}  // namespace dg
