// The index factory: one place that maps a collection's IndexSpec to an engine.
#include "store/exact_index.h"
#include "store/vector_index.h"

namespace doppel {

std::unique_ptr<VectorIndex> NewHnswIndex(const CollectionSchema& schema);
Result<std::unique_ptr<VectorIndex>> NewFaissIndex(const CollectionSchema& schema);

Result<std::unique_ptr<VectorIndex>> NewVectorIndex(const CollectionSchema& schema) {
  switch (schema.index.kind) {
    case IndexKind::kFlat: return NewExactIndex(schema);
    case IndexKind::kHnsw:
      if (schema.vector_type == VectorType::kFloat32) return NewHnswIndex(schema);
      return NewFaissIndex(schema);
    case IndexKind::kIvfFlat:
    case IndexKind::kIvfSq8:
    case IndexKind::kIvfPq: return NewFaissIndex(schema);
  }
  return Status::Internal("unknown index kind");
}

}  // namespace doppel
