#include "attribute/endpoint.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "attribute/statistics.h"
#include "core/interrupt.h"

#include "transcripts/chat_client.h"

namespace dg::attribute {

StatusOr<ModelRef> ParseModelRef(const std::string& spec, bool with_id, const std::string& option) {
  ModelRef m;
  std::string rest = spec;
  if (with_id) {
    const size_t eq = rest.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidInput(option + " \"" + spec + "\": expected ID=URL#model (e.g. teacher-a=http://127.0.0.1:8080/v1#teacher-a)");
    }
    m.id = rest.substr(0, eq);
    rest = rest.substr(eq + 1);
  }
  const bool http = rest.rfind("http://", 0) == 0 || rest.rfind("https://", 0) == 0;
  const size_t hash = rest.rfind('#');
  if (!http) {
    return Status::InvalidInput(option + " \"" + spec + "\": expected an endpoint URL#model (a byte-level LM is served with " +
                                "`distillgate serve-teacher`)");
  }
  if (hash == std::string::npos || hash + 1 == rest.size()) {
    return Status::InvalidInput(option + " \"" + spec + "\": the URL needs the model name after '#' (…/v1#model-name)");
  }
  m.model = rest.substr(hash + 1);
  std::string url = rest.substr(0, hash);
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() >= 3 && url.compare(url.size() - 3, 3, "/v1") == 0) url.resize(url.size() - 3);
  m.base_url = url;
  if (m.id.empty()) m.id = m.model;
  return m;
}

