// Embedder: files -> vectors for several models at once, with bad files reported and never fatal.
#include "doppel/model/embedder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "doppel/modelgen/modelgen.h"
#include "support/image_files.h"
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

// A session's result for `path` holds a vector for exactly the models `asks` names (empty: all), each the one a
// single embed of the decoded picture gives.
void ExpectSameAsSingleEmbeds(const Embedder& embedder, const std::string& path, const std::vector<bool>& asks,
                              const EmbedResult& r) {
  ASSERT_TRUE(r.status.ok()) << path << ": " << r.status.ToString();
  ASSERT_EQ(r.vectors.size(), embedder.models().size());
  auto d = DecodeImageFile(path);
  ASSERT_TRUE(d.ok());
  auto single = embedder.EmbedImage(d->rgb);
  ASSERT_TRUE(single.ok());
  for (size_t m = 0; m < r.vectors.size(); ++m) {
    const bool asked = asks.empty() || asks[m];
    ASSERT_EQ(r.vectors[m].empty(), !asked) << path << " model " << m;
    for (size_t k = 0; k < r.vectors[m].size(); ++k)
      ASSERT_NEAR(r.vectors[m][k], (*single)[m][k], 1e-5) << path << " model " << m << " index " << k;
  }
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

// What `djpeg -scale 1/s -pnm` makes of a JPEG (libjpeg-turbo's own program: DCT scaling, ISLOW, fancy upsampling).
ImageU8 DjpegScaled(const std::string& path, int s) {
  std::string cmd = "djpeg -scale 1/" + std::to_string(s) + " -pnm '" + path + "'";
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr) << cmd;
  std::string out;
  char buf[65536];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  EXPECT_EQ(p ? pclose(p) : -1, 0) << cmd << " (libjpeg-turbo-progs, installed by bootstrap)";
  auto d = DecodeImageBuffer(out, "djpeg output");
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? d->rgb : ImageU8();
}

std::vector<float> Tensor(const ImageU8& rgb, const OnnxModel& m) {
  std::vector<float> t(m.input_floats());
  Status st = Preprocess(rgb, m.spec().preprocess, m.input_layout(), t.data());
  EXPECT_TRUE(st.ok()) << st.ToString();
  return t;
}

// A small random-weight ResNet50 (Keras NHWC form) with a size x size input, written into `dir`; its path.
std::string WriteSmallResNet(const testing::TempDir& dir, int size) {
  modelgen::ModelGenOptions o;
  o.arch = modelgen::Arch::kResNet50;
  o.form = modelgen::Form::kKerasNhwc;
  o.width_multiplier = 0.125;
  o.input_size = size;
  std::string path = dir.file("resnet" + std::to_string(size) + ".onnx");
  EXPECT_TRUE(modelgen::WriteModel(o, path).ok());
  return path;
}

TEST(Embedder, ShrinkOnLoadEqualsDecodingAtTheDraftScaleFirst) {
  testing::TempDir dir;
  const std::string path = WriteSmallResNet(dir, 64);
  ModelSpec full_spec = *SpecFromPreset("keras-tf");
  ModelSpec shrink_spec = full_spec;
  shrink_spec.preprocess.shrink_on_load = true;
  auto full = OnnxModel::Load(path, full_spec);
  auto shrink = OnnxModel::Load(path, shrink_spec);
  ASSERT_TRUE(full.ok() && shrink.ok());
  ASSERT_EQ((*shrink)->spec().preprocess.width, 64);
  EXPECT_NE((*shrink)->fingerprint(), (*full)->fingerprint()) << "other pixels, another embedding space";

  std::vector<std::string> files = SamplePhotos(3);
  ASSERT_FALSE(files.empty());
  for (const auto& file : files) {
    auto whole = DecodeImageFile(file);
    ASSERT_TRUE(whole.ok());
    // Pillow's draft rule with the size the 64x64 stretch needs: the largest of 8, 4, 2, 1 not above
    // min(W / 64, H / 64).
    const int fit = std::min(whole->rgb.width / 64, whole->rgb.height / 64);
    const int s = fit >= 8 ? 8 : fit >= 4 ? 4 : fit >= 2 ? 2 : 1;
    ASSERT_GE(s, 2) << file << " is too small to test shrinking";
    auto drafted = DecodeImageFile(file, DecodeOptionsFor((*shrink)->spec().preprocess));
    ASSERT_TRUE(drafted.ok());
    EXPECT_EQ(drafted->draft_scale, s) << file;
    const ImageU8 ref = DjpegScaled(file, s);
    // The tensor is exactly that of the picture decoded at 1/s by djpeg, and not that of the full decode.
    const std::vector<float> t = Tensor(drafted->rgb, **shrink);
    EXPECT_TRUE(t == Tensor(ref, **shrink)) << file;
    EXPECT_FALSE(t == Tensor(whole->rgb, **full)) << file << ": shrink-on-load changed nothing";

    // Through the embedder: the vector of the djpeg-decoded picture, and the picture's real size.
    Embedder e({*shrink, *full});
    std::vector<EmbedResult> got;
    e.EmbedFiles({file}, [&](EmbedResult&& r) { got.push_back(std::move(r)); });
    ASSERT_EQ(got.size(), 1u);
    ASSERT_TRUE(got[0].status.ok()) << got[0].status.ToString();
    EXPECT_EQ(got[0].width, whole->rgb.width);
    EXPECT_EQ(got[0].height, whole->rgb.height);
    auto from_ref = (*shrink)->Embed(ref);
    auto from_full = (*full)->Embed(whole->rgb);
    ASSERT_TRUE(from_ref.ok() && from_full.ok());
    double diff_full = 0;
    for (size_t k = 0; k < from_ref->size(); ++k) {
      EXPECT_NEAR(got[0].vectors[0][k], (*from_ref)[k], 1e-5);
      EXPECT_NEAR(got[0].vectors[1][k], (*from_full)[k], 1e-5);
      diff_full += std::abs(double(got[0].vectors[0][k]) - got[0].vectors[1][k]);
    }
    EXPECT_GT(diff_full, 1e-3) << "the shrunk and full decodes give other vectors";
  }
}

