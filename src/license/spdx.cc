#include "license/spdx.h"

#include <cctype>

namespace dg {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  StatusOr<std::vector<SpdxAlternative>> Run() {
    auto r = Or();
    if (!r.ok()) return r;
    Skip();
    if (pos_ != s_.size()) return Error("expected AND, OR or the end of the expression");
    return r;
  }

 private:
  Status Error(const std::string& what) {
    return Status::InvalidInput("SPDX expression \"" + std::string(s_) + "\" at character " + std::to_string(pos_ + 1) +
                                ": " + what);
  }
  void Skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool Keyword(std::string_view kw) {
    Skip();
    if (s_.substr(pos_, kw.size()) != kw) return false;
    size_t end = pos_ + kw.size();
    if (end < s_.size() && !std::isspace(static_cast<unsigned char>(s_[end])) && s_[end] != '(' && s_[end] != ')') {
      return false;
    }
    pos_ = end;
    return true;
  }
  std::string Id() {
    Skip();
    size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-' || s_[pos_] == '.' ||
                                s_[pos_] == '_' || s_[pos_] == ':')) {
      ++pos_;
    }
    return std::string(s_.substr(start, pos_ - start));
  }

  // or := and ("OR" and)*
  StatusOr<std::vector<SpdxAlternative>> Or() {
    DG_ASSIGN_OR_RETURN(auto left, And());
    while (Keyword("OR")) {
      DG_ASSIGN_OR_RETURN(auto right, And());
      left.insert(left.end(), right.begin(), right.end());
    }
    return left;
  }
  // and := atom ("AND" atom)*   — the cross product of alternatives
  StatusOr<std::vector<SpdxAlternative>> And() {
    DG_ASSIGN_OR_RETURN(auto left, Atom());
    while (Keyword("AND")) {
      DG_ASSIGN_OR_RETURN(auto right, Atom());
      std::vector<SpdxAlternative> out;
      for (const auto& l : left) {
        for (const auto& r : right) {
          SpdxAlternative a = l;
          a.licenses.insert(a.licenses.end(), r.licenses.begin(), r.licenses.end());
          a.exceptions.insert(a.exceptions.end(), r.exceptions.begin(), r.exceptions.end());
          out.push_back(std::move(a));
        }
      }
      if (out.size() > 256) return Error("expression expands to too many alternatives");
      left = std::move(out);
    }
    return left;
  }
  // atom := "(" or ")" | id ["+"] ["WITH" id]
  StatusOr<std::vector<SpdxAlternative>> Atom() {
    Skip();
    if (pos_ < s_.size() && s_[pos_] == '(') {
      ++pos_;
      if (++depth_ > 32) return Error("parentheses nested too deeply");
      DG_ASSIGN_OR_RETURN(auto inner, Or());
      --depth_;
      Skip();
      if (pos_ >= s_.size() || s_[pos_] != ')') return Error("expected ')'");
      ++pos_;
      return inner;
    }
    const size_t at = pos_;
    std::string id = Id();
    if (id.empty()) return Error("expected a license id, LicenseRef-… or '('");
    if (id == "AND" || id == "OR" || id == "WITH") {
      pos_ = at;
      return Error("expected a license id before " + id);
    }
    if (pos_ < s_.size() && s_[pos_] == '+') ++pos_;
    SpdxAlternative a;
    a.licenses.push_back(id);
    if (Keyword("WITH")) {
      std::string ex = Id();
      if (ex.empty()) return Error("expected an exception id after WITH");
      a.exceptions.push_back(ex);
    }
    return std::vector<SpdxAlternative>{a};
  }

  std::string_view s_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

StatusOr<std::vector<SpdxAlternative>> ParseSpdxExpression(std::string_view expr) { return Parser(expr).Run(); }

}  // namespace dg
