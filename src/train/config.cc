// TrainConfig <-> JSON (no LibTorch here).
#include "train/trainer.h"

namespace dg {

StatusOr<TrainConfig> TrainConfig::FromJson(const nlohmann::json& j, const std::string& where) {
  TrainConfig c;
  if (j.is_null()) return c;
  if (!j.is_object()) return Status::InvalidInput(where + ": /training: expected an object");
  try {
    c.arch = j.value("arch", c.arch);
    if (j.contains("hidden")) c.hidden = j["hidden"].get<std::vector<int64_t>>();
    c.loss = j.value("loss", c.loss);
    c.temperature = j.value("temperature", c.temperature);
    c.alpha = j.value("alpha", c.alpha);
    c.epochs = j.value("epochs", c.epochs);
    c.batch_size = j.value("batch_size", c.batch_size);
    c.lr = j.value("lr", c.lr);
    c.seed = j.value("seed", c.seed);
    c.labelled_examples = j.value("labelled_examples", c.labelled_examples);
    c.train_limit = j.value("train_limit", c.train_limit);
    c.precision = j.value("precision", c.precision);
    c.init_from = j.value("init_from", c.init_from);
    c.lr_schedule = j.value("lr_schedule", c.lr_schedule);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidInput(where + ": /training: " + e.what());
  }
  if (c.arch != "mlp" && c.arch != "cnn" && c.arch != "cnn-wide") {
    return Status::InvalidInput(where + ": /training/arch: expected mlp, cnn or cnn-wide");
  }
  if (c.lr_schedule != "constant" && c.lr_schedule != "cosine") {
    return Status::InvalidInput(where + ": /training/lr_schedule: expected constant or cosine");
  }
  if (c.loss != "kd" && c.loss != "reverse_kd" && c.loss != "hard") {
    return Status::InvalidInput(where + ": /training/loss: expected kd, reverse_kd or hard");
  }
  if (c.precision != "fp32" && c.precision != "bf16") return Status::InvalidInput(where + ": /training/precision: expected fp32 or bf16");
  if (c.temperature <= 0) return Status::InvalidInput(where + ": /training/temperature: expected > 0");
  if (c.alpha < 0 || c.alpha > 1) return Status::InvalidInput(where + ": /training/alpha: expected 0..1");
  if (c.epochs < 1 || c.batch_size < 1 || c.lr <= 0) return Status::InvalidInput(where + ": /training: epochs, batch_size and lr must be positive");
  for (int64_t h : c.hidden) {
    if (h < 1) return Status::InvalidInput(where + ": /training/hidden: sizes must be positive");
  }
  return c;
}

nlohmann::json TrainConfig::ToJson() const {
  std::string formula;
  if (loss == "kd") {
    formula = "loss = alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, label); "
              "the CE term covers labelled examples only, averaged over the batch's labelled examples";
  } else if (loss == "reverse_kd") {
    formula = "loss = alpha * T^2 * KL(softmax(student/T) || softmax(teacher/T)) + (1 - alpha) * CE(student, label)";
  } else {
    formula = "loss = CE(student, label) over labelled examples only (no teacher)";
  }
  nlohmann::json j = {{"arch", arch},     {"hidden", hidden},   {"loss", loss},      {"formula", formula},
          {"temperature", temperature}, {"alpha", alpha}, {"epochs", epochs}, {"batch_size", batch_size},
          {"optimizer", "Adam"}, {"lr", lr},       {"seed", seed},      {"labelled_examples", labelled_examples},
          {"train_limit", train_limit}, {"precision", precision}, {"input_normalisation", "(x/255 - 0.2860) / 0.3530"},
          {"init_from", init_from.empty() ? nlohmann::json() : nlohmann::json(init_from)}};
  // Recorded only when not the default, so earlier runs' records read the same.
  if (lr_schedule != "constant") {
    j["lr_schedule"] = lr_schedule;
    j["lr_formula"] = "lr(step) = lr * (1 + cos(pi * step / steps)) / 2, step = 0 … steps - 1 over the whole run";
  }
  return j;
}

}  // namespace dg
