// HNSW (hnswlib): recall@10 against exact search on 100k clustered vectors at default parameters, snapshot +
// watermark replay after reopen, per-call ef.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "doppel/store/store.h"
#include "store/store_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

double Recall(Collection& coll, const std::vector<float>& queries, size_t nq, size_t dim, const std::vector<float>& data,
              const std::vector<int64_t>& ids, int ef, Metric metric) {
  SearchRequest r;
  r.queries = queries;
  r.k = 10;
  r.ef = ef;
  auto res = coll.Search(r);
  EXPECT_TRUE(res.ok()) << res.status().ToString();
  size_t found = 0;
  for (size_t q = 0; q < nq; ++q) {
    auto expect = testing::BruteForce(&queries[q * dim], data, ids, dim, 10, metric);
    std::set<int64_t> e(expect.begin(), expect.end());
    for (const auto& h : (*res)[q]) found += e.count(h.id);
  }
  return static_cast<double>(found) / (nq * 10.0);
}

TEST(store_hnsw, Recall100kClusteredAtDefaults) {
  const size_t n = 100000, dim = 64, nq = 200;
  auto data = testing::ClusteredVectors(n, dim, 100, 11);
  auto queries = testing::ClusteredVectors(nq, dim, 100, 11 + 1);
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = static_cast<int64_t>(i);
  testing::TempDir dir;
  auto store = std::move(OpenLocalStore(dir.path().string()).value());
  CollectionSchema s;
  s.name = "emb";
  s.dim = dim;
  s.metric = Metric::kCosine;
  s.index = IndexSpec::Parse("HNSW").value();  // defaults: M=16, efConstruction=200, ef=64
  ASSERT_TRUE(store->CreateCollection(s).ok());
  auto coll = *store->GetCollection("emb");
  auto t0 = std::chrono::steady_clock::now();
  for (size_t b = 0; b < n; b += 10000) {
    std::vector<Entity> batch;
    for (size_t i = b; i < b + 10000; ++i) {
      Entity e;
      e.id = ids[i];
      e.vector.assign(&data[i * dim], &data[(i + 1) * dim]);
      batch.push_back(std::move(e));
    }
    ASSERT_TRUE(coll->Insert(batch).ok());
  }
  double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double recall = Recall(*coll, queries, nq, dim, data, ids, 0, Metric::kIP);
  std::printf("HNSW 100k x %zu: insert %.1f s, recall@10 = %.4f at default ef\n", dim, build_s, recall);
  EXPECT_GE(recall, 0.95);
  std::printf("recall@10 at ef=16: %.4f, ef=256: %.4f\n", Recall(*coll, queries, nq, dim, data, ids, 16, Metric::kIP),
              Recall(*coll, queries, nq, dim, data, ids, 256, Metric::kIP));

  // Reopen: the snapshot is loaded, not rebuilt, and answers the same.
  coll.reset();
  store.reset();
  t0 = std::chrono::steady_clock::now();
  store = std::move(OpenLocalStore(dir.path().string()).value());
  coll = *store->GetCollection("emb");
  double open_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("reopen with snapshot: %.2f s\n", open_s);
  EXPECT_EQ(coll->Describe()->index_watermark, static_cast<int64_t>(n));
  EXPECT_NEAR(Recall(*coll, queries, nq, dim, data, ids, 0, Metric::kIP), recall, 0.01);
}

TEST(store_hnsw, ReplaysChangesAfterWatermark) {
  const size_t dim = 16, n = 2000;
  auto data = testing::RandomVectors(n, dim, 3);
  testing::TempDir dir;
  LocalStoreOptions opt;
  opt.snapshot_every = 1000;  // snapshot after the first 1000, leave 1000 to replay
  auto store = std::move(OpenLocalStore(dir.path().string(), opt).value());
  ASSERT_TRUE(store->CreateCollection(testing::ImageSchema("h", dim, Metric::kL2, "HNSW,M=8,efConstruction=50")).ok());
  auto coll = *store->GetCollection("h");
  for (size_t b = 0; b < n; b += 500) {
    std::vector<Entity> batch;
    for (size_t i = b; i < b + 500; ++i) batch.push_back(testing::MakeEntity(i + 1, &data[i * dim], dim, i));
    ASSERT_TRUE(coll->Insert(batch).ok());
  }
  int64_t wm = coll->Describe()->index_watermark;
  EXPECT_EQ(wm, 2000);  // the snapshot was taken at 1000 and again at 2000 changes
  ASSERT_TRUE(coll->Delete({5, 6}).ok());
  auto up = testing::MakeEntity(7, &data[1999 * dim], dim, 1);  // id 7 now has vector #1999
  ASSERT_TRUE(coll->Upsert({up}).ok());
  // The close-time snapshot covers these; the crash test covers replay after kill -9.
  coll.reset();
  store.reset();
  store = std::move(OpenLocalStore(dir.path().string(), opt).value());
  coll = *store->GetCollection("h");
  EXPECT_EQ(*coll->Count(), static_cast<int64_t>(n - 2));
  SearchRequest r;
  r.queries.assign(&data[1999 * dim], &data[2000 * dim]);
  r.k = 2;
  auto res = *coll->Search(r);
  std::set<int64_t> top = {res[0][0].id, res[0][1].id};
  EXPECT_EQ(top, (std::set<int64_t>{7, 2000}));
  r.queries.assign(&data[4 * dim], &data[5 * dim]);  // vector of id 5 (deleted)
  r.k = 1;
  EXPECT_NE((*coll->Search(r))[0][0].id, 5);
  // Per-call ef: any value works and a larger one does not lose the exact match.
  r.queries.assign(&data[100 * dim], &data[101 * dim]);
  r.ef = 500;
  EXPECT_EQ((*coll->Search(r))[0][0].id, 101);
  ASSERT_TRUE(coll->Compact().ok());
  EXPECT_EQ(coll->Describe()->deleted_slots, 0);
  EXPECT_EQ((*coll->Search(r))[0][0].id, 101);
}

}  // namespace
}  // namespace doppel
