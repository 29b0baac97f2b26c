#include "train/serve_teacher.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <mutex>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/hash.h"
#include "model/model_dir.h"
#include "train/lm.h"

namespace dg {

using json = nlohmann::json;

namespace {

// Streams prepared server-sent events.
void SendEvents(httplib::Response& res, std::shared_ptr<std::vector<std::string>> events) {
  res.set_chunked_content_provider("text/event-stream", [events](size_t, httplib::DataSink& sink) {
    for (const std::string& e : *events) {
      if (!sink.write(e.data(), e.size())) return false;
    }
    sink.done();
    return true;
  });
}

struct Sampling {
  int max_tokens;
  double temperature;
  uint64_t seed;
};

// A request's max_tokens (1..1024), temperature (0 = greedy) and seed.
Sampling SamplingOf(const json& body, int default_max_tokens) {
  Sampling s;
  s.max_tokens = body.contains("max_tokens") && body["max_tokens"].is_number_integer()
                     ? std::max(1, std::min(1024, body["max_tokens"].get<int>()))
                     : default_max_tokens;
  s.temperature = body.contains("temperature") && body["temperature"].is_number() ? body["temperature"].get<double>() : 0.0;
  s.seed = body.contains("seed") && body["seed"].is_number_unsigned() ? body["seed"].get<uint64_t>() : 0;
  return s;
}

// A byte as a token string: itself when printable ASCII or a newline, else
// "bytes:\\xNN" (the convention OpenAI's tokenizers use for a token that is
// not valid UTF-8 alone).
std::string TokenString(int b) {
  if ((b >= 0x20 && b < 0x7f) || b == '\n') return std::string(1, static_cast<char>(b));
  static const char* hex = "0123456789abcdef";
  return std::string("bytes:\\x") + hex[(b >> 4) & 15] + hex[b & 15];
}

// The `top` most likely bytes of one position's log-probabilities (bytes the
// model cannot produce left out), most likely first, ties by byte value.
std::vector<int> TopBytes(const std::vector<float>& lp, int top) {
  std::vector<int> order;
  for (int b = 0; b < 256; ++b) {
    if (std::isfinite(lp[b]) && lp[b] > -1e8) order.push_back(b);
  }
  std::sort(order.begin(), order.end(), [&lp](int a, int b) { return lp[a] > lp[b] || (lp[a] == lp[b] && a < b); });
  if (static_cast<int>(order.size()) > top) order.resize(static_cast<size_t>(top));
  return order;
}

// The legacy completions `logprobs` object ({tokens, token_logprobs,
// top_logprobs, text_offset}) of `text`, one token a byte: `scored[j]` is the
// distribution that predicted text[j], or null for a token nothing predicted
// (an echoed prompt's first byte).
json LegacyLogprobs(const std::string& text, const std::vector<const std::vector<float>*>& scored, int top) {
  json tokens = json::array(), token_logprobs = json::array(), tops = json::array(), offsets = json::array();
  for (size_t j = 0; j < text.size(); ++j) {
    const int b = static_cast<unsigned char>(text[j]);
    tokens.push_back(TokenString(b));
    offsets.push_back(j);
    const std::vector<float>* lp = scored[j];
    if (lp == nullptr) {
      token_logprobs.push_back(nullptr);
      tops.push_back(nullptr);
      continue;
    }
    token_logprobs.push_back((*lp)[b]);
    json t = json::object();
    for (int k : TopBytes(*lp, top)) t[TokenString(k)] = (*lp)[k];
    tops.push_back(std::move(t));
  }
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

}  // namespace

Status ServeTeacher(const ServeOptions& o) {
  // A model directory serves the one byte-LM file in it.
  std::string path = o.model_path;
  if (std::filesystem::is_directory(path)) {
    DG_ASSIGN_OR_RETURN(RunnableModel m, ReadRunnableModel(path, "--model"));
    path = m.exec_path;
  }
  DG_ASSIGN_OR_RETURN(ByteLm lm, ByteLm::Load(path));
  DG_ASSIGN_OR_RETURN(Hash sha, Sha256File(path));
  const std::string model_name = lm.config().name;
  const std::string fingerprint = "dg_" + HexEncode(sha).substr(0, 12);
  std::mutex mu;  // one generation at a time
  uint64_t served = 0;
  httplib::Server server;
  // A response object of either endpoint; usage counts bytes.
  auto answer_object = [&model_name, &fingerprint](const std::string& id, const char* object, json choices, const std::string& prompt,
                                                   const std::string& answer) {
    return json{{"id", id},
                {"object", object},
                {"created", static_cast<int64_t>(std::time(nullptr))},
                {"model", model_name},
                {"choices", std::move(choices)},
                {"usage", {{"prompt_tokens", prompt.size()}, {"completion_tokens", answer.size()}, {"total_tokens", prompt.size() + answer.size()}}},
                {"system_fingerprint", fingerprint}};
  };
  auto error = [](httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(json{{"error", {{"message", message}, {"type", "invalid_request_error"}}}}.dump(), "application/json");
  };
  server.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    auto parsed = ParseJsonStrict(req.body, "request");
    json body = parsed.ok() ? std::move(parsed).value() : json();
    if (!body.is_object() || !body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
      return error(res, 400, "expected a JSON body with a non-empty messages array");
    }
    if (body.contains("model") && body["model"] != model_name) {
      return error(res, 404, "this server serves the model \"" + model_name + "\"");
    }
    std::string prompt;
    for (const json& m : body["messages"]) {
      if (m.contains("content") && m["content"].is_string()) prompt += m["content"].get<std::string>() + "\n";
    }
    const Sampling sampling = SamplingOf(body, o.max_tokens);
    const int max_tokens = sampling.max_tokens;
    const double temperature = sampling.temperature;
    const uint64_t seed = sampling.seed;
    // OpenAI's logprobs: `logprobs: true` and `top_logprobs` (0..20) give,
    // for each answer byte, its log-probability and the most likely bytes'.
    const bool want_logprobs = body.contains("logprobs") && body["logprobs"].is_boolean() && body["logprobs"].get<bool>();
    const int top = body.contains("top_logprobs") && body["top_logprobs"].is_number_integer()
                        ? std::max(0, std::min(20, body["top_logprobs"].get<int>()))
                        : 0;
    std::vector<std::vector<float>> steps;
    std::lock_guard<std::mutex> lock(mu);
    const std::string answer = lm.Generate(prompt, max_tokens, temperature, seed, 0, want_logprobs ? &steps : nullptr);
    const uint64_t n = served++;
    json choice = {{"index", 0}, {"message", {{"role", "assistant"}, {"content", answer}}}, {"finish_reason", "length"}};
    if (want_logprobs) {
      auto token = [](int b, float lp) {
        return json{{"token", std::string(1, static_cast<char>(b))}, {"logprob", lp}, {"bytes", {b}}};
      };
      json content = json::array();
      for (size_t i = 0; i < steps.size() && i < answer.size(); ++i) {
        const std::vector<float>& lp = steps[i];
        json tops = json::array();
        for (int k : TopBytes(lp, top)) tops.push_back(token(k, lp[k]));
        const int chosen = static_cast<unsigned char>(answer[i]);
        json t = token(chosen, lp[chosen]);
        t["top_logprobs"] = tops;
        content.push_back(t);
      }
      choice["logprobs"] = {{"content", content}};
    }
    json out = answer_object("chatcmpl-dg-" + std::to_string(n), "chat.completion", json::array({choice}), prompt, answer);
    res.set_header("x-request-id", "dg-" + std::to_string(n));
    if (!(body.contains("stream") && body["stream"] == true)) {
      res.set_content(out.dump(), "application/json");
      return;
    }
    // `"stream": true`: the same answer as chat.completion.chunk events, a
    // few bytes each (logprobs with their bytes), then `data: [DONE]`;
    // usage in a last chunk when stream_options.include_usage.
    const bool include_usage = body.contains("stream_options") && body["stream_options"].is_object() &&
                               body["stream_options"].value("include_usage", false) == true;
    auto events = std::make_shared<std::vector<std::string>>();
    auto chunk = [&out](json choices, json usage = json()) {
      json c = {{"id", out["id"]}, {"object", "chat.completion.chunk"}, {"created", out["created"]},
                {"model", out["model"]}, {"system_fingerprint", out["system_fingerprint"]}, {"choices", choices}};
      if (!usage.is_null()) c["usage"] = usage;
      return "data: " + c.dump() + "\n\n";
    };
    events->push_back(chunk(json::array({{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}}})));
    constexpr size_t kPiece = 4;
    for (size_t i = 0; i < answer.size(); i += kPiece) {
      json c = {{"index", 0}, {"delta", {{"content", answer.substr(i, kPiece)}}}, {"finish_reason", nullptr}};
      if (choice.contains("logprobs")) {
        const json& all = choice["logprobs"]["content"];
        json part = json::array();
        for (size_t k = i; k < i + kPiece && k < all.size(); ++k) part.push_back(all[k]);
        c["logprobs"] = {{"content", part}};
      }
      events->push_back(chunk(json::array({c})));
    }
    events->push_back(chunk(json::array({{{"index", 0}, {"delta", json::object()}, {"finish_reason", "length"}}})));
    if (include_usage) events->push_back(chunk(json::array(), out["usage"]));
    events->push_back("data: [DONE]\n\n");
    SendEvents(res, events);
  });
  // The (legacy) completions endpoint: one string `prompt`, the same
  // generation; `"stream": true` as text_completion chunks. `logprobs: N`
  // (0..20) reports each token's log-probability and the N most likely;
  // `echo: true` returns the prompt before the answer and, with logprobs,
  // scores the prompt's own bytes too (teacher-forced: what vLLM and
  // lm-evaluation-harness use to score a fixed text); `max_tokens: 0` with
  // echo scores the prompt alone.
  server.Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    auto parsed = ParseJsonStrict(req.body, "request");
    json body = parsed.ok() ? std::move(parsed).value() : json();
    if (!body.is_object() || !body.contains("prompt") || !body["prompt"].is_string()) {
      return error(res, 400, "expected a JSON body with a string prompt (one prompt a request)");
    }
    if (body.contains("model") && body["model"] != model_name) {
      return error(res, 404, "this server serves the model \"" + model_name + "\"");
    }
    const std::string prompt = body["prompt"];
    const Sampling sampling = SamplingOf(body, o.max_tokens);
    const bool echo = body.contains("echo") && body["echo"] == true;
    const int max_tokens = echo && body.contains("max_tokens") && body["max_tokens"] == 0 ? 0 : sampling.max_tokens;
    const double temperature = sampling.temperature;
    const uint64_t seed = sampling.seed;
    int top = -1;  // no logprobs
    if (body.contains("logprobs") && !body["logprobs"].is_null()) {
      if (!body["logprobs"].is_number_integer() || body["logprobs"].get<int64_t>() < 0 || body["logprobs"].get<int64_t>() > 20) {
        return error(res, 400, "logprobs: expected an integer from 0 to 20 (the number of most likely tokens to report)");
      }
      top = body["logprobs"].get<int>();
      if (body.contains("stream") && body["stream"] == true) {
        return error(res, 400, "logprobs with stream: this server reports logprobs only in a whole response (\"stream\": false)");
      }
    }
    std::string answer;
    std::vector<std::vector<float>> steps, prompt_scores;
    uint64_t n;
    {
      std::lock_guard<std::mutex> lock(mu);
      answer = lm.Generate(prompt, max_tokens, temperature, seed, 0, top >= 0 ? &steps : nullptr);
      if (top >= 0 && echo) prompt_scores = lm.ScoreLogprobs(prompt);
      n = served++;
    }
    const std::string text = echo ? prompt + answer : answer;
    json logprobs = nullptr;
    if (top >= 0) {
      std::vector<const std::vector<float>*> scored;
      if (echo) {
        for (size_t j = 0; j < prompt.size(); ++j) scored.push_back(j == 0 ? nullptr : &prompt_scores[j - 1]);
      }
      for (size_t j = 0; j < answer.size(); ++j) scored.push_back(j < steps.size() ? &steps[j] : nullptr);
      logprobs = LegacyLogprobs(text, scored, top);
    }
    json out = answer_object("cmpl-dg-" + std::to_string(n), "text_completion",
                             json::array({{{"index", 0}, {"text", text}, {"logprobs", logprobs}, {"finish_reason", "length"}}}), prompt, answer);
    res.set_header("x-request-id", "dg-" + std::to_string(n));
    if (!(body.contains("stream") && body["stream"] == true)) {
      res.set_content(out.dump(), "application/json");
      return;
    }
    auto events = std::make_shared<std::vector<std::string>>();
    auto chunk = [&out](const std::string& piece, json finish) {
      json c = out;
      c["choices"] = {{{"index", 0}, {"text", piece}, {"logprobs", nullptr}, {"finish_reason", finish}}};
      c.erase("usage");
      return "data: " + c.dump() + "\n\n";
    };
    for (size_t i = 0; i < text.size(); i += 4) events->push_back(chunk(text.substr(i, 4), nullptr));
    events->push_back(chunk("", "length"));
    events->push_back("data: [DONE]\n\n");
    SendEvents(res, events);
  });
  server.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(json{{"object", "list"},
                         {"data", {{{"id", model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "distillgate"}}}}}.dump(),
                    "application/json");
  });
  // Debian's cpp-httplib listens with a backlog of 5 (many clients at once
  // lose SYNs and wait a second): raised once bound.
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  const int port = o.port == 0 ? server.bind_to_any_port("127.0.0.1") : (server.bind_to_port("127.0.0.1", o.port) ? o.port : -1);
  if (port < 0) return Status::IoError("cannot listen on 127.0.0.1:" + std::to_string(o.port));
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
  if (o.on_listening) o.on_listening(port);
  if (!server.listen_after_bind()) return Status::IoError("the server stopped");
  return Status::Ok();
}

}  // namespace dg
