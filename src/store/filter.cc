// Filter expressions: tokenizer, recursive-descent parser and schema type checks (grammar in filter.h).
#include "doppel/store/filter.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace doppel {
namespace {

struct Token {
  enum Kind { kEnd, kIdent, kInt, kFloat, kString, kOp, kLParen, kRParen, kLBracket, kRBracket, kComma } kind = kEnd;
  std::string text;  // identifier (as written), operator, or decoded string
  int64_t i = 0;
  double d = 0;
  size_t pos = 0;
};

std::string Upper(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return o;
}

class Parser {
 public:
  Parser(std::string_view text, const CollectionSchema& schema) : text_(text), schema_(schema) {}

  Result<std::unique_ptr<FilterNode>> Parse() {
    DOPPEL_RETURN_IF_ERROR(Tokenize());
    if (tokens_.size() == 1) return Err(0, "filter is empty");
    DOPPEL_ASSIGN_OR_RETURN(auto node, ParseOr());
    if (Peek().kind != Token::kEnd) return Err(Peek().pos, "unexpected '" + Show(Peek()) + "' after a complete expression");
    return node;
  }

 private:
  Status Err(size_t pos, const std::string& msg) const {
    return Status::InvalidArgument("filter '" + std::string(text_) + "' in collection '" + schema_.name +
                                   "', at offset " + std::to_string(pos) + ": " + msg);
  }
  static std::string Show(const Token& t) {
    switch (t.kind) {
      case Token::kEnd: return "end of filter";
      case Token::kInt: return std::to_string(t.i);
      case Token::kString: return "'" + t.text + "'";
      default: return t.text;
    }
  }

