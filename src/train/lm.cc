#include "train/lm.h"

#include <torch/torch.h>

#include <cmath>
#include <random>

#include "core/interrupt.h"
#include "core/progress.h"
#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "train/trainer.h"

namespace dg {

using json = nlohmann::json;

StatusOr<ByteLmConfig> ByteLmConfig::FromJson(const json& t, const std::string& where) {
  ByteLmConfig c;
  if (t.is_object() && t.contains("init_from")) {
    return Status::InvalidInput(where + ": /training/init_from: the byte-level LM trainers start from a fresh model (fine-tuning "
                                "applies to `run` and `train-teacher` only)");
  }
  auto get = [&](const char* key, int64_t* v, int64_t lo, int64_t hi) -> Status {
    if (!t.contains(key)) return Status::Ok();
    if (!t[key].is_number_integer() || t[key].get<int64_t>() < lo || t[key].get<int64_t>() > hi) {
      return Status::InvalidInput(where + ": /training/" + key + ": expected an integer in [" + std::to_string(lo) + ", " +
                                  std::to_string(hi) + "]");
    }
    *v = t[key].get<int64_t>();
    return Status::Ok();
  };
  DG_RETURN_IF_ERROR(get("embed", &c.embed, 4, 1024));
  if (t.contains("hidden") && t["hidden"].is_array()) {  // the job's list form: one GRU layer of hidden[0] units
    if (t["hidden"].size() != 1 || !t["hidden"][0].is_number_integer() || t["hidden"][0].get<int64_t>() < 8 ||
        t["hidden"][0].get<int64_t>() > 4096) {
      return Status::InvalidInput(where + ": /training/hidden: expected one integer in [8, 4096] (the GRU's width)");
    }
    c.hidden = t["hidden"][0].get<int64_t>();
  } else {
    DG_RETURN_IF_ERROR(get("hidden", &c.hidden, 8, 4096));
  }
  DG_RETURN_IF_ERROR(get("seq_len", &c.seq_len, 8, 4096));
  DG_RETURN_IF_ERROR(get("batch_size", &c.batch, 1, 4096));
  DG_RETURN_IF_ERROR(get("steps", &c.steps, 1, 10000000));
  if (t.contains("lr")) {
    if (!t["lr"].is_number() || t["lr"].get<double>() <= 0) return Status::InvalidInput(where + ": /training/lr: expected a positive number");
    c.lr = t["lr"];
  }
  if (t.contains("seed")) c.seed = t.value("seed", uint64_t{1});
  return c;
}

json ByteLmConfig::ToJson() const {
  return {{"arch", "byte-gru"}, {"embed", embed}, {"hidden", hidden}, {"seq_len", seq_len}, {"batch_size", batch},
          {"steps", steps}, {"lr", lr}, {"seed", seed}, {"optimizer", "Adam"},
          {"loss", "mean cross-entropy of the next byte"}};
}

struct ByteLmNetImpl : torch::nn::Module {
  ByteLmNetImpl(int64_t embed, int64_t hidden)
      : emb(register_module("emb", torch::nn::Embedding(256, embed))),
        gru(register_module("gru", torch::nn::GRU(torch::nn::GRUOptions(embed, hidden).batch_first(true)))),
        out(register_module("out", torch::nn::Linear(hidden, 256))) {}
  // x: [B, T] bytes → logits [B, T, 256] and the final hidden state.
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& h0 = {}) {
    auto e = emb(x);
    auto [y, h] = h0.defined() ? gru(e, h0) : gru(e);
    return {out(y), h};
  }
  torch::nn::Embedding emb;
  torch::nn::GRU gru;
  torch::nn::Linear out;
};
TORCH_MODULE(ByteLmNet);

struct ByteLm::Impl {
  ByteLmConfig config;
  ByteLmNet net{nullptr};
  double heldout_bpb = 0;
};

std::string AsciiLines(const std::string& text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    bool ok = nl > pos;
    for (size_t i = pos; i < nl && ok; ++i) ok = text[i] >= 0x20 && text[i] < 0x7f;
    if (ok) out.append(text, pos, nl - pos).push_back('\n');
    pos = nl + 1;
  }
  return out;
}

