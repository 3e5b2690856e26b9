// Internal: exact (brute-force) search, as an index engine of its own (FLAT) and as the fallback other engines use
// for selective filters.
#pragma once

#include <faiss/impl/IDSelector.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <cstring>
#include <fstream>
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

// Whether the process's BLAS is an optimised one (OpenBLAS, BLIS or MKL). With the reference (netlib) BLAS that
// Debian installs by default, FAISS's BLAS path is ~5x slower than SIMD scans, so batches are scanned instead.
bool HaveFastBlas();
// Whether every slot in [0, n) is set in `allow` (no filter, no tombstone).
inline bool AllAllowed(const Bitmap& allow, size_t n) {
  if (allow.size() < n) return false;
  const uint8_t* b = allow.data();
  size_t full = n / 8;
  for (size_t i = 0; i < full; ++i)
    if (b[i] != 0xff) return false;
  for (size_t i = full * 8; i < n; ++i)
    if (!allow.Test(i)) return false;
  return true;
}
// Runs fn(0..n-1) on up to hardware_concurrency threads (inline when n == 1).
void ParallelFor(size_t n, const std::function<void(size_t)>& fn);

// The FLAT engine: rows by slot in one array. Also the buffer in which IVF indexes collect vectors until trained.
class ExactIndex final : public VectorIndex {
 public:
  ExactIndex(const CollectionSchema& s)
      : metric_(s.metric), type_(s.vector_type), dim_(s.dim), scanner_(s.metric, s.vector_type, s.dim) {
    code_bytes_ = type_ == VectorType::kFloat32 ? dim_ * sizeof(float) : dim_ / 8;
  }

  Status Add(size_t n, const uint32_t* slots, const uint8_t* data) override {
    uint32_t hi = 0;
    for (size_t i = 0; i < n; ++i) hi = std::max(hi, slots[i]);
    if (n && hi + 1 > nslots_) {
      nslots_ = hi + 1;
      // Grow by 1/4: the array is most of the collection's memory, so slack is kept small.
      if (nslots_ * code_bytes_ > data_.size()) data_.resize(std::max(nslots_ * code_bytes_, data_.size() * 5 / 4));
    }
    for (size_t i = 0; i < n; ++i) std::memcpy(&data_[slots[i] * code_bytes_], data + i * code_bytes_, code_bytes_);
    return Status::OK();
  }

  Status Search(const uint8_t* queries, size_t nq, const IndexSearchParams& p,
                std::vector<SlotHits>* out) const override {
    out->assign(nq, {});
    size_t k = static_cast<size_t>(p.k);
    if (type_ == VectorType::kFloat32 && nq >= kBlasMinQueries && nslots_ > 0 && HaveFastBlas() &&
        AllAllowed(*p.allow, nslots_)) {
      // BLAS path: FAISS computes the nq x nslots distance matrix blockwise and keeps the top k per query. Only
      // without a selector: FAISS 1.7.3 falls back to a slow sequential scan whenever one is given (measured:
      // 49 vs 745 QPS), so filtered or tombstoned batches take the SIMD scans below.
      std::vector<float> dist(nq * k);
      std::vector<int64_t> lab(nq * k);
      const float* x = reinterpret_cast<const float*>(queries);
      const float* y = reinterpret_cast<const float*>(data_.data());
      try {
        if (metric_ == Metric::kL2)
          faiss::knn_L2sqr(x, y, dim_, nq, nslots_, k, dist.data(), lab.data(), nullptr, nullptr);
        else
          faiss::knn_inner_product(x, y, dim_, nq, nslots_, k, dist.data(), lab.data(), nullptr);
      } catch (const std::exception& e) {
        return Status::Internal(std::string("FAISS exact search failed: ") + e.what());
      }
      for (size_t q = 0; q < nq; ++q)
        for (size_t j = 0; j < k; ++j)
          if (lab[q * k + j] >= 0) (*out)[q].emplace_back(dist[q * k + j], static_cast<uint32_t>(lab[q * k + j]));
      return Status::OK();
    }
    // SIMD scans, one query per thread at a time (several queries in flight share the memory bandwidth).
    auto row = [this](uint32_t s) { return &data_[s * code_bytes_]; };
    ParallelFor(nq, [&](size_t q) { scanner_.Scan(queries + q * code_bytes_, k, *p.allow, nslots_, row, &(*out)[q]); });
    return Status::OK();
  }

  bool IsExact() const override { return true; }

  Status Save(const std::string& path) const override {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    uint64_t n = nslots_, cb = code_bytes_;
    f.write(reinterpret_cast<const char*>(&n), 8);
    f.write(reinterpret_cast<const char*>(&cb), 8);
    f.write(reinterpret_cast<const char*>(data_.data()), static_cast<std::streamsize>(n * cb));
    f.flush();
    if (!f) return Status::IOError("cannot write index file " + path);
    return Status::OK();
  }

  Status Load(const std::string& path) override {
    std::ifstream f(path, std::ios::binary);
    uint64_t n = 0, cb = 0;
    f.read(reinterpret_cast<char*>(&n), 8);
    f.read(reinterpret_cast<char*>(&cb), 8);
    if (!f || cb != code_bytes_ || n > (1ull << 32)) return Status::Corruption("index file " + path + " has a bad header");
    data_.resize(n * cb);
    f.read(reinterpret_cast<char*>(data_.data()), static_cast<std::streamsize>(n * cb));
    if (!f) return Status::Corruption("index file " + path + " is truncated");
    nslots_ = n;
    return Status::OK();
  }

  size_t MemoryBytes() const override { return data_.capacity(); }
  size_t Slots() const override { return nslots_; }
  // Row of a slot below Slots().
  const uint8_t* Row(uint32_t slot) const { return &data_[slot * code_bytes_]; }
  void Clear() {
    nslots_ = 0;
    std::vector<uint8_t>().swap(data_);
  }

 private:
  static constexpr size_t kBlasMinQueries = 16;
  Metric metric_;
  VectorType type_;
  size_t dim_;
  ExactScanner scanner_;
  size_t nslots_ = 0;
  std::vector<uint8_t> data_;  // nslots_ rows of code_bytes_; capacity may exceed
};


std::unique_ptr<VectorIndex> NewExactIndex(const CollectionSchema& schema);

// hnswlib's SIMD distance kernel for a float metric: L2 (squared) or 1 - inner product. Defined in hnsw_index.cc,
// the only translation unit that includes hnswlib (its 0.6.2 headers define non-inline functions). The returned
// object owns *param.
using DistFunc = float (*)(const void*, const void*, const void*);
std::shared_ptr<void> HnswlibKernel(Metric metric, size_t dim, DistFunc* func, void** param);

}  // namespace doppel
