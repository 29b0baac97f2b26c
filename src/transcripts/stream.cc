#include "transcripts/stream.h"

namespace dg {

using json = nlohmann::json;

Status SseSplitter::Feed(std::string_view bytes, const OnEvent& on_event) {
  buffer_.append(bytes.data(), bytes.size());
  size_t event_start = 0, pos = 0;
  std::string data;
  bool has_data = false;
  while (pos < buffer_.size()) {
    // The next line end: LF, CRLF or CR (a CR last in the buffer waits for
    // the next piece: it may be the first half of a CRLF).
    size_t end = pos;
    while (end < buffer_.size() && buffer_[end] != '\n' && buffer_[end] != '\r') ++end;
    if (end == buffer_.size()) break;
    size_t next = end + 1;
    if (buffer_[end] == '\r') {
      if (next == buffer_.size()) break;
      if (buffer_[next] == '\n') ++next;
    }
    const std::string_view line(buffer_.data() + pos, end - pos);
    pos = next;
    if (line.empty()) {
      const std::string_view raw(buffer_.data() + event_start, pos - event_start);
      DG_RETURN_IF_ERROR(on_event(raw, has_data ? data : std::string()));
      event_start = pos;
      data.clear();
      has_data = false;
      continue;
    }
    if (line.front() == ':') continue;  // a comment
    const size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "data") {
      if (has_data) data.push_back('\n');
      data.append(value.data(), value.size());
      has_data = true;
    }
  }
  buffer_.erase(0, event_start);
  return Status::Ok();
}

Status StreamAssembler::Add(const json& chunk) {
  const std::string at = "stream chunk " + std::to_string(chunks_);
  if (!chunk.is_object()) return Status::InvalidInput(at + ": expected a chat.completion.chunk object");
  auto string_member = [&](const char* name) -> StatusOr<std::string> {
    auto it = chunk.find(name);
    if (it == chunk.end() || !it->is_string()) return Status::InvalidInput(at + ": /" + std::string(name) + ": expected a string");
    return it->get<std::string>();
  };
  DG_ASSIGN_OR_RETURN(std::string id, string_member("id"));
  DG_ASSIGN_OR_RETURN(std::string model, string_member("model"));
  auto created = chunk.find("created");
  if (created == chunk.end() || !created->is_number_integer() || created->get<int64_t>() < 0) {
    return Status::InvalidInput(at + ": /created: expected a non-negative integer");
  }
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) return Status::InvalidInput(at + ": /choices: expected an array");
  if (chunks_ == 0) {
    id_ = id;
    model_ = model;
    created_ = *created;
  } else if (id != id_ || model != model_) {
    return Status::InvalidInput(at + ": reports " + (id != id_ ? "id \"" + id + "\"" : "model \"" + model + "\"") +
                                "; the stream began with " + (id != id_ ? "id \"" + id_ + "\"" : "model \"" + model_ + "\""));
  }
  if (auto f = chunk.find("system_fingerprint"); f != chunk.end() && !f->is_null()) system_fingerprint_ = *f;
  if (auto u = chunk.find("usage"); u != chunk.end() && !u->is_null()) usage_ = *u;
  for (size_t k = 0; k < choices->size(); ++k) {
    const json& c = (*choices)[k];
    const std::string cat = at + ": /choices/" + std::to_string(k);
    if (!c.is_object() || !c.contains("index") || !c["index"].is_number_integer()) {
      return Status::InvalidInput(cat + "/index: expected an integer");
    }
    Choice& ch = choices_[c["index"].get<int64_t>()];
    if (auto fr = c.find("finish_reason"); fr != c.end() && fr->is_string()) ch.finish_reason = *fr;
    if (kind_ == Kind::kCompletion) {
      if (auto t = c.find("text"); t != c.end() && !t->is_null()) {
        if (!t->is_string()) return Status::InvalidInput(cat + "/text: expected a string");
        ch.content += t->get<std::string>();
        ch.has_content = true;
      }
      if (auto lp = c.find("logprobs"); lp != c.end() && lp->is_object()) {
        if (!ch.logprobs.is_object()) ch.logprobs = json::object();
        for (const auto& [name, value] : lp->items()) {
          if (!value.is_array()) continue;
          json& into = ch.logprobs[name];
          if (!into.is_array()) into = json::array();
          for (const json& v : value) into.push_back(v);
        }
      }
      continue;
    }
    if (auto lp = c.find("logprobs"); lp != c.end() && lp->is_object() && lp->contains("content") && (*lp)["content"].is_array()) {
      if (!ch.logprobs_content.is_array()) ch.logprobs_content = json::array();
      for (const json& t : (*lp)["content"]) ch.logprobs_content.push_back(t);
    }
    auto delta = c.find("delta");
    if (delta == c.end() || delta->is_null()) continue;
    if (!delta->is_object()) return Status::InvalidInput(cat + "/delta: expected an object");
    if (auto r = delta->find("role"); r != delta->end() && r->is_string()) ch.role = r->get<std::string>();
    if (auto t = delta->find("content"); t != delta->end() && !t->is_null()) {
      if (!t->is_string()) return Status::InvalidInput(cat + "/delta/content: expected a string or null");
      ch.content += t->get<std::string>();
      ch.has_content = true;
    }
    if (auto t = delta->find("refusal"); t != delta->end() && !t->is_null()) {
      if (!t->is_string()) return Status::InvalidInput(cat + "/delta/refusal: expected a string or null");
      ch.refusal += t->get<std::string>();
      ch.has_refusal = true;
    }
    if (auto tc = delta->find("tool_calls"); tc != delta->end() && tc->is_array()) {
      for (size_t j = 0; j < tc->size(); ++j) {
        const json& d = (*tc)[j];
        if (!d.is_object() || !d.contains("index") || !d["index"].is_number_integer()) {
          return Status::InvalidInput(cat + "/delta/tool_calls/" + std::to_string(j) + "/index: expected an integer");
        }
        json& call = ch.tool_calls[d["index"].get<int64_t>()];
        if (call.is_null()) call = {{"function", {{"name", ""}, {"arguments", ""}}}};
        if (d.contains("id") && d["id"].is_string()) call["id"] = d["id"];
        if (d.contains("type") && d["type"].is_string()) call["type"] = d["type"];
        if (d.contains("function") && d["function"].is_object()) {
          const json& fn = d["function"];
          if (fn.contains("name") && fn["name"].is_string()) call["function"]["name"] = call["function"]["name"].get<std::string>() + fn["name"].get<std::string>();
          if (fn.contains("arguments") && fn["arguments"].is_string()) {
            call["function"]["arguments"] = call["function"]["arguments"].get<std::string>() + fn["arguments"].get<std::string>();
          }
        }
      }
    }
  }
  ++chunks_;
  return Status::Ok();
}

