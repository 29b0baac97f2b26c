#include "record/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "core/file_util.h"

namespace dg {

size_t IdxArray::ItemSize() const {
  size_t n = 1;
  for (size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

StatusOr<IdxArray> ReadIdx(const std::string& path) {
  // gzopen reads plain files transparently too.
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(path.c_str(), "rb"), &gzclose);
  if (!f) {
    if (errno == ENOENT) return Status::InvalidInput(path + ": no such file");
    return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  }
  auto read_exact = [&](void* buf, size_t n) -> bool {
    size_t got = 0;
    while (got < n) {
      int r = gzread(f.get(), static_cast<char*>(buf) + got, static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30)));
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  };
  unsigned char magic[4];
  if (!read_exact(magic, 4)) return Status::InvalidInput(path + ": too short for an IDX header");
  if (magic[0] != 0 || magic[1] != 0) return Status::InvalidInput(path + ": not an IDX file (bad magic)");
  if (magic[2] != 0x08) {
    return Status::InvalidInput(path + ": IDX data type 0x" + std::to_string(magic[2]) + " is not unsigned byte (0x08)");
  }
  const int ndims = magic[3];
  if (ndims < 1 || ndims > 4) return Status::InvalidInput(path + ": IDX file has " + std::to_string(ndims) + " dimensions");
  IdxArray a;
  uint64_t total = 1;
  for (int i = 0; i < ndims; ++i) {
    unsigned char b[4];
    if (!read_exact(b, 4)) return Status::InvalidInput(path + ": truncated IDX header");
    uint32_t d = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
    a.dims.push_back(d);
    total *= d;
    if (total > (uint64_t{1} << 34)) return Status::InvalidInput(path + ": IDX dimensions are implausibly large");
  }
  a.data.resize(static_cast<size_t>(total));
  if (total > 0 && !read_exact(a.data.data(), a.data.size())) {
    return Status::InvalidInput(path + ": truncated IDX data (expected " + std::to_string(total) + " bytes)");
  }
  char extra;
  if (gzread(f.get(), &extra, 1) > 0) return Status::InvalidInput(path + ": trailing bytes after the IDX data");
  return a;
}

StatusOr<ImageSet> ReadImageSet(const std::string& dir, const std::string& prefix) {
  auto pick = [&dir](const std::string& base) {
    const std::string gz = dir + "/" + base + ".gz";
    return FileExists(gz) ? gz : dir + "/" + base;
  };
  const std::string images_path = pick(prefix + "-images-idx3-ubyte"), labels_path = pick(prefix + "-labels-idx1-ubyte");
  ImageSet s;
  DG_ASSIGN_OR_RETURN(s.images, ReadIdx(images_path));
  DG_ASSIGN_OR_RETURN(s.labels, ReadIdx(labels_path));
  if (s.images.dims.size() != 3) return Status::InvalidInput(images_path + ": expected 3 dimensions (n, rows, cols)");
  if (s.labels.dims.size() != 1) return Status::InvalidInput(labels_path + ": expected 1 dimension (n)");
  if (s.images.Items() != s.labels.Items()) {
    return Status::InvalidInput(images_path + " has " + std::to_string(s.images.Items()) + " images but " + labels_path +
                                " has " + std::to_string(s.labels.Items()) + " labels");
  }
  for (uint8_t l : s.labels.data) {
    if (l > 9) return Status::InvalidInput(labels_path + ": label " + std::to_string(l) + " is outside 0..9");
  }
  return s;
}

}  // namespace dg
