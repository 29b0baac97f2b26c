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

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "attribute/probes.h"
#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg::attribute {

struct ModelRef {
  std::string id;        // the candidate's ID (ID=URL#model), else the model name
  std::string base_url;  // scheme://host:port, without /v1 ("" for a model file)
  std::string model;     // the `model` of each request (a model file: its file name)
  // A model file: with no base_url an image classifier run locally
  // (QueryOptions::local); with one, a byte-level LM file served there. "" otherwise.
  std::string file;
  std::string file_sha256;  // its hex SHA-256, taken when the plan is made
  std::string run;          // the recorded run that trained it (--train-references), "" when not known
};

struct Answer;

// `spec` is "ID=URL#model" when `with_id`, else "URL#model". `option` names
// the command-line option in messages.
StatusOr<ModelRef> ParseModelRef(const std::string& spec, bool with_id, const std::string& option);

struct QueryOptions {
  size_t max_tokens = 8;   // each answer is at most this long (greedy: temperature 0)
  bool logprobs = false;   // ask for `logprobs` and `top_logprobs` (20) and require them
  // Teacher-forced scoring of the probe itself instead of an answer: each
  // probe is POSTed to the legacy completions endpoint (/v1/completions,
  // {prompt, max_tokens 1, temperature 0, echo true, logprobs 20}, as vLLM
  // and lm-evaluation-harness score a fixed text); the Answer's text is the
  // probe from its second byte on and its positions the distributions that
  // predicted each of those bytes (every model sees the same contexts). The
  // endpoint's tokens must be bytes (`serve-teacher`); otherwise IoError.
  bool score_probe = false;
  double timeout_s = 60;
  int max_retries = 3;
  std::string api_key;     // sent as a bearer token when not empty
  // Runs a model file on every probe (the CLI runs the trainer's
  // `classify`); unset: model files cannot be queried (InvalidInput).
  std::function<StatusOr<std::vector<Answer>>(const ModelRef&, const ProbeSet&)> local;
};

// One answer: its text and, when asked for, the distribution the endpoint
// reported at each answer position (its top tokens' probabilities; the mass
// it did not report is under the key "" — "any other token").
struct Answer {
  std::string text;
  std::vector<std::map<std::string, double>> positions;
};

// Every probe as one user message, in order. `on_answer`, when set, is
// called with each answer as it arrives, before the next probe is sent (a
// run records it there); its error stops the queries and is returned. A
// stop request (core/interrupt.h) stops them with Interrupted.
using AnswerSink = std::function<Status(size_t probe, const Answer& answer)>;
StatusOr<std::vector<Answer>> QueryModel(const ModelRef& m, const ProbeSet& probes, const QueryOptions& o,
                                         const AnswerSink& on_answer = nullptr);

// A classifier's answers from its class probabilities ({"probabilities":
// [[p0 … pK-1], …]}, one row per probe): the text is the top class's index
// in decimal, the one position its distribution over the classes ("0" …).
// InvalidInput unless there are `count` rows of probabilities.
StatusOr<std::vector<Answer>> AnswersFromProbabilities(const nlohmann::json& j, size_t count);

// An answer as a run records it: {"text", "positions": [{token: p, …}, …]}
// (positions only when the endpoint reported distributions), and back.
// AnswerFromJson: InvalidInput for anything else.
nlohmann::json AnswerToJson(const Answer& a);
StatusOr<Answer> AnswerFromJson(const nlohmann::json& j);

// The mean Jensen–Shannon divergence (bits) of two answers' reported
// distributions over the positions where both saw the same context: the
// first, and each next one while the two texts agree so far. NaN when
// either answer has no distributions. With `temperature` T != 1 each
// distribution is softened first (p^(1/T), renormalised; the unreported
// mass counts as one token), as for distillation's soft targets.
double NextTokenDistance(const Answer& a, const Answer& b, double temperature = 1.0);

// The distance between two answers to one probe: 1 - (their common prefix /
// the longer answer), over their first `max_bytes` bytes; 0 for two empty
// answers. A next-token agreement test is the case max_bytes = 1.
double AnswerDistance(const std::string& a, const std::string& b, size_t max_bytes);

}  // namespace dg::attribute

#endif  // DISTILLGATE_ATTRIBUTE_ENDPOINT_H_
