// The filter language of FakeMilvus: a hand-written recursive-descent parser for the subset of Milvus's boolean
// expressions a client sends (no library parses Milvus's ANTLR grammar, internal/parser/planparserv2/Plan.g4), and
// an evaluator over one row.
//
// What is implemented, as Plan.g4 and planparserv2 define it:
//  * literals: integers (decimal, octal 0..., hex 0x..., binary 0b...), floats, booleans (exactly true, True, TRUE,
//    false, False, FALSE: any other spelling is an identifier), strings in "..." or '...' with the escapes Go's
//    strconv.Unquote accepts after planparserv2's convertEscapeSingle (\a \b \f \n \r \t \v \\ \' \" \xHH \ooo
//    \uXXXX \UXXXXXXXX; any other escape is an error), raw strings r"..." (no escapes), arrays [..] (trailing comma
//    allowed), unary minus on numbers;
//  * field names (a name that is not a field refers to the dynamic field when the collection has one, and is an
//    error otherwise), JSON paths field["key"][0];
//  * == != < <= > >=, chained ranges `1 < x <= 5`, `in [..]`, `not in [..]`, `like "..."`, `x is null`,
//    `x is not null` (exactly those spellings, or upper case), json_contains / json_contains_all / json_contains_any
//    (and the array_ spellings, on JSON fields), `and`/`AND`/`&&`, `or`/`OR`/`||`, `not`/`NOT`/`!`, parentheses, a
//    Bool field alone as a predicate.
//  * Precedence follows Plan.g4's alternative order: like > unary (not, -) > in > relational > equality > and > or.
//    So `not x == 1` is `(not x) == 1`, an error unless x is Bool: write `not (x == 1)`.
//  * LIKE: `%` matches any sequence, `_` exactly one character (UTF-8 code point), `\` makes the next character
//    literal; the whole value must match. A trailing `\` is refused. That is current Milvus: planparserv2's
//    pattern_match.go (optimizeLikePattern) and segcore's translate_pattern_match_to_regex (common/RegexQuery.cpp).
//    Older 2.4 servers differ: pattern_match.go there turns a pattern whose wildcards are all at the end into a
//    prefix match without removing escapes, so `a\_%` or `ab_` misbehave there. A client that needs a literal `%`,
//    `_` or `\` in a pattern is safer with `==`/`in`. Remember the pattern is first a string literal: the filter
//    text `like "a\\_b"` is the pattern a\_b.
// Not implemented (refused with an error naming the fake): arithmetic and bitwise operators, regex =~ / !~, text_match,
// template placeholders {x}, array_length, exists, Array fields.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "milvus/fake_milvus.h"

namespace doppel::testing::fake_milvus_detail {

using nlohmann::json;

namespace {

// Three-valued logic: a comparison with null is unknown; an unknown filter does not match.
enum class Tri { kFalse, kTrue, kUnknown };

Tri FromBool(bool b) { return b ? Tri::kTrue : Tri::kFalse; }
Tri TriNot(Tri t) { return t == Tri::kUnknown ? t : FromBool(t == Tri::kFalse); }
Tri TriAnd(Tri a, Tri b) {
  if (a == Tri::kFalse || b == Tri::kFalse) return Tri::kFalse;
  if (a == Tri::kUnknown || b == Tri::kUnknown) return Tri::kUnknown;
  return Tri::kTrue;
}
Tri TriOr(Tri a, Tri b) {
  if (a == Tri::kTrue || b == Tri::kTrue) return Tri::kTrue;
  if (a == Tri::kUnknown || b == Tri::kUnknown) return Tri::kUnknown;
  return Tri::kFalse;
}

size_t Utf8Length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0 && lead <= 0xF7) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;  // a stray continuation byte counts as one character
}

