#include "core/schema_fast_check.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace dg {

using json = nlohmann::json;

namespace {

// JSON types as a bit set; an integer is a number too.
enum : unsigned {
  kNull = 1,
  kBoolean = 2,
  kInteger = 4,
  kNumber = 8,
  kString = 16,
  kArray = 32,
  kObject = 64,
};

unsigned TypeBits(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return kNull;
    case json::value_t::boolean: return kBoolean;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return kInteger | kNumber;
    case json::value_t::number_float: return kNumber;  // an integral float is not proved an "integer"
    case json::value_t::string: return kString;
    case json::value_t::array: return kArray;
    case json::value_t::object: return kObject;
    default: return 0;
  }
}

std::optional<unsigned> TypeNamed(const std::string& name) {
  static const std::map<std::string, unsigned> kNames = {{"null", kNull},       {"boolean", kBoolean}, {"integer", kInteger},
                                                         {"number", kNumber},   {"string", kString},   {"array", kArray},
                                                         {"object", kObject}};
  auto it = kNames.find(name);
  if (it == kNames.end()) return std::nullopt;
  return it->second;
}

// Exact for every 64-bit integer and every double (x86-64: 64-bit mantissa).
long double NumberOf(const json& v) {
  if (v.is_number_unsigned()) return static_cast<long double>(v.get<uint64_t>());
  if (v.is_number_integer()) return static_cast<long double>(v.get<int64_t>());
  return static_cast<long double>(v.get<double>());
}

// Equal values of the same JSON types all the way down (1 and 1.0 are not:
// whether valijson calls them equal is left to valijson).
bool SameJson(const json& a, const json& b) {
  const bool a_int = a.is_number_integer(), b_int = b.is_number_integer();  // signed or unsigned
  if (a_int && b_int) return NumberOf(a) == NumberOf(b);
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!SameJson(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto other = b.find(it.key());
      if (other == b.end() || !SameJson(*it, *other)) return false;
    }
    return true;
  }
  return a == b;
}

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

class SchemaFastCheck::Impl {
 public:
  struct Node {
    bool never = false;   // "cannot tell": a keyword or form this check leaves to valijson
    bool always = false;  // the schema `true` or `{}`
    unsigned types = 0;   // 0: any type
    // "properties" and "required" merged, sorted by name (the order of a
    // parsed object's members), so an object is checked in one merge pass.
    struct Member {
      std::string name;
      int node = -1;  // its "properties" schema; -1: none
      bool required = false;
    };
    std::vector<Member> members;
    size_t required_count = 0;
    bool closed = false;  // additionalProperties: false
    int additional = -1;  // additionalProperties: a schema
    int items = -1;
    std::optional<uint64_t> min_items, max_items, min_length, max_length;
    std::optional<long double> minimum, maximum, exclusive_minimum, exclusive_maximum;
    std::optional<json> constant;
    std::vector<json> enumeration;
    bool has_enum = false;
    std::vector<int> all_of, any_of;  // a $ref is an all_of of its target
  };

  std::vector<Node> nodes;
  std::map<std::string, json> docs;      // schema file name → its document
  std::map<std::string, int> compiled;   // "file#pointer" → node
  const Loader* load = nullptr;
  bool unresolved = false;

  // The node of the schema at `pointer` in `file` (compiled once; cycles meet the same node).
  int CompileAt(const std::string& file, const std::string& pointer) {
    const std::string key = file + "#" + pointer;
    auto done = compiled.find(key);
    if (done != compiled.end()) return done->second;
    const json* doc = Doc(file);
    const json* at = nullptr;
    if (doc != nullptr) {
      try {
        at = &doc->at(json::json_pointer(pointer));
      } catch (const std::exception&) {
        at = nullptr;
      }
    }
    const int index = static_cast<int>(nodes.size());
    nodes.emplace_back();
    compiled[key] = index;
    if (at == nullptr) {
      unresolved = true;
      nodes[index].never = true;
      return index;
    }
    Node n = CompileNode(*at, file, pointer);
    nodes[index] = std::move(n);
    return index;
  }

