// `distillgate run` and `distillgate train-teacher` (built with LibTorch only).
#include <cstdio>
#include <iostream>
#include <filesystem>

#include "cli/arg_checks.h"
#include "cli/commands.h"
#include "model/model_dir.h"
#include "core/interrupt.h"
#include "train/lm_run.h"
#include "train/serve_teacher.h"
#include "train/run.h"
#include "train/trainer.h"

namespace dg::cli {
namespace {

void PrintSummary(const RunSummary& s, bool as_json, bool teacher) {
  if (as_json) {
    std::cout << s.ToJson().dump(2) << "\n";
    return;
  }
  std::cout << "decision: " << s.verdict << " (ledger entry " << s.decision_index << ", run " << s.run_id << ")\n";
  if (!s.trained) {
    std::cout << "nothing was trained; the refusal is in the ledger (" << s.ledger_size << " entries)\n";
    return;
  }
  if (s.result.teacher_accuracy >= 0) std::printf("teacher accuracy: %.2f %%\n", 100 * s.result.teacher_accuracy);
  // train-teacher trains a teacher: its accuracy is the teacher's.
  std::printf("%s accuracy: %.2f %% after %s (%.1f s on %s)\n", teacher ? "teacher" : "student", 100 * s.result.student_accuracy,
              Counted(s.result.epochs.size(), "epoch").c_str(), s.result.train_seconds, s.result.device.c_str());
  if (s.result.teacher_calls) std::cout << "teacher calls recorded: " << s.result.teacher_calls << "\n";
  std::cout << "model: " << s.result.model_path << " (sha256 " << s.result.model_sha256 << ")\n"
            << "ledger: " << s.ledger_size << " entries\n";
}

void Register(CLI::App& app, Dispatch& d, bool teacher) {
  auto o = std::make_shared<RunOptions>();
  auto as_json = std::make_shared<bool>(false);
  o->train_teacher = teacher;
  CLI::App* c = app.add_subcommand(
      teacher ? "train-teacher" : "run",
      teacher ? "Train the default CNN teacher on labels, gated and recorded like any run"
              : "Decide, record, and train the student only if allowed, recording every teacher call.\n"
                "Exit 0 trained, 1 denied, 4 needs review (nothing trained), 2 bad input, 3 I/O or internal error.");
  c->add_option("--job", o->job_path, "Job file (schemas/job.schema.json)")->required();
  c->add_option("--policy", o->policy_path, "Policy file; default: the built-in policy");
  c->add_option("--ledger", o->ledger_path, "Ledger file")->required();
  c->add_option("--key", o->key_path, "The ledger's private key")->required();
  c->add_option("--device", o->device, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}))->capture_default_str();
  c->add_flag("--quiet", o->quiet, "No progress bars");
  c->add_flag("--force", o->force, "Overwrite an existing output model (recorded in run_start as \"overwrites\"); without it an existing one is exit 2");
  c->add_flag("--json", *as_json, "Print the summary as JSON");
  c->add_option("--nproc", o->nproc,
                "Train data-parallel on N local ranks over c10d Gloo (rank 0 decides and records; docs/runner.md). "
                "A launcher's RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT do the same across processes or hosts")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  c->add_option("--rank-timeout", o->rank_timeout_seconds, "Seconds a rank may stay silent before the run fails naming it")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  c->callback([&d, o, as_json, teacher] {
    d.handler = [o, as_json, teacher]() -> StatusOr<int> {
      InstallStopHandlers();  // SIGINT/SIGTERM close the run as interrupted (exit 130/143)
      DG_ASSIGN_OR_RETURN(RunSummary s, RunJob(*o));
      if (s.rank > 0) return s.exit_code;  // rank 0 prints the run
      PrintSummary(s, *as_json, teacher);
      return s.exit_code;  // 0 trained, 1 denied, 4 needs review
    };
  });
}

}  // namespace

