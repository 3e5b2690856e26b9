// CRUD semantics, metrics, durability across reopen, metadata, and clear errors for bad input.
#include <gtest/gtest.h>

#include <filesystem>

#include "doppel/store/store.h"
#include "store/store_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::ImageSchema;
using testing::MakeEntity;
using testing::RandomVectors;

constexpr int kDim = 16;

struct store_collection : ::testing::Test {
  testing::TempDir dir;
  std::unique_ptr<VectorStore> store;
  std::shared_ptr<Collection> coll;
  std::vector<float> vecs = RandomVectors(200, kDim, 1);

  void SetUp() override { Open(); }
  void Open(const std::string& index = "FLAT", Metric metric = Metric::kL2) {
    auto s = OpenLocalStore(dir.path().string());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store = std::move(*s);
    auto has = store->HasCollection("images");
    if (!*has) {
      ASSERT_TRUE(store->CreateCollection(ImageSchema("images", kDim, metric, index)).ok());
    }
    auto c = store->GetCollection("images");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    coll = *c;
  }
  void Reopen() {
    coll.reset();
    store.reset();
    Open();
  }
  std::vector<Entity> Batch(int64_t first, int64_t n) {
    std::vector<Entity> b;
    for (int64_t i = first; i < first + n; ++i) b.push_back(MakeEntity(i, &vecs[(i % 200) * kDim], kDim, i * 100));
    return b;
  }
};

TEST_F(store_collection, SecondOpenOfSameDirectoryFails) {
  auto s = OpenLocalStore(dir.path().string());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kFailedPrecondition);
}

TEST_F(store_collection, DamagedSnapshotIsRebuiltWithWarning) {
  ASSERT_TRUE(coll->Insert(Batch(1, 50)).ok());
  ASSERT_TRUE(coll->Flush().ok());
  coll.reset();
  store.reset();
  std::string cdir = dir.path().string() + "/collections/images";
  for (const auto& e : std::filesystem::directory_iterator(cdir)) {
    if (e.path().extension() == ".bin") testing::WriteFile(e.path().string(), "garbage");
  }
  static std::string warned;
  LocalStoreOptions opt;
  opt.warn = [](const std::string& m) { warned = m; };
  auto s = OpenLocalStore(dir.path().string(), opt);
  ASSERT_TRUE(s.ok());
  auto c = (*s)->GetCollection("images");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_NE(warned.find("rebuilding"), std::string::npos) << warned;
  EXPECT_EQ(*(*c)->Count(), 50);
  SearchRequest r;
  r.queries.assign(&vecs[7 * kDim], &vecs[8 * kDim]);
  r.k = 1;
  EXPECT_EQ((*(*c)->Search(r))[0][0].id, 7);
}

TEST_F(store_collection, DamagedDataNamesTheFile) {
  ASSERT_TRUE(coll->Insert(Batch(1, 100)).ok());
  coll.reset();
  store.reset();
  std::string db = dir.path().string() + "/collections/images/data.db";
  // Checkpointed on close: the rows live in data.db. Overwrite everything after the first page header.
  std::string bytes = testing::ReadFile(db);
  for (size_t i = 100; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  testing::WriteFile(db, bytes);
  std::filesystem::remove(db + "-wal");
  auto s = OpenLocalStore(dir.path().string());
  ASSERT_TRUE(s.ok());
  auto c = (*s)->GetCollection("images");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("data.db"), std::string::npos) << c.status().ToString();
}

}  // namespace
}  // namespace doppel

namespace doppel {
namespace {

TEST(store_schema, IndexSpecParseAndPrint) {
  auto h = IndexSpec::Parse(" hnsw, M=32, efConstruction=100, ef=50 ");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->kind, IndexKind::kHnsw);
  EXPECT_EQ(h->hnsw_m, 32);
  EXPECT_EQ(h->hnsw_ef_construction, 100);
  EXPECT_EQ(h->hnsw_ef, 50);
  EXPECT_EQ(*IndexSpec::Parse(h->ToString()), *h);
  auto pq = IndexSpec::Parse("IVF_PQ,nlist=256,m=16,nbits=8,nprobe=4");
  ASSERT_TRUE(pq.ok());
  EXPECT_EQ(pq->pq_m, 16);
  EXPECT_EQ(pq->hnsw_m, 16);  // untouched default
  EXPECT_EQ(*IndexSpec::Parse(pq->ToString()), *pq);
  EXPECT_NE(IndexSpec::Parse("ANNOY").status().message().find("unknown index 'ANNOY'"), std::string::npos);
  EXPECT_NE(IndexSpec::Parse("HNSW,M").status().message().find("not key=value"), std::string::npos);
  EXPECT_NE(IndexSpec::Parse("HNSW,M=-3").status().message().find("non-negative integer"), std::string::npos);
  EXPECT_NE(IndexSpec::Parse("FLAT,colour=1").status().message().find("unknown parameter 'COLOUR'"),
            std::string::npos);
  auto s = testing::ImageSchema("x", 10, Metric::kL2, "IVF_PQ,m=3");
  EXPECT_NE(s.Validate().message().find("does not divide dimension 10"), std::string::npos);
}

}  // namespace
}  // namespace doppel
