// Embedder: files -> vectors for several models at once, with bad files reported and never fatal.
#include "doppel/model/embedder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "doppel/modelgen/modelgen.h"
#include "support/test_util.h"

namespace doppel {
namespace {

std::shared_ptr<const OnnxModel> LoadGenerated(const testing::TempDir& dir, modelgen::Arch arch,
                                               modelgen::Form form, const std::string& preset, Pooling pool) {
  modelgen::ModelGenOptions o;
  o.arch = arch;
  o.form = form;
  o.width_multiplier = 0.125;
  o.input_size = 64;
  std::string path = dir.file(modelgen::DefaultFileName(o));
  EXPECT_TRUE(modelgen::WriteModel(o, path).ok());
  ModelSpec spec = *SpecFromPreset(preset);
  if (pool != Pooling::kNone) {
    spec.output = modelgen::TensorNames(o).last_feature_map;
    spec.pool = pool;
  }
  auto m = OnnxModel::Load(path, spec);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return *m;
}

std::vector<std::string> SamplePhotos(size_t n) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(DOPPEL_SAMPLE_DIR))
    if (e.path().extension() == ".jpg") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  if (out.size() > n) out.resize(n);
  return out;
}

TEST(Embedder, SeveralModelsBadFilesReportedBatchesMatchSingles) {
  testing::TempDir dir;
  auto a = LoadGenerated(dir, modelgen::Arch::kResNet50, modelgen::Form::kKerasNhwc, "keras-caffe", Pooling::kNone);
  auto b = LoadGenerated(dir, modelgen::Arch::kVGG16, modelgen::Form::kZooNchw, "torch-imagenet", Pooling::kGeM);
  std::vector<std::string> files = SamplePhotos(9);
  ASSERT_GE(files.size(), 5u) << "opencv-doc sample photos missing (bootstrap installs them)";
  testing::WriteFile(dir.file("not-an-image.jpg"), "hello, I am text\n");
  std::string good = testing::ReadFile(files[0]);
  testing::WriteFile(dir.file("truncated.jpg"), good.substr(0, good.size() / 3));
  files.insert(files.begin() + 2, dir.file("not-an-image.jpg"));
  files.push_back(dir.file("truncated.jpg"));
  files.push_back(dir.file("missing.png"));

  EmbedOptions opts;
  opts.batch_size = 3;
  opts.decode_threads = 2;
  opts.infer_threads = 2;
  Embedder embedder({a, b}, opts);
  std::map<size_t, EmbedResult> got;
  embedder.EmbedFiles(files, [&](EmbedResult&& r) {
    EXPECT_EQ(got.count(r.index), 0u) << "each input is reported once";
    got.emplace(r.index, std::move(r));
  });
  ASSERT_EQ(got.size(), files.size());
  int failed = 0;
  for (auto& [i, r] : got) {
    EXPECT_EQ(r.path, files[i]);
    if (!r.status.ok()) {
      ++failed;
      EXPECT_NE(r.status.message().find(std::filesystem::path(files[i]).filename().string()), std::string::npos)
          << "the error names the file: " << r.status.ToString();
      EXPECT_TRUE(r.vectors.empty());
      continue;
    }
    ASSERT_EQ(r.vectors.size(), 2u);
    EXPECT_EQ(int(r.vectors[0].size()), a->dim());
    EXPECT_EQ(int(r.vectors[1].size()), b->dim());
    EXPECT_GT(r.width, 0);
    EXPECT_EQ(r.format, "jpeg");
    // Same vectors as one image at a time on this thread.
    auto d = DecodeImageFile(files[i]);
    ASSERT_TRUE(d.ok());
    auto single = embedder.EmbedImage(d->rgb);
    ASSERT_TRUE(single.ok());
    for (int m = 0; m < 2; ++m) {
      double norm = 0;
      for (size_t k = 0; k < r.vectors[m].size(); ++k) {
        EXPECT_NEAR(r.vectors[m][k], (*single)[m][k], 1e-5);
        norm += double(r.vectors[m][k]) * r.vectors[m][k];
      }
      EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5);
    }
  }
  EXPECT_EQ(failed, 3);
}

TEST(Embedder, EmptyInputAndInMemoryBytes) {
  testing::TempDir dir;
  auto a = LoadGenerated(dir, modelgen::Arch::kResNet50, modelgen::Form::kKerasNhwc, "keras-tf", Pooling::kNone);
  Embedder embedder({a});
  int calls = 0;
  embedder.EmbedFiles({}, [&](EmbedResult&&) { ++calls; });
  EXPECT_EQ(calls, 0);
  std::vector<std::string> files = SamplePhotos(1);
  ASSERT_EQ(files.size(), 1u);
  std::vector<ImageSource> src(2);
  src[0].path = files[0];
  src[1].path = "upload.jpg";
  src[1].bytes = testing::ReadFile(files[0]);
  std::vector<EmbedResult> got(2);
  embedder.Embed(src, [&](EmbedResult&& r) { got[r.index] = std::move(r); });
  ASSERT_TRUE(got[0].status.ok()) << got[0].status.ToString();
  ASSERT_TRUE(got[1].status.ok()) << got[1].status.ToString();
  EXPECT_EQ(got[0].vectors[0], got[1].vectors[0]);
}

}  // namespace
}  // namespace doppel
