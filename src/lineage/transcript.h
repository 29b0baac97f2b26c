// Reading recorded API-teacher transcripts (docs/transcripts.md): JSON Lines
// of OpenAI chat-completion exchanges, or an OpenAI Batch API input file
// joined with its output file by custom_id. Streaming: memory does not grow
// with the file (a batch keeps an index of custom_id → offset).
#ifndef DISTILLGATE_LINEAGE_TRANSCRIPT_H_
#define DISTILLGATE_LINEAGE_TRANSCRIPT_H_

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

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
  nlohmann::json request;  // the chat-completions request body
  nlohmann::json response; // the response object; null when the call failed
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

// Calls on_exchange for every good exchange and on_problem for every bad line,
// in file order (batch: output-file order). A callback's error stops reading.
// I/O errors (a missing file) are returned as errors, not problems.
Status ReadTranscript(const TranscriptSource& source, const std::function<Status(Exchange&)>& on_exchange,
                      const std::function<Status(const TranscriptProblem&)>& on_problem);

}  // namespace dg

#endif  // DISTILLGATE_LINEAGE_TRANSCRIPT_H_
