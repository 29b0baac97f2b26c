#include "transcripts/chat_client.h"

#include <curl/curl.h>

#include <cctype>
#include <mutex>
#include <thread>

#include "core/canonical_json.h"
#include "core/interrupt.h"

namespace dg {

using json = nlohmann::json;

namespace {

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  const std::string name = "x-request-id:";
  if (line.size() > name.size()) {
    std::string lower = line.substr(0, name.size());
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == name) {
      std::string v = line.substr(name.size());
      while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.erase(0, 1);
      while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
      *static_cast<std::string*>(user) = v;
    }
  }
  return size * n;
}

bool Retryable(int status) { return status == 0 || status == 429 || status >= 500; }

}  // namespace

struct ChatClient::Impl {
  ChatClientOptions o;
  std::chrono::steady_clock::time_point last{};
  bool called = false;
};

ChatClient::ChatClient(ChatClientOptions options) : impl_(std::make_unique<Impl>()) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->o = std::move(options);
  while (!impl_->o.base_url.empty() && impl_->o.base_url.back() == '/') impl_->o.base_url.pop_back();
}

ChatClient::~ChatClient() = default;

ChatResult ChatClient::Complete(const json& request) { return Post("/v1/chat/completions", request); }

ChatResult ChatClient::Post(const std::string& path, const json& request) {
  const ChatClientOptions& o = impl_->o;
  const std::string url = o.base_url + path;
  const std::string payload = request.dump();
  ChatResult r;
  double backoff = o.backoff_s;
  for (int attempt = 0; attempt <= o.max_retries; ++attempt) {
    if (impl_->called && o.min_interval_s > 0) {
      const auto next = impl_->last + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                          std::chrono::duration<double>(o.min_interval_s));
      std::this_thread::sleep_until(next);
    }
    impl_->last = std::chrono::steady_clock::now();
    impl_->called = true;
    r = ChatResult{};
    r.attempts = attempt + 1;
    CURL* curl = curl_easy_init();
    if (curl == nullptr) {
      r.error = "libcurl could not start a request";
      return r;
    }
    std::string body;
    struct curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    std::string auth;
    if (!o.api_key.empty()) {
      auth = "Authorization: Bearer " + o.api_key;
      headers = curl_slist_append(headers, auth.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, WriteHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.request_id);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout_s * 1000));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(o.timeout_s, 10.0) * 1000));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    // The key was only in `auth`; clear it before the string is freed.
    std::fill(auth.begin(), auth.end(), '\0');
    r.http_status = static_cast<int>(status);
    if (rc != CURLE_OK) {
      r.error = std::string("no response: ") + curl_easy_strerror(rc);
    } else {
      auto parsed = ParseJsonStrict(body, "response");
      r.body = parsed.ok() ? std::move(parsed).value() : json(json::value_t::discarded);
      if (r.body.is_discarded()) r.body = nullptr;
      if (status == 200 && !r.body.is_null()) return r;
      r.error = "HTTP " + std::to_string(status);
      if (r.body.is_object() && r.body.contains("error")) {
        const json& e = r.body["error"];
        r.error += ": " + (e.is_object() && e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : e.dump());
      } else if (status == 200) {
        r.error += ": the body is not JSON";
      }
    }
    // A stop request (SIGINT/SIGTERM) ends the retries: the caller stops.
    if (!Retryable(r.http_status) || attempt == o.max_retries || StopSignal() != 0) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
    backoff *= 2;
  }
  return r;
}

}  // namespace dg