// Splits `s` into UTF-8 characters (never past the end of `s`).
std::vector<std::string> Utf8Chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = std::min(Utf8Length(static_cast<unsigned char>(s[i])), s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// One element of a LIKE pattern: a literal character, `%` or `_`.
struct LikeItem {
  enum class Kind { kChar, kAny, kOne } kind;
  std::string text;  // kChar: one UTF-8 character
};

bool CompileLike(const std::string& pattern, std::vector<LikeItem>* out, std::string* error) {
  std::vector<std::string> chars = Utf8Chars(pattern);
  for (size_t i = 0; i < chars.size(); ++i) {
    if (chars[i] == "\\") {
      if (i + 1 == chars.size()) {
        *error = "Invalid LIKE pattern: trailing backslash with nothing to escape";
        return false;
      }
      out->push_back({LikeItem::Kind::kChar, chars[++i]});
    } else if (chars[i] == "%") {
      out->push_back({LikeItem::Kind::kAny, ""});
    } else if (chars[i] == "_") {
      out->push_back({LikeItem::Kind::kOne, ""});
    } else {
      out->push_back({LikeItem::Kind::kChar, chars[i]});
    }
  }
  return true;
}

// Whole-value match; match[i][j]: the first i pattern items match the first j characters.
bool MatchLike(const std::vector<LikeItem>& pattern, const std::string& value) {
  std::vector<std::string> s = Utf8Chars(value);
  std::vector<std::vector<char>> match(pattern.size() + 1, std::vector<char>(s.size() + 1, 0));
  match[0][0] = 1;
  for (size_t i = 1; i <= pattern.size(); ++i) {
    const LikeItem& p = pattern[i - 1];
    for (size_t j = 0; j <= s.size(); ++j) {
      if (p.kind == LikeItem::Kind::kAny) {
        match[i][j] = match[i - 1][j] || (j > 0 && match[i][j - 1]);
      } else if (j > 0) {
        match[i][j] = match[i - 1][j - 1] && (p.kind == LikeItem::Kind::kOne || p.text == s[j - 1]);
      }
    }
  }
  return match[pattern.size()][s.size()];
}

const char* KindName(FieldKind k) {
  switch (k) {
    case FieldKind::kBool: return "Bool";
    case FieldKind::kInt: return "Int64";
    case FieldKind::kFloat: return "Double";
    case FieldKind::kVarChar: return "VarChar";
    case FieldKind::kJson: return "JSON";
    case FieldKind::kVector: return "Vector";
  }
  return "?";
}

const char* LiteralName(const json& v) {
  if (v.is_boolean()) return "Bool";
  if (v.is_number_integer()) return "Int64";
  if (v.is_number()) return "Double";
  if (v.is_string()) return "VarChar";
  if (v.is_array()) return "Array";
  return "?";
}

// --- Lexer ---------------------------------------------------------------------------------------------------------

enum class Tok {
  kEnd,
  kIdent,
  kInt,
  kFloat,
  kString,
  kBool,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kCmp,  // == != < <= > >=
  kAnd,
  kOr,
  kNot,
  kIn,
  kLike,
  kIsNull,
  kIsNotNull,
  kMinus,
  kPlus,
  kUnsupported,  // an operator the fake does not implement (arithmetic, bitwise, regex)
};

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // as written (the operator for kCmp)
  json value;        // literals
};

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes the inside of a quoted string literal as strconv.Unquote does after convertEscapeSingle (utils.go in
// planparserv2): Go's escapes only.
bool Unescape(const std::string& raw, std::string* out, std::string* error) {
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c != '\\') {
      *out += c;
      continue;
    }
    if (++i == raw.size()) break;  // cannot happen: the lexer never ends a string after a lone backslash
    char e = raw[i];
    switch (e) {
      case 'a': *out += '\a'; break;
      case 'b': *out += '\b'; break;
      case 'f': *out += '\f'; break;
      case 'n': *out += '\n'; break;
      case 'r': *out += '\r'; break;
      case 't': *out += '\t'; break;
      case 'v': *out += '\v'; break;
      case '\\': *out += '\\'; break;
      case '\'': *out += '\''; break;
      case '"': *out += '"'; break;
      case 'x': {
        int hi = i + 1 < raw.size() ? HexValue(raw[i + 1]) : -1;
        int lo = i + 2 < raw.size() ? HexValue(raw[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
          *error = "invalid syntax: \\x needs two hex digits";
          return false;
        }
        *out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      case 'u':
      case 'U': {
        size_t n = e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (size_t k = 1; k <= n; ++k) {
          int h = i + k < raw.size() ? HexValue(raw[i + k]) : -1;
          if (h < 0) {
            *error = std::string("invalid syntax: \\") + e + " needs " + std::to_string(n) + " hex digits";
            return false;
          }
          cp = cp * 16 + static_cast<uint32_t>(h);
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
          *error = "invalid syntax: not a Unicode code point";
          return false;
        }
        AppendUtf8(cp, out);
        i += n;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int v = 0;
          for (size_t k = 0; k < 3; ++k) {
            char d = i + k < raw.size() ? raw[i + k] : 'x';
            if (d < '0' || d > '7') {
              *error = "invalid syntax: an octal escape needs three digits";
              return false;
            }
            v = v * 8 + (d - '0');
          }
          if (v > 255) {
            *error = "invalid syntax: octal escape above \\377";
            return false;
          }
          *out += static_cast<char>(v);
          i += 2;
          break;
        }
        *error = std::string("invalid syntax: unknown escape sequence \\") + e;
        return false;
    }
  }
  return true;
}

class Lexer {
 public:
  explicit Lexer(const std::string& text) : s_(text) {}

  bool Run(std::vector<Token>* out, std::string* error) {
    for (;;) {
      while (i_ < s_.size() && std::strchr(" \t\r\n", s_[i_])) ++i_;
      Token t;
      if (i_ == s_.size()) {
        out->push_back(t);
        return true;
      }
      if (!Next(&t, error)) return false;
      out->push_back(std::move(t));
    }
  }

 private:
  bool StartsWordAt(const char* word) const {
    size_t n = std::strlen(word);
    return s_.compare(i_, n, word) == 0 && (i_ + n == s_.size() || !IsIdentChar(s_[i_ + n]));
  }

  bool Next(Token* t, std::string* error) {
    for (const char* w : {"is not null", "IS NOT NULL"}) {
      if (StartsWordAt(w)) {
        t->kind = Tok::kIsNotNull;
        t->text = w;
        i_ += std::strlen(w);
        return true;
      }
    }
    for (const char* w : {"is null", "IS NULL"}) {
      if (StartsWordAt(w)) {
        t->kind = Tok::kIsNull;
        t->text = w;
        i_ += std::strlen(w);
        return true;
      }
    }
    char c = s_[i_];
    if ((c == 'r' || c == 'R') && i_ + 1 < s_.size() && (s_[i_ + 1] == '"' || s_[i_ + 1] == '\'')) {
      ++i_;
      return String(t, /*raw=*/true, error);
    }
    if (c == '"' || c == '\'') return String(t, /*raw=*/false, error);
    if (IsIdentStart(c) || (c == '$' && s_.compare(i_, 5, "$meta") == 0)) return Word(t);
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
      return Number(t, error);
    }
    static const char* const kTwo[] = {"==", "!=", "<=", ">=", "&&", "||", "**", "<<", ">>", "=~", "!~"};
    for (const char* op : kTwo) {
      if (s_.compare(i_, 2, op) == 0) {
        t->text = op;
        i_ += 2;
        std::string o = op;
        if (o == "&&") t->kind = Tok::kAnd;
        else if (o == "||") t->kind = Tok::kOr;
        else if (o == "==" || o == "!=" || o == "<=" || o == ">=") t->kind = Tok::kCmp;
        else t->kind = Tok::kUnsupported;
        return true;
      }
    }
    t->text = std::string(1, c);
    ++i_;
    switch (c) {
      case '(': t->kind = Tok::kLParen; return true;
      case ')': t->kind = Tok::kRParen; return true;
      case '[': t->kind = Tok::kLBracket; return true;
      case ']': t->kind = Tok::kRBracket; return true;
      case ',': t->kind = Tok::kComma; return true;
      case '<':
      case '>': t->kind = Tok::kCmp; return true;
      case '!': t->kind = Tok::kNot; return true;
      case '-': t->kind = Tok::kMinus; return true;
      case '+': t->kind = Tok::kPlus; return true;
      case '*':
      case '/':
      case '%':
      case '&':
      case '|':
      case '^':
      case '~': t->kind = Tok::kUnsupported; return true;
      default: break;
    }
    *error = "token recognition error at: '" + t->text + "'";
    return false;
  }

  bool Word(Token* t) {
    size_t start = i_;
    if (s_[i_] == '$') i_ += 5;
    while (i_ < s_.size() && IsIdentChar(s_[i_])) ++i_;
    t->text = s_.substr(start, i_ - start);
    const std::string& w = t->text;
    if (w == "and" || w == "AND") t->kind = Tok::kAnd;
    else if (w == "or" || w == "OR") t->kind = Tok::kOr;
    else if (w == "not" || w == "NOT") t->kind = Tok::kNot;
    else if (w == "in" || w == "IN") t->kind = Tok::kIn;
    else if (w == "like" || w == "LIKE") t->kind = Tok::kLike;
    else if (w == "true" || w == "True" || w == "TRUE") t->kind = Tok::kBool, t->value = true;
    else if (w == "false" || w == "False" || w == "FALSE") t->kind = Tok::kBool, t->value = false;
    else t->kind = Tok::kIdent;
    return true;
  }

  bool Number(Token* t, std::string* error) {
    size_t start = i_;
    if (s_[i_] == '0' && i_ + 1 < s_.size() && std::strchr("xXbB", s_[i_ + 1])) {
      int base = (s_[i_ + 1] == 'x' || s_[i_ + 1] == 'X') ? 16 : 2;
      i_ += 2;
      size_t digits = i_;
      while (i_ < s_.size() && IsIdentChar(s_[i_])) ++i_;
      t->text = s_.substr(start, i_ - start);
      return Integer(t, s_.substr(digits, i_ - digits), base, error);
    }
    bool is_float = false;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (i_ < s_.size() && s_[i_] == '.') {
      is_float = true;
      ++i_;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      size_t e = i_ + 1;
      if (e < s_.size() && (s_[e] == '+' || s_[e] == '-')) ++e;
      if (e < s_.size() && std::isdigit(static_cast<unsigned char>(s_[e]))) {
        is_float = true;
        i_ = e;
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
      }
    }
    t->text = s_.substr(start, i_ - start);
    if (i_ < s_.size() && IsIdentStart(s_[i_])) {
      *error = "token recognition error at: '" + t->text + s_[i_] + "'";
      return false;
    }
    if (is_float) {
      t->kind = Tok::kFloat;
      t->value = std::strtod(t->text.c_str(), nullptr);
      return true;
    }
    if (t->text.size() > 1 && t->text[0] == '0') return Integer(t, t->text.substr(1), 8, error);
    return Integer(t, t->text, 10, error);
  }

  bool Integer(Token* t, const std::string& digits, int base, std::string* error) {
    errno = 0;
    char* end = nullptr;
    long long v = digits.empty() ? -1 : std::strtoll(digits.c_str(), &end, base);
    if (digits.empty() || *end != '\0' || errno == ERANGE || v < 0) {
      *error = "invalid integer literal " + t->text;
      return false;
    }
    t->kind = Tok::kInt;
    t->value = static_cast<int64_t>(v);
    return true;
  }

  bool String(Token* t, bool raw, std::string* error) {
    char quote = s_[i_++];
    std::string body;
    for (;;) {
      if (i_ >= s_.size() || s_[i_] == '\n' || s_[i_] == '\r') {
        *error = "token recognition error: unterminated string literal";
        return false;
      }
      char c = s_[i_++];
      if (c == quote) break;
      body += c;
      if (c == '\\') {
        if (i_ >= s_.size()) continue;  // reported as unterminated on the next turn
        body += s_[i_++];
      }
    }
    t->kind = Tok::kString;
    t->text = body;
    if (raw) {
      t->value = body;
      return true;
    }
    std::string decoded;
    if (!Unescape(body, &decoded, error)) return false;
    t->value = decoded;
    return true;
  }

  const std::string& s_;
  size_t i_ = 0;
};

}  // namespace