  Status Tokenize() {
    size_t i = 0, n = text_.size();
    while (true) {
      while (i < n && std::isspace(static_cast<unsigned char>(text_[i]))) ++i;
      Token t;
      t.pos = i;
      if (i >= n) {
        tokens_.push_back(t);
        return Status::OK();
      }
      char c = text_[i];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t j = i;
        while (j < n && (std::isalnum(static_cast<unsigned char>(text_[j])) || text_[j] == '_')) ++j;
        t.kind = Token::kIdent;
        t.text = std::string(text_.substr(i, j - i));
        i = j;
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 ((c == '-' || c == '+' || c == '.') && i + 1 < n &&
                  (std::isdigit(static_cast<unsigned char>(text_[i + 1])) || text_[i + 1] == '.'))) {
        size_t j = i + 1;
        bool is_float = c == '.';
        while (j < n && (std::isalnum(static_cast<unsigned char>(text_[j])) || text_[j] == '.' ||
                         ((text_[j] == '-' || text_[j] == '+') && (text_[j - 1] == 'e' || text_[j - 1] == 'E')))) {
          if (text_[j] == '.' || text_[j] == 'e' || text_[j] == 'E') is_float = true;
          ++j;
        }
        std::string num(text_.substr(i, j - i));
        if (num[0] == '+') num.erase(0, 1);
        if (!is_float) {
          auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), t.i);
          if (ec == std::errc::result_out_of_range) return Err(i, "integer " + num + " is out of the int64 range");
          if (ec != std::errc() || p != num.data() + num.size()) return Err(i, "malformed number '" + num + "'");
          t.kind = Token::kInt;
        } else {
          char* end = nullptr;
          t.d = std::strtod(num.c_str(), &end);
          if (end != num.c_str() + num.size() || !std::isfinite(t.d)) return Err(i, "malformed number '" + num + "'");
          t.kind = Token::kFloat;
        }
        t.text = num;
        i = j;
      } else if (c == '\'' || c == '"') {
        size_t j = i + 1;
        std::string s;
        while (j < n && text_[j] != c) {
          if (text_[j] == '\\' && j + 1 < n) {
            // Keep the escape for LIKE patterns (\% \_ \\); LIKE decodes them itself. Quotes are decoded.
            if (text_[j + 1] == c) { s += c; j += 2; continue; }
            s += text_[j];
            s += text_[j + 1];
            j += 2;
            continue;
          }
          s += text_[j++];
        }
        if (j >= n) return Err(i, "unterminated string");
        t.kind = Token::kString;
        t.text = s;
        i = j + 1;
      } else if (c == '(') { t.kind = Token::kLParen; t.text = "("; ++i; }
      else if (c == ')') { t.kind = Token::kRParen; t.text = ")"; ++i; }
      else if (c == '[') { t.kind = Token::kLBracket; t.text = "["; ++i; }
      else if (c == ']') { t.kind = Token::kRBracket; t.text = "]"; ++i; }
      else if (c == ',') { t.kind = Token::kComma; t.text = ","; ++i; }
      else {
        static const char* ops[] = {"==", "!=", "<>", "<=", ">=", "&&", "||", "<", ">", "=", "!"};
        bool found = false;
        for (const char* op : ops) {
          std::string_view o(op);
          if (text_.substr(i, o.size()) == o) {
            t.kind = Token::kOp;
            t.text = std::string(o);
            i += o.size();
            found = true;
            break;
          }
        }
        if (!found) return Err(i, std::string("unexpected character '") + c + "'");
      }
      tokens_.push_back(t);
    }
  }

  const Token& Peek() const { return tokens_[pos_]; }
  const Token& Next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool IsKeyword(const Token& t, const char* kw) const { return t.kind == Token::kIdent && Upper(t.text) == kw; }
  bool AcceptKeyword(const char* kw) {
    if (IsKeyword(Peek(), kw)) { ++pos_; return true; }
    return false;
  }
  bool AcceptOp(const char* op) {
    if (Peek().kind == Token::kOp && Peek().text == op) { ++pos_; return true; }
    return false;
  }

  Result<std::unique_ptr<FilterNode>> ParseOr() {
    DOPPEL_ASSIGN_OR_RETURN(auto left, ParseAnd());
    if (!(IsKeyword(Peek(), "OR") || (Peek().kind == Token::kOp && Peek().text == "||"))) return left;
    auto node = std::make_unique<FilterNode>();
    node->kind = FilterNode::Kind::kOr;
    node->children.push_back(std::move(left));
    while (AcceptKeyword("OR") || AcceptOp("||")) {
      DOPPEL_ASSIGN_OR_RETURN(auto right, ParseAnd());
      node->children.push_back(std::move(right));
    }
    return node;
  }

  Result<std::unique_ptr<FilterNode>> ParseAnd() {
    DOPPEL_ASSIGN_OR_RETURN(auto left, ParseUnary());
    if (!(IsKeyword(Peek(), "AND") || (Peek().kind == Token::kOp && Peek().text == "&&"))) return left;
    auto node = std::make_unique<FilterNode>();
    node->kind = FilterNode::Kind::kAnd;
    node->children.push_back(std::move(left));
    while (AcceptKeyword("AND") || AcceptOp("&&")) {
      DOPPEL_ASSIGN_OR_RETURN(auto right, ParseUnary());
      node->children.push_back(std::move(right));
    }
    return node;
  }

  Result<std::unique_ptr<FilterNode>> ParseUnary() {
    if (++depth_ > 200) return Err(Peek().pos, "expression nested too deeply");
    struct Leave { int& d; ~Leave() { --d; } } leave{depth_};
    if (AcceptKeyword("NOT") || AcceptOp("!")) {
      DOPPEL_ASSIGN_OR_RETURN(auto child, ParseUnary());
      auto node = std::make_unique<FilterNode>();
      node->kind = FilterNode::Kind::kNot;
      node->children.push_back(std::move(child));
      return node;
    }
    if (Peek().kind == Token::kLParen) {
      ++pos_;
      DOPPEL_ASSIGN_OR_RETURN(auto inner, ParseOr());
      if (Peek().kind != Token::kRParen) return Err(Peek().pos, "expected ')' but found '" + Show(Peek()) + "'");
      ++pos_;
      return inner;
    }
    return ParsePredicate();
  }

  // Resolves a field name to (type, is_id); unknown names are errors listing the fields.
  Status ResolveField(const Token& t, FilterNode* node) {
    if (t.kind != Token::kIdent) return Err(t.pos, "expected a field name but found '" + Show(t) + "'");
    node->field = t.text;
    if (t.text == kIdFieldName) {
      node->is_id = true;
      node->field_type = FieldType::kInt64;
      return Status::OK();
    }
    const FieldSchema* f = schema_.FindField(t.text);
    if (!f) {
      std::string names = "id";
      for (const auto& fs : schema_.fields) names += ", " + fs.name;
      if (t.text == kVectorFieldName) return Err(t.pos, "the vector cannot be used in a filter");
      return Err(t.pos, "unknown field '" + t.text + "' (fields: " + names + ")");
    }
    node->field_type = f->type;
    return Status::OK();
  }

  // Reads a literal and converts it to the field's type.
  Result<FieldValue> ParseLiteral(const FilterNode& node) {
    const Token& t = Next();
    std::string where = "field '" + node.field + "' of type " + FieldTypeName(node.field_type);
    bool is_bool = IsKeyword(t, "TRUE") || IsKeyword(t, "FALSE");
    if (node.kind == FilterNode::Kind::kJsonContains) {
      if (t.kind == Token::kInt) return FieldValue(t.i);
      if (t.kind == Token::kFloat) return FieldValue(t.d);
      if (t.kind == Token::kString) return FieldValue(t.text);
      if (is_bool) return FieldValue(IsKeyword(t, "TRUE"));
      return Err(t.pos, "expected a literal but found '" + Show(t) + "'");
    }
    switch (node.field_type) {
      case FieldType::kInt64:
        if (t.kind == Token::kInt) return FieldValue(t.i);
        break;
      case FieldType::kDouble:
        if (t.kind == Token::kInt) return FieldValue(static_cast<double>(t.i));
        if (t.kind == Token::kFloat) return FieldValue(t.d);
        break;
      case FieldType::kBool:
        if (is_bool) return FieldValue(IsKeyword(t, "TRUE"));
        break;
      case FieldType::kString:
        if (t.kind == Token::kString) return FieldValue(t.text);
        break;
      case FieldType::kJson:
        return Err(t.pos, where + " can only be used with JSON_CONTAINS or IS NULL");
    }
    if (t.kind == Token::kEnd) return Err(t.pos, "expected a value for " + where + " but the filter ended");
    return Err(t.pos, "type mismatch: " + where + " cannot be compared with " + Show(t));
  }

  Result<std::unique_ptr<FilterNode>> ParsePredicate() {
    auto node = std::make_unique<FilterNode>();
    const Token& first = Next();
    if (IsKeyword(first, "JSON_CONTAINS")) {
      node->kind = FilterNode::Kind::kJsonContains;
      if (Next().kind != Token::kLParen) return Err(first.pos, "expected '(' after JSON_CONTAINS");
      DOPPEL_RETURN_IF_ERROR(ResolveField(Next(), node.get()));
      if (node->field_type != FieldType::kJson)
        return Err(first.pos, "JSON_CONTAINS needs a JSON field; '" + node->field + "' is " +
                                  FieldTypeName(node->field_type));
      if (Next().kind != Token::kComma) return Err(Peek().pos, "expected ',' in JSON_CONTAINS");
      DOPPEL_ASSIGN_OR_RETURN(auto v, ParseLiteral(*node));
      node->values.push_back(std::move(v));
      if (Next().kind != Token::kRParen) return Err(Peek().pos, "expected ')' to close JSON_CONTAINS");
      return node;
    }
    DOPPEL_RETURN_IF_ERROR(ResolveField(first, node.get()));
    const Token& t = Peek();
    if (IsKeyword(t, "IS")) {
      ++pos_;
      node->kind = FilterNode::Kind::kIsNull;
      node->negated = AcceptKeyword("NOT");
      if (!AcceptKeyword("NULL")) return Err(Peek().pos, "expected NULL after IS");
      return node;
    }
    bool negated = false;
    if (IsKeyword(t, "NOT")) {
      ++pos_;
      negated = true;
      if (!IsKeyword(Peek(), "IN") && !IsKeyword(Peek(), "LIKE"))
        return Err(Peek().pos, "expected IN or LIKE after NOT but found '" + Show(Peek()) + "'");
    }
    if (AcceptKeyword("IN")) {
      node->kind = FilterNode::Kind::kIn;
      node->negated = negated;
      if (node->field_type == FieldType::kJson) return Err(t.pos, "JSON field '" + node->field + "' cannot be used with IN");
      const Token& open = Next();
      if (open.kind != Token::kLBracket && open.kind != Token::kLParen)
        return Err(open.pos, "expected '[' after IN but found '" + Show(open) + "'");
      Token::Kind close = open.kind == Token::kLBracket ? Token::kRBracket : Token::kRParen;
      if (Peek().kind != close) {
        while (true) {
          DOPPEL_ASSIGN_OR_RETURN(auto v, ParseLiteral(*node));
          node->values.push_back(std::move(v));
          if (Peek().kind == Token::kComma) { ++pos_; continue; }
          break;
        }
      }
      if (Next().kind != close) return Err(tokens_[pos_ - 1].pos, "expected ',' or the end of the IN list");
      return node;
    }
    if (AcceptKeyword("LIKE")) {
      node->kind = FilterNode::Kind::kLike;
      node->negated = negated;
      if (node->field_type != FieldType::kString)
        return Err(t.pos, "LIKE needs a STRING field; '" + node->field + "' is " + FieldTypeName(node->field_type));
      const Token& p = Next();
      if (p.kind != Token::kString) return Err(p.pos, "expected a quoted pattern after LIKE");
      node->pattern = p.text;
      return node;
    }
    if (t.kind != Token::kOp) return Err(t.pos, "expected a comparison, IN, LIKE or IS after '" + node->field +
                                                    "' but found '" + Show(t) + "'");
    ++pos_;
    node->kind = FilterNode::Kind::kCompare;
    if (t.text == "==" || t.text == "=") node->op = CompareOp::kEq;
    else if (t.text == "!=" || t.text == "<>") node->op = CompareOp::kNe;
    else if (t.text == "<") node->op = CompareOp::kLt;
    else if (t.text == "<=") node->op = CompareOp::kLe;
    else if (t.text == ">") node->op = CompareOp::kGt;
    else if (t.text == ">=") node->op = CompareOp::kGe;
    else return Err(t.pos, "unexpected operator '" + t.text + "'");
    if (node->field_type == FieldType::kBool && node->op != CompareOp::kEq && node->op != CompareOp::kNe)
      return Err(t.pos, "BOOL field '" + node->field + "' only supports == and !=");
    DOPPEL_ASSIGN_OR_RETURN(auto v, ParseLiteral(*node));
    node->values.push_back(std::move(v));
    return node;
  }

  std::string_view text_;
  const CollectionSchema& schema_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
};

