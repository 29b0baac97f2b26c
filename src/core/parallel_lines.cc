#include "core/parallel_lines.h"

#include <cerrno>
#include <cstring>

namespace dg {

StatusOr<std::unique_ptr<LineChunker>> LineChunker::Open(const std::string& path, size_t chunk_bytes) {
  std::unique_ptr<LineChunker> c(new LineChunker());
  c->path_ = path;
  c->chunk_bytes_ = chunk_bytes == 0 ? 1 : chunk_bytes;
  c->file_ = std::fopen(path.c_str(), "rb");
  if (c->file_ == nullptr) {
    if (errno == ENOENT) return Status::InvalidInput(path + ": no such file");
    return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  }
  return c;
}

LineChunker::~LineChunker() {
  if (file_ != nullptr) std::fclose(file_);
}

StatusOr<bool> LineChunker::Next(Chunk* chunk) {
  chunk->lines.clear();
  chunk->text = std::move(carry_);  // holds no newline
  carry_.clear();
  // Read until the chunk holds a newline and at least chunk_bytes_, or the file ends.
  size_t last_newline = std::string::npos;
  while (!eof_ && (last_newline == std::string::npos || chunk->text.size() < chunk_bytes_)) {
    const size_t old = chunk->text.size();
    chunk->text.resize(old + chunk_bytes_);
    const size_t n = std::fread(&chunk->text[old], 1, chunk_bytes_, file_);
    chunk->text.resize(old + n);
    hasher_.Update(chunk->text.data() + old, n);
    if (n < chunk_bytes_) {
      if (std::ferror(file_)) return Status::IoError(path_ + ": read failed: " + std::strerror(errno));
      eof_ = true;
      sha256_ = hasher_.Finish();
    }
    const void* nl = n == 0 ? nullptr : memrchr(chunk->text.data() + old, '\n', n);
    if (nl != nullptr) last_newline = static_cast<size_t>(static_cast<const char*>(nl) - chunk->text.data());
  }
  if (!eof_) {  // what follows the last newline starts the next chunk
    carry_.assign(chunk->text, last_newline + 1, std::string::npos);
    chunk->text.resize(last_newline + 1);
  }
  if (chunk->text.empty()) return false;
  size_t start = 0;
  const std::string& t = chunk->text;
  while (start < t.size()) {
    size_t end = t.find('\n', start);
    const size_t next = end == std::string::npos ? t.size() : end + 1;
    if (end == std::string::npos) end = t.size();
    size_t len = end - start;
    if (len > 0 && t[start + len - 1] == '\r') --len;
    chunk->lines.push_back(LineRef{std::string_view(t.data() + start, len), ++line_, offset_ + start});
    start = next;
  }
  offset_ += t.size();
  return true;
}

}  // namespace dg
