// DecodeImageFile/Buffer: djpeg parity, Pillow's convert('RGB') rules, alpha, EXIF, limits and bad input.
// Fixtures are written with libvips into a TempDir.
#include "doppel/image/decode.h"

#include <gtest/gtest.h>
#include <vips/vips.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/test_util.h"

namespace doppel {
namespace {

namespace fs = std::filesystem;

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---- libvips fixture helpers ----

struct Unref {
  void operator()(VipsImage* p) const {
    if (p) g_object_unref(p);
  }
};
using VImg = std::unique_ptr<VipsImage, Unref>;

VImg MakeVips(const void* data, size_t bytes, int w, int h, int bands, VipsBandFormat fmt,
              VipsInterpretation interp) {
  EXPECT_TRUE(InitImageLibrary().ok());
  VImg in(vips_image_new_from_memory_copy(data, bytes, w, h, bands, fmt));
  EXPECT_TRUE(in) << vips_error_buffer();
  VipsImage* out = nullptr;
  EXPECT_EQ(vips_copy(in.get(), &out, "interpretation", interp, nullptr), 0) << vips_error_buffer();
  return VImg(out);
}

VImg MakeU8(int w, int h, int bands, const std::vector<uint8_t>& px,
            VipsInterpretation interp = VIPS_INTERPRETATION_sRGB) {
  return MakeVips(px.data(), px.size(), w, h, bands, VIPS_FORMAT_UCHAR, interp);
}

// A smooth test pattern with some detail, so JPEG round trips keep recognisable values.
std::vector<uint8_t> Pattern(int w, int h, int bands) {
  std::vector<uint8_t> px(size_t(w) * h * bands);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < bands; ++c) px[(size_t(y) * w + x) * bands + c] = uint8_t((x * 7 + y * 3 + c * 60) % 256);
  return px;
}

ImageU8 ReadPnm(const std::string& data) {
  // "P6" or "P5", whitespace separated width, height, maxval (255), one whitespace byte, then the samples.
  size_t pos = 0;
  auto token = [&]() {
    while (pos < data.size() && (std::isspace(uint8_t(data[pos])) || data[pos] == '#')) {
      if (data[pos] == '#') {
        while (pos < data.size() && data[pos] != '\n') ++pos;
      } else {
        ++pos;
      }
    }
    size_t start = pos;
    while (pos < data.size() && !std::isspace(uint8_t(data[pos]))) ++pos;
    return data.substr(start, pos - start);
  };
  std::string magic = token();
  int w = std::stoi(token()), h = std::stoi(token());
  EXPECT_EQ(token(), "255");
  ++pos;
  const bool grey = magic == "P5";
  EXPECT_TRUE(grey || magic == "P6") << magic;
  ImageU8 img(w, h, 3);
  const size_t n = size_t(w) * h;
  EXPECT_EQ(data.size() - pos, n * (grey ? 1 : 3));
  if (data.size() - pos < n * (grey ? 1 : 3)) return img;
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) img.pixels[i * 3 + c] = uint8_t(data[pos + (grey ? i : i * 3 + c)]);
  return img;
}

ImageU8 Djpeg(const std::string& path) {
  std::string cmd = "djpeg -pnm '" + path + "'";
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << cmd;
  return ReadPnm(out);
}

std::vector<std::string> SampleJpegs() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(DOPPEL_SAMPLE_DIR, ec))
    if (e.path().extension() == ".jpg") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

