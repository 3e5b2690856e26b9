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

TEST_F(store_collection, CreateListDescribeDrop) {
  auto names = store->ListCollections();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"images"});
  EXPECT_EQ(store->CreateCollection(ImageSchema("images", kDim)).code(), Status::Code::kAlreadyExists);
  ASSERT_TRUE(store->CreateCollection(ImageSchema("other", 8, Metric::kIP)).ok());
  auto info = store->DescribeCollection("other");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->schema, ImageSchema("other", 8, Metric::kIP));
  EXPECT_EQ(info->count, 0);
  ASSERT_TRUE(store->DropCollection("other").ok());
  EXPECT_EQ(store->DropCollection("other").code(), Status::Code::kNotFound);
  auto missing = store->GetCollection("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find("'nope'"), std::string::npos);
}

TEST_F(store_collection, DroppedHandleFails) {
  ASSERT_TRUE(coll->Insert(Batch(1, 3)).ok());
  ASSERT_TRUE(store->DropCollection("images").ok());
  auto c = coll->Count();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kNotFound);
}

TEST_F(store_collection, InsertGetQueryCountDelete) {
  auto ids = coll->Insert(Batch(1, 10));
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(ids->size(), 10u);
  EXPECT_EQ(*coll->Count(), 10);
  auto got = coll->Get({3, 99, 1}, {"path", "size", "vector"});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].id, 3);
  EXPECT_EQ(std::get<std::string>((*got)[0].fields.at("path")), "/img/3.jpg");
  EXPECT_EQ(std::get<int64_t>((*got)[0].fields.at("size")), 300);
  EXPECT_EQ((*got)[0].fields.count("score"), 0u);
  EXPECT_EQ((*got)[0].vector, std::vector<float>(&vecs[3 * kDim], &vecs[4 * kDim]));
  EXPECT_EQ((*got)[1].id, 1);

  QueryRequest q;
  q.filter = "size >= 500";
  q.output_fields = {"size"};
  q.limit = 3;
  q.offset = 1;
  auto rows = coll->Query(q);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].id, 6);
  EXPECT_EQ((*rows)[2].id, 8);
  EXPECT_EQ(*coll->Count("size >= 500"), 6);

  auto del = coll->Delete({2, 4, 4, 1000});
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(*del, 2);
  EXPECT_EQ(*coll->Count(), 8);
  EXPECT_TRUE(coll->Get({2})->empty());
  EXPECT_EQ(coll->DeleteByFilter(" ").status().code(), Status::Code::kInvalidArgument);
  QueryRequest all;
  all.limit = 1;
  auto first = coll->Query(all);  // no output fields named: every scalar field
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].fields.size(), 5u);
  auto delf = coll->DeleteByFilter("ok == true");  // even ids: 6, 8, 10 remain of them
  ASSERT_TRUE(delf.ok());
  EXPECT_EQ(*delf, 3);
  EXPECT_EQ(*coll->Count(), 5);
  // A deleted id can be inserted again.
  ASSERT_TRUE(coll->Insert(Batch(2, 1)).ok());
  EXPECT_EQ(*coll->Count(), 6);
}

TEST_F(store_collection, UpsertReplaces) {
  ASSERT_TRUE(coll->Insert(Batch(1, 5)).ok());
  auto b = Batch(4, 3);  // 4, 5 exist; 6 is new
  b[0].fields["path"] = std::string("/new/4.jpg");
  b[0].vector = std::vector<float>(&vecs[100 * kDim], &vecs[101 * kDim]);
  ASSERT_TRUE(coll->Upsert(b).ok());
  EXPECT_EQ(*coll->Count(), 6);
  auto g = coll->Get({4}, {"path", "vector"});
  EXPECT_EQ(std::get<std::string>((*g)[0].fields.at("path")), "/new/4.jpg");
  SearchRequest r;
  r.queries = (*g)[0].vector;
  r.k = 1;
  auto res = coll->Search(r);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ((*res)[0][0].id, 4);
  EXPECT_FLOAT_EQ((*res)[0][0].distance, 0);
  Reopen();
  g = coll->Get({4}, {"path"});
  EXPECT_EQ(std::get<std::string>((*g)[0].fields.at("path")), "/new/4.jpg");
  EXPECT_EQ(*coll->Count(), 6);
}

