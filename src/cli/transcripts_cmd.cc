// `distillgate transcripts record|verify`: API-teacher transcripts under the gate.
#include <filesystem>
#include <iostream>

#include "cli/arg_checks.h"
#include "cli/commands.h"
#include "core/ed25519.h"
#include "core/interrupt.h"
#include "transcripts/proxy.h"
#include "transcripts/transcript_run.h"

namespace dg::cli {
namespace {

// What each command here that records a run opens first.
struct RunInputs {
  Job job;
  Policy policy;
  PrivateKey key;
  std::unique_ptr<Ledger> ledger;
};

StatusOr<RunInputs> OpenRunInputs(const std::string& job, const std::string& policy, const std::string& key, const std::string& ledger) {
  DG_ASSIGN_OR_RETURN(Job j, LoadJob(job));
  DG_ASSIGN_OR_RETURN(Policy p, LoadPolicy(policy));
  DG_ASSIGN_OR_RETURN(PrivateKey k, PrivateKey::LoadPemFile(key));
  DG_ASSIGN_OR_RETURN(auto l, Ledger::Open(ledger, Ledger::Mode::kReadWrite));
  return RunInputs{std::move(j), std::move(p), std::move(k), std::move(l)};
}

struct RecordArgs {
  std::string job, policy, ledger, key;
  bool skip_bad_lines = false, as_json = false, quiet = false;
};

StatusOr<int> RunRecord(const RecordArgs& a) {
  DG_ASSIGN_OR_RETURN(RunInputs in, OpenRunInputs(a.job, a.policy, a.key, a.ledger));
  const Job& job = in.job;
  TranscriptRunOptions o;
  o.skip_bad_lines = a.skip_bad_lines;
  o.quiet = a.quiet;
  InstallStopHandlers();
  DG_ASSIGN_OR_RETURN(TranscriptRunSummary s, RecordTranscripts(job, in.policy, *in.ledger, in.key, o));
  if (a.as_json) {
    std::cout << s.ToJson().dump(2) << "\n";
  } else {
    std::cout << "decision: " << s.verdict << " (ledger entry " << s.decision_index << ", run " << s.run_id << ")\n";
    if (s.status == RunStatus::kCompleted) {
      std::cout << "recorded " << Counted(s.exchanges, "teacher call") << " (" << s.failed_calls << " failed) and "
                << Counted(s.skipped_lines, "skipped line") << "\n";
    } else if (s.status == RunStatus::kRefused) {
      std::cout << "refused: " << s.disallowed_calls << " call(s) to models the decision does not allow; nothing is usable for training\n";
    } else {
      std::cout << "nothing was recorded beyond the decision\n";
    }
    for (const auto& f : s.findings) std::cout << "  " << f << "\n";
  }
  return s.exit_code;  // a decision, not an error: 1 denied/refused, 4 needs review
}

struct CollectArgs {
  std::string job, policy, ledger, key;
  CollectOptions options;
  double rate = 0;  // calls per second; 0 = unlimited
  bool as_json = false;
};

StatusOr<int> RunCollect(CollectArgs a) {
  DG_ASSIGN_OR_RETURN(RunInputs in, OpenRunInputs(a.job, a.policy, a.key, a.ledger));
  const Job& job = in.job;
  if (a.rate > 0) a.options.min_interval_s = 1.0 / a.rate;
  InstallStopHandlers();
  DG_ASSIGN_OR_RETURN(TranscriptRunSummary s, CollectTranscripts(job, in.policy, *in.ledger, in.key, a.options));
  if (a.as_json) {
    std::cout << s.ToJson().dump(2) << "\n";
  } else {
    std::cout << "decision: " << s.verdict << " (ledger entry " << s.decision_index << ", run " << s.run_id << ")\n";
    if (s.status) {
      std::cout << RunStatusName(*s.status) << ": " << s.exchanges << " calls recorded (" << s.failed_calls << " failed"
                << (s.carried_over > 0 ? ", " + std::to_string(s.carried_over) + " carried over from the collect resumed" : "") << "); transcript "
                << a.options.out_dir << "/batch_{input,output}.jsonl\n";
    }
    for (const auto& f : s.findings) std::cout << "  " << f << "\n";
  }
  return s.exit_code;  // 1 denied/refused, 3 endpoint down, 4 needs review
}

struct ProxyArgs {
  std::string job, policy, ledger, key;
  ProxyOptions options;
  bool as_json = false;
};

StatusOr<int> RunProxyCmd(ProxyArgs a) {
  DG_ASSIGN_OR_RETURN(RunInputs in, OpenRunInputs(a.job, a.policy, a.key, a.ledger));
  const Job& job = in.job;
  InstallStopHandlers();
  const std::string host = a.options.listen.substr(0, a.options.listen.rfind(':'));
  a.options.on_listening = [&](int port, const std::string& run, bool resumed) {
    // The first line, for scripts: where to point the client's base_url.
    std::cout << "listening on http://" << host << ":" << port << "/v1 (job " << job.name << ", run " << run
              << (resumed ? ", resumed" : "") << ")" << std::endl;
    if (host != "127.0.0.1" && host != "localhost" && host != "::1") {
      std::cerr << "distillgate proxy: warning: listening on " << host << ", not loopback: anyone who can reach it can spend the API key\n";
    }
  };
  DG_ASSIGN_OR_RETURN(ProxySummary s, RunProxy(job, in.policy, *in.ledger, in.key, a.options));
  if (a.as_json) {
    std::cout << s.ToJson().dump(2) << "\n";
  } else {
    std::cout << "decision: " << s.run.verdict << " (ledger entry " << s.run.decision_index << ", run " << s.run.run_id << ")\n";
    if (s.run.status) {
      std::cout << RunStatusName(*s.run.status) << ": " << s.run.exchanges << " calls recorded (" << s.run.failed_calls << " failed"
                << (s.resumed ? ", " + std::to_string(s.recovered_calls) + " recovered on resuming" : "") << "), "
                << s.refused_requests << " requests refused; transcript " << a.options.out_dir << "/batch_{input,output}.jsonl\n";
    } else {
      std::cout << "the proxy did not start: the decision does not allow the job\n";
    }
    for (const auto& f : s.run.findings) std::cout << "  " << f << "\n";
  }
  return s.run.exit_code;  // 0 closed after SIGINT/SIGTERM, 1 denied/refused, 4 needs review
}

struct VerifyArgs {
  std::string ledger, run, data_dir;
  bool as_json = false;
};

Status RunVerify(const VerifyArgs& a) {
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadOnly));
  std::string data_dir = a.data_dir.empty() ? "" : std::filesystem::absolute(a.data_dir).lexically_normal().string();
  while (data_dir.size() > 1 && data_dir.back() == '/') data_dir.pop_back();
  DG_ASSIGN_OR_RETURN(TranscriptCheck c, VerifyTranscripts(*ledger, a.run, data_dir));
  if (a.as_json) {
    std::cout << nlohmann::json{{"verified", c.ok},
                                {"run", a.run},
                                {"exchanges_checked", c.exchanges_checked},
                                {"files_checked", c.files_checked},
                                {"problems", c.problems},
                                {"notes", c.notes}}
                     .dump(2)
              << "\n";
  } else {
    for (const auto& p : c.problems) std::cout << "  FAIL " << p << "\n";
  for (const auto& n : c.notes) std::cout << "  note " << n << "\n";
  std::cout << (c.ok ? "VERIFIED" : "NOT VERIFIED") << ": " << c.exchanges_checked << " exchange" << (c.exchanges_checked == 1 ? "" : "s")
            << " re-hashed against the teacher calls of run " << a.run << ", and " << c.files_checked << " transcript file"
            << (c.files_checked == 1 ? "" : "s") << " against their pinned SHA-256\n"
            << "  not checked: that the provider really answered so (a transcript is the key holder's record of it)\n";
  }
  return c.ok ? Status::Ok() : Status::VerifyFailed(std::to_string(c.problems.size()) + " problem(s)");
}

}  // namespace

