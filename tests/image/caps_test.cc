// Caps on every input size: extreme aspect ratios through every preset and resize mode give a correct tensor with
// bounded memory (peak resident memory measured in this process), the crop-window resize equals resizing everything
// then cropping, and files or headers over the limits are refused before anything large is read or allocated.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "doppel/image/decode.h"
#include "doppel/image/preprocess.h"
#include "doppel/image/resize.h"
#include "support/image_files.h"
#include "support/strings.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::Be32;
using testing::Contains;
using testing::Noise;
using testing::PngChunk;

// ---- Peak memory ----

int64_t StatusField(const std::string& key) {  // kB value of a /proc/self/status line, in bytes; -1 if absent
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, key.size() + 1, key + ":") == 0) return std::stoll(line.substr(key.size() + 1)) * 1024;
  }
  return -1;
}

int64_t MaxRss() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return int64_t(ru.ru_maxrss) * 1024;
}

// How far the peak resident memory rose above its level at the start while `f` ran. The kernel's high-water mark is
// reset first (/proc/self/clear_refs, "5"), so earlier tests' peaks do not hide this one's; where that is not
// possible, the growth of getrusage's ru_maxrss (a lower bound) is used.
int64_t PeakGrowth(const std::function<void()>& f) {
  const int64_t rss = StatusField("VmRSS");
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5" << std::flush;
  const bool reset = clear.good() && StatusField("VmHWM") >= 0;
  const int64_t max_before = MaxRss();
  f();
  if (reset) return StatusField("VmHWM") - rss;
  return MaxRss() - max_before;
}

constexpr int64_t kMiB = int64_t(1) << 20;

// ---- Helpers ----

ImageU8 Solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  ImageU8 img(w, h, 3);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = r;
    img.pixels[i + 1] = g;
    img.pixels[i + 2] = b;
  }
  return img;
}

PreprocessSpec Preset(const std::string& name) {
  auto s = PresetSpec(name);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : PreprocessSpec{};
}

const char* ModeName(ResizeMode m) {
  switch (m) {
    case ResizeMode::kStretch: return "stretch";
    case ResizeMode::kShorterCrop: return "shorter-crop";
    case ResizeMode::kLetterbox: return "letterbox";
  }
  return "?";
}

// ---- Extreme aspect ratios through every preset and mode ----

// What each mode must make of a solid-colour strip (w == 1 or h == 1) at 224 x 224: the colour everywhere for
// stretch and shorter-crop (the resized strip covers the crop), a centred 1-pixel line of it in padding for letterbox.
ImageU8 ExpectedForSolidStrip(const ImageU8& strip, ResizeMode mode, uint8_t pad) {
  const uint8_t r = strip.pixels[0], g = strip.pixels[1], b = strip.pixels[2];
  if (mode != ResizeMode::kLetterbox) return Solid(224, 224, r, g, b);
  ImageU8 e = Solid(224, 224, pad, pad, pad);
  for (int i = 0; i < 224; ++i) {
    const int x = strip.width == 1 ? 111 : i, y = strip.width == 1 ? i : 111;  // (224 - 1) / 2 = 111 before
    e.at(x, y, 0) = r;
    e.at(x, y, 1) = g;
    e.at(x, y, 2) = b;
  }
  return e;
}

TEST(ImageCaps, ThinImagesThroughEveryPresetAndModeWithBoundedMemory) {
  // A 1 x 65500 JPEG and a 65500 x 1 PNG. On the old code, torch-imagenet on the JPEG resized to 256 x 16768000
  // before cropping: 30 s and 12.5 GiB. Now only the 224 x 224 crop is computed.
  testing::TempDir dir;
  const std::string tall = dir.file("tall.jpg"), wide = dir.file("wide.png");
  testing::WriteImage(Solid(1, 65500, 200, 120, 40), tall, 95);
  testing::WriteImage(Solid(65500, 1, 30, 90, 210), wide);
  for (const std::string& path : {tall, wide}) {
    int64_t growth = PeakGrowth([&] {
      auto d = DecodeImageFile(path);
      ASSERT_TRUE(d.ok()) << d.status().ToString();
      const ImageU8& img = d->rgb;
      ASSERT_EQ(int64_t(img.width) * img.height, 65500);
      // The decoded strip is one colour (a solid JPEG decodes to a solid colour): the expectations build on it.
      for (size_t i = 3; i < img.pixels.size(); ++i) ASSERT_EQ(img.pixels[i], img.pixels[i % 3]) << path << " " << i;
      std::vector<float> got(224 * 224 * 3), want(224 * 224 * 3);
      for (const std::string& preset : PresetNames()) {
        for (ResizeMode mode : {ResizeMode::kStretch, ResizeMode::kShorterCrop, ResizeMode::kLetterbox}) {
          PreprocessSpec s = Preset(preset);
          s.resize = mode;  // resize_shorter stays as the preset has it (0: the model's side, 224)
          s.pad_value = 7;
          Status st = Preprocess(img, s, Layout::kNCHW, got.data());
          ASSERT_TRUE(st.ok()) << path << " " << preset << " " << ModeName(mode) << ": " << st.ToString();
          ASSERT_TRUE(FillTensor(ExpectedForSolidStrip(img, mode, 7), s, Layout::kNCHW, want.data()).ok());
          ASSERT_EQ(got, want) << path << " " << preset << " " << ModeName(mode);
        }
      }
    });
    std::printf("%s: decode + 12 preprocessings, peak memory growth %.1f MiB\n", path.c_str(), double(growth) / kMiB);
    EXPECT_LT(growth, 256 * kMiB) << path;
  }
}