// --- The tree ------------------------------------------------------------------------------------------------------

// A field as a filter names it.
struct FieldRef {
  std::string name;
  bool dynamic = false;    // a key of the dynamic field ($meta)
  std::vector<json> path;  // JSON path after the name: keys (strings) and indexes (integers)
  FieldKind kind = FieldKind::kJson;
};

struct FilterNode {
  enum class Op { kAnd, kOr, kNot, kCompare, kCompareFields, kIn, kLike, kIsNull, kContains, kBoolField };
  Op op = Op::kAnd;
  std::shared_ptr<const FilterNode> left, right;  // kAnd, kOr; kNot uses left
  FieldRef field, field2;                         // field2: kCompareFields
  std::string cmp;                                // kCompare, kCompareFields: == != < <= > >=
  json value;                                     // kCompare: the literal; kIn: the list; kContains: the argument
  bool negate = false;                            // kIn: not in; kIsNull: is not null
  int contains_mode = 0;                          // kContains: 0 = contains, 1 = contains_all, 2 = contains_any
  std::vector<LikeItem> pattern;                  // kLike
};

namespace {

using NodePtr = std::shared_ptr<const FilterNode>;

// A sub-expression while parsing: a literal, a field, or a predicate.
struct Term {
  enum class Kind { kLiteral, kField, kPredicate } kind = Kind::kLiteral;
  json literal;
  FieldRef field;
  NodePtr pred;
};

std::string Flip(const std::string& op) {
  if (op == "<") return ">";
  if (op == "<=") return ">=";
  if (op == ">") return "<";
  if (op == ">=") return "<=";
  return op;
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const FilterSchema& schema) : t_(std::move(tokens)), schema_(schema) {}

