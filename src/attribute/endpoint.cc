#include "attribute/endpoint.h"

#include <algorithm>

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
    return Status::InvalidInput(option + " \"" + spec + "\": expected an endpoint URL#model; model files (checkpoints, TorchScript) are " +
                                "not read yet — serve a byte-level LM with `distillgate serve-teacher` and give its URL");
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

StatusOr<std::vector<std::string>> QueryModel(const ModelRef& m, const ProbeSet& probes, const QueryOptions& o) {
  ChatClientOptions co;
  co.base_url = m.base_url;
  co.api_key = o.api_key;
  co.timeout_s = o.timeout_s;
  co.max_retries = o.max_retries;
  ChatClient client(co);
  std::vector<std::string> answers;
  answers.reserve(probes.probes.size());
  for (size_t i = 0; i < probes.probes.size(); ++i) {
    const nlohmann::json request = {{"model", m.model},
                                    {"messages", {{{"role", "user"}, {"content", probes.probes[i]}}}},
                                    {"max_tokens", o.max_tokens},
                                    {"temperature", 0}};
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
    answers.push_back(content->get<std::string>());
  }
  return answers;
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
