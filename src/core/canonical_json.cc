#include "core/canonical_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

namespace dg {
namespace {

using json = nlohmann::json;

constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

// UTF-8 → UTF-16 code units, for RFC 8785 §3.2.3 member ordering. Input is
// already valid UTF-8 (nlohmann validates on parse and on dump).
std::u16string ToUtf16(const std::string& s) {
  std::u16string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 6) { cp = c & 0x1f; len = 2; }
    else if ((c >> 4) == 14) { cp = c & 0x0f; len = 3; }
    else { cp = c & 0x07; len = 4; }
    for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

void AppendString(const std::string& s, std::string& out) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

std::string EscapePointerToken(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out.push_back(c);
  }
  return out;
}

// Appends the canonical form of v. On failure returns false and sets *why;
// *pointer collects the JSON pointer of the offending value (built on the
// way back up, so the success path never formats pointers).
bool Append(const json& v, std::string& out, std::string* why, std::string* pointer) {
  switch (v.type()) {
    case json::value_t::null: out += "null"; return true;
    case json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return true;
    case json::value_t::number_integer: {
      int64_t i = v.get<int64_t>();
      if (i > kMaxSafeInteger || i < -kMaxSafeInteger) {
        *why = "is an integer outside the exactly representable range ±(2^53-1)";
        return false;
      }
      out += std::to_string(i);
      return true;
    }
    case json::value_t::number_unsigned: {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(kMaxSafeInteger)) {
        *why = "is an integer outside the exactly representable range ±(2^53-1)";
        return false;
      }
      out += std::to_string(u);
      return true;
    }
    case json::value_t::number_float: {
      double d = v.get<double>();
      if (!std::isfinite(d)) {
        *why = "is not a finite number";
        return false;
      }
      out += FormatJcsNumber(d);
      return true;
    }
    case json::value_t::string: AppendString(v.get_ref<const std::string&>(), out); return true;
    case json::value_t::array: {
      out.push_back('[');
      size_t i = 0;
      for (const auto& e : v) {
        if (i) out.push_back(',');
        if (!Append(e, out, why, pointer)) {
          *pointer = "/" + std::to_string(i) + *pointer;
          return false;
        }
        ++i;
      }
      out.push_back(']');
      return true;
    }
    case json::value_t::object: {
      std::vector<std::pair<std::u16string, json::const_iterator>> keys;
      keys.reserve(v.size());
      for (auto it = v.begin(); it != v.end(); ++it) keys.emplace_back(ToUtf16(it.key()), it);
      std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out.push_back('{');
      bool first = true;
      for (const auto& k : keys) {
        if (!first) out.push_back(',');
        first = false;
        AppendString(k.second.key(), out);
        out.push_back(':');
        if (!Append(k.second.value(), out, why, pointer)) {
          *pointer = "/" + EscapePointerToken(k.second.key()) + *pointer;
          return false;
        }
      }
      out.push_back('}');
      return true;
    }
    case json::value_t::binary:
    case json::value_t::discarded:
      break;
  }
  *why = "is not representable in JSON";
  return false;
}

}  // namespace

std::string FormatJcsNumber(double v) {
  if (v == 0) return "0";  // also -0
  // Shortest round-trip digits in scientific form: "d[.ddd]e[+-]XX".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp10 = std::stoi(sci.substr(e + 1));
  std::string digits;
  for (char c : mant) if (c != '.') digits.push_back(c);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;  // value = 0.d1d2..dk × 10^n
  std::string out = neg ? "-" : "";
  if (k <= n && n <= 21) {
    out += digits + std::string(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<size_t>(n)) + "." + digits.substr(static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0." + std::string(static_cast<size_t>(-n), '0') + digits;
  } else {
    out += digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += "e";
    out += (n - 1 >= 0) ? "+" : "-";
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

StatusOr<std::string> Canonicalize(const json& value) {
  std::string out, why, pointer;
  if (!Append(value, out, &why, &pointer)) {
    return Status::InvalidInput("value at " + (pointer.empty() ? std::string("/") : pointer) + " " + why +
                                " (RFC 8785 canonical JSON)");
  }
  return out;
}

StatusOr<json> ParseJsonStrict(std::string_view text, const std::string& where) {
  // One set of member names per open object, to reject duplicate keys
  // (RFC 8785 requires I-JSON input, which has none).
  std::vector<std::set<std::string>> open;
  std::string duplicate;
  auto cb = [&](int /*depth*/, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start: open.emplace_back(); break;
      case json::parse_event_t::object_end: if (!open.empty()) open.pop_back(); break;
      case json::parse_event_t::key:
        if (!open.empty() && !open.back().insert(parsed.get<std::string>()).second && duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default: break;
    }
    return true;
  };
  try {
    json j = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
    if (!duplicate.empty()) {
      return Status::InvalidInput(where + ": duplicate object key \"" + duplicate + "\"");
    }
    return j;
  } catch (const json::parse_error& e) {
    std::string msg = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
    size_t p = msg.find("] ");
    if (p != std::string::npos) msg = msg.substr(p + 2);
    return Status::InvalidInput(where + ": malformed JSON: " + msg);
  }
}

}  // namespace dg