DecodedImage MustDecode(const std::string& path, const DecodeOptions& o = {}) {
  auto r = DecodeImageFile(path, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : DecodedImage{};
}

// ---- JPEG parity with libjpeg-turbo's defaults (what Pillow decodes) ----

TEST(ImageDecodeJpeg, EqualsDjpegOnSamplePhotos) {
  std::vector<std::string> files = SampleJpegs();
  if (files.empty()) GTEST_SKIP() << "no sample JPEGs in " << DOPPEL_SAMPLE_DIR;
  // Every 4th file keeps the test short while covering grey, colour, and different subsamplings.
  int checked = 0;
  for (size_t i = 0; i < files.size(); i += 4) {
    DecodedImage d = MustDecode(files[i]);
    ImageU8 ref = Djpeg(files[i]);
    ASSERT_EQ(d.rgb.width, ref.width) << files[i];
    ASSERT_EQ(d.rgb.height, ref.height) << files[i];
    EXPECT_EQ(d.format, "jpeg");
    ASSERT_TRUE(d.rgb.pixels == ref.pixels) << files[i] << " differs from djpeg -pnm";
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

TEST(ImageDecodeJpeg, EqualsDjpegOnGeneratedSubsamplingsAndProgressive) {
  testing::TempDir dir;
  std::vector<uint8_t> px = Pattern(333, 217, 3);
  VImg img = MakeU8(333, 217, 3, px);
  struct Case {
    const char* name;
    VipsForeignSubsample sub;
    gboolean interlace;
    int q;
  };
  for (const Case& c : {Case{"420.jpg", VIPS_FOREIGN_SUBSAMPLE_ON, FALSE, 75},
                        Case{"444.jpg", VIPS_FOREIGN_SUBSAMPLE_OFF, FALSE, 95},
                        Case{"prog.jpg", VIPS_FOREIGN_SUBSAMPLE_AUTO, TRUE, 30}}) {
    std::string path = dir.file(c.name);
    ASSERT_EQ(vips_jpegsave(img.get(), path.c_str(), "Q", c.q, "subsample_mode", c.sub, "interlace", c.interlace,
                            nullptr),
              0)
        << vips_error_buffer();
    DecodedImage d = MustDecode(path);
    EXPECT_TRUE(d.rgb.pixels == Djpeg(path).pixels) << c.name;
  }
}

// ---- convert('RGB') rules ----

TEST(ImageDecodePng, GreyIsReplicated) {
  testing::TempDir dir;
  std::vector<uint8_t> px = {0, 17, 128, 255, 3, 99};
  VImg img = MakeU8(3, 2, 1, px, VIPS_INTERPRETATION_B_W);
  std::string path = dir.file("grey.png");
  ASSERT_EQ(vips_pngsave(img.get(), path.c_str(), nullptr), 0) << vips_error_buffer();
  DecodedImage d = MustDecode(path);
  EXPECT_EQ(d.format, "png");
  ASSERT_EQ(d.rgb.width, 3);
  ASSERT_EQ(d.rgb.height, 2);
  ASSERT_EQ(d.rgb.channels, 3);
  for (size_t i = 0; i < px.size(); ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(d.rgb.pixels[i * 3 + c], px[i]);
}

TEST(ImageDecodePng, SixteenBitGreySaturates) {
  testing::TempDir dir;
  std::vector<uint16_t> px = {0, 100, 255, 256, 1000, 65535};
  VImg img = MakeVips(px.data(), px.size() * 2, 6, 1, 1, VIPS_FORMAT_USHORT, VIPS_INTERPRETATION_GREY16);
  std::string path = dir.file("grey16.png");
  ASSERT_EQ(vips_pngsave(img.get(), path.c_str(), nullptr), 0) << vips_error_buffer();
  DecodedImage d = MustDecode(path);
  // Pillow: min(v, 255); v >> 8 would give 0, 0, 0, 1, 3, 255.
  const uint8_t want[] = {0, 100, 255, 255, 255, 255};
  for (int i = 0; i < 6; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(d.rgb.pixels[i * 3 + c], want[i]) << i;
}

TEST(ImageDecodePng, SixteenBitColourTakesHighByte) {
  testing::TempDir dir;
  // Pillow opens 16-bit RGB PNGs with raw mode "RGB;16B": the most significant byte of each sample.
  std::vector<uint16_t> px = {0x1234, 0xFF00, 0x00FF, 0x8080, 0x0001, 0xFFFF};
  VImg img = MakeVips(px.data(), px.size() * 2, 2, 1, 3, VIPS_FORMAT_USHORT, VIPS_INTERPRETATION_RGB16);
  std::string path = dir.file("rgb16.png");
  ASSERT_EQ(vips_pngsave(img.get(), path.c_str(), nullptr), 0) << vips_error_buffer();
  DecodedImage d = MustDecode(path);
  EXPECT_EQ(d.rgb.pixels, (std::vector<uint8_t>{0x12, 0xFF, 0x00, 0x80, 0x00, 0xFF}));
}

TEST(ImageDecodePng, AlphaCompositeOnWhiteOrDrop) {
  testing::TempDir dir;
  // 256 pixels mixing colour and alpha values, so every rounding case occurs.
  std::vector<uint8_t> px;
  for (int i = 0; i < 256; ++i) px.insert(px.end(), {uint8_t(i * 37), uint8_t(i * 91 + 5), uint8_t(i), uint8_t(i * 53)});
  const int n = 256;
  VImg img = MakeU8(n, 1, 4, px);
  std::string path = dir.file("rgba.png");
  ASSERT_EQ(vips_pngsave(img.get(), path.c_str(), nullptr), 0) << vips_error_buffer();

  DecodedImage white = MustDecode(path);
  for (int i = 0; i < n; ++i) {
    double a = px[i * 4 + 3];
    for (int c = 0; c < 3; ++c) {
      // c over white, rounded to nearest.
      long want = std::lround(px[i * 4 + c] * a / 255.0 + (255 - a));
      EXPECT_EQ(white.rgb.pixels[i * 3 + c], want) << "pixel " << i << " channel " << c;
    }
  }
  DecodeOptions drop;
  drop.alpha = AlphaMode::kDrop;
  DecodedImage dropped = MustDecode(path, drop);
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(dropped.rgb.pixels[i * 3 + c], px[i * 4 + c]);
}

TEST(ImageDecodePng, GreyAlpha) {
  testing::TempDir dir;
  std::vector<uint8_t> px = {10, 255, 10, 0};
  VImg img = MakeU8(2, 1, 2, px, VIPS_INTERPRETATION_B_W);
  std::string path = dir.file("la.png");
  ASSERT_EQ(vips_pngsave(img.get(), path.c_str(), nullptr), 0) << vips_error_buffer();
  EXPECT_EQ(MustDecode(path).rgb.pixels, (std::vector<uint8_t>{10, 10, 10, 255, 255, 255}));
  DecodeOptions drop;
  drop.alpha = AlphaMode::kDrop;
  EXPECT_EQ(MustDecode(path, drop).rgb.pixels, (std::vector<uint8_t>{10, 10, 10, 10, 10, 10}));
}

TEST(ImageDecodePng, PaletteWithTransparencyGivesPaletteColours) {
  // Pillow's convert('RGB') of a P image ignores tRNS: the palette colours. kDrop must give the same: libvips
  // expands the palette to RGBA and the RGB bytes are the PLTE entries.
  testing::TempDir dir;
  std::vector<uint8_t> px;
  for (int i = 0; i < 16; ++i) px.insert(px.end(), {uint8_t(i * 16), uint8_t(255 - i * 16), 77, uint8_t(i < 8 ? 0 : 255)});
  VImg img = MakeU8(16, 1, 4, px);
  std::string path = dir.file("palette.png");
  if (vips_pngsave(img.get(), path.c_str(), "palette", TRUE, "Q", 100, "dither", 0.0, nullptr) != 0) {
    vips_error_clear();
    GTEST_SKIP() << "this libvips cannot write palette PNGs";
  }
  const std::string bytes = testing::ReadFile(path);
  ASSERT_NE(bytes.find("PLTE"), std::string::npos);
  // The palette entries whose tRNS alpha is 0 (the quantiser may give transparent pixels any colour).
  const size_t plte = bytes.find("PLTE"), trns = bytes.find("tRNS");
  ASSERT_NE(trns, std::string::npos);
  auto length = [&](size_t type_at) {
    const auto* b = reinterpret_cast<const uint8_t*>(bytes.data() + type_at - 4);
    return size_t(b[0]) << 24 | size_t(b[1]) << 16 | size_t(b[2]) << 8 | b[3];
  };
  std::vector<std::array<uint8_t, 3>> transparent;
  for (size_t e = 0; e < length(trns); ++e)
    if (bytes[trns + 4 + e] == 0)
      transparent.push_back({uint8_t(bytes[plte + 4 + e * 3]), uint8_t(bytes[plte + 5 + e * 3]),
                             uint8_t(bytes[plte + 6 + e * 3])});
  ASSERT_FALSE(transparent.empty());
  DecodeOptions drop;
  drop.alpha = AlphaMode::kDrop;
  DecodedImage d = MustDecode(path, drop);
  for (int i = 0; i < 16; ++i) {
    std::array<uint8_t, 3> got = {d.rgb.at(i, 0, 0), d.rgb.at(i, 0, 1), d.rgb.at(i, 0, 2)};
    if (i < 8) {
      EXPECT_NE(std::find(transparent.begin(), transparent.end(), got), transparent.end()) << i;
    } else {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(got[c], px[i * 4 + c]) << i;
    }
  }
  // Composited: transparent entries become white.
  DecodedImage w = MustDecode(path);
  EXPECT_EQ(w.rgb.at(0, 0, 0), 255);
  EXPECT_EQ(w.rgb.at(15, 0, 0), px[15 * 4]);
}

// Pillow's CMYK rule, written as the reference's closed form.
uint8_t CmykChannel(int c, int k) { return uint8_t(std::lround((255.0 - c) * (255.0 - k) / 255.0)); }

TEST(ImageDecodeCmyk, TiffExact) {
  testing::TempDir dir;
  std::vector<uint8_t> px;
  for (int c : {0, 37, 128, 255})
    for (int k : {0, 1, 100, 254, 255}) px.insert(px.end(), {uint8_t(c), uint8_t(255 - c), uint8_t(c / 2), uint8_t(k)});
  const int n = int(px.size() / 4);
  VImg img = MakeU8(n, 1, 4, px, VIPS_INTERPRETATION_CMYK);
  std::string path = dir.file("cmyk.tif");
  ASSERT_EQ(vips_tiffsave(img.get(), path.c_str(), nullptr), 0) << vips_error_buffer();
  DecodedImage d = MustDecode(path);
  EXPECT_EQ(d.format, "tiff");
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < 3; ++ch)
      EXPECT_EQ(d.rgb.pixels[i * 3 + ch], CmykChannel(px[i * 4 + ch], px[i * 4 + 3])) << i << "," << ch;
}

TEST(ImageDecodeCmyk, JpegRoundTrip) {
  // libvips writes CMYK JPEGs inverted with an Adobe marker (as Photoshop and Pillow do) and inverts them back on
  // load; a wrong inversion would turn C=0 into 255. Flat 16x16 blocks survive Q100 JPEG within +-2.
  testing::TempDir dir;
  const std::vector<std::array<int, 4>> colours = {{0, 255, 255, 0}, {200, 30, 90, 60}, {0, 0, 0, 255}, {10, 10, 10, 10}};
  const int w = 16 * int(colours.size()), h = 16;
  std::vector<uint8_t> px(size_t(w) * h * 4);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 4; ++c) px[(size_t(y) * w + x) * 4 + c] = uint8_t(colours[x / 16][c]);
  VImg img = MakeU8(w, h, 4, px, VIPS_INTERPRETATION_CMYK);
  std::string path = dir.file("cmyk.jpg");
  ASSERT_EQ(vips_jpegsave(img.get(), path.c_str(), "Q", 100, nullptr), 0) << vips_error_buffer();
  DecodedImage d = MustDecode(path);
  for (size_t i = 0; i < colours.size(); ++i)
    for (int ch = 0; ch < 3; ++ch) {
      int got = d.rgb.at(int(i) * 16 + 8, 8, ch);
      int want = CmykChannel(colours[i][ch], colours[i][3]);
      EXPECT_NEAR(got, want, 3) << "colour " << i << " channel " << ch;
    }
}

// ---- Other formats ----

TEST(ImageDecodeFormats, WebpLosslessAndGifFirstFrame) {
  testing::TempDir dir;
  std::vector<uint8_t> px = Pattern(8, 6, 3);
  VImg img = MakeU8(8, 6, 3, px);
  std::string webp = dir.file("a.webp");
  ASSERT_EQ(vips_webpsave(img.get(), webp.c_str(), "lossless", TRUE, nullptr), 0) << vips_error_buffer();
  DecodedImage d = MustDecode(webp);
  EXPECT_EQ(d.format, "webp");
  EXPECT_EQ(d.rgb.pixels, px);

  // Two 4x4 frames stacked vertically: red then blue. Only the first is decoded.
  std::vector<uint8_t> frames(4 * 8 * 3);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 4; ++x) {
      uint8_t* p = &frames[(size_t(y) * 4 + x) * 3];
      p[0] = y < 4 ? 255 : 0;
      p[2] = y < 4 ? 0 : 255;
    }
  VImg anim = MakeU8(4, 8, 3, frames);
  vips_image_set_int(anim.get(), "page-height", 4);
  std::string gif = dir.file("anim.gif");
  ASSERT_EQ(vips_gifsave(anim.get(), gif.c_str(), nullptr), 0) << vips_error_buffer();
  DecodedImage g = MustDecode(gif);
  EXPECT_EQ(g.format, "gif");
  ASSERT_EQ(g.rgb.width, 4);
  ASSERT_EQ(g.rgb.height, 4);
  EXPECT_EQ(g.rgb.at(1, 1, 0), 255);
  EXPECT_EQ(g.rgb.at(1, 1, 2), 0);
}

// ---- EXIF orientation ----

TEST(ImageDecodeExif, Orientation6RotatesOnlyWhenAsked) {
  testing::TempDir dir;
  // 64x32: left half red, right half blue.
  std::vector<uint8_t> px(64 * 32 * 3, 0);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 64; ++x) px[(size_t(y) * 64 + x) * 3 + (x < 32 ? 0 : 2)] = 255;
  VImg img = MakeU8(64, 32, 3, px);
  vips_image_set_int(img.get(), VIPS_META_ORIENTATION, 6);
  std::string path = dir.file("orient6.jpg");
  ASSERT_EQ(vips_jpegsave(img.get(), path.c_str(), "Q", 95, nullptr), 0) << vips_error_buffer();

  DecodedImage rotated = MustDecode(path);
  EXPECT_EQ(rotated.source_width, 64);
  EXPECT_EQ(rotated.source_height, 32);
  ASSERT_EQ(rotated.rgb.width, 32);
  ASSERT_EQ(rotated.rgb.height, 64);
  // Orientation 6 = rotate 90 degrees clockwise to display: the stored left half becomes the top half.
  EXPECT_GT(rotated.rgb.at(16, 8, 0), 200);
  EXPECT_LT(rotated.rgb.at(16, 8, 2), 50);
  EXPECT_GT(rotated.rgb.at(16, 56, 2), 200);

  DecodeOptions keep;
  keep.apply_exif_orientation = false;
  DecodedImage stored = MustDecode(path, keep);
  ASSERT_EQ(stored.rgb.width, 64);
  ASSERT_EQ(stored.rgb.height, 32);
  EXPECT_GT(stored.rgb.at(8, 16, 0), 200);
  // Unrotated pixels are exactly djpeg's.
  EXPECT_TRUE(stored.rgb.pixels == Djpeg(path).pixels);
}

TEST(ImageDecodeExif, AllEightOrientations) {
  // 64x32 stored as four flat quadrants; each display pixel must come from the stored pixel the EXIF definition
  // names (orientation 5 = transpose, 7 = transverse, 2/4 = mirrors).
  testing::TempDir dir;
  const int W = 64, H = 32;
  const uint8_t colours[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
  auto quadrant = [&](int sx, int sy) { return (sy >= H / 2) * 2 + (sx >= W / 2); };
  std::vector<uint8_t> px(size_t(W) * H * 3);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) px[(size_t(y) * W + x) * 3 + c] = colours[quadrant(x, y)][c];
  for (int o = 1; o <= 8; ++o) {
    VImg img = MakeU8(W, H, 3, px);
    vips_image_set_int(img.get(), VIPS_META_ORIENTATION, o);
    std::string path = dir.file("orientation" + std::to_string(o) + ".jpg");
    ASSERT_EQ(vips_jpegsave(img.get(), path.c_str(), "Q", 95, nullptr), 0) << vips_error_buffer();
    DecodedImage d = MustDecode(path);
    const bool swap = o >= 5;
    ASSERT_EQ(d.rgb.width, swap ? H : W) << o;
    ASSERT_EQ(d.rgb.height, swap ? W : H) << o;
    for (int y = 4; y < d.rgb.height; y += 8)
      for (int x = 4; x < d.rgb.width; x += 8) {
        int sx = x, sy = y;
        switch (o) {
          case 2: sx = W - 1 - x; break;
          case 3: sx = W - 1 - x; sy = H - 1 - y; break;
          case 4: sy = H - 1 - y; break;
          case 5: sx = y; sy = x; break;
          case 6: sx = y; sy = H - 1 - x; break;
          case 7: sx = W - 1 - y; sy = H - 1 - x; break;
          case 8: sx = W - 1 - y; sy = x; break;
        }
        for (int c = 0; c < 3; ++c)
          ASSERT_NEAR(d.rgb.at(x, y, c), colours[quadrant(sx, sy)][c], 40) << "orientation " << o << " at " << x << "," << y;
      }
  }
}

// ---- Bad input: every error names the file ----

void ExpectError(const Result<DecodedImage>& r, Status::Code code, const std::string& name) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), name)) << r.status().ToString();
}

