// Read-only opens beside a writer: a reader sees what was committed when it opened (snapshot index + the rows
// after its watermark, searched through the exact delta index and merged), never writes, and a second writer is
// refused with a message naming the process that holds the store.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "doppel/store/store.h"
#include "store/store_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::ImageSchema;
using testing::MakeEntity;

constexpr int kDim = 24;

std::unique_ptr<VectorStore> OpenStore(const std::string& dir, bool read_only) {
  LocalStoreOptions o;
  o.read_only = read_only;
  auto s = OpenLocalStore(dir, o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

// Brute-force top-k ids (L2) over the given live vectors.
std::vector<int64_t> BruteForce(const std::map<int64_t, std::vector<float>>& live, const float* q, int k) {
  std::vector<std::pair<float, int64_t>> d;
  for (const auto& [id, v] : live) {
    float s = 0;
    for (int j = 0; j < kDim; ++j) s += (v[j] - q[j]) * (v[j] - q[j]);
    d.emplace_back(s, id);
  }
  std::sort(d.begin(), d.end());
  std::vector<int64_t> out;
  for (int i = 0; i < k && i < int(d.size()); ++i) out.push_back(d[i].second);
  return out;
}

class ReadOnlyStore : public ::testing::TestWithParam<const char*> {};

TEST_P(ReadOnlyStore, ReaderSeesSnapshotPlusNewerRowsExactly) {
  testing::TempDir dir;
  auto w = OpenStore(dir.path().string(), false);
  ASSERT_TRUE(w->CreateCollection(ImageSchema("c", kDim, Metric::kL2, GetParam())).ok());
  auto wc = *w->GetCollection("c");
  std::vector<float> vecs = testing::RandomVectors(700, kDim, 5);
  std::map<int64_t, std::vector<float>> live;
  auto put = [&](int64_t id, const float* v) {
    live[id] = std::vector<float>(v, v + kDim);
    return MakeEntity(id, v, kDim, id);
  };
  std::vector<Entity> first;
  for (int64_t i = 1; i <= 400; ++i) first.push_back(put(i, &vecs[(i - 1) * kDim]));
  ASSERT_TRUE(wc->Insert(first).ok());
  ASSERT_TRUE(wc->Flush().ok());  // the snapshot: 400 rows
  // After the snapshot: new rows, upserts of old ids with new vectors, deletes.
  std::vector<Entity> later;
  for (int64_t i = 401; i <= 500; ++i) later.push_back(put(i, &vecs[(i - 1) * kDim]));
  for (int64_t i = 1; i <= 50; ++i) later.push_back(put(i, &vecs[(550 + i - 1) * kDim]));
  ASSERT_TRUE(wc->Upsert(later).ok());
  std::vector<int64_t> gone;
  for (int64_t i = 60; i < 80; ++i) gone.push_back(i);
  for (int64_t i = 450; i < 460; ++i) gone.push_back(i);
  ASSERT_TRUE(wc->Delete(gone).ok());
  for (int64_t id : gone) live.erase(id);

  auto r = OpenStore(dir.path().string(), true);
  ASSERT_TRUE(r);
  auto rc = r->GetCollection("c");
  ASSERT_TRUE(rc.ok()) << rc.status().ToString();
  EXPECT_EQ(*(*rc)->Count(), int64_t(live.size()));
  // Upserted ids answer with their new vector, from the delta (never the stale one in the snapshot index).
  for (int64_t i = 1; i <= 50; i += 7) {
    SearchRequest req;
    req.queries = live[i];
    req.k = 1;
    auto res = (*rc)->Search(req);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    ASSERT_EQ((*res)[0].size(), 1u);
    EXPECT_EQ((*res)[0][0].id, i);
    EXPECT_NEAR((*res)[0][0].distance, 0.0, 1e-5);
  }
  // The old vector of an upserted id is gone: querying with it does not find that id at distance 0.
  for (int64_t i = 1; i <= 50; i += 7) {
    SearchRequest req;
    req.queries.assign(&vecs[(i - 1) * kDim], &vecs[i * kDim]);
    req.k = 1;
    auto res = (*rc)->Search(req);
    ASSERT_TRUE(res.ok());
    EXPECT_FALSE((*res)[0][0].id == i && (*res)[0][0].distance < 1e-6) << "stale vector of id " << i;
  }
  // Top-10 of random queries equals brute force over the live rows (exactly for FLAT; HNSW at a generous ef).
  std::vector<float> qs = testing::RandomVectors(20, kDim, 99);
  size_t agree = 0, total = 0;
  for (int q = 0; q < 20; ++q) {
    SearchRequest req;
    req.queries.assign(&qs[q * kDim], &qs[(q + 1) * kDim]);
    req.k = 10;
    req.ef = 400;
    auto res = (*rc)->Search(req);
    ASSERT_TRUE(res.ok());
    ASSERT_EQ((*res)[0].size(), 10u);
    auto want = BruteForce(live, &qs[q * kDim], 10);
    std::set<int64_t> got;
    for (const auto& h : (*res)[0]) {
      EXPECT_TRUE(live.count(h.id)) << "deleted id " << h.id << " returned";
      got.insert(h.id);
    }
    EXPECT_EQ(got.size(), 10u) << "an id came back twice (from the snapshot index and the delta)";
    for (int64_t id : want) agree += got.count(id);
    total += want.size();
    // Merged lists stay sorted by distance.
    for (size_t i = 1; i < (*res)[0].size(); ++i) EXPECT_LE((*res)[0][i - 1].distance, (*res)[0][i].distance);
  }
  EXPECT_GE(double(agree) / total, 0.99);
  // A filter applies to both parts.
  SearchRequest fr;
  fr.queries = live[3];
  fr.k = 500;
  fr.filter = "size >= 400";
  auto filtered = (*rc)->Search(fr);
  ASSERT_TRUE(filtered.ok()) << filtered.status().ToString();
  size_t expect = 0;
  for (const auto& [id, v] : live) expect += id >= 400;
  EXPECT_EQ((*filtered)[0].size(), expect);
  // The reader never writes, and the writer keeps going.
  EXPECT_EQ((*rc)->Insert({MakeEntity(900, &vecs[0], kDim, 1)}).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ((*rc)->Delete({1}).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ((*rc)->SetMetadata("k", "v").code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(r->CreateCollection(ImageSchema("d", kDim)).code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(wc->Insert({MakeEntity(901, &vecs[0], kDim, 1)}).ok());
  EXPECT_EQ(*(*rc)->Count(), int64_t(live.size())) << "a reader shows the state of its open";
}

INSTANTIATE_TEST_SUITE_P(Indexes, ReadOnlyStore, ::testing::Values("FLAT", "HNSW,M=16,efConstruction=100"));

TEST(ReadOnlyStoreOpen, SecondWriterNamesTheHolder) {
  testing::TempDir dir;
  auto w = OpenStore(dir.path().string(), false);
  auto second = OpenLocalStore(dir.path().string());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.status().message();
  LocalStoreOptions ro;
  ro.read_only = true;
  EXPECT_EQ(OpenLocalStore(dir.file("absent"), ro).status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir.file("absent")));
}

}  // namespace
}  // namespace doppel
