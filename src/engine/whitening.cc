// PCA whitening (whitening.h) on FAISS's PCAMatrix: its eigen-decomposition and eigen_power scaling, with the
// shrinkage applied through its epsilon (added to each eigenvalue before the power).
#include "doppel/engine/whitening.h"

#include <faiss/VectorTransform.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace doppel {

struct Whitening::Impl {
  faiss::PCAMatrix pca;
  Impl(int d, int d_out, float power) : pca(d, d_out, power, false) {}
  explicit Impl(const faiss::PCAMatrix& p) : pca(p) {}
};

namespace {
constexpr char kTag[8] = {'D', 'W', 'H', 'I', 'T', 'E', 'N', '1'};
}  // namespace

std::string Whitening::Serialize() const {
  faiss::VectorIOWriter w;
  faiss::write_VectorTransform(&impl_->pca, &w);
  std::string out(kTag, sizeof kTag);
  out.append(reinterpret_cast<const char*>(&rows_), sizeof rows_);
  out.append(reinterpret_cast<const char*>(w.data.data()), w.data.size());
  return out;
}

Result<Whitening> Whitening::Deserialize(std::string_view bytes) {
  if (bytes.size() < sizeof kTag + sizeof(int64_t) || std::memcmp(bytes.data(), kTag, sizeof kTag) != 0)
    return Status::Corruption("not a stored whitening (tag)");
  int64_t rows = 0;
  std::memcpy(&rows, bytes.data() + sizeof kTag, sizeof rows);
  faiss::VectorIOReader r;
  r.data.assign(bytes.begin() + sizeof kTag + sizeof rows, bytes.end());
  std::unique_ptr<faiss::VectorTransform> vt;
  try {
    vt.reset(faiss::read_VectorTransform(&r));
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("stored whitening: ") + e.what());
  }
  const auto* pca = dynamic_cast<const faiss::PCAMatrix*>(vt.get());
  if (!pca || !pca->is_trained || pca->d_in < 1 || pca->d_out < 1 || pca->d_out > pca->d_in || rows < 2)
    return Status::Corruption("stored whitening: not a trained PCA of a valid size");
  Whitening w;
  w.impl_ = std::make_shared<Impl>(*pca);
  w.dim_ = pca->d_in;
  w.dim_out_ = pca->d_out;
  w.rows_ = rows;
  return w;
}

Result<Whitening> Whitening::Fit(const float* rows, int64_t n, int dim, float power) {
  if (n < 2) return Status::FailedPrecondition("whitening needs at least 2 vectors, got " + std::to_string(n));
  if (dim < 1) return Status::InvalidArgument("whitening: dimension " + std::to_string(dim));
  // At most n - 1 output directions: n centred vectors span at most n - 1 dimensions, and a direction without
  // variance has an arbitrary eigenvector (it changed from run to run) that the shrinkage would still weight.
  const int d_out = int(std::min<int64_t>(dim, n - 1));
  auto impl = std::make_shared<Impl>(dim, d_out, power);
  try {
    // Shrinkage: learn the eigenvalues once, then whiten with each one plus a tenth of their mean.
    faiss::PCAMatrix probe(dim, d_out, 0, false);
    probe.train(faiss::Index::idx_t(n), rows);
    double mean = 0;
    for (int i = 0; i < d_out && size_t(i) < probe.eigenvalues.size(); ++i) mean += probe.eigenvalues[size_t(i)];
    mean /= std::max(1, d_out);
    impl->pca.epsilon = float(0.1 * mean);
    impl->pca.train(faiss::Index::idx_t(n), rows);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("PCA whitening: ") + e.what());
  }
  Whitening w;
  w.impl_ = std::move(impl);
  w.dim_ = dim;
  w.dim_out_ = d_out;
  w.rows_ = n;
  return w;
}

void Whitening::Apply(const float* x, int64_t n, float* out) const {
  if (n <= 0) return;
  impl_->pca.apply_noalloc(faiss::Index::idx_t(n), x, out);
  for (int64_t i = 0; i < n; ++i) {
    float* r = out + i * dim_out_;
    double s = 0;
    for (int j = 0; j < dim_out_; ++j) s += double(r[j]) * r[j];
    if (s <= 0) continue;
    const float inv = float(1.0 / std::sqrt(s));
    for (int j = 0; j < dim_out_; ++j) r[j] *= inv;
  }
}

std::vector<float> Whitening::Apply(const std::vector<float>& x) const {
  std::vector<float> out(static_cast<size_t>(dim_out_));
  if (int(x.size()) == dim_) Apply(x.data(), 1, out.data());
  return out;
}

}  // namespace doppel