  bool Accepts(int index, const json& v) const {
    const Node& n = nodes[static_cast<size_t>(index)];
    if (n.never) return false;
    if (n.always) return true;
    // valijson's adapter reads an unsigned number as int64: one above
    // INT64_MAX is not what it says it is there.
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return false;
    const unsigned bits = TypeBits(v);
    if (n.types != 0 && (n.types & bits) == 0) return false;
    if (n.constant && !SameJson(*n.constant, v)) return false;
    if (n.has_enum && std::none_of(n.enumeration.begin(), n.enumeration.end(), [&](const json& e) { return SameJson(e, v); })) {
      return false;
    }
    if (bits & kNumber) {
      const long double x = NumberOf(v);
      if (n.minimum && !(x >= *n.minimum)) return false;
      if (n.maximum && !(x <= *n.maximum)) return false;
      if (n.exclusive_minimum && !(x > *n.exclusive_minimum)) return false;
      if (n.exclusive_maximum && !(x < *n.exclusive_maximum)) return false;
    } else if (bits == kString) {
      const std::string& s = v.get_ref<const std::string&>();
      // Bytes ≥ code points: proved whether lengths count either.
      if (n.min_length && CodePoints(s) < *n.min_length) return false;
      if (n.max_length && s.size() > *n.max_length) return false;
    } else if (bits == kArray) {
      if (n.min_items && v.size() < *n.min_items) return false;
      if (n.max_items && v.size() > *n.max_items) return false;
      if (n.items >= 0) {
        for (const json& item : v) {
          if (!Accepts(n.items, item)) return false;
        }
      }
    } else if (bits == kObject) {
      size_t required_found = 0;
      auto m = n.members.begin();
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& key = it.key();
        while (m != n.members.end() && m->name < key) ++m;
        const bool named = m != n.members.end() && m->name == key;
        if (named && m->required) ++required_found;
        if (named && m->node >= 0) {
          if (!Accepts(m->node, *it)) return false;
        } else if (n.closed || (n.additional >= 0 && !Accepts(n.additional, *it))) {
          return false;
        }
      }
      if (required_found != n.required_count) return false;
    }
    for (int sub : n.all_of) {
      if (!Accepts(sub, v)) return false;
    }
    if (!n.any_of.empty() && std::none_of(n.any_of.begin(), n.any_of.end(), [&](int sub) { return Accepts(sub, v); })) {
      return false;
    }
    return true;
  }

 private:
  const json* Doc(const std::string& file) {
    auto it = docs.find(file);
    if (it != docs.end()) return &it->second;
    const json* d = (*load)(file);
    if (d == nullptr) return nullptr;
    return &docs.emplace(file, *d).first->second;
  }

  // The target of a "$ref" as (file, pointer); false when it is not one this follows.
  static bool RefTarget(const std::string& ref, const std::string& file, std::string* target_file, std::string* pointer) {
    const size_t hash = ref.find('#');
    std::string where = ref.substr(0, hash);
    *pointer = hash == std::string::npos ? "" : ref.substr(hash + 1);
    if (!pointer->empty() && pointer->front() != '/') return false;  // a named anchor
    if (where.empty()) {
      *target_file = file;
    } else {
      const size_t slash = where.find_last_of('/');
      *target_file = slash == std::string::npos ? where : where.substr(slash + 1);
    }
    // Percent-encoded pointers are not followed.
    return pointer->find('%') == std::string::npos;
  }

  Node CompileNode(const json& s, const std::string& file, const std::string& pointer) {
    Node n;
    if (s.is_boolean()) {
      (s.get<bool>() ? n.always : n.never) = true;
      return n;
    }
    if (!s.is_object()) {
      n.never = true;
      return n;
    }
    static const std::set<std::string> kAnnotations = {"$schema", "$id",     "$comment", "title",     "description", "definitions",
                                                       "examples", "default", "readOnly", "writeOnly"};
    const json::json_pointer here(pointer);
    auto sub = [&](const std::string& token) { return (here / token).to_string(); };
    bool constrains = false;
    for (auto it = s.begin(); it != s.end(); ++it) {
      const std::string& k = it.key();
      const json& v = *it;
      // A nested "$id" moves the base that "$ref"s below it resolve against: not followed here.
      if (k == "$id" && !pointer.empty()) n.never = true;
      if (kAnnotations.count(k)) continue;
      constrains = true;
      if (k == "$ref" && v.is_string()) {
        std::string target_file, target_pointer;
        if (!RefTarget(v.get<std::string>(), file, &target_file, &target_pointer)) {
          n.never = true;
          continue;
        }
        // Draft 7 ignores a $ref's siblings; valijson may not: do not guess.
        for (auto other = s.begin(); other != s.end(); ++other) {
          if (other.key() != "$ref" && !kAnnotations.count(other.key())) n.never = true;
        }
        n.all_of.push_back(CompileAt(target_file, target_pointer));
      } else if (k == "type") {
        std::vector<std::string> names;
        if (v.is_string()) names.push_back(v.get<std::string>());
        else if (v.is_array()) {
          for (const json& t : v) {
            if (!t.is_string()) n.never = true;
            else names.push_back(t.get<std::string>());
          }
        } else n.never = true;
        for (const std::string& name : names) {
          auto bits = TypeNamed(name);
          if (!bits) n.never = true;
          else n.types |= *bits == kNumber ? (kNumber | kInteger) : *bits;
        }
        if (names.empty()) n.never = true;
      } else if (k == "required" && v.is_array()) {
        for (const json& r : v) {
          if (r.is_string()) MemberNamed(&n, r.get<std::string>()).required = true;
          else n.never = true;
        }
      } else if (k == "properties" && v.is_object()) {
        for (auto p = v.begin(); p != v.end(); ++p) {
          const int sub_node = CompileAt(file, (here / "properties" / p.key()).to_string());
          MemberNamed(&n, p.key()).node = sub_node;
        }
      } else if (k == "additionalProperties" && (v.is_boolean() || v.is_object())) {
        if (v.is_boolean()) n.closed = !v.get<bool>();
        else n.additional = CompileAt(file, sub(k));
      } else if (k == "items" && (v.is_object() || v.is_boolean())) {
        n.items = CompileAt(file, sub(k));
      } else if ((k == "minItems" || k == "maxItems" || k == "minLength" || k == "maxLength") && v.is_number_unsigned()) {
        const uint64_t x = v.get<uint64_t>();
        (k == "minItems" ? n.min_items : k == "maxItems" ? n.max_items : k == "minLength" ? n.min_length : n.max_length) = x;
      } else if ((k == "minimum" || k == "maximum" || k == "exclusiveMinimum" || k == "exclusiveMaximum") && v.is_number()) {
        const long double x = NumberOf(v);
        (k == "minimum" ? n.minimum : k == "maximum" ? n.maximum : k == "exclusiveMinimum" ? n.exclusive_minimum : n.exclusive_maximum) = x;
      } else if (k == "const") {
        n.constant = v;
      } else if (k == "enum" && v.is_array()) {
        n.has_enum = true;
        n.enumeration.assign(v.begin(), v.end());
      } else if ((k == "allOf" || k == "anyOf") && v.is_array() && !v.empty()) {
        for (size_t i = 0; i < v.size(); ++i) {
          (k == "allOf" ? n.all_of : n.any_of).push_back(CompileAt(file, (here / k / i).to_string()));
        }
      } else {
        n.never = true;  // pattern, format, oneOf, not, if, dependencies, ...: valijson decides
      }
    }
    if (!constrains) n.always = true;
    std::sort(n.members.begin(), n.members.end(), [](const Node::Member& a, const Node::Member& b) { return a.name < b.name; });
    n.required_count = static_cast<size_t>(std::count_if(n.members.begin(), n.members.end(), [](const Node::Member& m) { return m.required; }));
    return n;
  }

  static Node::Member& MemberNamed(Node* n, const std::string& name) {
    for (Node::Member& m : n->members) {
      if (m.name == name) return m;
    }
    n->members.push_back({name, -1, false});
    return n->members.back();
  }
};

SchemaFastCheck::SchemaFastCheck(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SchemaFastCheck::~SchemaFastCheck() = default;

std::unique_ptr<SchemaFastCheck> SchemaFastCheck::Compile(const json& root, const std::string& root_file, const Loader& load) {
  auto impl = std::make_unique<Impl>();
  impl->docs.emplace(root_file, root);
  impl->load = &load;
  impl->CompileAt(root_file, "");
  impl->load = nullptr;
  if (impl->unresolved) return nullptr;
  return std::unique_ptr<SchemaFastCheck>(new SchemaFastCheck(std::move(impl)));
}

bool SchemaFastCheck::Accepts(const json& doc) const { return impl_->Accepts(0, doc); }

}  // namespace dg
