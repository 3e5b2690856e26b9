#include "milvus/expr.h"

#include <cmath>
#include <cstdio>

namespace doppel::milvus {
namespace {

Result<std::string> Literal(const FieldValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) {
    if (!std::isfinite(*d)) return Status::InvalidArgument("a filter number must be finite");
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", *d);
    std::string s = buf;
    if (s.find_first_of(".eE") == std::string::npos) s += ".0";  // stays a float literal
    return s;
  }
  if (auto* b = std::get_if<bool>(&v)) return std::string(*b ? "true" : "false");
  if (auto* s = std::get_if<std::string>(&v)) return QuoteString(*s);
  return Status::InvalidArgument("a filter literal cannot be null");
}

// doppel's LIKE (% any run, _ one character, \ escapes) as Milvus's `like`. Milvus 2.4's `like` knows only `%`
// as a prefix, infix or suffix wildcard; `_` and escapes are not portable across Milvus versions, so patterns that
// need them are refused rather than silently matching something else.
Result<std::string> LikePattern(const std::string& p) {
  std::string out;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 < p.size() && (p[i + 1] == '%' || p[i + 1] == '_' || p[i + 1] == '\\'))
        return Status::Unsupported("LIKE pattern '" + p + "': escaped wildcards are not supported by Milvus");
      continue;
    }
    if (c == '_')
      return Status::Unsupported("LIKE pattern '" + p + "': '_' (one character) is not supported by Milvus; use %");
    out += c;
  }
  return QuoteString(out);
}

}  // namespace

std::string QuoteString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

Result<std::string> ToMilvusExpr(const FilterNode& n) {
  static const char* ops[] = {"==", "!=", "<", "<=", ">", ">="};
  using Kind = FilterNode::Kind;
  switch (n.kind) {
    case Kind::kAnd:
    case Kind::kOr: {
      std::string s = "(";
      for (size_t i = 0; i < n.children.size(); ++i) {
        DOPPEL_ASSIGN_OR_RETURN(std::string c, ToMilvusExpr(*n.children[i]));
        s += (i ? (n.kind == Kind::kAnd ? " and " : " or ") : "") + c;
      }
      return s + ")";
    }
    case Kind::kNot: {
      DOPPEL_ASSIGN_OR_RETURN(std::string c, ToMilvusExpr(*n.children[0]));
      return "not (" + c + ")";
    }
    case Kind::kCompare: {
      DOPPEL_ASSIGN_OR_RETURN(std::string v, Literal(n.values[0]));
      return n.field + " " + ops[static_cast<int>(n.op)] + " " + v;
    }
    case Kind::kIn: {
      std::string s = n.field + (n.negated ? " not in [" : " in [");
      for (size_t i = 0; i < n.values.size(); ++i) {
        DOPPEL_ASSIGN_OR_RETURN(std::string v, Literal(n.values[i]));
        s += (i ? ", " : "") + v;
      }
      return s + "]";
    }
    case Kind::kLike: {
      DOPPEL_ASSIGN_OR_RETURN(std::string p, LikePattern(n.pattern));
      return n.negated ? "not (" + n.field + " like " + p + ")" : n.field + " like " + p;
    }
    case Kind::kIsNull: return n.field + (n.negated ? " is not null" : " is null");
    case Kind::kJsonContains: {
      DOPPEL_ASSIGN_OR_RETURN(std::string v, Literal(n.values[0]));
      return "json_contains(" + n.field + ", " + v + ")";
    }
  }
  return Status::Internal("unknown filter node");
}

}  // namespace doppel::milvus