namespace {

torch::Tensor Bytes(const std::string& s) {
  auto t = torch::empty({static_cast<int64_t>(s.size())}, torch::kLong);
  auto a = t.accessor<int64_t, 1>();
  for (size_t i = 0; i < s.size(); ++i) a[static_cast<int64_t>(i)] = static_cast<unsigned char>(s[i]);
  return t;
}

}  // namespace

namespace {

Status CheckCorpusSize(const std::string& text, const ByteLmConfig& c) {
  if (text.size() < static_cast<size_t>(4 * c.seq_len + 2)) {
    return Status::InvalidInput("the corpus has " + std::to_string(text.size()) + " bytes: too few for seq_len " + std::to_string(c.seq_len));
  }
  return Status::Ok();
}

// The training loop of both Train (teacher == nullptr: next-byte
// cross-entropy) and TrainKd (alpha · T² · KL to the teacher + (1 − alpha) · CE,
// every teacher forward pass passed to `record` before it is used).
StatusOr<std::shared_ptr<ByteLm::Impl>> TrainLoop(const std::string& text, const ByteLmConfig& c, ByteLm::Impl* teacher,
                                                  double T, double alpha, const ByteLm::CallRecorderFn& record,
                                                  std::vector<double>* losses) {
  UseAvailableCores();
  DG_ASSIGN_OR_RETURN(const bool cuda, TrainsOnCuda(c.device));
  // Training runs on the chosen device; the finished models are moved back to
  // the CPU, where they are saved, evaluated and served.
  const torch::Device dev(cuda ? torch::kCUDA : torch::kCPU);
  torch::manual_seed(c.seed);
  auto impl = std::make_shared<ByteLm::Impl>();
  impl->config = c;
  impl->net = ByteLmNet(c.embed, c.hidden);
  impl->net->to(dev);
  if (teacher != nullptr) teacher->net->to(dev);
  struct BackToCpu {  // also when training fails
    ByteLm::Impl* a;
    ByteLm::Impl* b;
    ~BackToCpu() {
      for (ByteLm::Impl* m : {a, b}) {
        if (m != nullptr) m->net->to(torch::kCPU);
      }
    }
  } back{impl.get(), teacher};
  torch::optim::Adam opt(impl->net->parameters(), torch::optim::AdamOptions(c.lr));
  const torch::Tensor data = Bytes(text);
  std::mt19937_64 rng(c.seed);
  std::uniform_int_distribution<int64_t> start(0, static_cast<int64_t>(text.size()) - c.seq_len - 2);
  impl->net->train();
  ProgressBar progress(!c.quiet, "steps");  // rate, elapsed and ETA on a terminal
  progress.Start(std::string(teacher != nullptr ? "distilling " : "training ") + c.name, static_cast<uint64_t>(c.steps));
  for (int64_t step = 0; step < c.steps; ++step) {
    progress.Update(static_cast<uint64_t>(step));
    DG_RETURN_IF_ERROR(CheckNotStopped("training"));  // SIGINT/SIGTERM: the run is closed as interrupted
    std::vector<torch::Tensor> rows;
    std::string batch_bytes;
    for (int64_t b = 0; b < c.batch; ++b) {
      const int64_t at = start(rng);
      rows.push_back(data.narrow(0, at, c.seq_len + 1));
      if (teacher != nullptr) batch_bytes.append(text, static_cast<size_t>(at), static_cast<size_t>(c.seq_len));
    }
    auto batch = torch::stack(rows).to(dev);
    auto x = batch.narrow(1, 0, c.seq_len), y = batch.narrow(1, 1, c.seq_len);
    auto [logits, h] = impl->net->forward(x);
    (void)h;
    auto s_flat = logits.reshape({-1, 256});
    auto loss = torch::nn::functional::cross_entropy(s_flat, y.reshape({-1}));
    if (teacher != nullptr) {
      torch::Tensor t_logits;
      {
        torch::NoGradGuard no_grad;
        auto [tl, th] = teacher->net->forward(x);
        (void)th;
        t_logits = tl.to(torch::kFloat).contiguous();
      }
      const torch::Tensor hashed = t_logits.to(torch::kCPU);
      const Hash out_sha = Sha256(std::string_view(static_cast<const char*>(hashed.data_ptr()), hashed.numel() * sizeof(float)));
      DG_RETURN_IF_ERROR(record(Sha256(batch_bytes), out_sha, static_cast<uint64_t>(c.batch * c.seq_len)));
      auto kl = torch::nn::functional::kl_div(torch::log_softmax(s_flat / T, 1), torch::softmax(t_logits.reshape({-1, 256}) / T, 1),
                                              torch::nn::functional::KLDivFuncOptions().reduction(torch::kBatchMean));
      loss = alpha * T * T * kl + (1 - alpha) * loss;
    }
    opt.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(impl->net->parameters(), 1.0);
    opt.step();
    if (losses != nullptr) losses->push_back(loss.item<double>());
  }
  progress.Update(static_cast<uint64_t>(c.steps));  // ends the line
  impl->net->eval();
  return impl;
}

}  // namespace