TEST(ImageDecodeErrors, NonexistentPath) {
  ExpectError(DecodeImageFile("/nonexistent/doppel/x.jpg"), Status::Code::kIOError, "/nonexistent/doppel/x.jpg");
}

TEST(ImageDecodeErrors, EmptyFile) {
  testing::TempDir dir;
  std::string path = dir.file("empty.jpg");
  testing::WriteFile(path, "");
  ExpectError(DecodeImageFile(path), Status::Code::kInvalidArgument, path);
  ExpectError(DecodeImageBuffer("", "buf-empty"), Status::Code::kInvalidArgument, "buf-empty");
}

TEST(ImageDecodeErrors, TextFileNamedJpg) {
  testing::TempDir dir;
  std::string path = dir.file("notes.jpg");
  testing::WriteFile(path, "this is not an image\njust some text\n");
  ExpectError(DecodeImageFile(path), Status::Code::kInvalidArgument, path);
}

TEST(ImageDecodeErrors, KnownFormatWithoutLoaderIsUnsupported) {
  // BMP magic: a format doppel recognises but this libvips (no ImageMagick, untrusted loaders blocked) cannot load.
  testing::TempDir dir;
  std::string path = dir.file("x.bmp");
  testing::WriteFile(path, std::string("BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00\x00\x00junkjunk", 22));
  ExpectError(DecodeImageFile(path), Status::Code::kUnsupported, path);
}

