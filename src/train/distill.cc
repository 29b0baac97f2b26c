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
#include <cstring>
#include <numeric>
#include <random>

#include "core/canonical_json.h"
#include "core/clock.h"
#include "core/interrupt.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/progress.h"
#include "core/hash.h"
#include "train/ranks.h"
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
  if (arch == "cnn-wide") {
    // The demo's teacher: 92.3 % on Fashion-MNIST in 8 cosine epochs (bench/RESULTS.md).
    m->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3).padding(1)));
    m->push_back(torch::nn::ReLU());
    m->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)));
    m->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3).padding(1)));
    m->push_back(torch::nn::ReLU());
    m->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)));
    m->push_back(torch::nn::Flatten());
    m->push_back(torch::nn::Dropout(0.25));
    m->push_back(torch::nn::Linear(64 * 7 * 7, 256));
    m->push_back(torch::nn::ReLU());
    m->push_back(torch::nn::Dropout(0.25));
    m->push_back(torch::nn::Linear(256, 10));
  } else if (arch == "cnn") {
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
  // `rec` null: a rank other than 0 of a data-parallel run, which records
  // nothing itself (its calls go to rank 0 through CallNow's digests).
  TeacherGateway(Forward model, TeacherSpec spec, CallRecorder* rec)
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
    Status st = rec_ != nullptr && pending_.size() >= rec_->flush_every() ? HashAndRecord() : Status::Ok();
    recording_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    DG_RETURN_IF_ERROR(st);
    return out;
  }
  // A data-parallel step's call: answered and hashed at once (the digest
  // goes to rank 0 in the same step), recorded by nobody here.
  StatusOr<std::pair<Tensor, TeacherCall>> CallNow(const Tensor& input, const Hash& input_sha256) {
    torch::NoGradGuard ng;
    Tensor out = model_(input);
    if (out.dim() != 2 || out.size(0) != input.size(0) || out.size(1) != 10) {
      return Status::InvalidInput("teacher " + spec_.id + " returned logits of shape " + ShapeOf(out) +
                                  ", expected [" + std::to_string(input.size(0)) + ", 10]");
    }
    if (out.scalar_type() != torch::kFloat32) out = out.to(torch::kFloat32);
    auto t0 = std::chrono::steady_clock::now();
    TeacherCall c;
    c.teacher_id = spec_.id;
    c.teacher_sha256 = spec_.sha256;
    c.sequence = calls_++;
    c.input_sha256 = input_sha256;
    c.items = static_cast<uint64_t>(input.size(0));
    c.time = NowRfc3339();
    c.output_sha256 = HashTensor(out);
    recording_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::make_pair(out, std::move(c));
  }
  Status Finish() {
    if (rec_ == nullptr) return Status::Ok();
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
      DG_RETURN_IF_ERROR(rec_->Record(c));
    }
    pending_.clear();
    pending_out_.clear();
    return Status::Ok();
  }

  Forward model_;
  TeacherSpec spec_;
  CallRecorder* rec_;
  std::vector<TeacherCall> pending_;
  std::vector<Tensor> pending_out_;
  uint64_t calls_ = 0;
  double recording_seconds_ = 0;
};

// A teacher call's digest as the ranks all-gather it: items (8 bytes, little
// endian), input and output SHA-256, the time (RFC 3339, NUL-padded).
constexpr size_t kDigestTime = 40;
constexpr size_t kDigestBytes = 8 + 32 + 32 + kDigestTime;

std::string DigestOf(const TeacherCall& c) {
  std::string b(kDigestBytes, '\0');
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((c.items >> (8 * i)) & 0xff);
  std::memcpy(&b[8], c.input_sha256.data(), 32);
  std::memcpy(&b[40], c.output_sha256.data(), 32);
  std::memcpy(&b[72], c.time.data(), std::min(c.time.size(), kDigestTime));
  return b;
}

