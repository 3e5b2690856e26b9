// Comparing ranked lists from different models. Distances of different models live on different scales and are
// never added or compared across models; only rankings are.
#pragma once

#include <cstdint>
#include <vector>

namespace doppel {

// |top-k of a ∩ top-k of b| / k (k = the longer list's length when k <= 0). 1 when both are empty.
double OverlapAtK(const std::vector<int64_t>& a, const std::vector<int64_t>& b, int k = 0);

// Spearman's rank correlation of the items present in both lists, from their positions in each list (ties
// impossible: positions are distinct). NaN when fewer than 2 items are shared.
double SharedRankCorrelation(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

struct FusedItem {
  int64_t id = 0;
  double score = 0;        // sum over lists of 1 / (k + rank), rank from 1
  std::vector<int> ranks;  // rank in each input list, 0 when absent
};

// Reciprocal rank fusion (Cormack et al. 2009) of several ranked id lists, best first; ties broken by best single
// rank, then id. `k` is the RRF constant (60 in the paper).
std::vector<FusedItem> ReciprocalRankFusion(const std::vector<std::vector<int64_t>>& lists, double k = 60.0);

}  // namespace doppel