TEST(ImageDecodeErrors, TruncatedJpeg) {
  std::vector<std::string> files = SampleJpegs();
  if (files.empty()) GTEST_SKIP();
  testing::TempDir dir;
  std::string whole = testing::ReadFile(files[0]);
  std::string path = dir.file("truncated.jpg");
  testing::WriteFile(path, whole.substr(0, whole.size() / 2));
  ExpectError(DecodeImageFile(path), Status::Code::kInvalidArgument, path);
  ExpectError(DecodeImageBuffer(std::string_view(whole).substr(0, whole.size() / 2), "upload-7"),
              Status::Code::kInvalidArgument, "upload-7");
  // Cut inside the header too.
  testing::WriteFile(path, whole.substr(0, 40));
  ExpectError(DecodeImageFile(path), Status::Code::kInvalidArgument, path);
}

uint32_t Crc32(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char b : data) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

std::string Be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

std::string PngChunk(const std::string& type, const std::string& body) {
  return Be32(uint32_t(body.size())) + type + body + Be32(Crc32(type + body));
}

TEST(ImageDecodeErrors, PixelBombRefusedFromHeader) {
  // A valid IHDR claiming 100000 x 100000 RGB, then a tiny IDAT (an empty zlib stream) and IEND.
  std::string png = "\x89PNG\r\n\x1a\n";
  png += PngChunk("IHDR", Be32(100000) + Be32(100000) + std::string("\x08\x02\x00\x00\x00", 5));
  png += PngChunk("IDAT", std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8));
  png += PngChunk("IEND", "");
  testing::TempDir dir;
  std::string path = dir.file("bomb.png");
  testing::WriteFile(path, png);
  auto t0 = std::chrono::steady_clock::now();
  ExpectError(DecodeImageFile(path), Status::Code::kResourceExhausted, path);
  ExpectError(DecodeImageBuffer(png, "bomb-buffer"), Status::Code::kResourceExhausted, "bomb-buffer");
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 1.0);
}

