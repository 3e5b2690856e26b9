// Internal: doppel's filter tree (store/filter.h) written as a Milvus boolean expression. The expression is
// generated from the parsed, type-checked tree, never by pasting user text: string literals are double-quoted with
// Milvus's C-style escapes, numbers printed exactly, field names are schema names (which only hold [A-Za-z0-9_]).
#pragma once

#include <string>

#include "doppel/store/filter.h"
#include "doppel/util/status.h"

namespace doppel::milvus {

// The Milvus expression for `node`. Unsupported for what Milvus cannot express the same way (see expr.cc).
Result<std::string> ToMilvusExpr(const FilterNode& node);
// A string literal for a Milvus expression: "..." with \\, \", \n, \r, \t and \uXXXX for other control bytes.
std::string QuoteString(const std::string& s);

}  // namespace doppel::milvus
