// The FAISS engines: IVF_FLAT / IVF_SQ8 / IVF_PQ (recall, training threshold, snapshot round trip, upsert and
// delete after training) and binary vectors with HAMMING (FLAT equal to a brute-force popcount, HNSW).
#include <gtest/gtest.h>

#include <set>

#include "doppel/store/store.h"
#include "store/store_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

std::unique_ptr<VectorStore> Open(const testing::TempDir& dir) {
  return std::move(OpenLocalStore(dir.path().string()).value());
}

double RecallAt10(Collection& coll, const std::vector<float>& queries, size_t nq, size_t dim,
                  const std::vector<float>& data, const std::vector<int64_t>& ids, Metric metric, int nprobe) {
  SearchRequest r;
  r.queries = queries;
  r.k = 10;
  r.nprobe = nprobe;
  auto res = coll.Search(r);
  EXPECT_TRUE(res.ok()) << res.status().ToString();
  if (!res.ok()) return 0;
  size_t found = 0;
  for (size_t q = 0; q < nq; ++q) {
    auto e = testing::BruteForce(&queries[q * dim], data, ids, dim, 10, metric);
    std::set<int64_t> s(e.begin(), e.end());
    for (const auto& h : (*res)[q]) found += s.count(h.id);
  }
  return found / (nq * 10.0);
}

class store_ivf : public ::testing::TestWithParam<std::pair<const char*, double>> {};

TEST_P(store_ivf, TrainsSearchesPersists) {
  const size_t n = 20000, dim = 32, nq = 50;
  auto data = testing::ClusteredVectors(n, dim, 50, 3);
  auto queries = testing::ClusteredVectors(nq, dim, 50, 4);
  std::vector<int64_t> ids(n);
  testing::TempDir dir;
  auto store = Open(dir);
  auto schema = testing::ImageSchema("v", dim, Metric::kL2, GetParam().first);
  ASSERT_TRUE(store->CreateCollection(schema).ok());
  auto coll = *store->GetCollection("v");
  for (size_t b = 0; b < n; b += 5000) {
    std::vector<Entity> batch;
    for (size_t i = b; i < b + 5000; ++i) {
      ids[i] = static_cast<int64_t>(i) + 1;
      batch.push_back(testing::MakeEntity(ids[i], &data[i * dim], dim, ids[i] % 10));
    }
    ASSERT_TRUE(coll->Insert(batch).ok());
  }
  double recall = RecallAt10(*coll, queries, nq, dim, data, ids, Metric::kL2, 0);
  double recall_all = RecallAt10(*coll, queries, nq, dim, data, ids, Metric::kL2, 64);
  std::printf("%s: recall@10 %.3f at default nprobe, %.3f at nprobe=64; memory %zu bytes\n", GetParam().first,
              recall, recall_all, coll->Describe()->memory_bytes);
  EXPECT_GE(recall, GetParam().second);
  EXPECT_GE(recall_all, recall - 0.01);

  // Filtered: k hits whenever k match, all matching.
  SearchRequest r;
  r.queries.assign(queries.begin(), queries.begin() + dim);
  r.k = 10;
  r.filter = "size == 3 and id < 500";
  r.output_fields = {"size"};
  auto res = coll->Search(r);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ((*res)[0].size(), 10u);
  for (const auto& h : (*res)[0]) EXPECT_EQ(std::get<int64_t>(h.fields.at("size")), 3);

  // Upsert and delete after training; then reopen from the snapshot.
  Entity moved = testing::MakeEntity(5, &queries[0], dim, 5);
  ASSERT_TRUE(coll->Upsert({moved}).ok());
  ASSERT_TRUE(coll->Delete({6}).ok());
  r.filter = "";
  r.nprobe = 64;
  EXPECT_EQ((*coll->Search(r))[0][0].id, 5);
  coll.reset();
  store.reset();
  store = Open(dir);
  coll = *store->GetCollection("v");
  EXPECT_EQ(*coll->Count(), static_cast<int64_t>(n - 1));
  EXPECT_EQ((*coll->Search(r))[0][0].id, 5);
  EXPECT_NEAR(RecallAt10(*coll, queries, nq, dim, data, ids, Metric::kL2, 0), recall, 0.05);
}

INSTANTIATE_TEST_SUITE_P(Kinds, store_ivf,
                         ::testing::Values(std::make_pair("IVF_FLAT,nlist=64,nprobe=8", 0.9),
                                           std::make_pair("IVF_SQ8,nlist=64,nprobe=8", 0.85),
                                           std::make_pair("IVF_PQ,nlist=64,nprobe=8,m=8", 0.4)));