  bool Parse(NodePtr* root, std::string* error) {
    Term term;
    bool ok = ParseOr(&term) && ToPredicate(&term, "the expression");
    if (ok && Peek().kind != Tok::kEnd) ok = Unexpected();
    if (!ok) {
      *error = error_;
      return false;
    }
    *root = term.pred;
    return true;
  }

 private:
  const Token& Peek(size_t k = 0) const { return t_[std::min(pos_ + k, t_.size() - 1)]; }
  const Token& Take() { return t_[std::min(pos_++, t_.size() - 1)]; }
  bool Fail(const std::string& message) {
    if (error_.empty()) error_ = message;
    return false;
  }
  bool Unexpected() {
    const Token& t = Peek();
    if (t.kind == Tok::kUnsupported || t.kind == Tok::kMinus || t.kind == Tok::kPlus) {
      return Fail("operator '" + t.text + "' (arithmetic, bitwise or regex) is not supported by the fake");
    }
    if (t.kind == Tok::kEnd) return Fail("mismatched input '<EOF>'");
    return Fail("mismatched input '" + t.text + "'");
  }

  static NodePtr Binary(FilterNode::Op op, NodePtr l, NodePtr r) {
    auto n = std::make_shared<FilterNode>();
    n->op = op;
    n->left = std::move(l);
    n->right = std::move(r);
    return n;
  }

