// Models queried as black boxes for attribution: OpenAI-compatible
// chat-completions endpoints (`distillgate serve-teacher`, vLLM, llama.cpp),
// named `URL#model` (`http://127.0.0.1:8080/v1#teacher-a`). Only the text an
// endpoint returns is used; nothing is opened as weights.
//
// Errors: ParseModelRef gives InvalidInput (exit 2) for a spec that is not
// an http(s) URL with a `#model`; QueryModel gives IoError (exit 3) when an
// endpoint fails after its retries or answers as another model.
// Thread safety: reentrant; each QueryModel uses its own client.
#ifndef DISTILLGATE_ATTRIBUTE_ENDPOINT_H_
#define DISTILLGATE_ATTRIBUTE_ENDPOINT_H_

#include <string>
#include <vector>

#include "attribute/probes.h"
#include "core/status.h"

namespace dg::attribute {

struct ModelRef {
  std::string id;        // the candidate's ID (ID=URL#model), else the model name
  std::string base_url;  // scheme://host:port, without /v1
  std::string model;     // the `model` of each request
};

// `spec` is "ID=URL#model" when `with_id`, else "URL#model". `option` names
// the command-line option in messages.
StatusOr<ModelRef> ParseModelRef(const std::string& spec, bool with_id, const std::string& option);

struct QueryOptions {
  size_t max_tokens = 8;   // each answer is at most this long (greedy: temperature 0)
  double timeout_s = 60;
  int max_retries = 3;
  std::string api_key;     // sent as a bearer token when not empty
};

// Every probe as one user message, in order; the answers' texts.
StatusOr<std::vector<std::string>> QueryModel(const ModelRef& m, const ProbeSet& probes, const QueryOptions& o);

// The distance between two answers to one probe: 1 - (their common prefix /
// the longer answer), over their first `max_bytes` bytes; 0 for two empty
// answers. A next-token agreement test is the case max_bytes = 1.
double AnswerDistance(const std::string& a, const std::string& b, size_t max_bytes);

}  // namespace dg::attribute

#endif  // DISTILLGATE_ATTRIBUTE_ENDPOINT_H_
