#include "doppel/eval/eval.h"

#include <gtest/gtest.h>

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
}

}  // namespace
}  // namespace doppel