  // A Bool field alone is a predicate; anything else that is not a predicate is refused.
  bool ToPredicate(Term* t, const std::string& what) {
    if (t->kind == Term::Kind::kPredicate) return true;
    if (t->kind == Term::Kind::kField && t->field.kind == FieldKind::kBool && t->field.path.empty()) {
      auto n = std::make_shared<FilterNode>();
      n->op = FilterNode::Op::kBoolField;
      n->field = t->field;
      t->kind = Term::Kind::kPredicate;
      t->pred = n;
      return true;
    }
    return Fail(what + " is not a boolean expression");
  }

  bool ParseOr(Term* out) {
    if (!ParseAnd(out)) return false;
    while (Peek().kind == Tok::kOr) {
      Take();
      Term r;
      if (!ParseAnd(&r) || !ToPredicate(out, "the left side of 'or'") || !ToPredicate(&r, "the right side of 'or'")) {
        return false;
      }
      out->pred = Binary(FilterNode::Op::kOr, out->pred, r.pred);
    }
    return true;
  }

  bool ParseAnd(Term* out) {
    if (!ParseEquality(out)) return false;
    while (Peek().kind == Tok::kAnd) {
      Take();
      Term r;
      if (!ParseEquality(&r) || !ToPredicate(out, "the left side of 'and'") ||
          !ToPredicate(&r, "the right side of 'and'")) {
        return false;
      }
      out->pred = Binary(FilterNode::Op::kAnd, out->pred, r.pred);
    }
    return true;
  }

  bool ParseEquality(Term* out) {
    if (!ParseRelational(out)) return false;
    while (Peek().kind == Tok::kCmp && (Peek().text == "==" || Peek().text == "!=")) {
      std::string op = Take().text;
      Term r;
      if (!ParseRelational(&r) || !Compare(*out, op, r, out)) return false;
    }
    return true;
  }

  static bool IsRelational(const Token& t) { return t.kind == Tok::kCmp && t.text != "==" && t.text != "!="; }

  // a < b, and Plan.g4's Range form `lit <(=) field <(=) lit` (or with > / >=).
  bool ParseRelational(Term* out) {
    if (!ParseIn(out)) return false;
    if (!IsRelational(Peek())) return true;
    std::string op = Take().text;
    Term mid;
    if (!ParseIn(&mid)) return false;
    if (!IsRelational(Peek())) return Compare(*out, op, mid, out);
    std::string op2 = Take().text;
    Term hi;
    if (!ParseIn(&hi)) return false;
    if (out->kind != Term::Kind::kLiteral || mid.kind != Term::Kind::kField || hi.kind != Term::Kind::kLiteral) {
      return Fail("a range expression must be <constant> " + op + " <field> " + op2 + " <constant>");
    }
    if ((op[0] == '<') != (op2[0] == '<')) return Fail("the operators of a range expression must point the same way");
    Term lower, upper;
    if (!Compare(*out, op, mid, &lower) || !Compare(mid, op2, hi, &upper)) return false;
    out->kind = Term::Kind::kPredicate;
    out->pred = Binary(FilterNode::Op::kAnd, lower.pred, upper.pred);
    if (IsRelational(Peek())) return Fail("a range expression has exactly two operators");
    return true;
  }

  // field in [...], field not in [...].
  bool ParseIn(Term* out) {
    if (!ParseUnary(out)) return false;
    bool negate = Peek().kind == Tok::kNot && Peek(1).kind == Tok::kIn;
    if (!negate && Peek().kind != Tok::kIn) return true;
    Take();
    if (negate) Take();
    Term list;
    if (!ParseUnary(&list)) return false;
    if (out->kind != Term::Kind::kField) return Fail("the left side of 'in' must be a field");
    if (list.kind != Term::Kind::kLiteral || !list.literal.is_array()) {
      return Fail("the right side of 'in' must be an array of constants");
    }
    for (const json& v : list.literal) {
      if (!CheckOperand(out->field, "==", v)) return false;
    }
    auto n = std::make_shared<FilterNode>();
    n->op = FilterNode::Op::kIn;
    n->field = out->field;
    n->value = list.literal;
    n->negate = negate;
    out->kind = Term::Kind::kPredicate;
    out->pred = n;
    return true;
  }

