// Many concurrent readers (search, count, query) with one writer: no reader ever sees half a batch.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "doppel/store/store.h"
#include "store/store_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

class store_concurrency : public ::testing::TestWithParam<const char*> {};

TEST_P(store_concurrency, ReadersNeverSeeHalfABatch) {
  const size_t dim = 16, per_batch = 50, batches = 60;
  testing::TempDir dir;
  auto store = std::move(OpenLocalStore(dir.path().string()).value());
  ASSERT_TRUE(store->CreateCollection(testing::ImageSchema("c", dim, Metric::kL2, GetParam())).ok());
  auto coll = *store->GetCollection("c");
  auto data = testing::RandomVectors(per_batch * batches, dim, 2);
  std::atomic<bool> done{false};
  std::atomic<int64_t> reads{0}, torn{0};
  auto reader = [&](int which) {
    std::mt19937 rng(which);
    while (!done) {
      int64_t b = rng() % batches;
      // Entities of batch b have size == b: all or none are visible.
      std::string f = "size == " + std::to_string(b);
      int64_t c = -1;
      if (which % 3 == 0) {
        c = *coll->Count(f);
      } else if (which % 3 == 1) {
        QueryRequest q;
        q.filter = f;
        c = static_cast<int64_t>(coll->Query(q)->size());
      } else {
        SearchRequest r;
        r.queries.assign(data.begin(), data.begin() + dim);
        r.k = 100;
        r.filter = f;
        auto res = coll->Search(r);
        c = res.ok() ? static_cast<int64_t>((*res)[0].size()) : -1;
      }
      if (c != 0 && c != static_cast<int64_t>(per_batch)) ++torn;
      int64_t total = *coll->Count();
      if (total % static_cast<int64_t>(per_batch) != 0) ++torn;
      ++reads;
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 6; ++i) readers.emplace_back(reader, i);
  for (size_t b = 0; b < batches; ++b) {
    std::vector<Entity> batch;
    for (size_t i = 0; i < per_batch; ++i) {
      size_t row = b * per_batch + i;
      batch.push_back(testing::MakeEntity(static_cast<int64_t>(row) + 1, &data[row * dim], dim, static_cast<int64_t>(b)));
    }
    ASSERT_TRUE(coll->Insert(batch).ok());
    if (b % 3 == 2) {  // delete a whole earlier batch, by filter, also atomically
      ASSERT_EQ(*coll->DeleteByFilter("size == " + std::to_string(b - 2)), static_cast<int64_t>(per_batch));
    }
  }
  done = true;
  for (auto& t : readers) t.join();
  std::printf("%lld reads during %zu writes\n", static_cast<long long>(reads.load()), batches);
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Indexes, store_concurrency, ::testing::Values("FLAT", "HNSW,M=8,efConstruction=40"));

}  // namespace
}  // namespace doppel