TEST_F(store_collection, SearchSeesInsertImmediatelyAndFindsItself) {
  ASSERT_TRUE(coll->Insert(Batch(1, 150)).ok());
  for (int64_t id : {1, 50, 150}) {
    SearchRequest r;
    r.queries.assign(&vecs[(id % 200) * kDim], &vecs[(id % 200 + 1) * kDim]);
    r.k = 3;
    r.output_fields = {"path"};
    auto res = coll->Search(r);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    ASSERT_EQ((*res)[0].size(), 3u);
    EXPECT_EQ((*res)[0][0].id, id);
    EXPECT_EQ(std::get<std::string>((*res)[0][0].fields.at("path")), "/img/" + std::to_string(id) + ".jpg");
  }
}

TEST_F(store_collection, DurableAcrossReopen) {
  ASSERT_TRUE(coll->Insert(Batch(1, 100)).ok());
  ASSERT_TRUE(coll->Delete({7}).ok());
  ASSERT_TRUE(coll->SetMetadata("model", "sha256:abc").ok());
  Reopen();
  EXPECT_EQ(*coll->Count(), 99);
  EXPECT_EQ(*coll->GetMetadata("model"), "sha256:abc");
  EXPECT_EQ(coll->GetMetadata("none").status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(coll->Get({7})->empty());
  ASSERT_TRUE(coll->Insert(Batch(101, 10)).ok());
  Reopen();
  EXPECT_EQ(*coll->Count(), 109);
  SearchRequest r;
  r.queries.assign(&vecs[105 * kDim], &vecs[106 * kDim]);
  r.k = 1;
  EXPECT_EQ((*coll->Search(r))[0][0].id, 105);
}

TEST_F(store_collection, SecondOpenOfSameDirectoryFails) {
  auto s = OpenLocalStore(dir.path().string());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kFailedPrecondition);
}

TEST_F(store_collection, AutoId) {
  auto schema = ImageSchema("auto", kDim);
  schema.auto_id = true;
  ASSERT_TRUE(store->CreateCollection(schema).ok());
  auto c = *store->GetCollection("auto");
  auto b = Batch(1, 3);
  for (auto& e : b) e.id = 0;
  auto ids = c->Insert(b);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(*ids, (std::vector<int64_t>{1, 2, 3}));
  b[0].id = 5;
  EXPECT_EQ(c->Insert(b).status().code(), Status::Code::kInvalidArgument);
  c.reset();
  Reopen();
  c = *store->GetCollection("auto");
  b[0].id = 0;
  EXPECT_EQ(*c->Insert(b), (std::vector<int64_t>{4, 5, 6}));
}

TEST_F(store_collection, MetricsIpAndCosine) {
  ASSERT_TRUE(store->CreateCollection(ImageSchema("ip", 3, Metric::kIP)).ok());
  ASSERT_TRUE(store->CreateCollection(ImageSchema("cos", 3, Metric::kCosine)).ok());
  std::vector<float> a = {1, 0, 0}, b = {10, 10, 0}, c = {0, 0, 2};
  for (const char* name : {"ip", "cos"}) {
    auto coll2 = *store->GetCollection(name);
    Entity ea, eb, ec;
    ea.id = 1; ea.vector = a;
    eb.id = 2; eb.vector = b;
    ec.id = 3; ec.vector = c;
    ASSERT_TRUE(coll2->Insert({ea, eb, ec}).ok());
    SearchRequest r;
    r.queries = {1, 0.1f, 0};
    r.k = 3;
    auto res = *coll2->Search(r);
    if (std::string(name) == "ip") {
      EXPECT_EQ(res[0][0].id, 2);  // largest inner product: 11
      EXPECT_NEAR(res[0][0].distance, 11.0, 1e-4);
    } else {
      EXPECT_EQ(res[0][0].id, 1);  // smallest angle
      EXPECT_NEAR(res[0][0].distance, 1 / std::sqrt(1.01), 1e-5);
      EXPECT_NEAR(res[0][2].distance, 0.0, 1e-6);
    }
  }
}

