#include "model/safetensors.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "core/json_schema.h"

namespace dg {
namespace {

using nlohmann::json;

Status Bad(const std::string& where, const std::string& what) {
  return Status::InvalidInput(where + ": not a valid safetensors file: " + what);
}

std::string Ptr(const std::string& token) { return "/" + EscapePointerToken(token); }

// a*b without wrapping; false on overflow.
bool MulOk(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > UINT64_MAX / a) return false;
  *out = a * b;
  return true;
}

}  // namespace

int SafetensorsDtypeBits(std::string_view d) {
  static const std::map<std::string_view, int> kBits = {
      {"BOOL", 8},     {"U8", 8},       {"I8", 8},       {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8},
      {"I16", 16},     {"U16", 16},     {"F16", 16},     {"BF16", 16},   {"I32", 32},    {"U32", 32},
      {"F32", 32},     {"C64", 64},     {"F64", 64},     {"I64", 64},    {"U64", 64},    {"F4", 4},
      {"F6_E2M3", 6},  {"F6_E3M2", 6},
  };
  auto it = kBits.find(d);
  return it == kBits.end() ? 0 : it->second;
}

nlohmann::json SafetensorsHeader::ToJson() const {
  json t = json::array();
  for (const SafetensorsTensor& x : tensors) {
    t.push_back({{"name", x.name}, {"dtype", x.dtype}, {"shape", x.shape}, {"data_offsets", {x.begin, x.end}}});
  }
  json m = json::object();
  for (const auto& [k, v] : metadata) m[k] = v;
  return {{"header_bytes", header_bytes}, {"metadata", m}, {"tensors", t}};
}

