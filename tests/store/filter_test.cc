// The filter grammar (parse, type checks, errors) and filtered search/query against brute force over the filtered
// set, for every index where it is exact.
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "doppel/store/filter.h"
#include "doppel/store/store.h"
#include "store/store_test_util.h"
#include "support/test_util.h"

namespace doppel {
namespace {

CollectionSchema Schema() { return testing::ImageSchema("images", 8); }

std::string Canon(const std::string& text) {
  auto f = ParseFilter(text, Schema());
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? (*f)->ToString() : "";
}

std::string ParseError(const std::string& text) {
  auto f = ParseFilter(text, Schema());
  EXPECT_FALSE(f.ok()) << text;
  return f.ok() ? "" : f.status().message();
}

TEST(store_filter, ParsesAndPrintsCanonically) {
  EXPECT_EQ(Canon("size > 10"), "size > 10");
  EXPECT_EQ(Canon("size>10 and path like 'a%'"), "(size > 10 AND path LIKE 'a%')");
  EXPECT_EQ(Canon("NOT (ok == true || score <= 2) && id in [1, 2,3]"),
            "(NOT (ok == true OR score <= 2.0) AND id IN [1, 2, 3])");
  EXPECT_EQ(Canon("path NOT IN ('x', 'y')"), "path NOT IN ['x', 'y']");
  EXPECT_EQ(Canon("tags IS NOT NULL or json_contains(tags, \"cat\")"),
            "(tags IS NOT NULL OR JSON_CONTAINS(tags, 'cat'))");
  EXPECT_EQ(Canon("score = -1.5e3"), "score == -1500.0");
  EXPECT_EQ(Canon("path == 'it\\'s'"), "path == 'it\\'s'");
  // The canonical text parses to the same tree.
  std::string c = Canon("(size < 3 or size > 7) and not path like '%x_'");
  EXPECT_EQ(Canon(c), c);
}

TEST(store_filter, ErrorsNameTheProblem) {
  EXPECT_NE(ParseError("colour == 'red'").find("unknown field 'colour'"), std::string::npos);
  EXPECT_NE(ParseError("size == 'big'").find("type mismatch: field 'size' of type INT64"), std::string::npos);
  EXPECT_NE(ParseError("size == 1.5").find("type mismatch"), std::string::npos);
  EXPECT_NE(ParseError("ok > true").find("only supports == and !="), std::string::npos);
  EXPECT_NE(ParseError("size like 'a%'").find("LIKE needs a STRING field"), std::string::npos);
  EXPECT_NE(ParseError("(size > 1").find("expected ')'"), std::string::npos);
  EXPECT_NE(ParseError("size > 1 size").find("after a complete expression"), std::string::npos);
  EXPECT_NE(ParseError("size >").find("filter ended"), std::string::npos);
  EXPECT_NE(ParseError("path == 'abc").find("unterminated string"), std::string::npos);
  EXPECT_NE(ParseError("size == 99999999999999999999").find("int64 range"), std::string::npos);
  EXPECT_NE(ParseError("size ; drop table entities").find("unexpected character ';'"), std::string::npos);
  EXPECT_NE(ParseError("tags == 1").find("JSON_CONTAINS"), std::string::npos);
  EXPECT_NE(ParseError("vector == 1").find("vector cannot be used"), std::string::npos);
  EXPECT_NE(ParseError("").find("empty"), std::string::npos);
  EXPECT_NE(ParseError("size in [1, 'a']").find("type mismatch"), std::string::npos);
}

TEST(store_filter, LikeMatch) {
  EXPECT_TRUE(LikeMatch("/img/cat.jpg", "%.jpg"));
  EXPECT_TRUE(LikeMatch("/img/cat.jpg", "/img/%"));
  EXPECT_TRUE(LikeMatch("abc", "a_c"));
  EXPECT_FALSE(LikeMatch("abbc", "a_c"));
  EXPECT_TRUE(LikeMatch("50%", "50\\%"));
  EXPECT_FALSE(LikeMatch("500", "50\\%"));
  EXPECT_TRUE(LikeMatch("", "%"));
  EXPECT_TRUE(LikeMatch("aXbXc", "%b%c"));
  EXPECT_FALSE(LikeMatch("abc", "%d%"));
}

class store_filtered_search : public ::testing::TestWithParam<const char*> {};

TEST_P(store_filtered_search, EqualsBruteForceOverFilteredSet) {
  const size_t dim = 24, n = 3000;
  testing::TempDir dir;
  auto store = std::move(OpenLocalStore(dir.path().string()).value());
  ASSERT_TRUE(store->CreateCollection(testing::ImageSchema("c", dim, Metric::kL2, GetParam())).ok());
  auto coll = *store->GetCollection("c");
  auto data = testing::RandomVectors(n, dim, 5);
  std::vector<int64_t> ids(n);
  std::vector<Entity> batch;
  for (size_t i = 0; i < n; ++i) {
    ids[i] = static_cast<int64_t>(i) * 3 + 1;
    batch.push_back(testing::MakeEntity(ids[i], &data[i * dim], dim, ids[i] % 50));
    if (i % 7 == 0) batch.back().fields["score"] = std::monostate();  // some NULLs
  }
  ASSERT_TRUE(coll->Insert(batch).ok());
  // Delete some, so tombstones are part of every filter.
  std::vector<int64_t> gone;
  for (size_t i = 0; i < n; i += 11) gone.push_back(ids[i]);
  ASSERT_TRUE(coll->Delete(gone).ok());
  std::set<int64_t> gone_set(gone.begin(), gone.end());

  struct Case {
    std::string filter;
    std::function<bool(size_t i)> keep;
  };
  std::vector<Case> cases = {
      {"size < 5", [&](size_t i) { return ids[i] % 50 < 5; }},
      {"size == 7 or ok == true", [&](size_t i) { return ids[i] % 50 == 7 || ids[i] % 2 == 0; }},
      {"not (size >= 2) and id > 300", [&](size_t i) { return ids[i] % 50 < 2 && ids[i] > 300; }},
      {"path like '/img/1%'", [&](size_t i) { return std::to_string(ids[i])[0] == '1'; }},
      {"id in [1, 4, 7, 10, 9999]", [&](size_t i) { return ids[i] <= 10; }},
      {"json_contains(tags, 'cat') and size != 3", [&](size_t i) { return ids[i] % 3 == 0 && ids[i] % 50 != 3; }},
      {"score > 100.5", [&](size_t i) { return i % 7 != 0 && ids[i] / 10.0 > 100.5; }},
      {"not score > 100.5", [&](size_t i) { return i % 7 != 0 && !(ids[i] / 10.0 > 100.5); }},
      {"score is null", [&](size_t i) { return i % 7 == 0; }},
      {"size == 49 and size == 48", [&](size_t) { return false; }},
  };
  auto queries = testing::RandomVectors(20, dim, 77);
  for (const auto& c : cases) {
    std::vector<bool> allowed(n);
    int64_t matching = 0;
    for (size_t i = 0; i < n; ++i) {
      allowed[i] = c.keep(i) && !gone_set.count(ids[i]);
      matching += allowed[i];
    }
    EXPECT_EQ(*coll->Count(c.filter), matching) << c.filter;
    QueryRequest qr;
    qr.filter = c.filter;
    EXPECT_EQ(static_cast<int64_t>(coll->Query(qr)->size()), matching) << c.filter;
    for (int nq : {1, 20}) {  // one query (SIMD scan / graph) and a batch (BLAS for FLAT)
      SearchRequest r;
      r.queries.assign(queries.begin(), queries.begin() + nq * dim);
      r.k = 10;
      r.filter = c.filter;
      r.ef = 64;
      auto res = coll->Search(r);
      ASSERT_TRUE(res.ok()) << res.status().ToString();
      for (int q = 0; q < nq; ++q) {
        auto expect = testing::BruteForce(&queries[q * dim], data, ids, dim, 10, Metric::kL2, &allowed);
        std::vector<int64_t> got;
        for (const auto& h : (*res)[q]) got.push_back(h.id);
        ASSERT_EQ(got.size(), expect.size()) << c.filter << " (K hits whenever K entities match)";
        if (std::string(GetParam()) == "FLAT") {
          EXPECT_EQ(got, expect) << c.filter;
        } else {
          // Approximate: every hit matches the filter; most of the exact top-10 is found.
          size_t found = 0;
          for (int64_t id : got) {
            size_t i = (id - 1) / 3;
            EXPECT_TRUE(allowed[i]) << c.filter << " returned id " << id;
            found += std::count(expect.begin(), expect.end(), id);
          }
          EXPECT_GE(found * 10, expect.size() * 8) << c.filter;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Indexes, store_filtered_search, ::testing::Values("FLAT", "HNSW,M=16,efConstruction=100,ef=64", "IVF_FLAT,nlist=16,nprobe=16",
                                           "IVF_SQ8,nlist=16,nprobe=16"));

}  // namespace
}  // namespace doppel
