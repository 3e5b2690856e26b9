#include "doppel/engine/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace doppel {

double OverlapAtK(const std::vector<int64_t>& a, const std::vector<int64_t>& b, int k) {
  if (k <= 0) k = static_cast<int>(std::max(a.size(), b.size()));
  if (k == 0) return 1.0;
  std::unordered_set<int64_t> sa(a.begin(), a.begin() + std::min<size_t>(k, a.size()));
  int shared = 0;
  for (size_t i = 0; i < b.size() && i < size_t(k); ++i) shared += sa.count(b[i]) ? 1 : 0;
  return double(shared) / k;
}

double SharedRankCorrelation(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::unordered_map<int64_t, int> pos_b;
  for (size_t i = 0; i < b.size(); ++i) pos_b.emplace(b[i], static_cast<int>(i));
  std::vector<std::pair<int, int>> shared;  // (position in a, position in b)
  for (size_t i = 0; i < a.size(); ++i) {
    auto it = pos_b.find(a[i]);
    if (it != pos_b.end()) shared.emplace_back(static_cast<int>(i), it->second);
  }
  const size_t n = shared.size();
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  // Re-rank among the shared items only (1..n in each list), then rho = 1 - 6 sum d^2 / (n (n^2 - 1)).
  std::vector<int> rank_b(n);
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return shared[x].second < shared[y].second; });
  for (size_t r = 0; r < n; ++r) rank_b[order[r]] = static_cast<int>(r);
  double d2 = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = double(i) - rank_b[i];  // shared is already in a's order
    d2 += d * d;
  }
  return 1.0 - 6.0 * d2 / (double(n) * (double(n) * n - 1));
}

std::vector<FusedItem> ReciprocalRankFusion(const std::vector<std::vector<int64_t>>& lists, double k) {
  std::unordered_map<int64_t, size_t> where;
  std::vector<FusedItem> items;
  for (size_t l = 0; l < lists.size(); ++l)
    for (size_t r = 0; r < lists[l].size(); ++r) {
      int64_t id = lists[l][r];
      auto [it, fresh] = where.emplace(id, items.size());
      if (fresh) {
        FusedItem f;
        f.id = id;
        f.ranks.assign(lists.size(), 0);
        items.push_back(f);
      }
      FusedItem& f = items[it->second];
      if (f.ranks[l] == 0) {  // an id repeated within one list counts once, at its best rank
        f.ranks[l] = static_cast<int>(r + 1);
        f.score += 1.0 / (k + double(r + 1));
      }
    }
  auto best_rank = [](const FusedItem& f) {
    int b = std::numeric_limits<int>::max();
    for (int r : f.ranks)
      if (r > 0) b = std::min(b, r);
    return b;
  };
  std::sort(items.begin(), items.end(), [&](const FusedItem& x, const FusedItem& y) {
    if (x.score != y.score) return x.score > y.score;
    if (best_rank(x) != best_rank(y)) return best_rank(x) < best_rank(y);
    return x.id < y.id;
  });
  return items;
}

}  // namespace doppel