StatusOr<uint64_t> SafetensorsHeaderLength(std::string_view first8, uint64_t file_size, const std::string& where) {
  if (file_size < 8 || first8.size() < 8) {
    return Bad(where, "the file has " + std::to_string(file_size) + " bytes, fewer than the 8-byte header length");
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(first8[i]);
  if (n > kSafetensorsMaxHeaderBytes) {
    return Bad(where, "the header length " + std::to_string(n) + " exceeds the limit of " +
                          std::to_string(kSafetensorsMaxHeaderBytes) + " bytes");
  }
  if (n < 2 || n > file_size - 8) {
    return Bad(where, "the header length " + std::to_string(n) + " does not fit the file's " + std::to_string(file_size) +
                          " bytes (truncated?)");
  }
  return n;
}

StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view text, uint64_t file_size, const std::string& where) {
  SafetensorsHeader h;
  h.header_bytes = text.size();
  if (text.empty() || text[0] != '{') return Bad(where, "the header does not start with '{'");
  // The format allows the header to be padded with spaces (for alignment).
  std::string_view body = text;
  while (!body.empty() && body.back() == ' ') body.remove_suffix(1);
  auto parsed = ParseJsonStrict(body, where + " (header)");
  if (!parsed.ok()) return Bad(where, "the header is not JSON: " + parsed.status().message());
  const json& j = *parsed;
  if (!j.is_object()) return Bad(where, "the header is not a JSON object");
  static const std::set<std::string> kTensorKeys = {"dtype", "shape", "data_offsets"};
  for (const auto& [name, v] : j.items()) {
    const std::string p = Ptr(name);
    if (name == "__metadata__") {
      if (!v.is_object()) return Bad(where, "/__metadata__: expected an object of strings");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string()) return Bad(where, "/__metadata__" + Ptr(k) + ": expected a string");
        h.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) return Bad(where, p + ": expected an object with dtype, shape and data_offsets");
    for (const auto& [k, _] : v.items()) {
      if (!kTensorKeys.count(k)) {
        std::string near = NearestKey(k, kTensorKeys);
        return Bad(where, p + Ptr(k) + ": unknown key" + (near.empty() ? "" : " (did you mean \"" + near + "\"?)"));
      }
    }
    for (const char* k : {"dtype", "shape", "data_offsets"}) {
      if (!v.contains(k)) return Bad(where, p + ": missing \"" + std::string(k) + "\"");
    }
    SafetensorsTensor t;
    t.name = name;
    if (!v["dtype"].is_string()) return Bad(where, p + "/dtype: expected a string");
    t.dtype = v["dtype"].get<std::string>();
    const int bits = SafetensorsDtypeBits(t.dtype);
    if (bits == 0) return Bad(where, p + "/dtype: \"" + t.dtype + "\" is not a safetensors dtype");
    if (!v["shape"].is_array()) return Bad(where, p + "/shape: expected an array of non-negative integers");
    uint64_t elements = 1;
    for (size_t i = 0; i < v["shape"].size(); ++i) {
      const json& d = v["shape"][i];
      if (!d.is_number_unsigned()) return Bad(where, p + "/shape/" + std::to_string(i) + ": expected a non-negative integer");
      t.shape.push_back(d.get<uint64_t>());
      if (!MulOk(elements, t.shape.back(), &elements)) return Bad(where, p + "/shape: the element count overflows");
    }
    const json& o = v["data_offsets"];
    if (!o.is_array() || o.size() != 2 || !o[0].is_number_unsigned() || !o[1].is_number_unsigned()) {
      return Bad(where, p + "/data_offsets: expected [begin, end], two non-negative integers");
    }
    t.begin = o[0].get<uint64_t>();
    t.end = o[1].get<uint64_t>();
    if (t.end < t.begin) return Bad(where, p + "/data_offsets: end " + std::to_string(t.end) + " is before begin " + std::to_string(t.begin));
    uint64_t total_bits = 0;
    if (!MulOk(elements, static_cast<uint64_t>(bits), &total_bits)) return Bad(where, p + "/shape: the byte size overflows");
    if (total_bits % 8 != 0) {
      return Bad(where, p + ": " + std::to_string(elements) + " elements of " + t.dtype + " do not fill whole bytes");
    }
    if (total_bits / 8 != t.end - t.begin) {
      return Bad(where, p + "/data_offsets: [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ") holds " +
                            std::to_string(t.end - t.begin) + " bytes, but shape and dtype need " + std::to_string(total_bits / 8));
    }
    h.tensors.push_back(std::move(t));
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  std::string prev;
  for (const SafetensorsTensor& t : h.tensors) {
    if (t.begin < at) {
      return Bad(where, Ptr(t.name) + "/data_offsets: begins at " + std::to_string(t.begin) + ", inside \"" + prev +
                            "\" (which ends at " + std::to_string(at) + "): tensors overlap");
    }
    if (t.begin > at) {
      return Bad(where, Ptr(t.name) + "/data_offsets: begins at " + std::to_string(t.begin) + ", leaving a gap of " +
                            std::to_string(t.begin - at) + " bytes after " + (prev.empty() ? "the header" : "\"" + prev + "\""));
    }
    at = t.end;
    prev = t.name;
  }
  const uint64_t buffer = file_size - 8 - h.header_bytes;
  if (at != buffer) {
    return Bad(where, "the tensors cover " + std::to_string(at) + " bytes of data, but the file holds " + std::to_string(buffer) +
                          (at < buffer ? " (trailing bytes)" : " (truncated)"));
  }
  return h;
}

std::string EncodeSafetensorsHeader(const std::vector<SafetensorsTensor>& tensors,
                                    const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  for (const SafetensorsTensor& t : tensors) {
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  }
  std::string text = h.dump();
  while (text.size() % 8 != 0) text += ' ';
  std::string out(8, '\0');
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text;
}