namespace {

// One position's reported (token, logprob) pairs, the N most likely, as
// probabilities, the unreported mass under "".
StatusOr<std::map<std::string, double>> Distribution(const std::vector<std::pair<std::string, double>>& tops, const std::string& where) {
  std::map<std::string, double> dist;
  double total = 0;
  for (const auto& [token, logprob] : tops) {
    const double p = std::exp(logprob);
    if (!std::isfinite(p) || p > 1.0 + 1e-6) return Status::IoError(where + ": a logprob is not a log-probability");
    dist[token] += p;
    total += p;
  }
  if (dist.empty()) return Status::IoError(where + ": a position has no top_logprobs");
  dist[""] = std::max(0.0, 1.0 - total);
  return dist;
}

// Whether a reported token is the single byte `b`: the byte itself, or
// "bytes:\\xNN" (OpenAI's spelling of a byte that is not UTF-8 alone).
bool IsByteToken(const nlohmann::json& token, char b) {
  if (!token.is_string()) return false;
  const std::string& t = token.get_ref<const std::string&>();
  if (t.size() == 1) return t[0] == b;
  static const char* hex = "0123456789abcdef";
  const auto u = static_cast<unsigned char>(b);
  if (t.size() != 10 || t.compare(0, 8, "bytes:\\x") != 0) return false;
  return std::tolower(static_cast<unsigned char>(t[8])) == hex[u >> 4] && std::tolower(static_cast<unsigned char>(t[9])) == hex[u & 15];
}

// QueryOptions::score_probe: the endpoint scores the probe's own bytes.
StatusOr<Answer> ScoreProbe(ChatClient& client, const ModelRef& m, const std::string& probe, size_t i) {
  const nlohmann::json request = {{"model", m.model}, {"prompt", probe}, {"max_tokens", 1},
                                  {"temperature", 0}, {"echo", true},    {"logprobs", 20}};
  ChatResult r = client.Post("/v1/completions", request);
  const std::string where = m.id + " (" + m.base_url + "#" + m.model + "), probe " + std::to_string(i);
  if (!r.error.empty()) return Status::IoError(where + ": " + r.error + " (--positions probe uses the completions endpoint /v1/completions)");
  const nlohmann::json& body = r.body;
  if (body.contains("model") && body["model"].is_string() && body["model"] != m.model) {
    return Status::IoError(where + ": answered as model \"" + body["model"].get<std::string>() + "\", not \"" + m.model +
                           "\": the evidence would not be this model's");
  }
  const nlohmann::json* lp = nullptr;
  if (body.is_object() && body.contains("choices") && body["choices"].is_array() && !body["choices"].empty() &&
      body["choices"][0].is_object() && body["choices"][0].contains("logprobs") && body["choices"][0]["logprobs"].is_object()) {
    lp = &body["choices"][0]["logprobs"];
  }
  if (lp == nullptr || !lp->contains("top_logprobs") || !(*lp)["top_logprobs"].is_array() || !lp->contains("text_offset") ||
      !(*lp)["text_offset"].is_array() || (*lp)["top_logprobs"].size() != (*lp)["text_offset"].size()) {
    return Status::IoError(where + ": the endpoint returned no echoed logprobs (choices[0].logprobs.top_logprobs and text_offset); "
                           "--positions probe needs a completions endpoint that scores the prompt (echo with logprobs)");
  }
  // What was scored must be the probe: the echoed text begins with it, and
  // each token the endpoint names is the probe's byte at that offset (a
  // token of its own, such as a BOS, would shift every context).
  const nlohmann::json& choice = body["choices"][0];
  if (!choice.contains("text") || !choice["text"].is_string() || choice["text"].get<std::string>().compare(0, probe.size(), probe) != 0) {
    return Status::IoError(where + ": choices[0].text does not begin with the probe: the endpoint did not echo the prompt as sent");
  }
  const nlohmann::json& tops = (*lp)["top_logprobs"];
  const nlohmann::json& offsets = (*lp)["text_offset"];
  const nlohmann::json* tokens = lp->contains("tokens") ? &(*lp)["tokens"] : nullptr;
  if (tokens != nullptr && (!tokens->is_array() || tokens->size() != offsets.size())) {
    return Status::IoError(where + ": logprobs.tokens is not an array of one token per text_offset");
  }
  auto not_bytes = [&where](size_t j, const std::string& what) {
    return Status::IoError(where + ": the endpoint's tokens are not single bytes (token " + std::to_string(j) + " " + what +
                           "); --positions probe compares byte positions (byte-level models, e.g. serve-teacher)");
  };
  Answer answer;
  for (size_t j = 0; j < offsets.size(); ++j) {
    if (!offsets[j].is_number_unsigned()) return Status::IoError(where + ": a text_offset is not a non-negative integer");
    const size_t at = offsets[j].get<size_t>();
    if (at >= probe.size()) break;  // the generated token
    if (tokens != nullptr && !IsByteToken((*tokens)[j], probe[j])) {
      const nlohmann::json& t = (*tokens)[j];
      if (t.is_string() && t.get_ref<const std::string&>().size() > 1 && probe.compare(j, t.get_ref<const std::string&>().size(), t.get_ref<const std::string&>()) == 0) {
        return not_bytes(j, "is " + t.dump());  // several bytes of the probe
      }
      return Status::IoError(where + ": token " + std::to_string(j) + " is " + t.dump() + ", not the probe's byte " + std::to_string(j) +
                             " (the endpoint scored tokens of its own, e.g. a BOS, or not the probe); --positions probe compares "
                             "byte positions (byte-level models, e.g. serve-teacher)");
    }
    if (at != j) return not_bytes(j, "starts at byte " + std::to_string(at));
    if (j == 0) continue;  // nothing predicted the first byte
    if (!tops[j].is_object()) return Status::IoError(where + ": the probe's byte " + std::to_string(j) + " has no top_logprobs object");
    std::vector<std::pair<std::string, double>> reported;  // the legacy API's {token: logprob}
    for (const auto& [token, logprob] : tops[j].items()) {
      if (!logprob.is_number()) return Status::IoError(where + ": a top_logprobs value is not a number");
      reported.emplace_back(token, logprob.get<double>());
    }
    DG_ASSIGN_OR_RETURN(auto dist, Distribution(reported, where));
    answer.positions.push_back(std::move(dist));
  }
  if (answer.positions.size() + 1 != probe.size()) {
    return Status::IoError(where + ": the endpoint scored " + std::to_string(answer.positions.size()) + " of the probe's " +
                           std::to_string(probe.size() > 0 ? probe.size() - 1 : 0) + " predicted bytes");
  }
  answer.text = probe.substr(1);
  return answer;
}

}  // namespace

