// Internal: one interface for every ANN/exact index engine (FAISS-like: many implementations, one factory).
//
// An index maps dense "slots" (uint32, assigned by the collection, stable until compaction) to vectors. It is
// derived data: the collection's SQLite database is the source of truth and an index can always be rebuilt from it.
// Deleted slots stay in the index until the collection rebuilds it; searches exclude them because the collection
// always passes an `allow` bitmap that contains only live (and filter-matching) slots.
//
// Thread safety: Search may run concurrently with other Searches; Add/Save/Load need exclusive access (the
// collection's shared_mutex provides both).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "doppel/store/schema.h"
#include "doppel/util/status.h"
#include "store/bitmap.h"

namespace doppel {

struct IndexSearchParams {
  int k = 10;
  int ef = 0;      // 0 = the spec's default
  int nprobe = 0;  // 0 = the spec's default
  const Bitmap* allow = nullptr;  // slots that may be returned; never null
  size_t allow_count = 0;         // allow->Count(), computed once by the caller
};

// (distance, slot), best first. Distances are in the metric's reporting convention (see Metric): for IP/COSINE
// larger is better, for L2/HAMMING smaller is better.
using SlotHits = std::vector<std::pair<float, uint32_t>>;

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;

  // Adds or replaces the vectors of n slots. `data` holds n rows of CodeBytes() bytes each (floats already
  // normalised for COSINE). Slots may be any values; the index grows to hold them.
  virtual Status Add(size_t n, const uint32_t* slots, const uint8_t* data) = 0;
  // nq queries of CodeBytes() bytes each; out->size() becomes nq.
  virtual Status Search(const uint8_t* queries, size_t nq, const IndexSearchParams& params,
                        std::vector<SlotHits>* out) const = 0;
  // Whether Search returns exact results.
  virtual bool IsExact() const = 0;
  // Writes the whole index to `path` (which is then fsync'd by the caller) / reads it back. A file that cannot be
  // read back gives Corruption naming the path.
  virtual Status Save(const std::string& path) const = 0;
  virtual Status Load(const std::string& path) = 0;
  virtual size_t MemoryBytes() const = 0;
  // Number of slots the index holds vectors for (highest slot + 1 at most).
  virtual size_t Slots() const = 0;
  size_t CodeBytes() const { return code_bytes_; }

 protected:
  size_t code_bytes_ = 0;
};

// Builds an empty index for a collection schema (the factory). Training-based indexes train themselves once they
// have enough vectors and search exactly until then.
Result<std::unique_ptr<VectorIndex>> NewVectorIndex(const CollectionSchema& schema);

// Exact search helpers shared by the engines. `vector_of(slot)` returns the stored row of a slot.
// Float: L2 (squared) or IP over `dim` floats, SIMD (hnswlib's kernels, built with -march=native).
float FloatDistance(Metric metric, const float* a, const float* b, size_t dim);
int HammingDistance(const uint8_t* a, const uint8_t* b, size_t bytes);

}  // namespace doppel
