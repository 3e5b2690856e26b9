// Presets, resize/crop geometry (torchvision's rules) and the float32 value transform of each framework.
#include "doppel/image/preprocess.h"

#include <gtest/gtest.h>

#include <vector>

#include "support/image_files.h"

namespace doppel {
namespace {

using testing::Noise;

// Pixel (x, y) = (x mod 256, y mod 256, (x + y) mod 256): after a pure crop, a pixel names its source.
ImageU8 Coords(int w, int h) {
  ImageU8 img(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.at(x, y, 0) = uint8_t(x);
      img.at(x, y, 1) = uint8_t(y);
      img.at(x, y, 2) = uint8_t(x + y);
    }
  return img;
}

// ResizeForModel, which must succeed.
ImageU8 MustResize(const ImageU8& img, const PreprocessSpec& spec) {
  Result<ImageU8> r = ResizeForModel(img, spec);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : ImageU8();
}

PreprocessSpec Preset(const std::string& name) {
  auto s = PresetSpec(name);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : PreprocessSpec{};
}

TEST(ImagePresets, NamesAndUnknown) {
  EXPECT_EQ(PresetNames(), (std::vector<std::string>{"keras-caffe", "keras-tf", "torch-imagenet", "clip"}));
  for (const auto& n : PresetNames()) EXPECT_TRUE(PresetSpec(n).ok()) << n;
  auto bad = PresetSpec("keras-cafe");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("keras-cafe"), std::string::npos);
  EXPECT_NE(bad.status().message().find("torch-imagenet"), std::string::npos);
}

TEST(ImagePresets, Settings) {
  PreprocessSpec caffe = Preset("keras-caffe");
  EXPECT_EQ(caffe.resize, ResizeMode::kStretch);
  EXPECT_EQ(caffe.interpolation, Filter::kNearest);
  EXPECT_EQ(caffe.channel_order, ChannelOrder::kBGR);
  EXPECT_EQ(caffe.width, 224);
  EXPECT_EQ(caffe.height, 224);
  PreprocessSpec torch = Preset("torch-imagenet");
  EXPECT_EQ(torch.resize, ResizeMode::kShorterCrop);
  EXPECT_EQ(torch.interpolation, Filter::kBilinear);
  EXPECT_EQ(torch.resize_shorter, 256);
  PreprocessSpec clip = Preset("clip");
  EXPECT_EQ(clip.interpolation, Filter::kBicubic);
  EXPECT_EQ(clip.resize_shorter, 224);
  // doppel's decoding defaults in every preset.
  for (const auto& n : PresetNames()) {
    EXPECT_EQ(Preset(n).alpha, AlphaMode::kCompositeWhite);
    EXPECT_TRUE(Preset(n).apply_exif_orientation);
  }
}

// ---- Values: each framework's float32 arithmetic written out. ----

// A 256x1 image where every channel takes every value.
ImageU8 AllValues() {
  ImageU8 img(256, 1, 3);
  for (int p = 0; p < 256; ++p) {
    img.at(p, 0, 0) = uint8_t(p);
    img.at(p, 0, 1) = uint8_t(255 - p);
    img.at(p, 0, 2) = uint8_t(p * 7);
  }
  return img;
}

TEST(ImageFillTensor, KerasCaffeIsBgrMinusMeanNhwc) {
  PreprocessSpec s = Preset("keras-caffe");
  s.width = 256;
  s.height = 1;
  ImageU8 img = AllValues();
  std::vector<float> t(256 * 3);
  ASSERT_TRUE(FillTensor(img, s, Layout::kNHWC, t.data()).ok());
  // Keras: x = x[..., ::-1]; x[..., 0] -= 103.939 (float32) ...
  const float mean[3] = {103.939f, 116.779f, 123.68f};
  for (int p = 0; p < 256; ++p)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(t[p * 3 + c], float(img.at(p, 0, 2 - c)) - mean[c]) << p << "," << c;
}

TEST(ImageFillTensor, KerasTfDividesBy127_5) {
  PreprocessSpec s = Preset("keras-tf");
  s.width = 256;
  s.height = 1;
  ImageU8 img = AllValues();
  std::vector<float> t(256 * 3);
  ASSERT_TRUE(FillTensor(img, s, Layout::kNHWC, t.data()).ok());
  for (int p = 0; p < 256; ++p)
    for (int c = 0; c < 3; ++c) {
      float x = float(img.at(p, 0, c));
      x /= 127.5f;
      x -= 1.0f;
      ASSERT_EQ(t[p * 3 + c], x) << p << "," << c;
    }
}

TEST(ImageFillTensor, TorchAndClipAreToTensorThenNormalizeNchw) {
  for (const char* name : {"torch-imagenet", "clip"}) {
    PreprocessSpec s = Preset(name);
    s.width = 256;
    s.height = 1;
    ImageU8 img = AllValues();
    std::vector<float> t(256 * 3);
    ASSERT_TRUE(FillTensor(img, s, Layout::kNCHW, t.data()).ok());
    const bool clip = std::string(name) == "clip";
    const float mean_t[3] = {0.485f, 0.456f, 0.406f}, std_t[3] = {0.229f, 0.224f, 0.225f};
    const float mean_c[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    const float std_c[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 256; ++p) {
        float x = float(img.at(p, 0, c)) / 255.0f;  // ToTensor: .div(255)
        x = (x - (clip ? mean_c : mean_t)[c]) / (clip ? std_c : std_t)[c];  // Normalize: sub_, div_
        ASSERT_EQ(t[c * 256 + p], x) << name << " " << p << "," << c;
      }
  }
}

TEST(ImageFillTensor, GenericScaleMultiplies) {
  PreprocessSpec s;
  s.width = 256;
  s.height = 1;
  s.scale = 0.0123f;  // not the reciprocal of a (half-)integer: the formula as documented
  s.mean = {0.5f, 0.25f, 0};
  s.std = {2, 3, 4};
  ImageU8 img = AllValues();
  std::vector<float> t(256 * 3);
  ASSERT_TRUE(FillTensor(img, s, Layout::kNHWC, t.data()).ok());
  for (int p = 0; p < 256; ++p)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(t[p * 3 + c], (float(img.at(p, 0, c)) * s.scale - s.mean[c]) / s.std[c]);
}

TEST(ImageFillTensor, RejectsWrongShape) {
  PreprocessSpec s = Preset("clip");
  std::vector<float> t(224 * 224 * 3);
  EXPECT_EQ(FillTensor(ImageU8(223, 224, 3), s, Layout::kNCHW, t.data()).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(FillTensor(ImageU8(224, 224, 1), s, Layout::kNCHW, t.data()).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(FillTensor(ImageU8(224, 224, 3), s, Layout::kNCHW, t.data()).ok());
}

// ---- Geometry ----

TEST(ImageResizeForModel, CenterCropRoundsHalfToEven) {
  PreprocessSpec s = Preset("torch-imagenet");
  // Already 256 on the short side: no resize, only the crop. (341 - 224) / 2 = 58.5 -> 58; (256 - 224) / 2 = 16.
  ImageU8 out = MustResize(Coords(341, 256), s);
  ASSERT_EQ(out.width, 224);
  ASSERT_EQ(out.height, 224);
  EXPECT_EQ(out.at(0, 0, 0), 58);
  EXPECT_EQ(out.at(0, 0, 1), 16);
  // (343 - 224) / 2 = 59.5 -> 60.
  EXPECT_EQ(MustResize(Coords(343, 256), s).at(0, 0, 0), 60);
  // Portrait: (341 - 224) / 2 on rows.
  out = MustResize(Coords(256, 341), s);
  EXPECT_EQ(out.at(0, 0, 0), 16);
  EXPECT_EQ(out.at(0, 0, 1), 58);
  EXPECT_EQ(out.at(5, 7, 0), 21);
  EXPECT_EQ(out.at(5, 7, 1), 65);
}

TEST(ImageResizeForModel, CenterCropPadsSmallImagesLikeTorchvision) {
  PreprocessSpec s = Preset("torch-imagenet");
  s.resize_shorter = 100;  // 200x100 stays as is; the 224x224 crop pads 12 left/12 right, 62 top/62 bottom
  ImageU8 out = MustResize(Coords(200, 100), s);
  ASSERT_EQ(out.width, 224);
  EXPECT_EQ(out.at(11, 62, 0), 0);
  EXPECT_EQ(out.at(11, 62, 1), 0);
  EXPECT_EQ(out.at(12, 62, 0), 0);  // source (0, 0)
  EXPECT_EQ(out.at(13, 63, 0), 1);  // source (1, 1)
  EXPECT_EQ(out.at(13, 63, 1), 1);
  EXPECT_EQ(out.at(12 + 199, 62 + 99, 2), uint8_t(199 + 99));
  EXPECT_EQ(out.at(12 + 200, 62 + 99, 2), 0);
  EXPECT_EQ(out.at(12 + 199, 62 + 100, 2), 0);
  // Odd difference: 201 wide -> (224 - 201) // 2 = 11 before.
  out = MustResize(Coords(201, 100), s);
  EXPECT_EQ(out.at(11, 62, 2), 0);      // source (0, 0) has value 0 too; check its neighbour
  EXPECT_EQ(out.at(12, 62, 0), 1);      // source (1, 0)
}

TEST(ImageResizeForModel, ShorterSideSizeTruncates) {
  // 640x480 -> 256: long side int(256 * 640 / 480) = int(341.33) = 341, then crop (58, 16).
  ImageU8 img = Noise(640, 480, 1);
  PreprocessSpec torch = Preset("torch-imagenet");
  ImageU8 want = Crop(PilResize(img, 341, 256, Filter::kBilinear), 58, 16, 224, 224);
  EXPECT_EQ(MustResize(img, torch).pixels, want.pixels);
  // 333x500 -> 224: int(224 * 500 / 333) = int(336.34) = 336, rows (336 - 224) / 2 = 56.
  ImageU8 tall = Noise(333, 500, 2);
  PreprocessSpec clip = Preset("clip");
  want = Crop(PilResize(tall, 224, 336, Filter::kBicubic), 0, 56, 224, 224);
  EXPECT_EQ(MustResize(tall, clip).pixels, want.pixels);
  // 300x299: int(224 * 300 / 299) = int(224.749) = 224 -> no crop needed on either side.
  ImageU8 sq = Noise(300, 299, 3);
  EXPECT_EQ(MustResize(sq, clip).pixels, PilResize(sq, 224, 224, Filter::kBicubic).pixels);
}

TEST(ImageResizeForModel, StretchIsNearestToTarget) {
  ImageU8 img = Noise(640, 480, 4);
  EXPECT_EQ(MustResize(img, Preset("keras-caffe")).pixels, PilResize(img, 224, 224, Filter::kNearest).pixels);
}

TEST(ImageResizeForModel, LetterboxCentresAndPads) {
  PreprocessSpec s;
  s.resize = ResizeMode::kLetterbox;
  s.interpolation = Filter::kBilinear;
  s.pad_value = 114;
  ImageU8 img = Noise(400, 200, 5);
  ImageU8 out = MustResize(img, s);
  ASSERT_EQ(out.width, 224);
  ASSERT_EQ(out.height, 224);
  // scale 0.56 -> 224x112, 56 rows of padding above and below.
  ImageU8 inner = PilResize(img, 224, 112, Filter::kBilinear);
  EXPECT_EQ(out.at(0, 55, 0), 114);
  EXPECT_EQ(out.at(100, 168, 2), 114);
  for (int y = 0; y < 112; ++y)
    for (int x = 0; x < 224; ++x) ASSERT_EQ(out.at(x, y + 56, 1), inner.at(x, y, 1));
}

TEST(ImagePreprocess, EndToEndEqualsParts) {
  ImageU8 img = Noise(500, 375, 6);
  for (const auto& name : PresetNames()) {
    PreprocessSpec s = Preset(name);
    for (Layout layout : {Layout::kNCHW, Layout::kNHWC}) {
      std::vector<float> a(224 * 224 * 3), b(224 * 224 * 3);
      ASSERT_TRUE(Preprocess(img, s, layout, a.data()).ok());
      ASSERT_TRUE(FillTensor(MustResize(img, s), s, layout, b.data()).ok());
      EXPECT_EQ(a, b) << name;
    }
  }
  std::vector<float> t(224 * 224 * 3);
  EXPECT_FALSE(Preprocess(ImageU8(0, 0, 3), Preset("clip"), Layout::kNCHW, t.data()).ok());
  EXPECT_FALSE(Preprocess(ImageU8(10, 10, 1), Preset("clip"), Layout::kNCHW, t.data()).ok());
}

TEST(ImagePreprocess, NchwAndNhwcHoldTheSameValues) {
  ImageU8 img = Noise(300, 200, 7);
  PreprocessSpec s = Preset("keras-caffe");
  std::vector<float> nchw(224 * 224 * 3), nhwc(224 * 224 * 3);
  ASSERT_TRUE(Preprocess(img, s, Layout::kNCHW, nchw.data()).ok());
  ASSERT_TRUE(Preprocess(img, s, Layout::kNHWC, nhwc.data()).ok());
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 224 * 224; ++i) ASSERT_EQ(nchw[c * 224 * 224 + i], nhwc[i * 3 + c]);
}

}  // namespace
}  // namespace doppel