StatusOr<std::vector<Answer>> QueryModel(const ModelRef& m, const ProbeSet& probes, const QueryOptions& o,
                                         const AnswerSink& on_answer) {
  if (!m.file.empty() && m.base_url.empty()) {  // a classifier file, run locally (a served LM file has its URL)
    if (!o.local) return Status::InvalidInput(m.id + ": " + m.file + ": this build cannot run model files (it has no trainer)");
    DG_RETURN_IF_ERROR(CheckNotStopped("querying " + m.id));
    DG_ASSIGN_OR_RETURN(std::vector<Answer> answers, o.local(m, probes));
    if (answers.size() != probes.probes.size()) return Status::Internal(m.id + ": the model file answered another number of probes");
    for (size_t i = 0; on_answer && i < answers.size(); ++i) DG_RETURN_IF_ERROR(on_answer(i, answers[i]));
    return answers;
  }
  ChatClientOptions co;
  co.base_url = m.base_url;
  co.api_key = o.api_key;
  co.timeout_s = o.timeout_s;
  co.max_retries = o.max_retries;
  ChatClient client(co);
  std::vector<Answer> answers;
  answers.reserve(probes.probes.size());
  for (size_t i = 0; i < probes.probes.size(); ++i) {
    DG_RETURN_IF_ERROR(CheckNotStopped("querying " + m.id));
    if (o.score_probe) {
      DG_ASSIGN_OR_RETURN(Answer answer, ScoreProbe(client, m, probes.probes[i], i));
      if (on_answer) DG_RETURN_IF_ERROR(on_answer(i, answer));
      answers.push_back(std::move(answer));
      continue;
    }
    nlohmann::json request = {{"model", m.model},
                              {"messages", {{{"role", "user"}, {"content", probes.probes[i]}}}},
                              {"max_tokens", o.max_tokens},
                              {"temperature", 0}};
    if (o.logprobs) {
      request["logprobs"] = true;
      request["top_logprobs"] = 20;
    }
    ChatResult r = client.Complete(request);
    const std::string where = m.id + " (" + m.base_url + "#" + m.model + "), probe " + std::to_string(i);
    if (!r.error.empty()) return Status::IoError(where + ": " + r.error);
    const nlohmann::json& body = r.body;
    const nlohmann::json* content = nullptr;
    if (body.is_object() && body.contains("choices") && body["choices"].is_array() && !body["choices"].empty() &&
        body["choices"][0].is_object() && body["choices"][0].contains("message") && body["choices"][0]["message"].is_object() &&
        body["choices"][0]["message"].contains("content")) {
      content = &body["choices"][0]["message"]["content"];
    }
    if (content == nullptr || !content->is_string()) return Status::IoError(where + ": the answer has no choices[0].message.content text");
    if (body.contains("model") && body["model"].is_string() && body["model"] != m.model) {
      return Status::IoError(where + ": answered as model \"" + body["model"].get<std::string>() + "\", not \"" + m.model +
                             "\": the evidence would not be this model's");
    }
    Answer answer;
    answer.text = content->get<std::string>();
    if (o.logprobs) {
      const nlohmann::json& choice = body["choices"][0];
      const nlohmann::json* lp = choice.contains("logprobs") && choice["logprobs"].is_object() && choice["logprobs"].contains("content") &&
                                         choice["logprobs"]["content"].is_array()
                                     ? &choice["logprobs"]["content"]
                                     : nullptr;
      if (lp == nullptr) {
        return Status::IoError(where + ": the endpoint returned no logprobs (choices[0].logprobs.content); use --distance prefix");
      }
      if (lp->empty()) return Status::IoError(where + ": an empty answer has no next-token distribution to compare");
      for (const nlohmann::json& position : *lp) {
        std::vector<std::pair<std::string, double>> reported;  // chat's [{token, logprob}]
        if (position.is_object() && position.contains("top_logprobs") && position["top_logprobs"].is_array()) {
          for (const nlohmann::json& t : position["top_logprobs"]) {
            if (!t.is_object() || !t.contains("token") || !t["token"].is_string() || !t.contains("logprob") || !t["logprob"].is_number()) {
              return Status::IoError(where + ": a top_logprobs entry is not {token, logprob}");
            }
            reported.emplace_back(t["token"].get<std::string>(), t["logprob"].get<double>());
          }
        }
        DG_ASSIGN_OR_RETURN(auto dist, Distribution(reported, where));
        answer.positions.push_back(std::move(dist));
      }
    }
    if (on_answer) DG_RETURN_IF_ERROR(on_answer(i, answer));
    answers.push_back(std::move(answer));
  }
  return answers;
}