std::string Quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) {
    if (c == '\'') o += '\\';
    o += c;
  }
  return o + "'";
}

std::string LiteralText(const FieldValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", *d);
    std::string s = buf;
    if (s.find_first_of(".eE") == std::string::npos) s += ".0";
    return s;
  }
  if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto* s = std::get_if<std::string>(&v)) return Quote(*s);
  return "null";
}

}  // namespace

Result<std::unique_ptr<FilterNode>> ParseFilter(std::string_view text, const CollectionSchema& schema) {
  return Parser(text, schema).Parse();
}

std::string FilterNode::ToString() const {
  static const char* ops[] = {"==", "!=", "<", "<=", ">", ">="};
  switch (kind) {
    case Kind::kAnd:
    case Kind::kOr: {
      std::string s = "(";
      for (size_t i = 0; i < children.size(); ++i) {
        if (i) s += kind == Kind::kAnd ? " AND " : " OR ";
        s += children[i]->ToString();
      }
      return s + ")";
    }
    case Kind::kNot: return "NOT " + children[0]->ToString();
    case Kind::kCompare: return field + " " + ops[static_cast<int>(op)] + " " + LiteralText(values[0]);
    case Kind::kIn: {
      std::string s = field + (negated ? " NOT IN [" : " IN [");
      for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + LiteralText(values[i]);
      return s + "]";
    }
    case Kind::kLike: return field + (negated ? " NOT LIKE " : " LIKE ") + Quote(pattern);
    case Kind::kIsNull: return field + (negated ? " IS NOT NULL" : " IS NULL");
    case Kind::kJsonContains: return "JSON_CONTAINS(" + field + ", " + LiteralText(values[0]) + ")";
  }
  return "";
}

bool LikeMatch(std::string_view s, std::string_view p) {
  // Iterative wildcard matching with backtracking to the last '%': O(|s|*|p|) worst case, no recursion.
  size_t si = 0, pi = 0, star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size()) {
      char c = p[pi];
      if (c == '%') { star_p = ++pi; star_s = si; continue; }
      if (c == '\\' && pi + 1 < p.size()) {
        if (p[pi + 1] == s[si]) { pi += 2; ++si; continue; }
      } else if (c == '_' || c == s[si]) { ++pi; ++si; continue; }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

}  // namespace doppel
