// Retrieval refinements applied after embedding (issue 16), measured with `doppel eval --refine`: horizontal-flip
// pooling, PCA whitening learned from the database itself, database-side augmentation (DBA) and alpha-weighted
// query expansion (alpha-QE). They act on L2-normalised vectors compared by inner product; every step ends with
// L2 normalisation.
//
//   flip      the vector of the image averaged with the vector of its mirror image (2 embeddings per image)
//   whiten    PCA whitening learned on the database vectors (eigenvalue power -0.5, shrunk: each eigenvalue plus a
//             tenth of their mean, so that small collections do not blow up their weakest directions)
//   whiten25  the same with power -0.25 (partial, "power-law" whitening)
//   dba       each database vector replaced by alpha-weighted sum of itself and its 3 nearest neighbours
//   qe        alpha-QE: the query plus its top 3 hits weighted by similarity^3, searched again
//   rerank    with one of whiten, whiten25 or dba alone: the refined vectors re-order only the plain ranking's best
//             100, as `doppel search --whiten` / `--dba` do (SearchOptions::whiten, SearchOptions::dba)
// Parts combine with '+', applied in that order: "flip+whiten+dba+qe".
#pragma once

#include <string>
#include <vector>

#include "doppel/util/status.h"

namespace doppel {

struct Refinement {
  std::string name = "none";
  bool flip = false;
  float whiten_power = 0;  // 0 = no whitening; -0.5 full, -0.25 partial
  int dba_k = 0;           // 0 = no database-side augmentation
  int qe_n = 0;            // 0 = no query expansion
  int rerank = 0;          // > 0: whitening or DBA re-ranks only the plain ranking's best `rerank`
  float alpha = 3;         // the similarity exponent of DBA and QE weights
};

// "none", or parts joined by '+' (see above). InvalidArgument names an unknown part.
Result<Refinement> ParseRefinement(const std::string& text);

using Matrix = std::vector<std::vector<float>>;  // one L2-normalised vector per row

void Normalize(std::vector<float>* v);

// Learns PCA whitening from `db` (FAISS PCAMatrix with eigen_power = `power` and the shrinkage above), then
// transforms `db` and every matrix in `others` with it and normalises each row. FailedPrecondition when db has
// fewer than 2 rows.
Status Whiten(Matrix* db, const std::vector<Matrix*>& others, float power);

// Every row replaced by the normalised sum of itself and its k nearest other rows, each weighted by max(0, ip)^alpha.
void DatabaseAugment(Matrix* db, int k, float alpha);

// alpha-QE: `q` plus its n nearest rows of `db` (row `exclude` left out; SIZE_MAX = none), weighted by
// max(0, ip)^alpha, normalised.
std::vector<float> ExpandQuery(const std::vector<float>& q, const Matrix& db, int n, float alpha, size_t exclude);

// The 95% bootstrap interval of the mean of `per_query` (1000 resamples of the queries, fixed seed).
std::pair<double, double> BootstrapInterval(const std::vector<double>& per_query, int resamples = 1000);

}  // namespace doppel