  bool ParseUnary(Term* out) {
    Tok k = Peek().kind;
    if (k == Tok::kNot) {
      Take();
      if (!ParseUnary(out)) return false;
      if (!ToPredicate(out, "the operand of 'not'")) {
        error_ = "not op can only be applied on boolean expression";
        return false;
      }
      auto n = std::make_shared<FilterNode>();
      n->op = FilterNode::Op::kNot;
      n->left = out->pred;
      out->pred = n;
      return true;
    }
    if (k == Tok::kMinus || k == Tok::kPlus) {
      Take();
      if (!ParseUnary(out)) return false;
      if (out->kind != Term::Kind::kLiteral || !out->literal.is_number()) {
        return Fail("operator '" + std::string(k == Tok::kMinus ? "-" : "+") +
                    "' on a field (arithmetic) is not supported by the fake");
      }
      if (k == Tok::kMinus) {
        if (out->literal.is_number_integer()) out->literal = -out->literal.get<int64_t>();
        else out->literal = -out->literal.get<double>();
      }
      return true;
    }
    return ParseLike(out);
  }

  bool ParseLike(Term* out) {
    if (!ParsePrimary(out)) return false;
    if (Peek().kind != Tok::kLike) return true;
    Take();
    Term pattern;
    if (!ParsePrimary(&pattern)) return false;
    if (out->kind != Term::Kind::kField ||
        (out->field.kind != FieldKind::kVarChar && out->field.kind != FieldKind::kJson)) {
      return Fail("like operation on non-string or no-json field is unsupported");
    }
    if (pattern.kind != Term::Kind::kLiteral || !pattern.literal.is_string()) {
      return Fail("the pattern of like must be a string");
    }
    auto n = std::make_shared<FilterNode>();
    n->op = FilterNode::Op::kLike;
    n->field = out->field;
    if (!CompileLike(pattern.literal.get<std::string>(), &n->pattern, &error_)) return false;
    out->kind = Term::Kind::kPredicate;
    out->pred = n;
    return true;
  }

  bool ParsePrimary(Term* out) {
    const Token& t = Peek();
    switch (t.kind) {
      case Tok::kInt:
      case Tok::kFloat:
      case Tok::kString:
      case Tok::kBool:
        out->kind = Term::Kind::kLiteral;
        out->literal = Take().value;
        return true;
      case Tok::kLParen: {
        Take();
        if (!ParseOr(out)) return false;
        if (Peek().kind != Tok::kRParen) return Unexpected();
        Take();
        return true;
      }
      case Tok::kLBracket: return ParseArray(out);
      case Tok::kIdent: return ParseName(out);
      default: return Unexpected();
    }
  }

  bool ParseArray(Term* out) {
    Take();  // [
    json list = json::array();
    while (Peek().kind != Tok::kRBracket) {
      Term e;
      if (!ParseUnary(&e)) return false;
      if (e.kind != Term::Kind::kLiteral) return Fail("array elements must be constants");
      list.push_back(e.literal);
      if (Peek().kind == Tok::kComma) {
        Take();
      } else if (Peek().kind != Tok::kRBracket) {
        return Unexpected();
      }
    }
    Take();  // ]
    out->kind = Term::Kind::kLiteral;
    out->literal = std::move(list);
    return true;
  }

  // A field (with a JSON path), `field is [not] null`, or a function call.
  bool ParseName(Term* out) {
    std::string name = Take().text;
    if (Peek().kind == Tok::kLParen) return ParseCall(name, out);
    FieldRef f;
    if (!Resolve(name, &f)) return false;
    while (Peek().kind == Tok::kLBracket && (Peek(1).kind == Tok::kString || Peek(1).kind == Tok::kInt) &&
           Peek(2).kind == Tok::kRBracket) {
      if (f.kind != FieldKind::kJson) return Fail("field " + name + " is not a JSON field: it has no path");
      Take();
      f.path.push_back(Take().value);
      Take();
    }
    if (Peek().kind == Tok::kIsNull || Peek().kind == Tok::kIsNotNull) {
      auto n = std::make_shared<FilterNode>();
      n->op = FilterNode::Op::kIsNull;
      n->field = f;
      n->negate = Take().kind == Tok::kIsNotNull;
      out->kind = Term::Kind::kPredicate;
      out->pred = n;
      return true;
    }
    out->kind = Term::Kind::kField;
    out->field = std::move(f);
    return true;
  }

  bool Resolve(const std::string& name, FieldRef* f) {
    f->name = name;
    auto it = schema_.fields.find(name);
    if (it != schema_.fields.end()) {
      f->kind = it->second;
      return true;
    }
    if (schema_.dynamic) {
      f->dynamic = name != "$meta";
      f->kind = FieldKind::kJson;
      return true;
    }
    return Fail("field " + name + " not exist");
  }