void RegisterRun(CLI::App& app, Dispatch& d) {
  Register(app, d, false);
  Register(app, d, true);

  auto lo = std::make_shared<TrainLmOptions>();
  auto lm_json = std::make_shared<bool>(false);
  CLI::App* lm = app.add_subcommand("train-lm", "Train the byte-level language model teacher on a text corpus, gated and recorded");
  lm->add_option("--job", lo->job_path, "Job: datasets[0] is the corpus, student.name names the model, no teachers")->required();
  lm->add_option("--policy", lo->policy_path, "Policy file; default: the built-in policy");
  lm->add_option("--ledger", lo->ledger_path, "Ledger file")->required();
  lm->add_option("--key", lo->key_path, "The ledger's private key")->required();
  lm->add_flag("--quiet", lo->quiet, "No progress line (shown on a terminal only: steps, rate, elapsed, ETA)");
  lm->add_option("--device", lo->device, "auto, cpu or cuda (training; the model is saved and evaluated on the CPU)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  lm->add_flag("--json", *lm_json, "Print the summary as JSON");
  lm->callback([&d, lo, lm_json] {
    d.handler = [lo, lm_json]() -> StatusOr<int> {
      InstallStopHandlers();
      DG_ASSIGN_OR_RETURN(nlohmann::json s, RunTrainLm(*lo));
      if (*lm_json) {
        std::cout << s.dump(2) << "\n";
      } else {
        std::cout << "decision: " << s["verdict"].get<std::string>() << " (ledger entry " << s["decision_index"] << ", run "
                  << s["run"].get<std::string>() << ")\n";
        if (s["trained"].get<bool>()) {
          std::printf("held-out: %.3f bits per byte (perplexity %.2f) after %.1f s\n", s["heldout_bits_per_byte"].get<double>(),
                      s["heldout_perplexity"].get<double>(), s["train_seconds"].get<double>());
          std::cout << "model: " << s["model"]["path"].get<std::string>() << " (sha256 " << s["model"]["sha256"].get<std::string>() << ")\n";
        }
      }
      return s["exit_code"].get<int>();
    };
  });

  auto dlo = std::make_shared<TrainLmOptions>();
  CLI::App* dl = app.add_subcommand("distill-lm", "Distil a smaller byte LM from an API teacher's transcript (sequence-level), gated and recorded,\n"
                                                  "beside a baseline trained on as many raw corpus bytes; prints the metrics as JSON");
  dl->add_option("--job", dlo->job_path, "Job: one api teacher with a transcript (and model_file for the metrics), datasets[0] the corpus")->required();
  dl->add_option("--policy", dlo->policy_path, "Policy file; default: the built-in policy");
  dl->add_option("--ledger", dlo->ledger_path, "Ledger file")->required();
  dl->add_option("--key", dlo->key_path, "The ledger's private key")->required();
  dl->add_flag("--quiet", dlo->quiet, "No progress line (shown on a terminal only: steps, rate, elapsed, ETA)");
  dl->add_option("--device", dlo->device, "auto, cpu or cuda (training; the models are saved and evaluated on the CPU)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  dl->callback([&d, dlo] {
    d.handler = [dlo]() -> StatusOr<int> {
      InstallStopHandlers();
      DG_ASSIGN_OR_RETURN(nlohmann::json s, RunDistillLm(*dlo));
      std::cout << s.dump(2) << "\n";
      return s["exit_code"].get<int>();
    };
  });

  // The class probabilities of images (attribution of image classifiers):
  // every model on every image file, in one process (LibTorch loads once).
  auto co = std::make_shared<std::pair<std::vector<std::string>, std::vector<std::string>>>();
  CLI::App* classify = app.add_subcommand(
      "classify", "Print classifiers' class probabilities for raw 28×28 images (JSON: {results: [{model, model_sha256, images, count, probabilities}]})");
  classify->add_option("--model", co->first, "A distillgate checkpoint (X.pt with X.pt.json), a TorchScript file, or a model directory holding one (repeat)")->required();
  classify->add_option("--images", co->second, "A file of N×784 bytes (28×28 greyscale images, row-major) (repeat)")->required();
  classify->add_flag("--json", "JSON output (the only output)");
  classify->callback([&d, co] {
    d.handler = [co]() -> StatusOr<int> {
      nlohmann::json results = nlohmann::json::array();
      for (const std::string& model : co->first) {
        std::string path = model;  // a model directory: the one checkpoint in it
        if (std::filesystem::is_directory(path)) {
          DG_ASSIGN_OR_RETURN(RunnableModel m, ReadRunnableModel(path, "--model"));
          path = m.exec_path;
        }
        for (const std::string& images : co->second) {
          DG_ASSIGN_OR_RETURN(nlohmann::json out, Classify(path, images));
          out["model"] = model;
          out["images"] = images;
          results.push_back(std::move(out));
        }
      }
      std::cout << nlohmann::json{{"results", results}}.dump() << "\n";
      return 0;
    };
  });

  auto so = std::make_shared<ServeOptions>();
  CLI::App* serve = app.add_subcommand("serve-teacher", "Serve a distillgate language model as an OpenAI-compatible chat-completions endpoint on 127.0.0.1");
  serve->add_option("--model", so->model_path, "Model from train-lm (X.pt with X.pt.json), or a model directory holding one")->required();
  serve->add_option("--port", so->port, "Port on 127.0.0.1 (0: any free port; the chosen one is printed)")
      ->capture_default_str()
      ->check(IntegerIn(0, 65535));
  serve->add_option("--max-tokens", so->max_tokens, "Default completion length in bytes")->capture_default_str()->check(IntegerIn(1, 1024));
  serve->callback([&d, so] {
    d.handler = ExitZeroOr([so]() -> Status {
      so->on_listening = [](int port) { std::cout << "listening on http://127.0.0.1:" << port << std::endl; };
      return ServeTeacher(*so);
    });
  });
}

}  // namespace dg::cli
