// Internal: exact (brute-force) search, as an index engine of its own (FLAT) and as the fallback other engines use
// for selective filters.
#pragma once

#include <functional>
#include <memory>

#include "store/vector_index.h"

namespace doppel {

// Computes metric costs (smaller = better) with SIMD kernels and converts them to reported distances.
class ExactScanner {
 public:
  ExactScanner(Metric metric, VectorType type, size_t dim);
  ~ExactScanner();
  float Cost(const uint8_t* query, const uint8_t* row) const;
  float Report(float cost) const;
  float ToCost(float reported) const;
  // Top-k over the allowed slots below nslots; row(slot) may return null for a slot without a vector.
  void Scan(const uint8_t* query, size_t k, const Bitmap& allow, size_t nslots,
            const std::function<const uint8_t*(uint32_t)>& row, SlotHits* out) const;

 private:
  Metric metric_;
  VectorType type_;
  size_t dim_;
  std::shared_ptr<void> space_;  // the hnswlib space that owns param_
  float (*func_)(const void*, const void*, const void*) = nullptr;
  void* param_ = nullptr;
};

std::unique_ptr<VectorIndex> NewExactIndex(const CollectionSchema& schema);

// hnswlib's SIMD distance kernel for a float metric: L2 (squared) or 1 - inner product. Defined in hnsw_index.cc,
// the only translation unit that includes hnswlib (its 0.6.2 headers define non-inline functions). The returned
// object owns *param.
using DistFunc = float (*)(const void*, const void*, const void*);
std::shared_ptr<void> HnswlibKernel(Metric metric, size_t dim, DistFunc* func, void** param);

}  // namespace doppel