TeacherCall CallOfDigest(const std::string& b, const TeacherSpec& spec, int rank, uint64_t sequence) {
  TeacherCall c;
  c.teacher_id = spec.id;
  c.teacher_sha256 = spec.sha256;
  c.sequence = sequence;
  c.rank = rank;
  for (int i = 0; i < 8; ++i) c.items |= static_cast<uint64_t>(static_cast<uint8_t>(b[i])) << (8 * i);
  std::memcpy(c.input_sha256.data(), &b[8], 32);
  std::memcpy(c.output_sha256.data(), &b[40], 32);
  c.time = b.substr(72, kDigestTime);
  c.time.resize(std::strlen(c.time.c_str()));
  return c;
}

// SHA-256 of every parameter's float bytes, in order (the ranks compare it).
Hash ParamsHash(torch::nn::Sequential& m) {
  std::string bytes;
  for (const auto& p : m->parameters()) {
    Tensor c = p.detach().to(torch::kCPU).contiguous();
    bytes.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  }
  return Sha256(bytes);
}

// The gradient buckets' size (PyTorch DDP's default is 25 MiB; these models
// are ~0.1-1 MB, so smaller buckets let the all-reduce overlap backward).
constexpr size_t kBucketBytes = 256 * 1024;

StatusOr<TrainResult> TrainLoop(const ImageSet& train, const std::vector<Hash>* train_leaves, const ImageSet& test,
                                const TrainConfig& cfg, TeacherGateway* teacher, const std::string& arch,
                                const std::string& model_out, RankGroup* ranks = nullptr, CallRecorder* record_to = nullptr,
                                const TeacherSpec* spec = nullptr) {
  UseAvailableCores();
  const int world = ranks ? ranks->world() : 1, rank = ranks ? ranks->rank() : 0;
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
  std::unique_ptr<GradientReducer> reducer;
  if (world > 1) {
    // Every rank starts from rank 0's parameters (as DDP does), then averages
    // gradients bucket by bucket while backward runs.
    std::vector<Tensor> params;
    for (auto& p : model->parameters()) params.push_back(p.detach());
    DG_RETURN_IF_ERROR(ranks->Meet("training"));
    DG_RETURN_IF_ERROR(ranks->Broadcast(params));
    reducer = std::make_unique<GradientReducer>(*ranks, model->parameters(), kBucketBytes);
  }
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(cfg.lr));
  std::mt19937_64 rng(cfg.seed);
  std::vector<int64_t> order(static_cast<size_t>(pool));
  std::iota(order.begin(), order.end(), 0);
  // This rank's share of an epoch: the order padded to a multiple of the
  // world with its own first positions, every world-th position from `rank`
  // (one process: the whole order).
  const int64_t per_rank = (pool + world - 1) / world;
  std::vector<int64_t> mine(static_cast<size_t>(per_rank));
  const int64_t batches = (per_rank + cfg.batch_size - 1) / cfg.batch_size;
  ProgressBar progress(!cfg.quiet && rank == 0, "batches");  // rate, elapsed and ETA on a terminal
  TrainResult r;
  r.world = world;
  r.calls_per_rank.assign(static_cast<size_t>(world), 0);
  r.gradient_buckets = reducer ? reducer->buckets() : 0;
  uint64_t sequence = 0;  // rank 0: every rank's calls, in (step, rank) order
  std::vector<std::string> digests;
  r.device = dev.is_cuda() ? "cuda" : "cpu";
  const double T = cfg.temperature;
  const bool cosine = cfg.lr_schedule == "cosine";
  const double steps = static_cast<double>(cfg.epochs * batches);
  std::string batch_leaves;
  auto start = std::chrono::steady_clock::now();
  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    std::shuffle(order.begin(), order.end(), rng);
    for (int64_t k = 0; k < per_rank; ++k) mine[static_cast<size_t>(k)] = order[static_cast<size_t>((rank + k * world) % pool)];
    Tensor perm = torch::from_blob(mine.data(), {per_rank}, torch::kInt64).clone();
    Tensor perm_dev = perm.to(dev);
    // Summed on the device: reading each batch's loss would wait for the GPU.
    Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(dev));
    progress.Start("epoch " + std::to_string(epoch) + "/" + std::to_string(cfg.epochs), static_cast<uint64_t>(batches));
    for (int64_t b = 0; b < batches; ++b) {
      DG_RETURN_IF_ERROR(CheckNotStopped("training"));  // SIGINT/SIGTERM: the run is closed as interrupted
      const int64_t from = b * cfg.batch_size, to = std::min(per_rank, (b + 1) * cfg.batch_size);
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
        Tensor t_logits;
        if (world == 1) {
          DG_ASSIGN_OR_RETURN(t_logits, teacher->Call(xb, Sha256(batch_leaves)));
        } else {
          // Every rank's call of this step goes to rank 0, which records them.
          DG_ASSIGN_OR_RETURN(auto answered, teacher->CallNow(xb, Sha256(batch_leaves)));
          t_logits = answered.first;
          if (Status st = ranks->AllGather(DigestOf(answered.second), &digests); !st.ok()) {
            // The other ranks' calls of this step never reached rank 0; its own
            // answered call is recorded before the run fails.
            if (record_to != nullptr) {
              TeacherCall own = answered.second;
              own.rank = 0;
              own.sequence = sequence++;
              record_to->Record(own).IgnoreError();
            }
            return st;
          }
          for (int q = 0; q < world; ++q) {
            r.calls_per_rank[static_cast<size_t>(q)] += 1;
            if (record_to != nullptr) DG_RETURN_IF_ERROR(record_to->Record(CallOfDigest(digests[static_cast<size_t>(q)], *spec, q, sequence++)));
          }
        }
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
      if (cosine) {  // lr(step) = lr * (1 + cos(pi * step / steps)) / 2, as TrainConfig::ToJson records
        const double step = static_cast<double>((epoch - 1) * batches + b);
        for (auto& group : opt.param_groups()) {
          static_cast<torch::optim::AdamOptions&>(group.options()).lr(cfg.lr * 0.5 * (1 + std::cos(M_PI * step / steps)));
        }
      }
      opt.zero_grad();
      if (reducer) reducer->Begin();
      loss.backward();
      if (reducer) DG_RETURN_IF_ERROR(reducer->Finish());
      opt.step();
      loss_sum += loss.detach();
      r.examples_seen += static_cast<uint64_t>(idx.size(0));
      progress.Update(static_cast<uint64_t>(b + 1));
    }
    EpochMetrics em;
    em.epoch = epoch;
    em.loss = loss_sum.item<double>() / static_cast<double>(batches);
    if (world > 1) {
      // The ranks must hold the same parameters; the agreed hash is recorded.
      const Hash h = ParamsHash(model);
      std::vector<std::string> all;
      DG_RETURN_IF_ERROR(ranks->AllGather(std::string(reinterpret_cast<const char*>(h.data()), h.size()), &all));
      for (int q = 1; q < world; ++q) {
        if (all[static_cast<size_t>(q)] != all[0]) {
          return Status::VerifyFailed("after epoch " + std::to_string(epoch) + " rank " + std::to_string(q) +
                                      "'s parameters differ from rank 0's (" + HexEncode(all[static_cast<size_t>(q)]).substr(0, 16) +
                                      "… against " + HexEncode(all[0]).substr(0, 16) + "…): the ranks diverged");
        }
      }
      em.params_sha256 = HexEncode(h);
    }
    // Only rank 0 evaluates (and saves); the others go on to the next epoch.
    em.test_accuracy = rank == 0 ? Accuracy(model, tx, ty, dev) : -1;
    em.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.epochs.push_back(em);
  }
  if (teacher != nullptr) DG_RETURN_IF_ERROR(teacher->Finish());  // every call recorded before the model is saved
  r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.student_accuracy = r.epochs.back().test_accuracy;
  if (reducer) r.allreduce_wait_seconds = reducer->seconds_waiting();
  if (rank != 0) return r;  // rank 0 saves the model
  model->to(torch::kCPU);
  r.model_path = model_out;
  DG_RETURN_IF_ERROR(SaveModel(model, arch, cfg.hidden, model_out, &r.model_sha256));
  return r;
}

}  // namespace