StatusOr<std::vector<Answer>> AnswersFromProbabilities(const nlohmann::json& j, size_t count) {
  if (!j.is_object() || !j.contains("probabilities") || !j["probabilities"].is_array() || j["probabilities"].size() != count) {
    return Status::InvalidInput("the classifier's output is not {\"probabilities\": [...]} with one row per probe");
  }
  std::vector<Answer> out;
  for (const nlohmann::json& row : j["probabilities"]) {
    if (!row.is_array() || row.size() < 2) return Status::InvalidInput("a row of class probabilities is not an array of numbers");
    Answer a;
    std::map<std::string, double> dist;
    size_t best = 0;
    double best_p = -1;
    for (size_t k = 0; k < row.size(); ++k) {
      if (!row[k].is_number()) return Status::InvalidInput("a class probability is not a number");
      const double p = row[k].get<double>();
      if (!(p >= 0 && p <= 1.0 + 1e-6)) return Status::InvalidInput("a class probability is outside [0, 1]");
      dist[std::to_string(k)] = p;
      if (p > best_p) best = k, best_p = p;
    }
    a.text = std::to_string(best);
    a.positions.push_back(std::move(dist));
    out.push_back(std::move(a));
  }
  return out;
}

nlohmann::json AnswerToJson(const Answer& a) {
  nlohmann::json j = {{"text", a.text}};
  if (!a.positions.empty()) {
    nlohmann::json positions = nlohmann::json::array();
    for (const auto& dist : a.positions) {
      nlohmann::json p = nlohmann::json::object();
      for (const auto& [token, prob] : dist) p[token] = prob;
      positions.push_back(std::move(p));
    }
    j["positions"] = std::move(positions);
  }
  return j;
}

StatusOr<Answer> AnswerFromJson(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
    return Status::InvalidInput("an answer must be an object with a \"text\" string");
  }
  Answer a;
  a.text = j["text"].get<std::string>();
  for (const auto& [key, value] : j.items()) {
    if (key != "text" && key != "positions") return Status::InvalidInput("an answer has an unknown member \"" + key + "\"");
  }
  if (j.contains("positions")) {
    if (!j["positions"].is_array() || j["positions"].empty()) return Status::InvalidInput("an answer's \"positions\" must be a non-empty array");
    for (const nlohmann::json& p : j["positions"]) {
      if (!p.is_object() || p.empty()) return Status::InvalidInput("each of an answer's positions must be a non-empty {token: probability} object");
      std::map<std::string, double> dist;
      for (const auto& [token, prob] : p.items()) {
        if (!prob.is_number()) return Status::InvalidInput("the probability of token \"" + token + "\" is not a number");
        const double v = prob.get<double>();
        if (!(v >= 0 && v <= 1.0 + 1e-6)) return Status::InvalidInput("the probability of token \"" + token + "\" is outside [0, 1]");
        dist[token] = v;
      }
      a.positions.push_back(std::move(dist));
    }
  }
  return a;
}

namespace {

std::vector<double> Soften(std::vector<double> p, double temperature) {
  if (temperature == 1.0) return p;
  double sum = 0;
  for (double& v : p) sum += v = v > 0 ? std::pow(v, 1.0 / temperature) : 0.0;
  if (sum > 0) {
    for (double& v : p) v /= sum;
  }
  return p;
}

}  // namespace

double NextTokenDistance(const Answer& a, const Answer& b, double temperature) {
  const size_t n = std::min(a.positions.size(), b.positions.size());
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0;
  size_t used = 0;
  for (size_t j = 0; j < n; ++j) {
    if (j > 0 && (a.text.size() < j || b.text.size() < j || a.text.compare(0, j, b.text, 0, j) != 0)) break;  // contexts differ from here on
    std::vector<double> p, q;
    for (const auto& [token, pa] : a.positions[j]) {
      auto it = b.positions[j].find(token);
      p.push_back(pa);
      q.push_back(it == b.positions[j].end() ? 0.0 : it->second);
    }
    for (const auto& [token, pb] : b.positions[j]) {
      if (!a.positions[j].count(token)) {
        p.push_back(0.0);
        q.push_back(pb);
      }
    }
    // The "any other token" buckets are compared as one token: a bound, not the exact divergence.
    sum += JensenShannon(Soften(std::move(p), temperature), Soften(std::move(q), temperature));
    ++used;
  }
  return sum / static_cast<double>(used);
}

double AnswerDistance(const std::string& a, const std::string& b, size_t max_bytes) {
  const size_t la = std::min(a.size(), max_bytes), lb = std::min(b.size(), max_bytes);
  const size_t longer = std::max(la, lb);
  if (longer == 0) return 0;
  size_t common = 0;
  while (common < std::min(la, lb) && a[common] == b[common]) ++common;
  return 1.0 - static_cast<double>(common) / static_cast<double>(longer);
}

}  // namespace dg::attribute
