// The store contract: what every backend behind VectorStore/Collection must do the same way (CRUD semantics,
// metrics, durability across a reopen or a second client, metadata, filters, clear errors for bad input). Run
// against every backend through the factory in backends.h: the embedded store, the Milvus backend against the
// in-process fake Milvus REST server (a stand-in, see tests/milvus/fake_milvus.h), and a live Milvus when
// $DOPPEL_MILVUS_URI is set. Backend-specific behaviour is tested beside each backend (collection_test.cc,
// crash_test.cc, read_only_test.cc for the embedded one; tests/milvus for the Milvus one).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <nlohmann/json.hpp>
#include <set>

#include "doppel/store/store.h"
#include "store/backends.h"
#include "store/store_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::MakeEntity;
using testing::RandomVectors;

constexpr int kDim = 16;

class store_contract : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<testing::StoreBackend> backend = testing::StoreBackend::Make(GetParam());
  std::unique_ptr<VectorStore> store;
  std::shared_ptr<Collection> coll;
  std::vector<float> vecs = RandomVectors(200, kDim, 1);

  void SetUp() override {
    if (!backend->skip_reason().empty()) GTEST_SKIP() << backend->skip_reason();
    Open();
  }
  std::string N(const std::string& base) const { return backend->Name(base); }
  CollectionSchema ImageSchema(const std::string& name, int dim, Metric metric = Metric::kL2,
                               const std::string& index = "FLAT") const {
    return testing::ImageSchema(N(name), dim, metric, index);
  }
  void Open(const std::string& index = "FLAT", Metric metric = Metric::kL2) {
    auto s = backend->Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store = std::move(*s);
    auto has = store->HasCollection(N("images"));
    ASSERT_TRUE(has.ok()) << has.status().ToString();
    if (!*has) {
      ASSERT_TRUE(store->CreateCollection(ImageSchema("images", kDim, metric, index)).ok());
    }
    auto c = store->GetCollection(N("images"));
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

TEST_P(store_contract, CreateListDescribeDrop) {
  auto names = store->ListCollections();
  ASSERT_TRUE(names.ok());
  std::vector<std::string> mine;
  for (const auto& n : *names)
    if (n.rfind(N(""), 0) == 0) mine.push_back(n);
  EXPECT_EQ(mine, std::vector<std::string>{N("images")});
  EXPECT_EQ(store->CreateCollection(ImageSchema("images", kDim)).code(), Status::Code::kAlreadyExists);
  ASSERT_TRUE(store->CreateCollection(ImageSchema("other", 8, Metric::kIP)).ok());
  auto info = store->DescribeCollection(N("other"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->schema, ImageSchema("other", 8, Metric::kIP));
  EXPECT_EQ(info->count, 0);
  ASSERT_TRUE(store->DropCollection(N("other")).ok());
  EXPECT_EQ(store->DropCollection(N("other")).code(), Status::Code::kNotFound);
  auto missing = store->GetCollection(N("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find("'" + N("nope") + "'"), std::string::npos);
}

TEST_P(store_contract, DroppedHandleFails) {
  ASSERT_TRUE(coll->Insert(Batch(1, 3)).ok());
  ASSERT_TRUE(store->DropCollection(N("images")).ok());
  auto c = coll->Count();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kNotFound);
}

TEST_P(store_contract, InsertGetQueryCountDelete) {
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
  auto tags = coll->Get({3}, {"tags"});
  ASSERT_TRUE(tags.ok());
  EXPECT_EQ(nlohmann::json::parse(std::get<std::string>((*tags)[0].fields.at("tags"))),
            nlohmann::json::parse(R"(["cat","dog"])")) << "JSON fields come back as the JSON text stored";
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

TEST_P(store_contract, UpsertReplaces) {
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

TEST_P(store_contract, SearchSeesInsertImmediatelyAndFindsItself) {
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

TEST_P(store_contract, DurableAcrossReopen) {
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

TEST_P(store_contract, AutoId) {
  auto schema = ImageSchema("auto", kDim);
  schema.auto_id = true;
  ASSERT_TRUE(store->CreateCollection(schema).ok());
  auto c = *store->GetCollection(N("auto"));
  auto b = Batch(1, 3);
  for (auto& e : b) e.id = 0;
  auto ids = c->Insert(b);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  ASSERT_EQ(ids->size(), 3u);
  // The embedded store counts 1, 2, 3...; Milvus assigns its own ids: unique, and increasing within a batch.
  if (!backend->remote()) EXPECT_EQ(*ids, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_TRUE((*ids)[0] > 0 && (*ids)[0] < (*ids)[1] && (*ids)[1] < (*ids)[2]);
  auto got = c->Get(*ids, {"path"});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 3u) << "each assigned id names its entity";
  EXPECT_EQ(std::get<std::string>((*got)[2].fields.at("path")), "/img/3.jpg");
  const std::vector<int64_t> first_ids = *ids;
  b[0].id = 5;
  EXPECT_EQ(c->Insert(b).status().code(), Status::Code::kInvalidArgument);
  c.reset();
  Reopen();
  c = *store->GetCollection(N("auto"));
  b[0].id = 0;
  auto more = c->Insert(b);
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  if (!backend->remote()) EXPECT_EQ(*more, (std::vector<int64_t>{4, 5, 6}));
  for (int64_t id : *more)  // never reused
    EXPECT_EQ(std::count(first_ids.begin(), first_ids.end(), id), 0);
}

TEST_P(store_contract, MetricsIpAndCosine) {
  ASSERT_TRUE(store->CreateCollection(ImageSchema("ip", 3, Metric::kIP)).ok());
  ASSERT_TRUE(store->CreateCollection(ImageSchema("cos", 3, Metric::kCosine)).ok());
  std::vector<float> a = {1, 0, 0}, b = {10, 10, 0}, c = {0, 0, 2};
  for (const char* name : {"ip", "cos"}) {
    auto coll2 = *store->GetCollection(N(name));
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

TEST_P(store_contract, BatchSearchMatchesSingle) {
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

TEST_P(store_contract, BadInputErrors) {
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

  auto schema = testing::ImageSchema("bad", 0);
  expect_error(store->CreateCollection(schema), Status::Code::kInvalidArgument, "dimension 0");
  schema = testing::ImageSchema("bad name", 4);
  expect_error(store->CreateCollection(schema), Status::Code::kInvalidArgument, "'bad name'");
  schema = testing::ImageSchema("bad", 4, Metric::kHamming);
  expect_error(store->CreateCollection(schema), Status::Code::kInvalidArgument, "HAMMING needs binary");
}

// Filters mean the same on every backend: each one against the ids a direct evaluation of the entities gives.
TEST_P(store_contract, FiltersMeanTheSameEverywhere) {
  auto b = Batch(1, 30);
  b[4].fields["path"] = std::string("/img/it's \"quoted\" \\ back.jpg");
  b[5].fields["path"] = std::string("/other/6.png");
  b[6].fields["tags"] = std::monostate{};
  b[7].fields["score"] = std::monostate{};
  ASSERT_TRUE(coll->Insert(b).ok());
  auto field = [&](const Entity& e, const char* f) { return e.fields.at(f); };
  auto str = [&](const Entity& e) { return std::get<std::string>(field(e, "path")); };
  auto size = [&](const Entity& e) { return std::get<int64_t>(field(e, "size")); };
  struct Case {
    std::string filter;
    std::function<bool(const Entity&)> want;
  };
  std::vector<Case> cases = {
      {"size >= 500 and size < 1200", [&](const Entity& e) { return size(e) >= 500 && size(e) < 1200; }},
      {"size in [100, 300, 2900]", [&](const Entity& e) { return size(e) == 100 || size(e) == 300 || size(e) == 2900; }},
      {"size not in [100, 300]", [&](const Entity& e) { return size(e) != 100 && size(e) != 300; }},
      {"not (size > 1000) or ok == true", [&](const Entity& e) { return size(e) <= 1000 || std::get<bool>(field(e, "ok")); }},
      // (In doppel's grammar only the quote is unescaped in a string; other backslashes stay as written.)
      {"path == '/img/it\\'s \"quoted\" \\ back.jpg'", [&](const Entity& e) { return e.id == 5; }},
      {"path like '/img/%'", [&](const Entity& e) { return str(e).rfind("/img/", 0) == 0; }},
      {"path like '%.png'", [&](const Entity& e) { return str(e).size() > 4 && str(e).substr(str(e).size() - 4) == ".png"; }},
      {"path like '%quoted%'", [&](const Entity& e) { return str(e).find("quoted") != std::string::npos; }},
      {"tags is null", [&](const Entity& e) { return e.id == 7; }},
      {"score is not null and score > 2.0", [&](const Entity& e) {
         return !std::holds_alternative<std::monostate>(field(e, "score")) && std::get<double>(field(e, "score")) > 2.0; }},
      {"json_contains(tags, 'cat')", [&](const Entity& e) { return e.id % 3 == 0 && e.id != 7; }},
      {"id in [2, 4, 99]", [&](const Entity& e) { return e.id == 2 || e.id == 4; }},
      {"id > 25 || id == 1", [&](const Entity& e) { return e.id > 25 || e.id == 1; }},
  };
  for (const auto& c : cases) {
    std::vector<int64_t> want;
    for (const auto& e : b)
      if (c.want(e)) want.push_back(e.id);
    QueryRequest q;
    q.filter = c.filter;
    q.output_fields = {"id"};
    auto rows = coll->Query(q);
    ASSERT_TRUE(rows.ok()) << c.filter << ": " << rows.status().ToString();
    std::vector<int64_t> got;
    for (const auto& e : *rows) got.push_back(e.id);
    EXPECT_EQ(got, want) << c.filter;
    auto n = coll->Count(c.filter);
    ASSERT_TRUE(n.ok()) << c.filter;
    EXPECT_EQ(*n, int64_t(want.size())) << c.filter;
    SearchRequest r;
    r.queries.assign(&vecs[0], &vecs[kDim]);
    r.k = 30;
    r.filter = c.filter;
    auto res = coll->Search(r);
    ASSERT_TRUE(res.ok()) << c.filter << ": " << res.status().ToString();
    std::set<int64_t> found;
    for (const auto& h : (*res)[0]) found.insert(h.id);
    EXPECT_EQ(found, std::set<int64_t>(want.begin(), want.end())) << "search with " << c.filter;
  }
}

// Queries page in id order at any size (Milvus caps offset + limit below 16384).
TEST_P(store_contract, QueriesPageInIdOrderBeyondOneRequest) {
  const int64_t n = 9000;
  std::vector<Entity> all;
  for (int64_t i = 1; i <= n; ++i) {
    Entity e;
    e.id = i * 7919 % 100003;  // not in insertion order
    e.vector.assign(&vecs[(i % 200) * kDim], &vecs[(i % 200 + 1) * kDim]);
    e.fields["size"] = i;
    all.push_back(std::move(e));
  }
  for (size_t at = 0; at < all.size(); at += 3000)
    ASSERT_TRUE(coll->Upsert({all.begin() + at, all.begin() + std::min(all.size(), at + 3000)}).ok());
  std::vector<int64_t> want;
  for (const auto& e : all) want.push_back(e.id);
  std::sort(want.begin(), want.end());
  QueryRequest q;
  q.output_fields = {"id"};
  auto rows = coll->Query(q);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  std::vector<int64_t> got;
  for (const auto& e : *rows) got.push_back(e.id);
  EXPECT_EQ(got, want);
  q.offset = 8000;
  q.limit = 500;
  auto page = coll->Query(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 500u);
  EXPECT_EQ((*page)[0].id, want[8000]);
  EXPECT_EQ(*coll->Count(), n);
}

TEST_P(store_contract, BinaryVectorsAndHamming) {
  CollectionSchema schema;
  schema.name = N("codes");
  schema.vector_type = VectorType::kBinary;
  schema.dim = 64;
  schema.metric = Metric::kHamming;
  schema.index = IndexSpec::Parse("FLAT").value();
  schema.fields = {{"path", FieldType::kString}};
  ASSERT_TRUE(store->CreateCollection(schema).ok());
  auto c = store->GetCollection(N("codes"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<Entity> es;
  std::mt19937 rng(5);
  for (int64_t i = 1; i <= 40; ++i) {
    Entity e;
    e.id = i;
    for (int b = 0; b < 8; ++b) e.binary_vector.push_back(static_cast<uint8_t>(rng()));
    e.fields["path"] = "/codes/" + std::to_string(i);
    es.push_back(e);
  }
  ASSERT_TRUE((*c)->Insert(es).ok());
  auto got = (*c)->Get({17}, {"vector"});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].binary_vector, es[16].binary_vector) << "the bytes come back as written";
  SearchRequest r;
  r.binary_queries = es[9].binary_vector;
  r.binary_queries[0] ^= 0x0f;  // 4 bits from entity 10
  r.k = 5;
  auto res = (*c)->Search(r);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  ASSERT_EQ((*res)[0].size(), 5u);
  EXPECT_EQ((*res)[0][0].id, 10);
  EXPECT_FLOAT_EQ((*res)[0][0].distance, 4);
  for (const auto& h : (*res)[0]) {  // each distance is the popcount of the XOR
    int bits = 0;
    for (int b = 0; b < 8; ++b) bits += __builtin_popcount(unsigned(es[h.id - 1].binary_vector[b] ^ r.binary_queries[b]));
    EXPECT_FLOAT_EQ(h.distance, float(bits)) << h.id;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, store_contract, ::testing::Values("embedded", "milvus-fake", "milvus-live"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string s = p.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

}  // namespace
}  // namespace doppel