// Two models whose draft sizes pick the same DCT scale for a picture share one decode of it (a 64 and a 96 model both
// draft a 1600x1200 JPEG to 1/8); where the scales differ (400x300: 1/4 and 1/2) each decodes its own. Either way
// each vector is that of the model's own decode of the file.
TEST(Embedder, ModelsWhoseDraftsPickTheSameScaleShareOneDecode) {
  testing::TempDir dir;
  ModelSpec shrink = *SpecFromPreset("keras-tf");
  shrink.preprocess.shrink_on_load = true;
  auto small = OnnxModel::Load(WriteSmallResNet(dir, 64), shrink);
  auto large = OnnxModel::Load(WriteSmallResNet(dir, 96), shrink);
  ASSERT_TRUE(small.ok() && large.ok());
  const std::vector<std::pair<int, int>> sizes = {{1600, 1200}, {400, 300}};
  std::vector<std::string> files;
  for (auto [w, h] : sizes) {
    files.push_back(dir.file(std::to_string(w) + ".jpg"));
    testing::WriteImage(testing::Noise(w, h, uint32_t(w)), files.back(), 90);
  }
  Embedder e({*small, *large});
  std::map<size_t, EmbedResult> got;
  std::mutex mu;
  auto session = e.Start([&](EmbedResult&& r) {
    std::lock_guard<std::mutex> l(mu);
    got.emplace(r.index, std::move(r));
  });
  for (const auto& f : files) ASSERT_TRUE(session->Push(ImageSource{f, "", {}}).has_value());
  session->Close();
  session->Wait();
  ASSERT_EQ(got.size(), files.size());
  int64_t want_decodes = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    ASSERT_TRUE(got[i].status.ok()) << got[i].status.ToString();
    EXPECT_EQ(got[i].width, sizes[i].first);
    std::set<int> scales;
    for (size_t m = 0; m < 2; ++m) {
      const OnnxModel& model = m == 0 ? **small : **large;
      auto d = DecodeImageFile(files[i], DecodeOptionsFor(model.spec().preprocess));
      ASSERT_TRUE(d.ok());
      scales.insert(d->draft_scale);
      auto want = model.Embed(d->rgb);
      ASSERT_TRUE(want.ok());
      for (size_t k = 0; k < want->size(); ++k)
        ASSERT_NEAR(got[i].vectors[m][k], (*want)[k], 1e-5) << files[i] << " model " << m;
    }
    EXPECT_EQ(scales.size(), i == 0 ? 1u : 2u) << files[i] << ": the case this test is about";
    want_decodes += int64_t(scales.size());
  }
  EXPECT_EQ(session->Stats().model_decodes, want_decodes);
}

