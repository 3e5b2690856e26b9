// Helpers for the store tests: schemas, random and clustered vectors, brute-force references.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "doppel/store/schema.h"
#include "doppel/store/store.h"

namespace doppel::testing {

inline CollectionSchema ImageSchema(const std::string& name, int dim, Metric metric = Metric::kL2,
                                    const std::string& index = "FLAT") {
  CollectionSchema s;
  s.name = name;
  s.dim = dim;
  s.metric = metric;
  s.index = IndexSpec::Parse(index).value();
  s.fields = {{"path", FieldType::kString}, {"size", FieldType::kInt64}, {"score", FieldType::kDouble},
              {"ok", FieldType::kBool}, {"tags", FieldType::kJson}};
  return s;
}

inline std::vector<float> RandomVectors(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(n * dim);
  for (auto& x : v) x = g(rng);
  return v;
}

// Clustered, ReLU'd, L2-normalised vectors (like image embeddings): n vectors around `clusters` centres, each
// spread along a few directions of its own (low intrinsic dimension, as real embeddings have) plus small noise.
// Queries drawn with another seed come from the same distribution when `centre_seed` is shared.
inline std::vector<float> ClusteredVectors(size_t n, size_t dim, size_t clusters, uint32_t seed,
                                           uint32_t centre_seed = 1234) {
  const size_t latent = 12;
  std::mt19937 crng(centre_seed);
  std::normal_distribution<float> g;
  std::vector<float> centres(clusters * dim), basis(clusters * latent * dim);
  for (auto& x : centres) x = g(crng);
  for (auto& x : basis) x = 0.5f * g(crng);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, clusters - 1);
  std::vector<float> v(n * dim), z(latent);
  for (size_t i = 0; i < n; ++i) {
    size_t c = pick(rng);
    for (auto& x : z) x = g(rng);
    double norm = 0;
    for (size_t j = 0; j < dim; ++j) {
      float x = centres[c * dim + j] + 0.1f * g(rng);
      for (size_t l = 0; l < latent; ++l) x += z[l] * basis[(c * latent + l) * dim + j];
      x = std::max(0.0f, x);
      v[i * dim + j] = x;
      norm += x * x;
    }
    float inv = norm > 0 ? static_cast<float>(1 / std::sqrt(norm)) : 0;
    for (size_t j = 0; j < dim; ++j) v[i * dim + j] *= inv;
  }
  return v;
}

inline Entity MakeEntity(int64_t id, const float* v, size_t dim, int64_t size = 0) {
  Entity e;
  e.id = id;
  e.vector.assign(v, v + dim);
  e.fields["path"] = "/img/" + std::to_string(id) + ".jpg";
  e.fields["size"] = size;
  e.fields["score"] = static_cast<double>(id) / 10.0;
  e.fields["ok"] = id % 2 == 0;
  e.fields["tags"] = std::string(id % 3 == 0 ? R"(["cat","dog"])" : R"(["bird"])");
  return e;
}

// Exact top-k ids by brute force (L2 squared smaller first, IP larger first), over rows whose `allowed` is true.
inline std::vector<int64_t> BruteForce(const float* q, const std::vector<float>& data, const std::vector<int64_t>& ids,
                                       size_t dim, size_t k, Metric metric, const std::vector<bool>* allowed = nullptr) {
  std::vector<std::pair<float, int64_t>> d;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (allowed && !(*allowed)[i]) continue;
    float s = 0;
    for (size_t j = 0; j < dim; ++j) {
      float a = q[j], b = data[i * dim + j];
      s += metric == Metric::kL2 ? (a - b) * (a - b) : -a * b;
    }
    d.emplace_back(s, ids[i]);
  }
  size_t kk = std::min(k, d.size());
  std::partial_sort(d.begin(), d.begin() + kk, d.end());
  std::vector<int64_t> out;
  for (size_t i = 0; i < kk; ++i) out.push_back(d[i].second);
  return out;
}

}  // namespace doppel::testing