  // json_contains(field, value), json_contains_all(field, [..]), json_contains_any(field, [..]), and array_*.
  bool ParseCall(const std::string& name, Term* out) {
    static const std::map<std::string, int> kModes = {
        {"json_contains", 0},     {"JSON_CONTAINS", 0},     {"array_contains", 0},     {"ARRAY_CONTAINS", 0},
        {"json_contains_all", 1}, {"JSON_CONTAINS_ALL", 1}, {"array_contains_all", 1}, {"ARRAY_CONTAINS_ALL", 1},
        {"json_contains_any", 2}, {"JSON_CONTAINS_ANY", 2}, {"array_contains_any", 2}, {"ARRAY_CONTAINS_ANY", 2}};
    auto mode = kModes.find(name);
    if (mode == kModes.end()) return Fail("function " + name + " is not supported by the fake");
    Take();  // (
    Term field, value;
    if (!ParseOr(&field)) return false;
    if (Peek().kind != Tok::kComma) return Unexpected();
    Take();
    if (!ParseOr(&value)) return false;
    if (Peek().kind != Tok::kRParen) return Unexpected();
    Take();
    if (field.kind != Term::Kind::kField || field.field.kind != FieldKind::kJson) {
      return Fail(name + " operation on a non-JSON field is not supported (Array fields are not in the fake)");
    }
    if (value.kind != Term::Kind::kLiteral) return Fail("the second argument of " + name + " must be a constant");
    if (mode->second != 0 && !value.literal.is_array()) {
      return Fail(name + " operation element must be an array");
    }
    auto n = std::make_shared<FilterNode>();
    n->op = FilterNode::Op::kContains;
    n->field = field.field;
    n->value = value.literal;
    n->contains_mode = mode->second;
    out->kind = Term::Kind::kPredicate;
    out->pred = n;
    return true;
  }

  // Whether a constant may be compared with a field.
  bool CheckOperand(const FieldRef& f, const std::string& op, const json& v) {
    bool ok = false;
    switch (f.kind) {
      case FieldKind::kBool: ok = v.is_boolean() && (op == "==" || op == "!="); break;
      case FieldKind::kInt:
      case FieldKind::kFloat: ok = v.is_number(); break;
      case FieldKind::kVarChar: ok = v.is_string(); break;
      case FieldKind::kJson: ok = !v.is_null(); break;
      case FieldKind::kVector: return Fail("vector field " + f.name + " cannot be used in a filter");
    }
    if (ok) return true;
    if (f.kind == FieldKind::kBool && v.is_boolean()) return Fail(op + " is not supported on Bool field " + f.name);
    return Fail(std::string("comparisons between ") + KindName(f.kind) + " and " + LiteralName(v) +
                " are not supported");
  }

  bool Compare(const Term& l, const std::string& op, const Term& r, Term* out) {
    auto n = std::make_shared<FilterNode>();
    n->cmp = op;
    if (l.kind == Term::Kind::kPredicate || r.kind == Term::Kind::kPredicate) {
      return Fail("comparing a boolean expression (" + op + ") is not supported");
    }
    if (l.kind == Term::Kind::kField && r.kind == Term::Kind::kField) {
      bool numeric = [](FieldKind k) { return k == FieldKind::kInt || k == FieldKind::kFloat; }(l.field.kind) &&
                     [](FieldKind k) { return k == FieldKind::kInt || k == FieldKind::kFloat; }(r.field.kind);
      if (l.field.kind == FieldKind::kVector || r.field.kind == FieldKind::kVector ||
          (!numeric && l.field.kind != r.field.kind)) {
        return Fail(std::string("comparisons between ") + KindName(l.field.kind) + " and " + KindName(r.field.kind) +
                    " are not supported");
      }
      n->op = FilterNode::Op::kCompareFields;
      n->field = l.field;
      n->field2 = r.field;
    } else if (l.kind == Term::Kind::kField || r.kind == Term::Kind::kField) {
      const Term& f = l.kind == Term::Kind::kField ? l : r;
      const Term& v = l.kind == Term::Kind::kField ? r : l;
      n->op = FilterNode::Op::kCompare;
      n->field = f.field;
      n->value = v.literal;
      if (&f == &r) n->cmp = Flip(op);
      if (!CheckOperand(n->field, n->cmp, n->value)) return false;
    } else {
      return Fail("comparisons between two constants are not supported");
    }
    out->kind = Term::Kind::kPredicate;
    out->pred = n;
    return true;
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
  const FilterSchema& schema_;
  std::string error_;
};

// --- Evaluation ----------------------------------------------------------------------------------------------------

// The value a field reference names in `row`; null when the field, key or index is missing.
const json* Lookup(const FieldRef& f, const json& row) {
  static const json kNull;
  const json* v = &row;
  if (f.dynamic) {
    auto meta = row.find("$meta");
    if (meta == row.end()) return &kNull;
    v = &*meta;
  }
  auto it = v->find(f.name);
  if (it == v->end()) return &kNull;
  v = &*it;
  for (const json& step : f.path) {
    if (step.is_string() && v->is_object()) {
      auto next = v->find(step.get<std::string>());
      if (next == v->end()) return &kNull;
      v = &*next;
    } else if (step.is_number_integer() && v->is_array() && step.get<int64_t>() >= 0 &&
               static_cast<size_t>(step.get<int64_t>()) < v->size()) {
      v = &(*v)[static_cast<size_t>(step.get<int64_t>())];
    } else {
      return &kNull;
    }
  }
  return v;
}

template <typename T>
bool Ordered(const T& a, const T& b, const std::string& op) {
  if (op == "==") return a == b;
  if (op == "!=") return !(a == b);
  if (op == "<") return a < b;
  if (op == "<=") return !(b < a);
  if (op == ">") return b < a;
  return !(a < b);  // >=
}

// Compares two non-null values. Values of different types (only possible through JSON) do not match, whatever op.
Tri CompareValues(const json& a, const std::string& op, const json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_integer() && b.is_number_integer())
      return FromBool(Ordered(a.get<int64_t>(), b.get<int64_t>(), op));
    return FromBool(Ordered(a.get<double>(), b.get<double>(), op));
  }
  if (a.is_string() && b.is_string())
    return FromBool(Ordered(a.get_ref<const std::string&>(), b.get_ref<const std::string&>(), op));
  if (a.is_boolean() && b.is_boolean()) {
    if (op == "==") return FromBool(a == b);
    if (op == "!=") return FromBool(a != b);
    return Tri::kFalse;
  }
  if (a.is_array() && b.is_array() && (op == "==" || op == "!=")) return FromBool((a == b) == (op == "=="));
  return Tri::kFalse;
}