void RegisterTranscripts(CLI::App& app, Dispatch& d) {
  CLI::App* t = app.add_subcommand("transcripts", "Gate and record API-teacher transcripts (OpenAI-compatible), call by call");
  t->require_subcommand(1);
  {
    auto a = std::make_shared<RecordArgs>();
    CLI::App* c = t->add_subcommand("record", "Decide the job, then record every exchange of its teachers' transcripts.\n"
                                              "Exit 0 recorded, 1 denied or refused (a call to a model the job does not name),\n"
                                              "4 needs review, 2 bad input (a malformed line: file:line and pointer).");
    c->add_option("--job", a->job, "Job whose api teachers name a `transcript`")->required();
    c->add_option("--policy", a->policy, "Policy file (default: the built-in policy)");
    c->add_option("--ledger", a->ledger, "Ledger file")->required();
    c->add_option("--key", a->key, "The ledger's private key")->required();
    c->add_flag("--skip-bad-lines", a->skip_bad_lines, "Record malformed lines as skipped instead of refusing");
    c->add_flag("--quiet", a->quiet, "No progress line (shown on a terminal only: lines, rate, elapsed, ETA)");
    c->add_flag("--json", a->as_json, "Print the summary as JSON");
    c->callback([&d, a] { d.handler = [a] { return RunRecord(*a); }; });
  }
  {
    auto a = std::make_shared<CollectArgs>();
    CLI::App* c = t->add_subcommand("collect", "Call a live OpenAI-compatible endpoint for every prompt, recording each call before its output is kept.\n"
                                               "Exit 0 completed, 1 denied or refused, 3 the endpoint failed repeatedly, 4 needs review, 2 bad input.");
    c->add_option("--job", a->job, "Job whose api teacher has base_url, model (and api_key_env)")->required();
    c->add_option("--teacher", a->options.teacher_id, "Teacher id (default: the only one with a base_url)");
    c->add_option("--prompts", a->options.prompts_path, "JSON Lines of chat-completions request bodies")->required();
    c->add_flag("--quiet", a->options.quiet, "No progress line (shown on a terminal only: calls, rate, elapsed, ETA)");
    c->add_option("--out-dir", a->options.out_dir, "Directory for batch_input.jsonl and batch_output.jsonl")->required();
    c->add_option("--policy", a->policy, "Policy file (default: the built-in policy)");
    c->add_option("--ledger", a->ledger, "Ledger file")->required();
    c->add_option("--key", a->key, "The ledger's private key")->required();
    c->add_option("--timeout", a->options.timeout_s, "Seconds per attempt")->capture_default_str()->check(NumberIn(0.001, 86400));
    c->add_option("--retries", a->options.max_retries, "Further attempts on connection errors, 429 and 5xx")
        ->capture_default_str()
        ->check(IntegerIn(0, 100));
    c->add_option("--rate", a->rate, "At most this many calls per second (0: no limit)")->check(NumberIn(0, 1e6));
    c->add_option("--max-failures", a->options.max_consecutive_failures, "Consecutive failed calls that end the run")
        ->capture_default_str()
        ->check(IntegerIn(1, 1000000));
    c->add_flag("--resume", a->options.resume,
                "Continue the collect that wrote --out-dir (interrupted, failed or killed): same prompts; answered ones are not called again");
    c->add_flag("--json", a->as_json, "Print the summary as JSON");
    c->callback([&d, a] { d.handler = [a] { return RunCollect(*a); }; });
  }
  {
    auto a = std::make_shared<VerifyArgs>();
    CLI::App* c = t->add_subcommand("verify", "Check that a run's transcripts still hash to the recorded teacher calls");
    c->add_option("--ledger", a->ledger, "Ledger file")->required();
    c->add_option("--run", a->run, "Run id")->required();
    c->add_option("--data-dir", a->data_dir,
                  "The transcripts moved here since the run: each file at its path relative to the directory the run's files were in");
    c->add_flag("--json", a->as_json, "Print {verified, run, exchanges_checked, files_checked, problems, notes} as JSON");
    c->callback([&d, a] { d.handler = ExitZeroOr([a] { return RunVerify(*a); }); });
  }
  {
    auto a = std::make_shared<ProxyArgs>();
    CLI::App* c = app.add_subcommand(
        "proxy", "Serve an OpenAI-compatible endpoint that gates and records every call made through it (docs/proxy.md).\n"
                 "Decides the job first; serves until SIGINT/SIGTERM, which closes the run. On the same --out-dir it resumes\n"
                 "the run a killed proxy left open. Exit 0 closed, 1 denied or refused, 4 needs review, 2 bad input.");
    c->add_option("--job", a->job, "Job with the api teacher to serve (its model, license and terms)")->required();
    c->add_option("--teacher", a->options.teacher_id, "Teacher id (default: the only api teacher)");
    c->add_option("--upstream", a->options.upstream, "The teacher's API base URL (default: the teacher's base_url)");
    c->add_option("--out-dir", a->options.out_dir, "Directory for the transcript (batch_input.jsonl, batch_output.jsonl)")->required();
    c->add_option("--listen", a->options.listen, "host:port to serve on (port 0: any free port)")->capture_default_str();
    c->add_option("--api-key-env", a->options.api_key_env,
                  "Environment variable with the upstream API key, sent when a client sends no Authorization (default: the teacher's api_key_env)");
    c->add_option("--max-concurrency", a->options.max_concurrency, "Requests served at once")->capture_default_str()->check(IntegerIn(1, 4096));
    c->add_option("--timeout", a->options.upstream_timeout_s, "Seconds to wait for the upstream")->capture_default_str()->check(NumberIn(0.001, 86400));
    c->add_option("--policy", a->policy, "Policy file (default: the built-in policy)");
    c->add_option("--ledger", a->ledger, "Ledger file")->required();
    c->add_option("--key", a->key, "The ledger's private key")->required();
    c->add_flag("--json", a->as_json, "Print the summary as JSON when the proxy stops");
    c->callback([&d, a] { d.handler = [a] { return RunProxyCmd(*a); }; });
  }
}

}  // namespace dg::cli