// A source that asks for its near-copy record gets exactly the record the rule gives for the file (picture_hash.h):
// from the decode of a model that decodes by the rule (224x224 stretch, shrink-on-load: no decode of its own), or
// from a decode of its own for other models (unless their decode has the rule's pixels for that picture: a whole
// decode of one the rule does not shrink either); a source that does not ask gets none.
TEST(Embedder, NearCopyRecordsShareTheDecodeOfAModelThatDecodesByTheRule) {
  testing::TempDir dir;
  const std::string path224 = WriteSmallResNet(dir, 224);
  const std::string path64 = WriteSmallResNet(dir, 64);
  ModelSpec shrink = *SpecFromPreset("keras-tf");
  shrink.preprocess.shrink_on_load = true;
  auto by_rule = OnnxModel::Load(path224, shrink);
  auto other = OnnxModel::Load(path64, *SpecFromPreset("keras-tf"));
  ASSERT_TRUE(by_rule.ok() && other.ok());
  ASSERT_TRUE(DecodesLikePictureHash(DecodeOptionsFor((*by_rule)->spec().preprocess)));
  ASSERT_FALSE(DecodesLikePictureHash(DecodeOptionsFor((*other)->spec().preprocess)));
  PreprocessSpec all_formats = shrink.preprocess;  // WebP and HEIF shrink too: not the records' rule (JPEG alone)
  all_formats.shrink_formats = kDraftAll;
  EXPECT_FALSE(DecodesLikePictureHash(DecodeOptionsFor(all_formats)));

  std::vector<std::string> files = SamplePhotos(2);
  ASSERT_EQ(files.size(), 2u);
  // A PNG too (no shrink-on-load for it: decoded whole by both).
  auto png_src = DecodeImageFile(files[0]);
  ASSERT_TRUE(png_src.ok());
  files.push_back(dir.file("p.png"));
  testing::WriteImage(png_src->rgb, files.back());
  // WebPs: one large enough to shrink (1000x800: 1/4 at 224x224), one not (300x300).
  for (int side : {1000, 300}) {
    files.push_back(dir.file("w" + std::to_string(side) + ".webp"));
    testing::WriteImage(testing::Noise(side, side == 1000 ? 800 : 300, 3, uint32_t(side)), files.back(), 90);
  }
  // Model 2 decodes by the rule for JPEG and also shrinks WebP and HEIF: the record shares its decode picture by
  // picture, when that decode has the rule's pixels (not for the large WebP, which it shrank).
  ModelSpec more = shrink;
  more.preprocess.shrink_formats = kDraftAll;
  auto shrinks_more = OnnxModel::Load(path224, more);
  ASSERT_TRUE(shrinks_more.ok());
  for (int which = 0; which < 3; ++which) {
    Embedder e({which == 0 ? *by_rule : which == 1 ? *other : *shrinks_more});
    std::map<size_t, EmbedResult> got;
    std::mutex mu;
    auto session = e.Start([&](EmbedResult&& r) {
      std::lock_guard<std::mutex> l(mu);
      got.emplace(r.index, std::move(r));
    });
    for (size_t i = 0; i < files.size(); ++i) {
      ImageSource src;
      src.path = files[i];
      src.picture_hash = true;
      ASSERT_TRUE(session->Push(std::move(src)).has_value());
    }
    ASSERT_TRUE(session->Push(ImageSource{files[0], "", {}}).has_value());  // no record asked
    session->Close();
    session->Wait();
    ASSERT_EQ(got.size(), files.size() + 1);
    int64_t own_decodes = 0;
    for (size_t i = 0; i < files.size(); ++i) {
      const EmbedResult& r = got[i];
      ASSERT_TRUE(r.status.ok()) << r.status.ToString();
      ASSERT_TRUE(r.picture_hash.has_value()) << files[i];
      const bool shrunk_webp = files[i].find("w1000.webp") != std::string::npos;
      // The whole-picture decode of model 1 serves the record where the rule does not shrink either.
      const bool rule_whole = DecodeImageFile(files[i], PictureHashDecodeOptions(int64_t(1) << 30, int64_t(1) << 28))
                                  ->draft_scale == 1;
      EXPECT_EQ(r.picture_hash_shared, which == 0 || (which == 1 && rule_whole) || (which == 2 && !shrunk_webp))
          << files[i] << " model " << which;
      if (which == 1 && !rule_whole) ++own_decodes;
      auto want = HashPictureFile(files[i], int64_t(1) << 30, int64_t(1) << 28);
      ASSERT_TRUE(want.ok());
      EXPECT_EQ(r.picture_hash->pixels, want->pixels) << files[i];
      for (int t = 0; t < 8; ++t) {
        EXPECT_EQ(r.picture_hash->variants[t].bits, want->variants[t].bits) << files[i] << " variant " << t;
        EXPECT_EQ(r.picture_hash->variants[t].quality, want->variants[t].quality);
      }
      EXPECT_FALSE(r.vectors[0].empty());
    }
    EXPECT_FALSE(got[files.size()].picture_hash.has_value());
    EmbedStats st = session->Stats();
    EXPECT_EQ(st.hashed, int64_t(files.size()));
    EXPECT_EQ(st.hash_decodes, which == 0 ? 0 : which == 1 ? own_decodes : 1);
    if (which == 1) {
      EXPECT_EQ(own_decodes, 2) << "the two sample JPEGs are shrunk by the rule, the others are not";
    }
  }
}

