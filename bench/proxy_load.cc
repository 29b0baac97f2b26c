// The proxy's cost (issue 17; bench/proxy.sh runs it): a fast stand-in
// upstream and a load client over keep-alive connections.
//
//   proxy_load serve [DELAY_MS]            serve a fixed chat completion on 127.0.0.1 (prints the port),
//                                          each after DELAY_MS (default 0: as fast as it can)
//   proxy_load load URL CLIENTS CALLS       CLIENTS threads, CALLS each, one after another per thread;
//                                          prints {calls, seconds, calls_per_s, p50_ms, p99_ms, errors}
#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

int Serve(double delay_ms) {
  httplib::Server server;
  server.new_task_queue = [] { return new httplib::ThreadPool(64); };
  server.set_tcp_nodelay(true);
  std::atomic<uint64_t> n{0};
  server.Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    const uint64_t i = n++;
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(delay_ms));
    res.set_header("x-request-id", "req-" + std::to_string(i));
    res.set_content("{\"id\":\"chatcmpl-" + std::to_string(i) +
                        "\",\"object\":\"chat.completion\",\"created\":1764400000,\"model\":\"fast-lm\",\"choices\":[{\"index\":0,"
                        "\"message\":{\"role\":\"assistant\",\"content\":\"a short answer of about sixty bytes, as a small model gives\"},"
                        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":16,\"total_tokens\":28},"
                        "\"system_fingerprint\":null}",
                    "application/json");
  });
  int listen_fd = -1;  // Debian's httplib listens with a backlog of 5: raise it once bound
  server.set_socket_options([&listen_fd](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
  std::cout << port << std::endl;
  return server.listen_after_bind() ? 0 : 1;
}

int Load(const std::string& url, int clients, int calls) {
  const size_t slash = url.find('/', url.find("://") + 3);
  const std::string host = url.substr(0, slash);
  const std::string path = (slash == std::string::npos ? "" : url.substr(slash)) + "/chat/completions";
  std::vector<std::vector<double>> lat(clients);
  std::atomic<int> errors{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client cli(host);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      for (int i = 0; i < calls; ++i) {
        const std::string body = "{\"model\":\"fast-lm\",\"messages\":[{\"role\":\"user\",\"content\":\"client " + std::to_string(c) +
                                 " call " + std::to_string(i) + "\"}],\"max_tokens\":16}";
        const auto a = std::chrono::steady_clock::now();
        auto r = cli.Post(path, body, "application/json");
        const auto b = std::chrono::steady_clock::now();
        if (!r || r->status != 200) {
          ++errors;
          continue;
        }
        lat[c].push_back(std::chrono::duration<double, std::milli>(b - a).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
  std::printf("{\"calls\": %zu, \"seconds\": %.3f, \"calls_per_s\": %.1f, \"p50_ms\": %.4f, \"p99_ms\": %.4f, \"max_ms\": %.2f, \"errors\": %d}\n",
              all.size(), seconds, all.size() / seconds, pct(0.50), pct(0.99), all.empty() ? 0.0 : all.back(), errors.load());
  return errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "serve") return Serve(argc > 2 ? std::atof(argv[2]) : 0.0);
  if (mode == "load" && argc == 5) return Load(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  std::cerr << "usage: proxy_load serve | proxy_load load URL CLIENTS CALLS\n";
  return 2;
}