bool JsonEqual(const json& a, const json& b) { return CompareValues(a, "==", b) == Tri::kTrue; }

bool ArrayHas(const json& array, const json& v) {
  for (const json& e : array) {
    if (JsonEqual(e, v)) return true;
  }
  return false;
}

Tri Eval(const FilterNode& n, const json& row) {
  switch (n.op) {
    case FilterNode::Op::kAnd: return TriAnd(Eval(*n.left, row), Eval(*n.right, row));
    case FilterNode::Op::kOr: return TriOr(Eval(*n.left, row), Eval(*n.right, row));
    case FilterNode::Op::kNot: return TriNot(Eval(*n.left, row));
    case FilterNode::Op::kBoolField: {
      const json& v = *Lookup(n.field, row);
      if (v.is_null()) return Tri::kUnknown;
      return FromBool(v.is_boolean() && v.get<bool>());
    }
    case FilterNode::Op::kCompare: {
      const json& v = *Lookup(n.field, row);
      if (v.is_null()) return Tri::kUnknown;
      return CompareValues(v, n.cmp, n.value);
    }
    case FilterNode::Op::kCompareFields: {
      const json& a = *Lookup(n.field, row);
      const json& b = *Lookup(n.field2, row);
      if (a.is_null() || b.is_null()) return Tri::kUnknown;
      return CompareValues(a, n.cmp, b);
    }
    case FilterNode::Op::kIn: {
      const json& v = *Lookup(n.field, row);
      if (v.is_null()) return Tri::kUnknown;
      bool found = ArrayHas(n.value, v);
      return FromBool(found != n.negate);
    }
    case FilterNode::Op::kLike: {
      const json& v = *Lookup(n.field, row);
      if (v.is_null()) return Tri::kUnknown;
      return FromBool(v.is_string() && MatchLike(n.pattern, v.get_ref<const std::string&>()));
    }
    case FilterNode::Op::kIsNull: return FromBool(Lookup(n.field, row)->is_null() != n.negate);
    case FilterNode::Op::kContains: {
      const json& v = *Lookup(n.field, row);
      if (v.is_null()) return Tri::kUnknown;
      if (!v.is_array()) return Tri::kFalse;
      if (n.contains_mode == 0) return FromBool(ArrayHas(v, n.value));
      bool all = true, any = false;
      for (const json& want : n.value) {
        bool has = ArrayHas(v, want);
        all = all && has;
        any = any || has;
      }
      return FromBool(n.contains_mode == 1 ? all : any);
    }
  }
  return Tri::kUnknown;
}

}  // namespace

bool Filter::Parse(const std::string& text, const FilterSchema& schema, Filter* out, std::string* error) {
  out->root_.reset();
  bool blank = text.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank) return true;
  std::vector<Token> tokens;
  if (!Lexer(text).Run(&tokens, error)) return false;
  Parser parser(std::move(tokens), schema);
  return parser.Parse(&out->root_, error);
}

bool Filter::Matches(const json& row) const { return !root_ || Eval(*root_, row) == Tri::kTrue; }

bool Filter::IsPrimaryKeyTerm(const std::string& pk_field) const {
  if (!root_) return false;
  const FilterNode& n = *root_;
  bool pk = !n.field.dynamic && n.field.path.empty() && n.field.name == pk_field;
  return pk && ((n.op == FilterNode::Op::kCompare && n.cmp == "==") || (n.op == FilterNode::Op::kIn && !n.negate));
}

}  // namespace doppel::testing::fake_milvus_detail
