#include "doppel/eval/eval.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "support/image_files.h"
#include "support/test_util.h"

namespace doppel {
namespace {

TEST(Eval, CategoryMetricsByHand) {
  // Two classes on a line: 0,0 near x=1; 1,1 near y=1. Queries rank their own class first.
  std::vector<std::vector<float>> v = {{1, 0}, {0.9f, 0.1f}, {0, 1}, {0.1f, 0.9f}};
  double p5, p10, map;
  CategoryMetrics(v, {0, 0, 1, 1}, &p5, &p10, &map);
  EXPECT_DOUBLE_EQ(map, 1.0);
  EXPECT_DOUBLE_EQ(p5, 1.0 / 5);  // one relevant item in the top 5 (only 3 candidates)
  // Mixed labels: query 0's only relevant item is ranked last of 3: AP = 1/3.
  std::vector<std::vector<float>> w = {{1, 0}, {0, 1}, {0.9f, 0.1f}, {0.8f, 0.2f}};
  CategoryMetrics(w, {0, 0, 1, 1}, &p5, &p10, &map);
  // q0: ranking 2(l1),3(l1),1(l0) -> AP 1/3; q1: ranking 3,2,0 -> relevant 0 at rank 3 -> 1/3;
  // q2: ranking 0(l0) 0.9, 3(l1) 0.74, 1 -> AP 1/2; q3: ranking 0(l0) 0.8, 2(l1) 0.74, 1 -> AP 1/2.
  EXPECT_NEAR(map, (1.0 / 3 + 1.0 / 3 + 0.5 + 0.5) / 4, 1e-12);
}

TEST(Eval, CopyEditsChangeThePicture) {
  ImageU8 img(100, 60, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 7);
  auto crop = ApplyCopyEdit(img, "crop");
  ASSERT_TRUE(crop.ok());
  EXPECT_EQ(crop->width, 70);
  EXPECT_EQ(crop->height, 42);
  auto small = ApplyCopyEdit(img, "rescale");
  EXPECT_EQ(small->width, 40);
  auto jpeg = ApplyCopyEdit(img, "jpeg");
  ASSERT_TRUE(jpeg.ok()) << jpeg.status().ToString();
  EXPECT_EQ(jpeg->width, 100);
  EXPECT_NE(jpeg->pixels, img.pixels);
  auto colour = ApplyCopyEdit(img, "colour");
  EXPECT_NE(colour->pixels, img.pixels);
  EXPECT_FALSE(ApplyCopyEdit(img, "sepia").ok());
}

TEST(Eval, HistogramSeparatesColourClassesAndFindsCopies) {
  testing::TempDir dir;
  std::mt19937 rng(3);
  const uint8_t colours[3][3] = {{220, 30, 30}, {30, 200, 40}, {40, 40, 210}};
  for (int c = 0; c < 3; ++c) {
    std::filesystem::create_directories(dir.path() / ("class" + std::to_string(c)));
    for (int i = 0; i < 6; ++i) {
      ImageU8 img(64, 48, 3);
      for (int y = 0; y < 48; ++y)
        for (int x = 0; x < 64; ++x)
          for (int k = 0; k < 3; ++k)
            img.at(x, y, k) = static_cast<uint8_t>(std::clamp<int>(colours[c][k] + int(rng() % 3) - 1, 0, 255));
      // What tells the pictures of a class apart: a band of the class colour darkened to a level of its own.
      for (int y = 0; y < 6 + i; ++y)
        for (int x = 0; x < 64; ++x)
          for (int k = 0; k < 3; ++k) img.at(x, y, k) = static_cast<uint8_t>(colours[c][k] * (i + 1) / 8);
      testing::WriteImage(img, dir.file("class" + std::to_string(c) + "/img" + std::to_string(i) + ".png"));
    }
  }
  auto set = LoadLabelledSet(dir.path().string());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->classes.size(), 3u);
  EXPECT_EQ(set->images.size(), 18u);
  EvalOptions o;
  o.copy_queries = 6;
  auto r = Evaluate(*set, [](const ImageU8& img) -> Result<std::vector<float>> { return ColourHistogram(img); },
                    "hist", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->images, 18);
  EXPECT_DOUBLE_EQ(r->p_at_5, 1.0);
  EXPECT_DOUBLE_EQ(r->map, 1.0);
  EXPECT_EQ(r->copy_queries, 24);
  // Rescaled and recompressed copies keep their histograms: each finds its original first. (The colour edit
  // shifts every colour, which a colour histogram cannot see through, so the overall rate is lower.)
  EXPECT_DOUBLE_EQ(r->copy_recall.at("rescale"), 1.0);
  EXPECT_DOUBLE_EQ(r->copy_recall.at("jpeg"), 1.0);
  EXPECT_GE(r->copy_recall_at_1, 0.5);
  EXPECT_LE(r->copy_recall_at_1, 1.0);
  EXPECT_FALSE(LoadLabelledSet(dir.file("class0")).ok()) << "a folder without category subfolders";