// torchvision Resize(s) + CenterCrop(W, H), Keras stretch and letterbox written out with the full resize: the
// reference the crop-window path must equal.
ImageU8 ReferenceResize(const ImageU8& img, const PreprocessSpec& s) {
  const int W = s.width, H = s.height;
  switch (s.resize) {
    case ResizeMode::kStretch:
      return PilResize(img, W, H, s.interpolation);
    case ResizeMode::kShorterCrop: {
      const int side = s.resize_shorter > 0 ? s.resize_shorter : std::min(W, H);
      const bool w_short = img.width <= img.height;
      const int shorter = w_short ? img.width : img.height, longer = w_short ? img.height : img.width;
      const int n_long = int(double(int64_t(side) * longer) / shorter);
      const int w = w_short ? side : n_long, h = w_short ? n_long : side;
      const ImageU8 full = PilResize(img, w, h, s.interpolation);
      auto origin = [](int have, int want) {  // pad (d // 2 before) or int(round((have - want) / 2.0))
        return want > have ? -((want - have) / 2) : int(std::nearbyint((have - want) / 2.0));
      };
      return Crop(full, origin(w, W), origin(h, H), W, H, 0);
    }
    case ResizeMode::kLetterbox: {
      const double scale = std::min(double(W) / img.width, double(H) / img.height);
      const int w = std::clamp(int(std::nearbyint(img.width * scale)), 1, W);
      const int h = std::clamp(int(std::nearbyint(img.height * scale)), 1, H);
      return Crop(PilResize(img, w, h, s.interpolation), -((W - w) / 2), -((H - h) / 2), W, H, s.pad_value);
    }
  }
  return {};
}

TEST(ImageCaps, CropWindowEqualsFullResizeOnThinAndOrdinaryImages) {
  const std::vector<std::pair<int, int>> sizes = {{2, 300}, {300, 2}, {1, 90}, {90, 1}, {7, 150}, {150, 7},
                                                  {640, 480}, {333, 500}, {200, 100}, {224, 224}, {225, 223}};
  uint32_t seed = 1;
  for (auto [w, h] : sizes) {
    ImageU8 img = Noise(w, h, seed++);
    for (const std::string& preset : PresetNames()) {
      for (ResizeMode mode : {ResizeMode::kStretch, ResizeMode::kShorterCrop, ResizeMode::kLetterbox}) {
        PreprocessSpec s = Preset(preset);
        s.resize = mode;
        s.pad_value = 114;
        Result<ImageU8> got = ResizeForModel(img, s);
        ASSERT_TRUE(got.ok()) << got.status().ToString();
        ASSERT_EQ(got->pixels, ReferenceResize(img, s).pixels)
            << w << "x" << h << " " << preset << " " << ModeName(mode);
      }
    }
  }
}

