// Filter expressions over a collection's scalar fields: a small grammar of our own, parsed into a tree and checked
// against the schema. A filter is never pasted into SQL or any other language as text; backends evaluate the tree
// (the embedded store) or re-emit it from the tree (a remote one).
//
// Grammar (keywords case-insensitive; `&&`, `||`, `!` are synonyms of AND, OR, NOT):
//   expr       := or
//   or         := and ( OR and )*
//   and        := unary ( AND unary )*
//   unary      := NOT unary | '(' expr ')' | predicate
//   predicate  := field cmp literal            cmp: == = != <> < <= > >=
//               | field [NOT] IN '[' literal (',' literal)* ']'     (also with '(' ... ')')
//               | field [NOT] LIKE 'pattern'   % = any run of characters, _ = one character, \ escapes
//               | field IS [NOT] NULL
//               | JSON_CONTAINS '(' field ',' literal ')'           JSON array field holds the literal
//   literal    := integer | decimal | 'string' | "string" | TRUE | FALSE
//   field      := identifier: a scalar field of the schema, or `id`
// Type rules: int64 fields and `id` take integer literals; double fields integer or decimal ones; bool fields TRUE or
// FALSE with == and !=; string fields strings; JSON fields only JSON_CONTAINS and IS NULL. A comparison with a NULL
// value is false (also under NOT, as in SQL three-valued logic, NOT of unknown is unknown).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/store/schema.h"
#include "doppel/util/status.h"

namespace doppel {

enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe };

struct FilterNode {
  enum class Kind { kAnd, kOr, kNot, kCompare, kIn, kLike, kIsNull, kJsonContains };
  Kind kind = Kind::kCompare;
  // kCompare/kIn/kLike/kIsNull/kJsonContains: the field and its type (kInt64 for `id`).
  std::string field;
  FieldType field_type = FieldType::kInt64;
  bool is_id = false;
  CompareOp op = CompareOp::kEq;  // kCompare
  bool negated = false;           // kIn: NOT IN; kLike: NOT LIKE; kIsNull: IS NOT NULL
  // kCompare, kJsonContains: one literal; kIn: the list. Integer literals compared with a double field are stored
  // as double; kJsonContains keeps the literal as written (int64, double, bool or string).
  std::vector<FieldValue> values;
  std::string pattern;  // kLike, as written
  std::vector<std::unique_ptr<FilterNode>> children;  // kAnd/kOr: two or more; kNot: one

  // A canonical text that ParseFilter maps back to an equal tree.
  std::string ToString() const;
};

// Parses and type-checks `text` against `schema`. Errors (InvalidArgument) give the position, the offending token
// and, for type errors, the field and its type. An empty or all-blank text is an error here: callers treat an empty
// filter as "no filter" before calling.
Result<std::unique_ptr<FilterNode>> ParseFilter(std::string_view text, const CollectionSchema& schema);

// Whether `s` matches the LIKE pattern (% any run, _ one byte, \ escapes the next character).
bool LikeMatch(std::string_view s, std::string_view pattern);

}  // namespace doppel