  // Refinements are scored on the same embeddings, each with intervals that hold its mean; flipping a horizontally
  // symmetric-in-colour histogram changes nothing, so flip scores as none.
  // With fewer pictures than the shortlist, whitening that re-ranks the plain ranking's best 100 (as the search
  // option does) is whitening of the whole ranking.
  o.refinements = {*ParseRefinement("none"), *ParseRefinement("flip"), *ParseRefinement("whiten+dba+qe"),
                   *ParseRefinement("whiten25"), *ParseRefinement("whiten25+rerank"), *ParseRefinement("dba"),
                   *ParseRefinement("dba+rerank")};
  auto all = EvaluateRefinements(*set, [](const ImageU8& img) -> Result<std::vector<float>> {
    return ColourHistogram(img);
  }, "hist", o);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 7u);
  EXPECT_DOUBLE_EQ((*all)[6].map, (*all)[5].map) << "dba+rerank is dba where the shortlist holds every picture";
  EXPECT_DOUBLE_EQ((*all)[6].copy_recall_at_1, (*all)[5].copy_recall_at_1);
  EXPECT_DOUBLE_EQ((*all)[4].map, (*all)[3].map);
  EXPECT_DOUBLE_EQ((*all)[4].p_at_5, (*all)[3].p_at_5);
  EXPECT_DOUBLE_EQ((*all)[4].copy_recall_at_1, (*all)[3].copy_recall_at_1);
  EXPECT_EQ((*all)[0].refinement, "none");
  EXPECT_EQ((*all)[2].refinement, "whiten+dba+qe");
  EXPECT_DOUBLE_EQ((*all)[0].map, r->map);
  EXPECT_DOUBLE_EQ((*all)[1].map, r->map);
  EXPECT_DOUBLE_EQ((*all)[1].copy_recall_at_1, r->copy_recall_at_1);
  for (const auto& x : *all) {
    EXPECT_LE(x.map_ci.first, x.map);
    EXPECT_GE(x.map_ci.second, x.map);
    EXPECT_LE(x.copy_ci.first, x.copy_recall_at_1);
    EXPECT_GE(x.copy_ci.second, x.copy_recall_at_1);
  }
}

// Several embeddings as one (doppel eval --fuse / --multi-scale): each part normalised, then joined (concatenated,
// as the quality profile ranks; or averaged), then normalised again.
TEST(Eval, ConcatenatedAndAveragedEmbeddingsNormaliseEachPartThenTheWhole) {
  auto constant = [](std::vector<float> v) -> EmbedFn {
    return [v](const ImageU8&) -> Result<std::vector<float>> { return v; };
  };
  const ImageU8 img(4, 4, 3);
  auto cat = ConcatenatedEmbedding({constant({3, 4}), constant({0, 0, 2})})(img);
  ASSERT_TRUE(cat.ok());
  const float h = float(1 / std::sqrt(2.0));
  const std::vector<float> want_cat = {0.6f * h, 0.8f * h, 0, 0, h};
  ASSERT_EQ(cat->size(), want_cat.size());
  for (size_t i = 0; i < want_cat.size(); ++i) EXPECT_NEAR((*cat)[i], want_cat[i], 1e-6) << i;
  auto avg = AveragedEmbedding({constant({5, 0}), constant({0, 0.5f})})(img);
  ASSERT_TRUE(avg.ok());
  EXPECT_NEAR((*avg)[0], h, 1e-6);
  EXPECT_NEAR((*avg)[1], h, 1e-6);
  auto mismatch = AveragedEmbedding({constant({1, 0}), constant({1, 0, 0})})(img);
  EXPECT_EQ(mismatch.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(mismatch.status().message().find("2 and 3 dimensions"), std::string::npos) << mismatch.status().ToString();
  auto failing = ConcatenatedEmbedding({constant({1}), [](const ImageU8&) -> Result<std::vector<float>> {
                                          return Status::InvalidArgument("part two failed");
                                        }})(img);
  EXPECT_EQ(failing.status().message(), "part two failed");
}

// Several networks measured as one decode as the one that needs the most pixels does: a whole decode beats any draft,
// a larger draft a smaller one.
TEST(Eval, WidestDecodeIsTheOneThatNeedsTheMostPixels) {
  DecodeOptions small, large, whole;
  small.draft_width = small.draft_height = 224;
  large.draft_width = large.draft_height = 299;
  large.alpha = AlphaMode::kDrop;  // the chosen one's other settings come with it
  EXPECT_EQ(WidestDecode({small, large}).draft_width, 299);
  EXPECT_EQ(WidestDecode({large, small}).alpha, AlphaMode::kDrop);
  EXPECT_EQ(WidestDecode({small, whole, large}).draft_width, 0);
  EXPECT_EQ(WidestDecode({small}).draft_width, 224);
}

TEST(Refine, ParsesCombinationsAndNamesUnknownParts) {
  auto r = ParseRefinement("flip+whiten25+qe");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->flip);
  EXPECT_FLOAT_EQ(r->whiten_power, -0.25f);
  EXPECT_EQ(r->qe_n, 3);
  EXPECT_EQ(r->dba_k, 0);
  auto rr = ParseRefinement("whiten25+rerank");
  ASSERT_TRUE(rr.ok());
  EXPECT_EQ(rr->rerank, 100);
  EXPECT_FALSE(ParseRefinement("qe+rerank").ok()) << "rerank re-orders by whitening or DBA: it needs one";
  EXPECT_FALSE(ParseRefinement("whiten+qe+rerank").ok());
  EXPECT_FALSE(ParseRefinement("whiten+dba+rerank").ok()) << "one re-ranking at a time, as the search";
  auto dr = ParseRefinement("dba+rerank");
  ASSERT_TRUE(dr.ok()) << dr.status().ToString();
  EXPECT_EQ(dr->dba_k, 3);
  EXPECT_EQ(dr->rerank, 100);
  auto bad = ParseRefinement("whiten+sharpen");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find("sharpen"), std::string::npos);
}