StatusOr<ByteLm> ByteLm::Train(const std::string& text, const ByteLmConfig& c, std::vector<double>* losses) {
  DG_RETURN_IF_ERROR(CheckCorpusSize(text, c));
  const size_t split = text.size() - text.size() / 20;
  DG_ASSIGN_OR_RETURN(auto impl, TrainLoop(text.substr(0, split), c, nullptr, 0, 0, nullptr, losses));
  ByteLm lm;
  lm.impl_ = impl;
  impl->heldout_bpb = lm.BitsPerByte(text.substr(split));
  return lm;
}

StatusOr<ByteLm> ByteLm::TrainKd(const std::string& text, const ByteLmConfig& c, const ByteLm& teacher, double T,
                                  double alpha, const CallRecorderFn& record) {
  DG_RETURN_IF_ERROR(CheckCorpusSize(text, c));
  DG_ASSIGN_OR_RETURN(auto impl, TrainLoop(text, c, teacher.impl_.get(), T, alpha, record, nullptr));
  ByteLm lm;
  lm.impl_ = impl;
  return lm;
}

double ByteLm::BitsPerByte(const std::string& text) const {
  if (text.size() < 2) return 0;
  torch::NoGradGuard no_grad;
  auto t = Bytes(text).unsqueeze(0);
  auto x = t.narrow(1, 0, t.size(1) - 1), y = t.narrow(1, 1, t.size(1) - 1);
  auto [logits, h] = impl_->net->forward(x);
  (void)h;
  auto nll = torch::nn::functional::cross_entropy(logits.reshape({-1, 256}), y.reshape({-1}));
  return nll.item<double>() / std::log(2.0);
}

double ByteLm::NextByteAgreement(const ByteLm& teacher, const std::string& text) const {
  if (text.size() < 2) return 0;
  torch::NoGradGuard no_grad;
  auto x = Bytes(text).unsqueeze(0);
  auto [mine, h1] = impl_->net->forward(x);
  auto [theirs, h2] = teacher.impl_->net->forward(x);
  (void)h1;
  (void)h2;
  return mine.argmax(-1).eq(theirs.argmax(-1)).to(torch::kDouble).mean().item<double>();
}

namespace {

// Printable ASCII and newline: the only bytes the served model produces.
torch::Tensor OutputMask() {
  auto mask = torch::full({256}, -1e9);
  mask.narrow(0, 0x20, 0x7f - 0x20).fill_(0);
  mask[10] = 0;
  return mask;
}

}  // namespace

std::vector<std::vector<float>> ByteLm::ScoreLogprobs(const std::string& text) const {
  std::vector<std::vector<float>> out;
  if (text.empty()) return out;
  torch::NoGradGuard no_grad;
  auto [logits, h] = impl_->net->forward(Bytes(text).unsqueeze(0));
  (void)h;
  auto lp = torch::log_softmax(logits.squeeze(0) + OutputMask(), 1).to(torch::kFloat).contiguous();
  const float* data = lp.data_ptr<float>();
  for (int64_t j = 0; j < lp.size(0); ++j) out.emplace_back(data + j * 256, data + (j + 1) * 256);
  return out;
}

