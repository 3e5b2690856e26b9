// The FLAT engine: vectors in one contiguous array by slot, exact search. Single queries (and small batches) use a
// SIMD scan (hnswlib's AVX-512/AVX kernels for floats, 64-bit popcount for binary codes); batches of float queries
// go through FAISS's BLAS-based knn (matrix multiply), which wins once there are enough queries to reuse each row.
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/distances.h>

#include <algorithm>
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

namespace {

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
      if (nslots_ * code_bytes_ > data_.size()) data_.resize(std::max(nslots_ * code_bytes_, data_.size() * 3 / 2));
    }
    for (size_t i = 0; i < n; ++i) std::memcpy(&data_[slots[i] * code_bytes_], data + i * code_bytes_, code_bytes_);
    return Status::OK();
  }

  Status Search(const uint8_t* queries, size_t nq, const IndexSearchParams& p,
                std::vector<SlotHits>* out) const override {
    out->assign(nq, {});
    size_t k = static_cast<size_t>(p.k);
    if (type_ == VectorType::kFloat32 && nq >= kBlasMinQueries && nslots_ > 0) {
      // BLAS path: FAISS computes the nq x nslots distance matrix blockwise and keeps the top k per query.
      std::vector<float> dist(nq * k);
      std::vector<int64_t> lab(nq * k);
      faiss::IDSelectorBitmap sel(p.allow->bytes(), p.allow->data());
      const float* x = reinterpret_cast<const float*>(queries);
      const float* y = reinterpret_cast<const float*>(data_.data());
      try {
        if (metric_ == Metric::kL2)
          faiss::knn_L2sqr(x, y, dim_, nq, nslots_, k, dist.data(), lab.data(), nullptr, &sel);
        else
          faiss::knn_inner_product(x, y, dim_, nq, nslots_, k, dist.data(), lab.data(), &sel);
      } catch (const std::exception& e) {
        return Status::Internal(std::string("FAISS exact search failed: ") + e.what());
      }
      for (size_t q = 0; q < nq; ++q)
        for (size_t j = 0; j < k; ++j)
          if (lab[q * k + j] >= 0) (*out)[q].emplace_back(dist[q * k + j], static_cast<uint32_t>(lab[q * k + j]));
      return Status::OK();
    }
    auto row = [this](uint32_t s) { return &data_[s * code_bytes_]; };
    for (size_t q = 0; q < nq; ++q) scanner_.Scan(queries + q * code_bytes_, k, *p.allow, nslots_, row, &(*out)[q]);
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

 private:
  static constexpr size_t kBlasMinQueries = 16;
  Metric metric_;
  VectorType type_;
  size_t dim_;
  ExactScanner scanner_;
  size_t nslots_ = 0;
  std::vector<uint8_t> data_;  // nslots_ rows of code_bytes_; capacity may exceed
};

}  // namespace

std::unique_ptr<VectorIndex> NewExactIndex(const CollectionSchema& schema) {
  return std::make_unique<ExactIndex>(schema);
}

}  // namespace doppel