// Whitening equalises the variance of the directions the database spreads along: after it, a direction that held
// most of the spread no longer dominates the similarity.
TEST(Refine, WhiteningEqualisesDirectionsAndKeepsUnitLength) {
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0, 1);
  Matrix db;
  for (int i = 0; i < 400; ++i) {
    std::vector<float> v = {4 * g(rng), g(rng), g(rng), 0.25f * g(rng)};  // one dominant direction, one weak
    Normalize(&v);
    db.push_back(v);
  }
  auto spread = [](const Matrix& m, size_t k) {
    double s = 0, s2 = 0;
    for (const auto& r : m) s += r[k], s2 += double(r[k]) * r[k];
    return s2 / m.size() - (s / m.size()) * (s / m.size());
  };
  auto ratio = [&](const Matrix& m) {  // the largest over the smallest variance of a component
    std::vector<double> v;
    for (size_t k = 0; k < m[0].size(); ++k) v.push_back(spread(m, k));
    return *std::max_element(v.begin(), v.end()) / *std::min_element(v.begin(), v.end());
  };
  const double before = ratio(db);
  Matrix queries = {db[0]};
  ASSERT_TRUE(Whiten(&db, {&queries}, -0.5f).ok());
  for (const auto& r : db) {
    double n = 0;
    for (float x : r) n += double(x) * x;
    EXPECT_NEAR(n, 1.0, 1e-4);
  }
  EXPECT_EQ(queries[0], db[0]) << "the same transform for queries";
  // The components' variances end up far closer (shrinkage keeps the weakest direction from being blown up fully).
  EXPECT_GT(before, 30.0);
  EXPECT_LT(ratio(db), before / 5);
  Matrix one = {db[0]};
  EXPECT_FALSE(Whiten(&one, {}, -0.5f).ok()) << "one vector teaches nothing";
}

TEST(Refine, ExpansionAndAugmentationPullTowardsTheNeighbourhood) {
  // Two tight clusters; a query between them but nearer cluster A moves towards A's centre.
  Matrix db = {{1, 0.1f, 0}, {1, -0.1f, 0}, {1, 0, 0.1f}, {0, 1, 0}, {0.1f, 1, 0}};
  for (auto& r : db) Normalize(&r);
  std::vector<float> q = {0.8f, 0.6f, 0};
  Normalize(&q);
  std::vector<float> x = ExpandQuery(q, db, 3, 3, SIZE_MAX);
  EXPECT_GT(x[0], q[0]) << "towards A";
  double n = 0;
  for (float v : x) n += double(v) * v;
  EXPECT_NEAR(n, 1.0, 1e-5);
  Matrix aug = db;
  DatabaseAugment(&aug, 2, 3);
  EXPECT_GT(aug[0][0] * aug[1][0] + aug[0][1] * aug[1][1] + aug[0][2] * aug[1][2],
            db[0][0] * db[1][0] + db[0][1] * db[1][1] + db[0][2] * db[1][2])
      << "neighbours grow closer";
  auto ci = BootstrapInterval({0, 1, 1, 0, 1, 1, 1, 0});
  EXPECT_LE(ci.first, 0.625);
  EXPECT_GE(ci.second, 0.625);
  EXPECT_EQ(BootstrapInterval({0.5, 0.5, 0.5}), std::make_pair(0.5, 0.5));
}

}  // namespace
}  // namespace doppel
