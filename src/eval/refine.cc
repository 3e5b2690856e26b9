// Retrieval refinements (see refine.h). Exact inner-product search over small matrices: this is for measuring.
#include "doppel/eval/refine.h"

#include "doppel/engine/whitening.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <sstream>

namespace doppel {
namespace {

float Dot(const std::vector<float>& a, const std::vector<float>& b) {
  float s = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) s += a[i] * b[i];
  return s;
}

// The n rows of `db` most similar to `q` (exclude left out), best first: (ip, row).
std::vector<std::pair<float, size_t>> Nearest(const std::vector<float>& q, const Matrix& db, int n, size_t exclude) {
  std::vector<std::pair<float, size_t>> s;
  s.reserve(db.size());
  for (size_t j = 0; j < db.size(); ++j)
    if (j != exclude) s.emplace_back(Dot(q, db[j]), j);
  const size_t m = std::min(s.size(), size_t(std::max(0, n)));
  std::partial_sort(s.begin(), s.begin() + m, s.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  s.resize(m);
  return s;
}

}  // namespace

Result<Refinement> ParseRefinement(const std::string& text) {
  Refinement r;
  r.name = text.empty() ? "none" : text;
  if (r.name == "none") return r;
  std::stringstream ss(r.name);
  std::string part;
  while (std::getline(ss, part, '+')) {
    if (part == "flip") r.flip = true;
    else if (part == "whiten") r.whiten_power = -0.5f;
    else if (part == "whiten25") r.whiten_power = -0.25f;
    else if (part == "dba") r.dba_k = 3;
    else if (part == "qe") r.qe_n = 3;
    else if (part == "rerank") r.rerank = kWhitenShortlist;
    else
      return Status::InvalidArgument("refinement '" + part + "': use none, or flip, whiten, whiten25, dba, qe, "
                                     "rerank joined by '+'");
  }
  if (r.rerank > 0 && ((r.whiten_power == 0) == (r.dba_k == 0) || r.qe_n > 0 || r.flip))
    return Status::InvalidArgument("refinement '" + r.name + "': rerank goes with one of whiten, whiten25, dba alone");
  return r;
}

void Normalize(std::vector<float>* v) {
  double s = 0;
  for (float x : *v) s += double(x) * x;
  if (s <= 0) return;
  const float inv = float(1.0 / std::sqrt(s));
  for (float& x : *v) x *= inv;
}

Status Whiten(Matrix* db, const std::vector<Matrix*>& others, float power) {
  if (db->size() < 2) return Status::FailedPrecondition("whitening needs at least 2 database vectors");
  const int d = int((*db)[0].size());
  std::vector<float> x;
  x.reserve(db->size() * size_t(d));
  for (const auto& r : *db) x.insert(x.end(), r.begin(), r.end());
  DOPPEL_ASSIGN_OR_RETURN(Whitening w, Whitening::Fit(x.data(), int64_t(db->size()), d, power));
  auto apply = [&](Matrix* m) {
    for (auto& r : *m)
      if (!r.empty()) r = w.Apply(r);
  };
  apply(db);
  for (Matrix* m : others) apply(m);
  return Status::OK();
}

void DatabaseAugment(Matrix* db, int k, float alpha) {
  Matrix out(db->size());
  for (size_t i = 0; i < db->size(); ++i) {
    std::vector<float> v = (*db)[i];
    for (const auto& [ip, j] : Nearest((*db)[i], *db, k, i)) {
      const float w = std::pow(std::max(0.0f, ip), alpha);
      for (size_t t = 0; t < v.size(); ++t) v[t] += w * (*db)[j][t];
    }
    Normalize(&v);
    out[i] = std::move(v);
  }
  *db = std::move(out);
}

std::vector<float> ExpandQuery(const std::vector<float>& q, const Matrix& db, int n, float alpha, size_t exclude) {
  std::vector<float> v = q;
  for (const auto& [ip, j] : Nearest(q, db, n, exclude)) {
    const float w = std::pow(std::max(0.0f, ip), alpha);
    for (size_t t = 0; t < v.size(); ++t) v[t] += w * db[j][t];
  }
  Normalize(&v);
  return v;
}

std::pair<double, double> BootstrapInterval(const std::vector<double>& per_query, int resamples) {
  if (per_query.empty()) return {0, 0};
  std::mt19937 rng(12345);
  std::uniform_int_distribution<size_t> pick(0, per_query.size() - 1);
  std::vector<double> means(size_t(std::max(1, resamples)));
  for (auto& m : means) {
    double s = 0;
    for (size_t i = 0; i < per_query.size(); ++i) s += per_query[pick(rng)];
    m = s / double(per_query.size());
  }
  std::sort(means.begin(), means.end());
  return {means[size_t(0.025 * (means.size() - 1))], means[size_t(0.975 * (means.size() - 1))]};
}

}  // namespace doppel