TEST(ImageDecodeErrors, LimitsFromOptions) {
  testing::TempDir dir;
  VImg img = MakeU8(10, 10, 3, Pattern(10, 10, 3));
  std::string path = dir.file("small.png");
  ASSERT_EQ(vips_pngsave(img.get(), path.c_str(), nullptr), 0);
  DecodeOptions o;
  o.max_file_bytes = 20;
  ExpectError(DecodeImageFile(path, o), Status::Code::kResourceExhausted, path);
  o = {};
  o.max_pixels = 99;
  ExpectError(DecodeImageFile(path, o), Status::Code::kResourceExhausted, path);
  o.max_pixels = 100;
  EXPECT_TRUE(DecodeImageFile(path, o).ok());
}

TEST(ImageDecodeErrors, FilenameWithBracketsIsNotParsedAsOptions) {
  testing::TempDir dir;
  VImg img = MakeU8(16, 16, 3, Pattern(16, 16, 3));
  std::string path = dir.file("odd[shrink=2].jpg");
  ASSERT_EQ(vips_jpegsave(img.get(), path.c_str(), nullptr), 0);
  DecodedImage d = MustDecode(path);
  EXPECT_EQ(d.rgb.width, 16);
}

TEST(ImageDecodeErrors, ConcurrentFailuresNameTheirOwnFile) {
  std::vector<std::string> files = SampleJpegs();
  if (files.empty()) GTEST_SKIP();
  testing::TempDir dir;
  std::string whole = testing::ReadFile(files[0]);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    std::string bad = dir.file("bad" + std::to_string(t) + ".jpg");
    testing::WriteFile(bad, whole.substr(0, whole.size() / (2 + t)));
    threads.emplace_back([&, bad] {
      for (int i = 0; i < 10; ++i) {
        auto r = DecodeImageFile(bad);
        if (r.ok() || !Contains(r.status().message(), bad)) ++wrong;
        if (!DecodeImageFile(files[0]).ok()) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// ---- Sniffing ----

TEST(ImageSniff, MagicBytes) {
  using namespace std::literals;
  EXPECT_EQ(SniffImageFormat("\xFF\xD8\xFF\xE0...."sv), "jpeg");
  EXPECT_EQ(SniffImageFormat("\x89PNG\r\n\x1a\n...."sv), "png");
  EXPECT_EQ(SniffImageFormat("GIF89a...."sv), "gif");
  EXPECT_EQ(SniffImageFormat("RIFF\x10\0\0\0WEBPVP8 "sv), "webp");
  EXPECT_EQ(SniffImageFormat("RIFF\x10\0\0\0WAVEfmt "sv), "");
  EXPECT_EQ(SniffImageFormat("II*\0\x08\0\0\0"sv), "tiff");
  EXPECT_EQ(SniffImageFormat("MM\0*\0\0\0\x08"sv), "tiff");
  EXPECT_EQ(SniffImageFormat("BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00\x00\x00"sv), "bmp");
  EXPECT_EQ(SniffImageFormat("hello world"), "");
  EXPECT_EQ(SniffImageFormat(""), "");
  EXPECT_EQ(SniffImageFormat("\xFF\xD8"sv), "");
}

}  // namespace
}  // namespace doppel
