// Reading a file of lines once, in order, with the per-line work spread over
// several threads: the calling thread reads (and hashes) the bytes and hands
// chunks of lines to a pool of workers; the results come back to the calling
// thread in file order. Memory stays bounded by the chunks in flight,
// whatever the size of the file.
#ifndef DISTILLGATE_CORE_PARALLEL_LINES_H_
#define DISTILLGATE_CORE_PARALLEL_LINES_H_

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/hash.h"
#include "core/status.h"

namespace dg {

struct LineRef {
  std::string_view text;  // without its "\n" (or "\r\n")
  uint64_t number = 0;    // 1-based line number
  uint64_t offset = 0;    // byte offset of its first byte in the file
};

// Lines of a file, read in chunks of about `chunk_bytes` (a chunk always
// holds whole lines; a line longer than that is one chunk). Every byte read
// is hashed: after the last chunk, Sha256() is the SHA-256 of the bytes the
// lines came from.
class LineChunker {
 public:
  struct Chunk {
    std::string text;             // the chunk's bytes; the lines point into it
    std::vector<LineRef> lines;
  };
  static StatusOr<std::unique_ptr<LineChunker>> Open(const std::string& path, size_t chunk_bytes = 1 << 17);
  ~LineChunker();
  LineChunker(const LineChunker&) = delete;
  LineChunker& operator=(const LineChunker&) = delete;
  // The next chunk; false at the end of the file.
  StatusOr<bool> Next(Chunk* chunk);
  // SHA-256 of everything read so far (the file's, once Next gave false).
  Hash Sha256() const { return sha256_; }

 private:
  LineChunker() = default;
  std::string path_;
  std::FILE* file_ = nullptr;
  size_t chunk_bytes_ = 0;
  std::string carry_;  // bytes after the last newline read
  uint64_t offset_ = 0, line_ = 0;
  bool eof_ = false;
  Sha256Hasher hasher_;
  Hash sha256_{};
};

struct ParallelLinesOptions {
  unsigned threads = 0;  // workers: 0 = one per hardware thread; 1 = all on the calling thread
  size_t chunk_bytes = 1 << 17;
};

// Runs `work(line, &result)` for every line of `path` on a worker thread (so
// it must be safe to run on several lines at once) and then
// `consume(line, result)` on the calling thread, in file order. The first
// error of `consume` (or a worker's exception) stops the reading and is
// returned. When everything was read, `*sha256` (if given) is the SHA-256 of
// the bytes the lines came from.
template <typename R>
Status ForEachLineParallel(const std::string& path, const std::function<void(const LineRef&, R*)>& work,
                           const std::function<Status(const LineRef&, R&)>& consume, Hash* sha256,
                           const ParallelLinesOptions& options = {}) {
  DG_ASSIGN_OR_RETURN(std::unique_ptr<LineChunker> chunker, LineChunker::Open(path, options.chunk_bytes));
  struct Slot {
    LineChunker::Chunk chunk;
    std::vector<R> results;
    bool done = false;
    std::exception_ptr error;
  };
  auto run = [&work](Slot& s) {
    try {
      s.results.resize(s.chunk.lines.size());
      for (size_t i = 0; i < s.chunk.lines.size(); ++i) work(s.chunk.lines[i], &s.results[i]);
    } catch (...) {
      s.error = std::current_exception();
    }
  };
  auto deliver = [&consume, &path](Slot& s) -> Status {
    if (s.error) {
      try {
        std::rethrow_exception(s.error);
      } catch (const std::exception& e) {
        return Status::Internal(path + ": " + e.what());
      } catch (...) {
        return Status::Internal(path + ": unknown error while reading");
      }
    }
    for (size_t i = 0; i < s.chunk.lines.size(); ++i) DG_RETURN_IF_ERROR(consume(s.chunk.lines[i], s.results[i]));
    return Status::Ok();
  };
  const unsigned threads = options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  if (threads == 1) {
    for (;;) {
      Slot s;
      DG_ASSIGN_OR_RETURN(bool more, chunker->Next(&s.chunk));
      if (!more) break;
      run(s);
      DG_RETURN_IF_ERROR(deliver(s));
    }
    if (sha256 != nullptr) *sha256 = chunker->Sha256();
    return Status::Ok();
  }

  std::mutex mu;
  std::condition_variable work_ready, slot_done;
  std::deque<Slot*> queued;  // chunks no worker has taken yet
  bool stopping = false;
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      std::unique_lock<std::mutex> lock(mu);
      for (;;) {
        work_ready.wait(lock, [&] { return stopping || !queued.empty(); });
        if (stopping) return;
        Slot* s = queued.front();
        queued.pop_front();
        lock.unlock();
        run(*s);
        lock.lock();
        s->done = true;
        slot_done.notify_all();
      }
    });
  }
  std::deque<std::unique_ptr<Slot>> in_flight;  // in file order
  const size_t max_in_flight = 2 * threads + 2;
  Status status = Status::Ok();
  bool more = true;
  while (status.ok()) {
    while (more && in_flight.size() < max_in_flight) {
      auto s = std::make_unique<Slot>();
      auto next = chunker->Next(&s->chunk);
      if (!next.ok()) {
        status = next.status();
        break;
      }
      more = *next;
      if (!more) break;
      std::lock_guard<std::mutex> lock(mu);
      queued.push_back(s.get());
      in_flight.push_back(std::move(s));
      work_ready.notify_one();
    }
    if (!status.ok() || in_flight.empty()) break;
    Slot& front = *in_flight.front();
    {
      std::unique_lock<std::mutex> lock(mu);
      slot_done.wait(lock, [&] { return front.done; });
    }
    status = deliver(front);
    in_flight.pop_front();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;  // workers finish the chunk they hold; the queued ones are dropped
    work_ready.notify_all();
  }
  for (auto& t : pool) t.join();
  if (status.ok() && sha256 != nullptr) *sha256 = chunker->Sha256();
  return status;
}

}  // namespace dg

#endif  // DISTILLGATE_CORE_PARALLEL_LINES_H_
