// `distillgate proxy` (docs/proxy.md): an OpenAI-compatible HTTP endpoint in
// front of a teacher's API that gates and records every call a team's own
// scripts make through it — change the client's base_url, nothing else.
//
// The job is decided first (Gate::Decide); only an allowed job serves. It
// then serves POST /v1/chat/completions and POST /v1/completions (plain and streamed) and GET
// /v1/models, forwarding only requests for the model of the job's API
// teacher (or a dated snapshot of it); anything else gets 403 with an
// OpenAI-style error object naming the job. Every forwarded call, failed
// ones too, is a teacher_call of one `transcripts` run, and its exchange a
// line pair of an OpenAI Batch API transcript in the out dir.
//
// Durability: an exchange's transcript lines are written (one write(2)
// each, O_APPEND) before its answer is sent to the client, so after a
// SIGKILL every answer a client received is in the transcript; a helper
// thread fsyncs the transcript and appends the calls to the ledger in
// batches (at most `flush_interval_s` behind). Started again on the same
// out dir, the proxy resumes the run: it records what the ledger lacks
// (after checking the rest still matches) and serves on. SIGINT or SIGTERM
// closes the run (run_end completed, files pinned); a ledger or transcript
// that can no longer be written stops serving and closes the run failed.
//
// Thread safety: RunProxy blocks its calling thread until the proxy stops;
// it uses the ledger from that thread and one helper thread, never both at
// once, so the Ledger must not be used elsewhere meanwhile. The API key is
// forwarded in one request header and never written anywhere.
#ifndef DISTILLGATE_TRANSCRIPTS_PROXY_H_
#define DISTILLGATE_TRANSCRIPTS_PROXY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "core/ed25519.h"
#include "core/status.h"
#include "ledger/ledger.h"
#include "policy/job.h"
#include "policy/policy.h"
#include "transcripts/transcript_run.h"

namespace dg {

struct ProxyOptions {
  std::string teacher_id;         // the job's api teacher ("" = the only api teacher)
  std::string upstream;           // base URL (http[s]://host[:port][/path][/v1]); "" = the teacher's base_url
  std::string out_dir;            // the transcript (and proxy-run.json, to resume); created when absent
  std::string listen = "127.0.0.1:8088";  // host:port; port 0 = any free port
  std::string api_key_env;        // sent when the client sends no Authorization ("" = the teacher's api_key_env)
  int max_concurrency = 64;       // requests served at once (threads)
  double upstream_timeout_s = 600;  // per upstream read
  size_t flush_every = 256;       // calls per signed ledger checkpoint
  double flush_interval_s = 0.2;  // the ledger lags the transcript by at most this
  std::string today;              // YYYY-MM-DD for waivers; "" = today (UTC)
  // Called once the proxy listens, with the port (for tests and for the
  // CLI's first line). Runs on RunProxy's thread.
  std::function<void(int port, const std::string& run_id, bool resumed)> on_listening;
};

struct ProxySummary {
  TranscriptRunSummary run;       // verdict, run id, status, counts (this process's and the recovered)
  bool resumed = false;           // an earlier proxy's run on this out dir was continued
  uint64_t recovered_calls = 0;   // exchanges in the transcript the ledger lacked when resuming
  uint64_t refused_requests = 0;  // requests not forwarded (a model the job does not allow, another path)
  nlohmann::json ToJson() const;
};

// Decides (or resumes), serves until SIGINT/SIGTERM (core/interrupt.h; the
// caller installs the handlers), then closes the run. Returns the summary
// with exit_code 0 (closed after a signal), 1 (denied, or refused: an
// answer from a model the job does not allow, in enforce mode), 4 (needs
// review). Errors: InvalidInput for bad options or an out dir that holds
// another run's files (nothing is decided then); IoError when the address
// cannot be bound (before anything is decided); VerifyFailed when resuming
// finds the transcript changed against the ledger; the ledger's and the
// transcript's write errors (the run is then closed failed).
StatusOr<ProxySummary> RunProxy(const Job& job, const Policy& policy, Ledger& ledger, const PrivateKey& key,
                                const ProxyOptions& options);

}  // namespace dg

#endif  // DISTILLGATE_TRANSCRIPTS_PROXY_H_
