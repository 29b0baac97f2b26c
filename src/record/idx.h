// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed,
// read directly: big-endian magic 0x0000 <type> <ndims>, then ndims uint32
// sizes, then the data. Only unsigned-byte data (type 0x08) is accepted.
//
// Errors: InvalidInput naming the file for anything malformed, truncated or
// of the wrong type (and images and labels that disagree in count); IoError
// when a file cannot be read. Safe on any thread.
#ifndef DISTILLGATE_RECORD_IDX_H_
#define DISTILLGATE_RECORD_IDX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace dg {

struct IdxArray {
  std::vector<uint32_t> dims;  // e.g. {60000, 28, 28}
  std::vector<uint8_t> data;   // row-major
  size_t Items() const { return dims.empty() ? 0 : dims[0]; }
  size_t ItemSize() const;     // product of dims[1..]
};

StatusOr<IdxArray> ReadIdx(const std::string& path);

// A labelled image set: images (n × rows × cols) and labels (n).
struct ImageSet {
  IdxArray images, labels;
  size_t size() const { return images.Items(); }
};

// Reads `<dir>/<prefix>-images-idx3-ubyte[.gz]` and `<prefix>-labels-idx1-ubyte[.gz]`
// (prefix "train" or "t10k") and checks that they agree.
StatusOr<ImageSet> ReadImageSet(const std::string& dir, const std::string& prefix);

}  // namespace dg

#endif  // DISTILLGATE_RECORD_IDX_H_
