// Reading recorded API-teacher transcripts (docs/transcripts.md): JSON Lines
// of OpenAI chat-completion exchanges, or an OpenAI Batch API input file
// joined with its output file by custom_id. Streaming, on all cores: memory
// does not grow with the file (a batch keeps an index of custom_id → offset).
//
// Read-only. The callbacks run on the calling thread, in file order; the
// `prepare` hook of TranscriptReadOptions runs on worker threads and must be
// thread-safe. A callback's error stops the read and is returned; IoError
// when a file cannot be read.
#ifndef DISTILLGATE_TRANSCRIPTS_READER_H_
#define DISTILLGATE_TRANSCRIPTS_READER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "core/hash.h"
#include "core/status.h"

namespace dg {

struct TranscriptSource {
  std::string teacher_id;
  std::string format;       // "exchanges" | "openai-batch"
  std::string path;         // exchanges file, or the batch input file
  std::string output_path;  // openai-batch: the output file
};

struct Exchange {
  std::string file;        // the file the response came from
  uint64_t line = 0;       // its 1-based line number there
  std::string custom_id;   // openai-batch only
  // "" for chat completions; "/v1/completions" for a (legacy) completions
  // exchange (openai-batch only: its input line's url), whose request has a
  // `prompt` and whose response's choices have `text`.
  std::string endpoint;
  nlohmann::json request;  // the chat-completions request body
  nlohmann::json response; // the response object; null when the call failed
  bool failed = false;     // the call failed: no response, `error` says why
  std::string error;       // a failed call: what the provider said
  std::string model;       // response.model, or request.model when the call failed
};

struct TranscriptProblem {
  std::string file;
  uint64_t line = 0;
  std::string pointer;  // JSON pointer within the line ("" when the line is not JSON)
  std::string what;
  std::string line_sha256;  // hex SHA-256 of the line's bytes, so a skipped line is still pinned
  std::string ToString() const;  // "file:line: /pointer: what"
};

// What reading one line gave: an exchange or a problem.
struct TranscriptItem {
  enum class Kind { kExchange, kProblem };
  Kind kind = Kind::kExchange;
  Exchange exchange;
  TranscriptProblem problem;
  // What TranscriptReadOptions::prepare made of the exchange: an entry body
  // but for a number only the reader in file order knows.
  CanonicalObjectWithHole prepared;
};

struct TranscriptReadOptions {
  unsigned threads = 0;  // worker threads; 0 = one per hardware thread, 1 = none
  // Runs on a worker thread for each good exchange, several at once and in
  // no particular order: per-line work that should be parallel as well
  // (hashing, building ledger entries). It may move the documents out of the
  // exchange. An error makes the line a problem (pointer "", its message).
  std::function<Status(TranscriptItem&)> prepare;
  // When everything was read: each file read and the SHA-256 of its bytes
  // as parsed (an input file that changed while read is an error instead).
  std::vector<std::pair<std::string, Hash>>* files_read = nullptr;
};

// Calls `consume` for every exchange and every bad line (blank lines are
// skipped), in file order (batch: output-file order, then input lines that
// got no answer). Parsing, schema checks and `prepare` run on worker
// threads; `consume` on the calling thread. Its error stops reading. I/O
// errors (a missing file) are returned as errors, not problems.
Status ReadTranscript(const TranscriptSource& source, const std::function<Status(TranscriptItem&)>& consume,
                      const TranscriptReadOptions& options = {});

// The same as two callbacks, one for exchanges and one for problems.
Status ReadTranscript(const TranscriptSource& source, const std::function<Status(Exchange&)>& on_exchange,
                      const std::function<Status(const TranscriptProblem&)>& on_problem);

}  // namespace dg

#endif  // DISTILLGATE_TRANSCRIPTS_READER_H_