Status CheckRunnableTeacher(const std::string& path) {
  Status st = LoadTeacher(path, torch::Device(torch::kCPU), false).status();
  if (st.ok()) return st;
  // LibTorch's messages carry a backtrace after the first line.
  const std::string first = st.message().substr(0, st.message().find('\n'));
  return Status::InvalidInput(first);
}

StatusOr<TrainResult> Distill(const Permit& permit, const Job& job, Ledger& ledger, const ImageSet& train,
                              const std::vector<Hash>& train_leaves, const ImageSet& test, const TeacherSpec& teacher,
                              CallRecorder* recorder, const TrainConfig& config, const std::string& model_out, RankGroup* ranks) {
  DG_RETURN_IF_ERROR(Gate::Verify(permit, job, ledger));
  DG_ASSIGN_OR_RETURN(Hash h, Sha256File(teacher.path));
  if (HexEncode(h) != teacher.sha256) {
    return Status::VerifyFailed(teacher.path + ": teacher file changed since it was recorded");
  }
  DG_ASSIGN_OR_RETURN(const bool cuda, TrainsOnCuda(config));
  const torch::Device dev = DeviceOf(cuda);
  DG_ASSIGN_OR_RETURN(Forward t, LoadTeacher(teacher.path, dev, config.precision == "bf16"));
  const bool parallel = ranks != nullptr && ranks->world() > 1;
  if (!parallel && recorder == nullptr) return Status::Internal("a one-process run needs its recorder");
  // Data-parallel: calls are answered and hashed at once and rank 0 records
  // every rank's (the gateway records none); one process: the gateway batches.
  TeacherGateway gateway(t, teacher, parallel ? nullptr : recorder);
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
    const bool rank0 = ranks == nullptr || ranks->rank() == 0;
    const double teacher_acc = rank0 ? Accuracy(t, tx, ty, dev) : -1;
    StatusOr<TrainResult> trained = TrainLoop(train, &train_leaves, test, config, &gateway, config.arch, model_out,
                                              parallel ? ranks : nullptr, parallel ? recorder : nullptr, &teacher);
    if (!trained.ok()) return stopped(trained.status());
    TrainResult r = std::move(trained).value();
    auto f0 = std::chrono::steady_clock::now();
    if (recorder != nullptr) DG_RETURN_IF_ERROR(recorder->Flush());
    r.recording_seconds = gateway.recording_seconds() +
                          std::chrono::duration<double>(std::chrono::steady_clock::now() - f0).count();
    r.teacher_accuracy = teacher_acc;
    r.teacher_calls = parallel ? std::accumulate(r.calls_per_rank.begin(), r.calls_per_rank.end(), uint64_t{0}) : gateway.calls();
    return r;
  } catch (const c10::Error& e) {
    return stopped(Status::Internal(std::string("LibTorch: ") + e.what_without_backtrace()));
  }
}

StatusOr<TrainResult> TrainTeacher(const Permit& permit, const Job& job, Ledger& ledger, const ImageSet& train,
                                   const ImageSet& test, const TrainConfig& config, const std::string& model_out,
                                   RankGroup* ranks) {
  DG_RETURN_IF_ERROR(Gate::Verify(permit, job, ledger));
  TrainConfig c = config;
  c.loss = "hard";
  try {
    return TrainLoop(train, nullptr, test, c, nullptr, c.arch, model_out, ranks != nullptr && ranks->world() > 1 ? ranks : nullptr);
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
