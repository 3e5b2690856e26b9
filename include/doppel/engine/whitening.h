// PCA whitening learned from a collection's own vectors (issue 16): the vectors are centred, turned onto their
// principal directions and each direction scaled by (eigenvalue + shrinkage)^power, then L2-normalised. Power -0.5
// is full whitening; -0.25 ("power-law" or partial whitening) is what doppel's search option uses: full whitening
// overfits small collections (BENCHMARKS.md, "Retrieval refinements"). The shrinkage (a tenth of the mean
// eigenvalue added to each) keeps the weakest directions of a small collection from blowing up.
// Immutable once fitted; thread-safe to share.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/util/status.h"

namespace doppel {

class Whitening {
 public:
  // Learns from `n` rows of `dim` floats (row-major). At most min(dim, n - 1) output directions (the centred rows
  // span no more). FailedPrecondition when n < 2 (one vector teaches nothing).
  static Result<Whitening> Fit(const float* rows, int64_t n, int dim, float power);

  int dim() const { return dim_; }
  int dim_out() const { return dim_out_; }
  int64_t fitted_rows() const { return rows_; }

  // The fitted whitening as bytes (a tag, the rows it learned from, FAISS's own serialisation of its PCAMatrix)
  // and back: how the engine keeps it with the collection. Deserialize: Corruption for bytes that are not one.
  std::string Serialize() const;
  static Result<Whitening> Deserialize(std::string_view bytes);

  // The whitened, L2-normalised form of `n` rows of dim() floats: n x dim_out() floats into `out`.
  void Apply(const float* x, int64_t n, float* out) const;
  std::vector<float> Apply(const std::vector<float>& x) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
  int dim_ = 0, dim_out_ = 0;
  int64_t rows_ = 0;
};

// The search option's setting (SearchOptions::whiten): partial whitening, learned from at most this many of the
// collection's vectors (the first by id), refitted once the collection has grown or shrunk by a quarter, re-ranking
// this many hits of the plain search (at least; 4 k when k is larger).
inline constexpr float kSearchWhitenPower = -0.25f;
inline constexpr int64_t kWhitenFitRows = 20000;
inline constexpr int kWhitenShortlist = 100;

}  // namespace doppel