StatusOr<json> StreamAssembler::Finish() const {
  if (chunks_ == 0) return Status::InvalidInput("the stream sent no chunk");
  if (choices_.empty()) return Status::InvalidInput("the stream's chunks carried no choice");
  json choices = json::array();
  for (const auto& [index, ch] : choices_) {
    if (kind_ == Kind::kCompletion) {
      choices.push_back({{"index", index}, {"text", ch.content}, {"finish_reason", ch.finish_reason}, {"logprobs", ch.logprobs}});
      continue;
    }
    json message = {{"role", ch.role.empty() ? "assistant" : ch.role}, {"content", ch.has_content ? json(ch.content) : json()}};
    if (ch.has_refusal) message["refusal"] = ch.refusal;
    if (!ch.tool_calls.empty()) {
      json calls = json::array();
      for (const auto& [i, c] : ch.tool_calls) calls.push_back(c);
      message["tool_calls"] = calls;
    }
    json choice = {{"index", index}, {"message", message}, {"finish_reason", ch.finish_reason}};
    if (ch.logprobs_content.is_array()) choice["logprobs"] = {{"content", ch.logprobs_content}};
    choices.push_back(choice);
  }
  json out = {{"id", id_},
              {"object", kind_ == Kind::kCompletion ? "text_completion" : "chat.completion"},
              {"created", created_},
              {"model", model_},
              {"choices", choices}};
  if (!usage_.is_null()) out["usage"] = usage_;
  if (!system_fingerprint_.is_null()) out["system_fingerprint"] = system_fingerprint_;
  return out;
}

}  // namespace dg