TEST(store_ivf_small, SearchesExactlyBeforeTraining) {
  testing::TempDir dir;
  auto store = Open(dir);
  ASSERT_TRUE(store->CreateCollection(testing::ImageSchema("v", 4, Metric::kIP, "IVF_PQ,m=2")).ok());
  auto coll = *store->GetCollection("v");
  auto data = testing::RandomVectors(100, 4, 1);
  std::vector<Entity> b;
  for (int i = 0; i < 100; ++i) b.push_back(testing::MakeEntity(i + 1, &data[i * 4], 4));
  ASSERT_TRUE(coll->Insert(b).ok());
  std::vector<int64_t> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(i + 1);
  SearchRequest r;
  r.queries.assign(data.begin() + 40, data.begin() + 44);
  r.k = 5;
  auto res = coll->Search(r);
  auto expect = testing::BruteForce(&data[40], data, ids, 4, 5, Metric::kIP);
  std::vector<int64_t> got;
  for (const auto& h : (*res)[0]) got.push_back(h.id);
  EXPECT_EQ(got, expect);
}

std::vector<uint8_t> RandomCodes(size_t n, size_t bytes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n * bytes);
  for (auto& x : v) x = static_cast<uint8_t>(rng());
  return v;
}

class store_hamming : public ::testing::TestWithParam<const char*> {};

TEST_P(store_hamming, EqualsBruteForcePopcount) {
  const size_t n = 5000, bits = 256, bytes = bits / 8;
  auto codes = RandomCodes(n, bytes, 9);
  testing::TempDir dir;
  auto store = Open(dir);
  CollectionSchema s;
  s.name = "bin";
  s.vector_type = VectorType::kBinary;
  s.dim = bits;
  s.metric = Metric::kHamming;
  s.index = IndexSpec::Parse(GetParam()).value();
  s.fields = {{"g", FieldType::kInt64}};
  ASSERT_TRUE(store->CreateCollection(s).ok());
  auto coll = *store->GetCollection("bin");
  std::vector<Entity> batch;
  for (size_t i = 0; i < n; ++i) {
    Entity e;
    e.id = static_cast<int64_t>(i);
    e.binary_vector.assign(&codes[i * bytes], &codes[(i + 1) * bytes]);
    e.fields["g"] = static_cast<int64_t>(i % 4);
    batch.push_back(std::move(e));
  }
  ASSERT_TRUE(coll->Insert(batch).ok());
  Entity wrong;
  wrong.id = 99999;
  wrong.binary_vector.resize(bytes - 1);
  EXPECT_EQ(coll->Insert({wrong}).status().code(), Status::Code::kInvalidArgument);

  auto queries = RandomCodes(20, bytes, 10);
  for (const char* filter : {"", "g == 2"}) {
    SearchRequest r;
    r.binary_queries = queries;
    r.k = 10;
    r.ef = 200;
    r.filter = filter;
    auto res = coll->Search(r);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
    size_t exact_dist = 0, total = 0;
    for (size_t q = 0; q < 20; ++q) {
      std::vector<std::pair<int, int64_t>> ref;
      for (size_t i = 0; i < n; ++i) {
        if (*filter && i % 4 != 2) continue;
        int d = 0;
        for (size_t b = 0; b < bytes; ++b) d += __builtin_popcount(codes[q * 0 + i * bytes + b] ^ queries[q * bytes + b]);
        ref.emplace_back(d, static_cast<int64_t>(i));
      }
      std::sort(ref.begin(), ref.end());
      ASSERT_EQ((*res)[q].size(), 10u);
      for (size_t j = 0; j < 10; ++j) {
        const auto& h = (*res)[q][j];
        if (*filter) {
          EXPECT_EQ(h.id % 4, 2);
        }
        // The reported distance is the true popcount of the hit.
        int d = 0;
        for (size_t b = 0; b < bytes; ++b) d += __builtin_popcount(codes[h.id * bytes + b] ^ queries[q * bytes + b]);
        EXPECT_EQ(static_cast<int>(h.distance), d);
        exact_dist += h.distance == ref[j].first;
        ++total;
      }
    }
    if (std::string(GetParam()) == "FLAT") EXPECT_EQ(exact_dist, total) << filter;  // same distances, in order
    else EXPECT_GE(exact_dist * 10, total * 8) << filter;
  }
  // Reopen from the snapshot.
  coll.reset();
  store.reset();
  store = Open(dir);
  coll = *store->GetCollection("bin");
  SearchRequest r;
  r.binary_queries.assign(&codes[77 * bytes], &codes[78 * bytes]);
  r.k = 1;
  auto res = coll->Search(r);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ((*res)[0][0].id, 77);
  EXPECT_EQ((*res)[0][0].distance, 0);
}

INSTANTIATE_TEST_SUITE_P(Indexes, store_hamming, ::testing::Values("FLAT", "HNSW,M=16,efConstruction=64"));

}  // namespace
}  // namespace doppel
