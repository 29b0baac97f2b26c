// Streamed chat completions (`"stream": true`) as OpenAI-compatible servers
// send them: server-sent events (the WHATWG HTML "event stream" format),
// each `data:` a chat.completion.chunk, ended by `data: [DONE]`; and the
// chat.completion object such a stream adds up to, which is what a
// transcript records of a streamed call (docs/proxy.md).
//
// Pure, single-threaded values: no I/O. Errors: InvalidInput naming the
// event and what was expected.
#ifndef DISTILLGATE_TRANSCRIPTS_STREAM_H_
#define DISTILLGATE_TRANSCRIPTS_STREAM_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

// Splits a byte stream into events. Feed() takes the bytes as they arrive,
// in pieces of any size; each complete event (ended by a blank line, with
// LF, CRLF or CR line ends) is handed to `on_event` with its raw bytes (to
// pass on unchanged) and its data (the `data:` lines' values joined by LF;
// "" for an event without data, such as a comment). An error returned by
// `on_event` stops the feed and is returned.
class SseSplitter {
 public:
  using OnEvent = std::function<Status(std::string_view raw, const std::string& data)>;
  Status Feed(std::string_view bytes, const OnEvent& on_event);
  // Bytes of an event not yet ended by a blank line.
  const std::string& pending() const { return buffer_; }

 private:
  std::string buffer_;
};

// Adds streamed chunks up to the response object they stream. Chat
// (chat.completion.chunk → chat.completion): per choice index the role, the
// content and refusal (concatenated), tool calls (by index: id, type,
// function name, arguments concatenated), logprobs content (concatenated)
// and the finish reason. Completions (text_completion chunks →
// text_completion): per choice the text (concatenated), the logprobs arrays
// (each concatenated) and the finish reason. Both: the response's id,
// created, model and system_fingerprint; usage from the chunk that carries
// it (stream_options.include_usage).
class StreamAssembler {
 public:
  enum class Kind { kChat, kCompletion };
  explicit StreamAssembler(Kind kind = Kind::kChat) : kind_(kind) {}
  // InvalidInput when `chunk` is not a chunk object (id, model, created,
  // choices), or reports another id or model than the stream's first chunk
  // did.
  Status Add(const nlohmann::json& chunk);
  uint64_t chunks() const { return chunks_; }
  const std::string& model() const { return model_; }
  // The response: "object" "chat.completion" or "text_completion".
  // InvalidInput when no chunk has been added or no choice was streamed.
  StatusOr<nlohmann::json> Finish() const;

 private:
  struct Choice {
    std::string role;
    bool has_content = false, has_refusal = false;
    std::string content, refusal;  // completions: content is the text
    nlohmann::json logprobs;          // completions: an object of arrays, or null
    std::map<int64_t, nlohmann::json> tool_calls;
    nlohmann::json logprobs_content;  // null or an array
    nlohmann::json finish_reason;     // null or a string
  };
  Kind kind_;
  uint64_t chunks_ = 0;
  std::string id_, model_;
  nlohmann::json created_, system_fingerprint_, usage_;
  std::map<int64_t, Choice> choices_;
};

}  // namespace dg

#endif  // DISTILLGATE_TRANSCRIPTS_STREAM_H_
