#include "doppel/engine/compare.h"

#include <gtest/gtest.h>

#include <cmath>

namespace doppel {
namespace {

TEST(Compare, OverlapAtK) {
  EXPECT_DOUBLE_EQ(OverlapAtK({1, 2, 3, 4}, {4, 3, 9, 8}), 0.5);
  EXPECT_DOUBLE_EQ(OverlapAtK({1, 2, 3, 4}, {4, 3, 9, 8}, 2), 0.0);  // top-2: {1,2} vs {4,3}
  EXPECT_DOUBLE_EQ(OverlapAtK({}, {}), 1.0);
  EXPECT_DOUBLE_EQ(OverlapAtK({1, 2}, {2, 1}), 1.0);
}

TEST(Compare, SpearmanOnSharedItems) {
  EXPECT_DOUBLE_EQ(SharedRankCorrelation({1, 2, 3, 4}, {1, 2, 3, 4}), 1.0);
  EXPECT_DOUBLE_EQ(SharedRankCorrelation({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // Shared {1,2,3}: ranks in a (1,2,3), in b (2,1,3): d^2 = 1+1+0 = 2 -> 1 - 12/24 = 0.5
  EXPECT_DOUBLE_EQ(SharedRankCorrelation({1, 2, 3, 7}, {8, 2, 1, 3}), 0.5);
  EXPECT_TRUE(std::isnan(SharedRankCorrelation({1, 2}, {2, 5})));
}

TEST(Compare, ReciprocalRankFusion) {
  auto f = ReciprocalRankFusion({{10, 20, 30}, {20, 40, 10}}, 60);
  ASSERT_EQ(f.size(), 4u);
  // 20: 1/62 + 1/61; 10: 1/61 + 1/63; 30: 1/63; 40: 1/62.
  EXPECT_EQ(f[0].id, 20);
  EXPECT_EQ(f[1].id, 10);
  EXPECT_EQ(f[2].id, 40);
  EXPECT_EQ(f[3].id, 30);
  EXPECT_NEAR(f[0].score, 1.0 / 62 + 1.0 / 61, 1e-12);
  EXPECT_EQ(f[1].ranks, (std::vector<int>{1, 3}));
  EXPECT_EQ(f[3].ranks, (std::vector<int>{3, 0}));
}

}  // namespace
}  // namespace doppel
