#include "core/dsse.h"

#include <nlohmann/json.hpp>

#include "core/encoding.h"

namespace dg {

using json = nlohmann::json;

std::string DssePae(std::string_view payload_type, std::string_view payload) {
  std::string out = "DSSEv1 ";
  out += std::to_string(payload_type.size());
  out += ' ';
  out += payload_type;
  out += ' ';
  out += std::to_string(payload.size());
  out += ' ';
  out += payload;
  return out;
}

json DsseSign(std::string_view payload_type, std::string_view payload, const PrivateKey& key,
              const std::string& keyid) {
  const std::string sig = key.Sign(DssePae(payload_type, payload));
  return json{{"payload", Base64Encode(payload)},
              {"payloadType", std::string(payload_type)},
              {"signatures", json::array({json{{"keyid", keyid}, {"sig", Base64Encode(sig)}}})}};
}

StatusOr<DsseVerified> DsseVerify(const json& env, const PublicKey& key, const std::string& where) {
  auto bad = [&](const std::string& pointer, const std::string& what) {
    return Status::InvalidInput(where + ": " + pointer + ": " + what);
  };
  if (!env.is_object()) return bad("/", "expected a DSSE envelope object");
  auto pt = env.find("payloadType");
  if (pt == env.end() || !pt->is_string()) return bad("/payloadType", "expected a string");
  auto pl = env.find("payload");
  if (pl == env.end() || !pl->is_string()) return bad("/payload", "expected a base64 string");
  auto payload = Base64DecodeAnyAlphabet(pl->get<std::string>());
  if (!payload) return bad("/payload", "not valid base64");
  auto sigs = env.find("signatures");
  if (sigs == env.end() || !sigs->is_array() || sigs->empty()) {
    return bad("/signatures", "expected a non-empty array of signatures");
  }
  DsseVerified out;
  out.payload_type = pt->get<std::string>();
  out.payload = std::move(*payload);
  const std::string pae = DssePae(out.payload_type, out.payload);
  for (size_t i = 0; i < sigs->size(); ++i) {
    const json& s = (*sigs)[i];
    const std::string p = "/signatures/" + std::to_string(i);
    if (!s.is_object()) return bad(p, "expected an object");
    auto sig = s.find("sig");
    if (sig == s.end() || !sig->is_string()) return bad(p + "/sig", "expected a base64 string");
    auto raw = Base64DecodeAnyAlphabet(sig->get<std::string>());
    if (!raw) return bad(p + "/sig", "not valid base64");
    auto keyid = s.find("keyid");
    if (keyid != s.end() && !keyid->is_string()) return bad(p + "/keyid", "expected a string");
    if (key.Verify(pae, *raw)) {
      out.keyid = keyid == s.end() ? "" : keyid->get<std::string>();
      return out;
    }
  }
  return Status::VerifyFailed(where + ": no DSSE signature verifies under the pinned key (the envelope was changed, "
                                      "or it was signed by another key)");
}

}  // namespace dg
