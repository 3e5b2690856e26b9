// FAISS engines: IVF_FLAT, IVF_SQ8, IVF_PQ for float vectors, HNSW for binary ones.
#include "store/vector_index.h"

namespace doppel {

Result<std::unique_ptr<VectorIndex>> NewFaissIndex(const CollectionSchema& schema) {
  return Status::Unsupported("collection '" + schema.name + "': index " + schema.index.ToString() +
                             " is not implemented yet");
}

}  // namespace doppel
