#include "store/columns.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace doppel {

void Column::Resize(size_t n) {
  null_.Resize(n, true);
  switch (type_) {
    case FieldType::kInt64:
    case FieldType::kBool: ints_.resize(n); break;
    case FieldType::kDouble: doubles_.resize(n); break;
    case FieldType::kString:
    case FieldType::kJson: strings_.resize(n); break;
  }
}

void Column::Set(size_t s, const FieldValue& v) {
  if (std::holds_alternative<std::monostate>(v)) {
    null_.Set(s, true);
    if (type_ == FieldType::kString || type_ == FieldType::kJson) std::string().swap(strings_[s]);
    return;
  }
  null_.Set(s, false);
  switch (type_) {
    case FieldType::kInt64: ints_[s] = std::get<int64_t>(v); break;
    case FieldType::kBool: ints_[s] = std::get<bool>(v) ? 1 : 0; break;
    case FieldType::kDouble:
      doubles_[s] = std::holds_alternative<int64_t>(v) ? static_cast<double>(std::get<int64_t>(v)) : std::get<double>(v);
      break;
    case FieldType::kString:
    case FieldType::kJson: strings_[s] = std::get<std::string>(v); break;
  }
}

FieldValue Column::Get(size_t s) const {
  if (null_.Test(s)) return std::monostate();
  switch (type_) {
    case FieldType::kInt64: return ints_[s];
    case FieldType::kBool: return ints_[s] != 0;
    case FieldType::kDouble: return doubles_[s];
    case FieldType::kString:
    case FieldType::kJson: return strings_[s];
  }
  return std::monostate();
}

size_t Column::MemoryBytes() const {
  size_t b = null_.bytes() + ints_.capacity() * 8 + doubles_.capacity() * 8 + strings_.capacity() * sizeof(std::string);
  for (const auto& s : strings_) b += s.capacity() > 15 ? s.capacity() : 0;
  return b;
}

namespace {

template <typename T>
bool Compare(CompareOp op, const T& a, const T& b) {
  switch (op) {
    case CompareOp::kEq: return a == b;
    case CompareOp::kNe: return a != b;
    case CompareOp::kLt: return a < b;
    case CompareOp::kLe: return a <= b;
    case CompareOp::kGt: return a > b;
    case CompareOp::kGe: return a >= b;
  }
  return false;
}

bool JsonEqualsLiteral(const nlohmann::json& j, const FieldValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return j.is_number() && j == *i;
  if (auto* d = std::get_if<double>(&v)) return j.is_number() && j.get<double>() == *d;
  if (auto* b = std::get_if<bool>(&v)) return j.is_boolean() && j.get<bool>() == *b;
  if (auto* s = std::get_if<std::string>(&v)) return j.is_string() && j.get<std::string>() == *s;
  return false;
}

// True/false bitmaps of a subtree (neither bit set = unknown).
struct TF {
  Bitmap t, f;
};

class Evaluator {
 public:
  Evaluator(const CollectionSchema& schema, const std::vector<Column>& columns, const std::vector<int64_t>& ids,
            size_t n)
      : schema_(schema), columns_(columns), ids_(ids), n_(n) {}

  TF Eval(const FilterNode& node) {
    using K = FilterNode::Kind;
    switch (node.kind) {
      case K::kAnd:
      case K::kOr: {
        TF acc = Eval(*node.children[0]);
        for (size_t i = 1; i < node.children.size(); ++i) {
          TF c = Eval(*node.children[i]);
          if (node.kind == K::kAnd) {
            acc.t.And(c.t);
            acc.f.Or(c.f);
          } else {
            acc.t.Or(c.t);
            acc.f.And(c.f);
          }
        }
        return acc;
      }
      case K::kNot: {
        TF c = Eval(*node.children[0]);
        std::swap(c.t, c.f);
        return c;
      }
      default: return Leaf(node);
    }
  }

 private:
  TF Leaf(const FilterNode& node) {
    TF r{Bitmap(n_), Bitmap(n_)};
    const Column* col = nullptr;
    if (!node.is_id) {
      for (size_t i = 0; i < schema_.fields.size(); ++i)
        if (schema_.fields[i].name == node.field) col = &columns_[i];
    }
    for (size_t s = 0; s < n_; ++s) {
      bool is_null = col ? col->IsNull(s) : false;
      if (node.kind == FilterNode::Kind::kIsNull) {
        bool v = is_null != node.negated;
        (v ? r.t : r.f).Set(s, true);
        continue;
      }
      if (is_null) continue;  // unknown
      bool v = Match(node, col, s);
      (v ? r.t : r.f).Set(s, true);
    }
    return r;
  }

  bool Match(const FilterNode& node, const Column* col, size_t s) {
    using K = FilterNode::Kind;
    switch (node.kind) {
      case K::kCompare: return CompareValue(node.op, node, col, s, node.values[0]);
      case K::kIn: {
        bool any = false;
        for (const auto& v : node.values)
          if (CompareValue(CompareOp::kEq, node, col, s, v)) {
            any = true;
            break;
          }
        return any != node.negated;
      }
      case K::kLike: return LikeMatch(col->Str(s), node.pattern) != node.negated;
      case K::kJsonContains: {
        const std::string& text = col->Str(s);
        const FieldValue& lit = node.values[0];
        // Cheap rejection before parsing: a string literal must appear in the text.
        if (auto* str = std::get_if<std::string>(&lit))
          if (text.find(*str) == std::string::npos) return false;
        auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded()) return false;
        if (j.is_array()) {
          for (const auto& e : j)
            if (JsonEqualsLiteral(e, lit)) return true;
          return false;
        }
        return JsonEqualsLiteral(j, lit);
      }
      default: return false;
    }
  }

  bool CompareValue(CompareOp op, const FilterNode& node, const Column* col, size_t s, const FieldValue& v) {
    if (node.is_id) return Compare(op, ids_[s], std::get<int64_t>(v));
    switch (col->type()) {
      case FieldType::kInt64: return Compare(op, col->Int(s), std::get<int64_t>(v));
      case FieldType::kDouble: return Compare(op, col->Double(s), std::get<double>(v));
      case FieldType::kBool: return Compare(op, col->Bool(s), std::get<bool>(v));
      case FieldType::kString: return Compare(op, col->Str(s), std::get<std::string>(v));
      case FieldType::kJson: return false;
    }
    return false;
  }

  const CollectionSchema& schema_;
  const std::vector<Column>& columns_;
  const std::vector<int64_t>& ids_;
  size_t n_;
};

}  // namespace

Bitmap EvalFilter(const FilterNode& node, const CollectionSchema& schema, const std::vector<Column>& columns,
                  const std::vector<int64_t>& ids, size_t n) {
  return Evaluator(schema, columns, ids, n).Eval(node).t;
}

}  // namespace doppel