TEST_F(store_collection, BatchSearchMatchesSingle) {
  ASSERT_TRUE(coll->Insert(Batch(0, 200)).ok());
  SearchRequest r;
  r.queries = RandomVectors(40, kDim, 9);  // >= 16 queries: the BLAS path when an optimised BLAS is loaded
  r.k = 5;
  r.filter = "size < 15000";
  auto batch = coll->Search(r);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  for (size_t q = 0; q < 40; ++q) {
    SearchRequest one = r;
    one.queries.assign(&r.queries[q * kDim], &r.queries[(q + 1) * kDim]);
    auto single = coll->Search(one);
    ASSERT_EQ((*single)[0].size(), 5u);
    for (size_t j = 0; j < 5; ++j) {
      EXPECT_EQ((*batch)[q][j].id, (*single)[0][j].id);
      EXPECT_NEAR((*batch)[q][j].distance, (*single)[0][j].distance, 1e-3);
    }
  }
}

TEST_F(store_collection, BadInputErrors) {
  ASSERT_TRUE(coll->Insert(Batch(1, 2)).ok());
  auto expect_error = [](const Status& s, Status::Code code, const std::string& needle) {
    EXPECT_EQ(s.code(), code) << s.ToString();
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.ToString() << " lacks " << needle;
  };
  auto b = Batch(10, 1);
  b[0].vector.pop_back();
  expect_error(coll->Insert(b).status(), Status::Code::kInvalidArgument, "dimension 15, expected 16");
  b = Batch(10, 1);
  b[0].vector[3] = std::nanf("");
  expect_error(coll->Insert(b).status(), Status::Code::kInvalidArgument, "NaN");
  b[0].vector[3] = INFINITY;
  expect_error(coll->Insert(b).status(), Status::Code::kInvalidArgument, "infinite");
  b = Batch(10, 1);
  b[0].fields["colour"] = std::string("red");
  expect_error(coll->Insert(b).status(), Status::Code::kInvalidArgument, "unknown field 'colour'");
  b = Batch(10, 1);
  b[0].fields["size"] = std::string("big");
  expect_error(coll->Insert(b).status(), Status::Code::kInvalidArgument, "field 'size' is INT64");
  b = Batch(10, 1);
  b[0].fields["tags"] = std::string("[1,");
  expect_error(coll->Insert(b).status(), Status::Code::kInvalidArgument, "not valid JSON");
  expect_error(coll->Insert(Batch(2, 2)).status(), Status::Code::kAlreadyExists, "id 2 already exists");
  auto dup = Batch(20, 2);
  dup[1].id = 20;
  expect_error(coll->Insert(dup).status(), Status::Code::kInvalidArgument, "id 20 appears twice");
  EXPECT_EQ(*coll->Count(), 2);  // nothing of the failed batches was written

  SearchRequest r;
  r.queries = std::vector<float>(kDim + 1, 0.f);
  expect_error(coll->Search(r).status(), Status::Code::kInvalidArgument, "dimension 16");
  r.queries = std::vector<float>(kDim, 0.f);
  r.filter = "size >";
  expect_error(coll->Search(r).status(), Status::Code::kInvalidArgument, "filter 'size >'");
  r.filter = "colour == 'red'";
  expect_error(coll->Search(r).status(), Status::Code::kInvalidArgument, "unknown field 'colour'");
  r.filter = "size == 'big'";
  expect_error(coll->Search(r).status(), Status::Code::kInvalidArgument, "type mismatch");
  r.filter = "";
  r.output_fields = {"nope"};
  expect_error(coll->Search(r).status(), Status::Code::kInvalidArgument, "unknown output field 'nope'");

  auto schema = ImageSchema("bad", 0);
  expect_error(store->CreateCollection(schema), Status::Code::kInvalidArgument, "dimension 0");
  schema = ImageSchema("bad name", 4);
  expect_error(store->CreateCollection(schema), Status::Code::kInvalidArgument, "'bad name'");
  schema = ImageSchema("bad", 4, Metric::kHamming);
  expect_error(store->CreateCollection(schema), Status::Code::kInvalidArgument, "HAMMING needs binary");
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