TEST(ImageCaps, ImpossibleResizesAreClearErrors) {
  // A shorter-side resize whose long side would pass INT_MAX (Pillow's C int): 40000 x 65500 / 1.
  ImageU8 strip = Solid(1, 65500, 1, 2, 3);
  PreprocessSpec s = Preset("torch-imagenet");
  s.resize_shorter = 40000;
  Result<ImageU8> r = ResizeForModel(strip, s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "2620000000")) << r.status().ToString();
  std::vector<float> t(224 * 224 * 3);
  EXPECT_EQ(Preprocess(strip, s, Layout::kNCHW, t.data()).code(), Status::Code::kInvalidArgument);
  // 2^24 rows, each through a 224-wide horizontal pass, for a stretch: more work than kMaxResizeWork allows. Refused
  // from the counted work, before allocating or computing anything large.
  ImageU8 thread = Solid(1, 1 << 24, 9, 9, 9);
  s = Preset("torch-imagenet");
  s.resize = ResizeMode::kStretch;
  int64_t growth = PeakGrowth([&] {
    Status st = Preprocess(thread, s, Layout::kNCHW, t.data());
    EXPECT_EQ(st.code(), Status::Code::kResourceExhausted) << st.ToString();
    EXPECT_TRUE(Contains(st.message(), "1x16777216")) << st.ToString();
  });
  EXPECT_LT(growth, 64 * kMiB);
  // Letterboxed, the same strip is cheap and fine; resized to 256 on its shorter side it would be 256 x 2^32.
  s.resize = ResizeMode::kLetterbox;
  EXPECT_TRUE(Preprocess(thread, s, Layout::kNCHW, t.data()).ok());
  s.resize = ResizeMode::kShorterCrop;
  EXPECT_EQ(Preprocess(thread, s, Layout::kNCHW, t.data()).code(), Status::Code::kInvalidArgument);
  // Bad specs and images.
  s = Preset("clip");
  s.width = 0;
  EXPECT_EQ(ResizeForModel(strip, s).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ResizeForModel(ImageU8(0, 5, 3), Preset("clip")).status().code(), Status::Code::kInvalidArgument);
}

// ---- Files over the limits ----

TEST(ImageCaps, FileOverTheSizeLimitRefusedBeforeReading) {
  // 600 MiB sparse files (nothing on disk) over the default 512 MiB limit: refused from fstat, nothing read.
  testing::TempDir dir;
  using namespace std::literals;
  for (auto [name, magic] : {std::pair{"huge.jpg", "\xFF\xD8\xFF\xE0"s}, std::pair{"huge.png", "\x89PNG\r\n\x1a\n"s},
                             std::pair{"huge", "P6\n10 10\n255\n"s}}) {
    const std::string path = dir.file(name);
    testing::WriteFile(path, magic);
    std::filesystem::resize_file(path, 600 * kMiB);
    int64_t growth = PeakGrowth([&] {
      auto r = DecodeImageFile(path);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), Status::Code::kResourceExhausted) << r.status().ToString();
      EXPECT_TRUE(Contains(r.status().message(), path)) << r.status().ToString();
      EXPECT_TRUE(Contains(r.status().message(), std::to_string(600 * kMiB))) << r.status().ToString();
    });
    EXPECT_LT(growth, 16 * kMiB) << name;
  }
  // The limit is the option's, to the byte.
  const std::string small = dir.file("small.png");
  testing::WriteImage(Solid(4, 4, 1, 2, 3), small);
  DecodeOptions o;
  o.max_file_bytes = int64_t(std::filesystem::file_size(small)) - 1;
  EXPECT_EQ(DecodeImageFile(small, o).status().code(), Status::Code::kResourceExhausted);
  o.max_file_bytes += 1;
  EXPECT_TRUE(DecodeImageFile(small, o).ok());
}

TEST(ImageCaps, HeadersClaimingAbsurdDimensionsAreRefused) {
  testing::TempDir dir;
  using namespace std::literals;
  // PNG: 2147483647 x 1 (the largest width PNG allows) and 1 x 2147483647, 16-bit RGBA; GIF: 65535 x 65535.
  auto png = [](uint32_t w, uint32_t h) {
    std::string s = "\x89PNG\r\n\x1a\n"s;
    s += PngChunk("IHDR", Be32(w) + Be32(h) + "\x10\x06\x00\x00\x00"s);
    s += PngChunk("IDAT", "\x78\x9c\x03\x00\x00\x00\x00\x01"s);
    return s + PngChunk("IEND", "");
  };
  const std::string gif = "GIF89a\xff\xff\xff\xff\x00\x00\x00"s + ",\x00\x00\x00\x00\xff\xff\xff\xff\x00\x02\x02\x44\x01\x00;"s;
  const std::vector<std::pair<std::string, std::string>> files = {
      {"wide.png", png(2147483647u, 1)}, {"tall.png", png(1, 2147483647u)}, {"big.gif", gif}};
  for (const auto& [name, bytes] : files) {
    const std::string path = dir.file(name);
    testing::WriteFile(path, bytes);
    int64_t growth = PeakGrowth([&] {
      for (const Result<DecodedImage>& r : {DecodeImageFile(path), DecodeImageBuffer(bytes, "upload-" + name)}) {
        ASSERT_FALSE(r.ok()) << name;
        EXPECT_TRUE(r.status().code() == Status::Code::kResourceExhausted ||
                    r.status().code() == Status::Code::kInvalidArgument)
            << r.status().ToString();
        EXPECT_TRUE(Contains(r.status().message(), name)) << r.status().ToString();
      }
    });
    EXPECT_LT(growth, 64 * kMiB) << name;
  }
}

}  // namespace
}  // namespace doppel
