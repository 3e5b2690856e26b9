// Internal: the in-memory copy of a collection's scalar fields, one typed column per field, indexed by slot, and
// the evaluation of filter trees over them into slot bitmaps.
#pragma once

#include <string>
#include <vector>

#include "doppel/store/filter.h"
#include "doppel/store/schema.h"
#include "store/bitmap.h"

namespace doppel {

// One field's values by slot. Invariant: every vector has size() entries (the one for the field's type); `null`
// has a bit per slot.
class Column {
 public:
  explicit Column(FieldType type) : type_(type) {}
  FieldType type() const { return type_; }
  size_t size() const { return null_.size(); }
  void Resize(size_t n);
  // `v` has been validated against the type (int64 for double is allowed and converted).
  void Set(size_t slot, const FieldValue& v);
  FieldValue Get(size_t slot) const;
  bool IsNull(size_t slot) const { return null_.Test(slot); }
  int64_t Int(size_t s) const { return ints_[s]; }
  double Double(size_t s) const { return doubles_[s]; }
  bool Bool(size_t s) const { return ints_[s] != 0; }
  const std::string& Str(size_t s) const { return strings_[s]; }
  size_t MemoryBytes() const;

 private:
  FieldType type_;
  Bitmap null_;
  std::vector<int64_t> ints_;     // kInt64, kBool
  std::vector<double> doubles_;   // kDouble
  std::vector<std::string> strings_;  // kString, kJson (JSON text)
};

// Evaluates `node` over slots [0, n) with SQL three-valued logic (a comparison with NULL is unknown, and so is its
// negation). Returns the slots where it is true. `ids[slot]` is the entity id of each slot; `columns` follow
// schema.fields. Slots that are not alive may be set too; the caller intersects with the live set.
Bitmap EvalFilter(const FilterNode& node, const CollectionSchema& schema, const std::vector<Column>& columns,
                  const std::vector<int64_t>& ids, size_t n);

}  // namespace doppel
