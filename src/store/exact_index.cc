// The FLAT engine: vectors in one contiguous array by slot, exact search. Single queries (and small batches) use a
// SIMD scan (hnswlib's AVX-512/AVX kernels for floats, 64-bit popcount for binary codes); batches of float queries
// go through FAISS's BLAS-based knn (matrix multiply), which wins once there are enough queries to reuse each row.
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/distances.h>

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <cstring>
#include <fstream>
#include <queue>

#include "store/exact_index.h"

namespace doppel {

float FloatDistance(Metric metric, const float* a, const float* b, size_t dim) {
  // Used on the slow paths (tests, re-ranking); the scan below calls the kernels directly.
  float s = 0;
  if (metric == Metric::kL2) {
    for (size_t i = 0; i < dim; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  } else {
    for (size_t i = 0; i < dim; ++i) s += a[i] * b[i];
  }
  return s;
}

bool HaveFastBlas() {
  static const bool fast = dlsym(RTLD_DEFAULT, "openblas_get_num_threads") != nullptr ||
                           dlsym(RTLD_DEFAULT, "bli_info_get_version_str") != nullptr ||
                           dlsym(RTLD_DEFAULT, "mkl_get_max_threads") != nullptr;
  return fast;
}

void ParallelFor(size_t n, const std::function<void(size_t)>& fn) {
  size_t threads = std::min<size_t>(n, std::max(1u, std::thread::hardware_concurrency()));
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

int HammingDistance(const uint8_t* a, const uint8_t* b, size_t bytes) {
  int d = 0;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    d += __builtin_popcountll(x ^ y);
  }
  for (; i < bytes; ++i) d += __builtin_popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return d;
}

ExactScanner::ExactScanner(Metric metric, VectorType type, size_t dim) : metric_(metric), type_(type), dim_(dim) {
  if (type == VectorType::kFloat32) {
    space_ = HnswlibKernel(metric, dim, &func_, &param_);
  }
}

ExactScanner::~ExactScanner() = default;

float ExactScanner::Cost(const uint8_t* q, const uint8_t* v) const {
  if (type_ == VectorType::kBinary) return static_cast<float>(HammingDistance(q, v, dim_ / 8));
  // L2Space: squared distance; InnerProductSpace: 1 - dot. Both are "smaller is better" costs.
  return func_(q, v, param_);
}

float ExactScanner::Report(float cost) const {
  if (metric_ == Metric::kIP || metric_ == Metric::kCosine) return 1.0f - cost;
  return cost;
}

float ExactScanner::ToCost(float reported) const {
  if (metric_ == Metric::kIP || metric_ == Metric::kCosine) return 1.0f - reported;
  return reported;
}

void ExactScanner::Scan(const uint8_t* q, size_t k, const Bitmap& allow, size_t nslots,
                        const std::function<const uint8_t*(uint32_t)>& row, SlotHits* out) const {
  std::priority_queue<std::pair<float, uint32_t>> heap;  // max-heap of costs: the worst kept hit on top
  size_t n = std::min(nslots, allow.size());
  for (size_t s = 0; s < n; ++s) {
    if (!allow.Test(s)) continue;
    const uint8_t* v = row(static_cast<uint32_t>(s));
    if (!v) continue;
    float c = Cost(q, v);
    if (heap.size() < k) heap.emplace(c, static_cast<uint32_t>(s));
    else if (c < heap.top().first) {
      heap.pop();
      heap.emplace(c, static_cast<uint32_t>(s));
    }
  }
  out->resize(heap.size());
  for (size_t i = heap.size(); i-- > 0;) {
    (*out)[i] = {Report(heap.top().first), heap.top().second};
    heap.pop();
  }
}

std::unique_ptr<VectorIndex> NewExactIndex(const CollectionSchema& schema) {
  return std::make_unique<ExactIndex>(schema);
}

}  // namespace doppel
