// A client for OpenAI-compatible chat-completions endpoints (OpenAI, vLLM,
// llama.cpp, `distillgate serve-teacher`) over libcurl: timeouts, bounded
// retries with exponential back-off on connection errors, 429 and 5xx, and a
// minimum interval between calls. The API key goes into one request header
// and nowhere else. Each attempt is a connection of its own (a kept-alive
// connection to a server that writes headers and body apart stalls on
// delayed ACKs: tried, a collect from Python's http.server got 117 answers
// in 5 s instead of over 200).
//
// A ChatClient is used by one thread at a time. Complete() never fails with
// a Status: every outcome, answered or not, is a ChatResult (the caller
// records failed calls too).
#ifndef DISTILLGATE_TRANSCRIPTS_CHAT_CLIENT_H_
#define DISTILLGATE_TRANSCRIPTS_CHAT_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

struct ChatClientOptions {
  std::string base_url;         // e.g. http://127.0.0.1:8080 (the client adds /v1/chat/completions)
  std::string api_key;          // sent as "Authorization: Bearer …" when not empty
  double timeout_s = 60;        // per attempt
  int max_retries = 3;          // further attempts after the first
  double backoff_s = 0.2;       // first back-off; doubles each retry
  double min_interval_s = 0;    // rate limit: at least this long between attempts
};

struct ChatResult {
  int http_status = 0;        // 0 when no HTTP response arrived
  nlohmann::json body;        // the parsed response body (null when none or not JSON)
  std::string error;          // why the call failed ("" on HTTP 200 with a JSON body)
  int attempts = 0;
  std::string request_id;     // the x-request-id header, when sent
};

class ChatClient {
 public:
  explicit ChatClient(ChatClientOptions options);
  ~ChatClient();
  ChatClient(const ChatClient&) = delete;
  ChatClient& operator=(const ChatClient&) = delete;

  // POSTs `request` (a chat-completions body). Never throws; transport and
  // HTTP failures come back in ChatResult::error after the retries.
  ChatResult Complete(const nlohmann::json& request);
  // The same for another endpoint of the API: POSTs `request` to base_url +
  // `path` (e.g. "/v1/completions", the legacy completions endpoint).
  ChatResult Post(const std::string& path, const nlohmann::json& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dg

#endif  // DISTILLGATE_TRANSCRIPTS_CHAT_CLIENT_H_