std::string ByteLm::Generate(const std::string& prompt, int max_new, double temperature, uint64_t seed, char stop,
                             std::vector<std::vector<float>>* step_logprobs) const {
  torch::NoGradGuard no_grad;
  std::mt19937_64 rng(seed);
  std::string context = prompt.empty() ? std::string("\n") : prompt;
  auto [logits, h] = impl_->net->forward(Bytes(context).unsqueeze(0));
  torch::Tensor last = logits.select(1, logits.size(1) - 1).squeeze(0);
  const torch::Tensor mask = OutputMask();
  std::string out;
  for (int i = 0; i < max_new; ++i) {
    auto l = last + mask;
    if (step_logprobs != nullptr) {
      auto lp = torch::log_softmax(l, 0).to(torch::kFloat).contiguous();
      step_logprobs->emplace_back(lp.data_ptr<float>(), lp.data_ptr<float>() + 256);
    }
    int64_t next;
    if (temperature <= 0) {
      next = l.argmax().item<int64_t>();
    } else {
      auto p = torch::softmax(l / temperature, 0);
      auto a = p.accessor<float, 1>();
      std::uniform_real_distribution<double> u(0, 1);
      double r = u(rng), acc = 0;
      next = 255;
      for (int64_t k = 0; k < 256; ++k) {
        acc += a[k];
        if (r <= acc) {
          next = k;
          break;
        }
      }
    }
    if (stop != 0 && next == static_cast<unsigned char>(stop)) break;
    out.push_back(static_cast<char>(next));
    auto [lg, h2] = impl_->net->forward(torch::tensor({next}, torch::kLong).unsqueeze(0), h);
    h = h2;
    last = lg.select(1, 0).squeeze(0);
  }
  return out;
}

const ByteLmConfig& ByteLm::config() const { return impl_->config; }
double ByteLm::heldout_bits_per_byte() const { return impl_->heldout_bpb; }

Status ByteLm::Save(const std::string& path) const {
  const std::string tmp = path + ".tmp-save";
  try {
    torch::save(impl_->net, tmp);
  } catch (const std::exception& e) {
    return Status::IoError(path + ": " + e.what());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::IoError(path + ": cannot write");
  DG_ASSIGN_OR_RETURN(Hash h, Sha256File(path));
  json meta = impl_->config.ToJson();
  meta["format"] = "distillgate-byte-lm-v1";
  meta["name"] = impl_->config.name;
  meta["sha256"] = HexEncode(h);
  meta["heldout_bits_per_byte"] = impl_->heldout_bpb;
  return WriteFileAtomic(path + ".json", meta.dump(2) + "\n", 0644, false);
}

StatusOr<ByteLm> ByteLm::Load(const std::string& path) {
  DG_ASSIGN_OR_RETURN(std::string text, ReadFile(path + ".json"));
  DG_ASSIGN_OR_RETURN(json meta, ParseJsonStrict(text, path + ".json"));
  if (meta.value("format", "") != "distillgate-byte-lm-v1") {
    return Status::InvalidInput(path + ".json: /format: expected \"distillgate-byte-lm-v1\"");
  }
  DG_ASSIGN_OR_RETURN(Hash h, Sha256File(path));
  if (HexEncode(h) != meta.value("sha256", "")) return Status::VerifyFailed(path + ": its SHA-256 is not the one its description records");
  DG_ASSIGN_OR_RETURN(ByteLmConfig c, ByteLmConfig::FromJson(meta, path + ".json"));
  c.name = meta.value("name", c.name);
  auto impl = std::make_shared<Impl>();
  impl->config = c;
  impl->heldout_bpb = meta.value("heldout_bits_per_byte", 0.0);
  impl->net = ByteLmNet(c.embed, c.hidden);
  try {
    torch::load(impl->net, path);
  } catch (const std::exception& e) {
    return Status::InvalidInput(path + ": not a distillgate byte LM: " + e.what());
  }
  impl->net->eval();
  ByteLm lm;
  lm.impl_ = impl;
  return lm;
}

}  // namespace dg