StatusOr<SafetensorsIndex> ParseSafetensorsIndex(std::string_view text, const std::string& where) {
  DG_ASSIGN_OR_RETURN(json j, ParseJsonStrict(text, where));
  if (!j.is_object()) return Status::InvalidInput(where + ": expected a JSON object with \"weight_map\"");
  SafetensorsIndex idx;
  if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
    return Status::InvalidInput(where + ": /weight_map: expected an object mapping tensor names to shard files");
  }
  for (const auto& [k, v] : j["weight_map"].items()) {
    if (!v.is_string()) return Status::InvalidInput(where + ": /weight_map" + Ptr(k) + ": expected a shard file name");
    std::string f = v.get<std::string>();
    while (f.compare(0, 2, "./") == 0) f.erase(0, 2);
    const bool dotdot = f == ".." || f.compare(0, 3, "../") == 0 || f.find("/../") != std::string::npos ||
                        (f.size() >= 3 && f.compare(f.size() - 3, 3, "/..") == 0);
    if (f.empty() || f[0] == '/' || dotdot || f.find('\\') != std::string::npos) {
      return Status::InvalidInput(where + ": /weight_map" + Ptr(k) + ": \"" + f + "\" is not a file inside the directory");
    }
    idx.weight_map[k] = f;
  }
  if (idx.weight_map.empty()) return Status::InvalidInput(where + ": /weight_map: maps no tensor to a shard");
  if (j.contains("metadata")) {
    if (!j["metadata"].is_object()) return Status::InvalidInput(where + ": /metadata: expected an object");
    if (j["metadata"].contains("total_size")) {
      const json& t = j["metadata"]["total_size"];
      if (!t.is_number_unsigned()) return Status::InvalidInput(where + ": /metadata/total_size: expected a non-negative integer");
      idx.has_total_size = true;
      idx.total_size = t.get<uint64_t>();
    }
  }
  return idx;
}

Status CheckSafetensorsIndex(const SafetensorsIndex& index, const std::string& index_path, const std::string& index_dir,
                             const std::map<std::string, const SafetensorsHeader*>& shards) {
  auto in_dir = [&](const std::string& f) { return index_dir.empty() ? f : index_dir + "/" + f; };
  std::map<std::string, std::set<std::string>> by_shard;  // shard → mapped tensors
  for (const auto& [tensor, shard] : index.weight_map) by_shard[in_dir(shard)].insert(tensor);
  uint64_t mapped_bytes = 0;
  for (const auto& [shard, tensors] : by_shard) {
    auto it = shards.find(shard);
    if (it == shards.end()) {
      return Status::InvalidInput(index_path + ": /weight_map: shard \"" + shard + "\" (" + std::to_string(tensors.size()) +
                                  " tensors, e.g. \"" + *tensors.begin() + "\") is not in the directory");
    }
    std::set<std::string> present;
    for (const SafetensorsTensor& t : it->second->tensors) {
      present.insert(t.name);
      if (!tensors.count(t.name)) {
        return Status::InvalidInput(index_path + ": /weight_map: tensor \"" + t.name + "\" of " + shard + " is not mapped to it");
      }
      mapped_bytes += t.end - t.begin;
    }
    for (const std::string& t : tensors) {
      if (!present.count(t)) {
        return Status::InvalidInput(index_path + ": /weight_map" + Ptr(t) + ": tensor \"" + t + "\" is not in " + shard);
      }
    }
  }
  // A shard of this index's name ("model.safetensors.index.json" → model-*.safetensors,
  // model.safetensors) in its directory that the index leaves out.
  const std::string base = index_path.substr(index_path.rfind('/') == std::string::npos ? 0 : index_path.rfind('/') + 1);
  const std::string prefix = base.substr(0, base.find(".safetensors.index.json"));
  for (const auto& [shard, _] : shards) {
    const size_t slash = shard.rfind('/');
    const std::string dir = slash == std::string::npos ? "" : shard.substr(0, slash);
    const std::string name = slash == std::string::npos ? shard : shard.substr(slash + 1);
    if (dir != index_dir || by_shard.count(shard)) continue;
    if (name == prefix + ".safetensors" || name.compare(0, prefix.size() + 1, prefix + "-") == 0) {
      return Status::InvalidInput(index_path + ": /weight_map: shard \"" + shard + "\" is in the directory but the index maps nothing to it");
    }
  }
  if (index.has_total_size && index.total_size != mapped_bytes) {
    return Status::InvalidInput(index_path + ": /metadata/total_size: " + std::to_string(index.total_size) +
                                " bytes, but the mapped tensors hold " + std::to_string(mapped_bytes));
  }
  return Status::Ok();
}

}  // namespace dg