// The default session shape: each worker decodes and runs inference on its own pictures, one at a time, reusing its
// tensors from picture to picture. One worker sees every picture, so each model's tensor is reused across pictures of
// different sizes, across a picture that failed, and across pictures that skip that model.
TEST(Embedder, RunToCompletionWorkerReusesTensorsAndGivesTheSameVectors) {
  testing::TempDir dir;
  auto a = LoadGenerated(dir, modelgen::Arch::kResNet50, modelgen::Form::kKerasNhwc, "keras-caffe", Pooling::kNone);
  auto b = LoadGenerated(dir, modelgen::Arch::kVGG16, modelgen::Form::kZooNchw, "torch-imagenet", Pooling::kGeM);
  std::vector<std::string> files = SamplePhotos(6);
  ASSERT_EQ(files.size(), 6u);
  testing::WriteFile(dir.file("bad.jpg"), "not a picture");
  files.insert(files.begin() + 3, dir.file("bad.jpg"));
  EmbedOptions opts;
  opts.infer_threads = 1;
  ASSERT_EQ(opts.decode_threads, 0) << "run to completion is the default";
  ASSERT_EQ(opts.batch_size, 1) << "batch 1 is the default";
  Embedder embedder({a, b}, opts);
  std::map<size_t, EmbedResult> got;
  auto session = embedder.Start([&](EmbedResult&& r) { got.emplace(r.index, std::move(r)); });
  const std::vector<std::vector<bool>> asks = {{true, false}, {}, {false, true}, {}, {true, true}, {true, false}, {}};
  for (size_t i = 0; i < files.size(); ++i) ASSERT_TRUE(session->Push(ImageSource{files[i], "", asks[i]}));
  session->Close();
  session->Wait();
  ASSERT_EQ(got.size(), files.size());
  EXPECT_FALSE(got[3].status.ok()) << "the bad file is reported";
  EXPECT_EQ(session->Stats().decoders, 1) << "the one worker decodes";
  for (size_t i = 0; i < files.size(); ++i) {
    if (i == 3) continue;
    ExpectSameAsSingleEmbeds(embedder, files[i], asks[i], got[i]);
  }
}

TEST(Embedder, StreamingSessionRunsOnlyTheModelsEachSourceAsksFor) {
  testing::TempDir dir;
  auto a = LoadGenerated(dir, modelgen::Arch::kResNet50, modelgen::Form::kKerasNhwc, "keras-caffe", Pooling::kNone);
  auto b = LoadGenerated(dir, modelgen::Arch::kVGG16, modelgen::Form::kZooNchw, "torch-imagenet", Pooling::kGeM);
  std::vector<std::string> files = SamplePhotos(4);
  ASSERT_EQ(files.size(), 4u);
  testing::WriteFile(dir.file("bad.jpg"), "not a picture");
  EmbedOptions opts;
  opts.batch_size = 2;
  opts.infer_threads = 2;  // decode_threads 0: run to completion
  Embedder embedder({a, b}, opts);
  std::mutex mu;
  std::map<size_t, EmbedResult> got;
  auto session = embedder.Start([&](EmbedResult&& r) {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(got.count(r.index), 0u) << "each source is reported once";
    got.emplace(r.index, std::move(r));
  });
  const std::vector<std::vector<bool>> asks = {{true, false}, {false, true}, {}, {false, true}, {true, true}};
  std::vector<std::string> paths = files;
  paths.push_back(dir.file("bad.jpg"));
  for (size_t i = 0; i < paths.size(); ++i) {
    ImageSource s;
    s.path = paths[i];
    s.models = asks[i];
    auto index = session->Push(std::move(s));
    ASSERT_TRUE(index.has_value());
    EXPECT_EQ(*index, i) << "indexes follow the Push order";
  }
  session->Close();
  session->Wait();
  EXPECT_FALSE(session->Push(ImageSource{files[0], "", {}}).has_value()) << "closed";
  ASSERT_EQ(got.size(), paths.size());
  for (size_t i = 0; i + 1 < paths.size(); ++i) {
    ExpectSameAsSingleEmbeds(embedder, paths[i], asks[i], got[i]);
  }
  EXPECT_FALSE(got[4].status.ok());
  EmbedStats st = session->Stats();
  EXPECT_EQ(st.decoded, 5);
  EXPECT_EQ(st.inferred, 4);
  EXPECT_GE(st.decoders, 1);
  EXPECT_LE(st.decoders, 2) << "never more decoders than the CPU budget";

  // A stopped session takes nothing more and ends without Close; queued sources get no result.
  std::atomic<int> calls{0};
  auto stopped = embedder.Start([&](EmbedResult&&) { ++calls; });
  stopped->Stop();
  EXPECT_FALSE(stopped->Push(ImageSource{files[0], "", {}}).has_value());
  stopped->Wait();
  EXPECT_EQ(calls.load(), 0);
}

}  // namespace
}  // namespace doppel
