// DecodeImageFile/Buffer: djpeg parity, Pillow's convert('RGB') rules, alpha, EXIF, limits and bad input.
// Fixtures are written with libvips into a TempDir.
#include "doppel/image/decode.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <vips/vips.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <jpeglib.h>  // after <cstdio>: it needs FILE

#include "support/image_files.h"
#include "support/strings.h"
#include "support/test_util.h"
#include "support/vips_images.h"

namespace doppel {
namespace {

namespace fs = std::filesystem;

using testing::Be32;
using testing::Contains;
using testing::MakeVips;
using testing::PngChunk;
using testing::VImg;

// ---- libvips fixture helpers ----

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

ImageU8 Djpeg(const std::string& path, const std::string& options = "") {
  std::string cmd = "djpeg " + options + " -pnm '" + path + "'";
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

// ---- The JPEG fast path (libjpeg-turbo directly) ----

// djpeg -pnm, accepting exit status 2 (libjpeg warnings: corrupt data it recovered from).
ImageU8 DjpegTolerant(const std::string& path) {
  std::string cmd = "djpeg -pnm '" + path + "' 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 2)) << cmd;
  return ReadPnm(out);
}

// Offset of the SOF0/SOF2 marker of a JPEG written by libvips, or npos.
size_t FindSof(const std::string& jpeg) {
  for (size_t i = 2; i + 9 < jpeg.size(); ++i)
    if (uint8_t(jpeg[i]) == 0xFF && (uint8_t(jpeg[i + 1]) == 0xC0 || uint8_t(jpeg[i + 1]) == 0xC2)) return i;
  return std::string::npos;
}

TEST(ImageDecodeJpegFastPath, UsedForGreyAndColourJpegsNotForCmykOrOtherFormats) {
  testing::TempDir dir;
  std::vector<uint8_t> px = Pattern(97, 61, 3);
  VImg rgb = MakeU8(97, 61, 3, px);
  const std::string colour = dir.file("colour.jpg");
  ASSERT_EQ(vips_jpegsave(rgb.get(), colour.c_str(), "Q", 90, nullptr), 0) << vips_error_buffer();
  DecodedImage d = MustDecode(colour);
  EXPECT_EQ(d.format, "jpeg");
  EXPECT_EQ(d.decoder, "libjpeg-turbo");
  EXPECT_TRUE(d.rgb.pixels == Djpeg(colour).pixels);
  // The buffer entry point takes the same path and gives the same pixels.
  auto b = DecodeImageBuffer(testing::ReadFile(colour), "colour-buffer");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->decoder, "libjpeg-turbo");
  EXPECT_TRUE(b->rgb.pixels == d.rgb.pixels);

  // Grey: one component, replicated to RGB (djpeg writes P5; ReadPnm replicates).
  std::vector<uint8_t> grey_px = Pattern(97, 61, 1);
  VImg grey = MakeU8(97, 61, 1, grey_px, VIPS_INTERPRETATION_B_W);
  const std::string grey_path = dir.file("grey.jpg");
  ASSERT_EQ(vips_jpegsave(grey.get(), grey_path.c_str(), "Q", 85, nullptr), 0) << vips_error_buffer();
  DecodedImage g = MustDecode(grey_path);
  EXPECT_EQ(g.decoder, "libjpeg-turbo");
  ASSERT_EQ(g.rgb.channels, 3);
  EXPECT_TRUE(g.rgb.pixels == Djpeg(grey_path).pixels);
  for (size_t i = 0; i < g.rgb.pixels.size(); i += 3) {
    ASSERT_EQ(g.rgb.pixels[i], g.rgb.pixels[i + 1]);
    ASSERT_EQ(g.rgb.pixels[i], g.rgb.pixels[i + 2]);
  }

  // CMYK JPEGs (4 components) stay with libvips and Pillow's CMYK rule.
  std::vector<uint8_t> cmyk_px = Pattern(16, 16, 4);
  VImg cmyk = MakeU8(16, 16, 4, cmyk_px, VIPS_INTERPRETATION_CMYK);
  const std::string cmyk_path = dir.file("cmyk.jpg");
  ASSERT_EQ(vips_jpegsave(cmyk.get(), cmyk_path.c_str(), nullptr), 0) << vips_error_buffer();
  DecodedImage c = MustDecode(cmyk_path);
  EXPECT_EQ(c.format, "jpeg");
  EXPECT_EQ(c.decoder, "libvips");
  auto cb = DecodeImageBuffer(testing::ReadFile(cmyk_path), "cmyk-buffer");
  ASSERT_TRUE(cb.ok()) << cb.status().ToString();
  EXPECT_EQ(cb->decoder, "libvips");
  EXPECT_TRUE(cb->rgb.pixels == c.rgb.pixels);

  const std::string png = dir.file("x.png");
  ASSERT_EQ(vips_pngsave(rgb.get(), png.c_str(), nullptr), 0) << vips_error_buffer();
  EXPECT_EQ(MustDecode(png).decoder, "libvips");
}

TEST(ImageDecodeJpegFastPath, CameraSizePhotoEqualsDjpeg) {
  // 3000x2000, quality 90, made from a sample photo (or the test pattern when there is none).
  testing::TempDir dir;
  const std::string path = dir.file("big.jpg");
  std::vector<std::string> samples = SampleJpegs();
  VipsImage* big = nullptr;
  if (!samples.empty()) {
    ASSERT_EQ(vips_thumbnail(samples[0].c_str(), &big, 3000, "height", 2000, "size", VIPS_SIZE_FORCE, nullptr), 0)
        << vips_error_buffer();
  } else {
    VImg pattern = MakeU8(3000, 2000, 3, Pattern(3000, 2000, 3));
    big = pattern.release();
  }
  VImg img(big);
  ASSERT_EQ(vips_jpegsave(img.get(), path.c_str(), "Q", 90, nullptr), 0) << vips_error_buffer();
  DecodedImage d = MustDecode(path);
  EXPECT_EQ(d.decoder, "libjpeg-turbo");
  ASSERT_EQ(d.rgb.width, 3000);
  ASSERT_EQ(d.rgb.height, 2000);
  ImageU8 ref = Djpeg(path);
  ASSERT_EQ(ref.width, 3000);
  EXPECT_TRUE(d.rgb.pixels == ref.pixels) << "differs from djpeg -pnm";
}

TEST(ImageDecodeJpegFastPath, ShrinkOnLoadFollowsPillowsDraftRuleAndEqualsDjpegScale) {
  // 3000x2000: the draft size picks the DCT scale (Pillow's rule: the largest of 8/4/2/1 not above
  // min(W / dw, H / dh)), and the pixels are libjpeg's scaled decode, exactly as `djpeg -scale 1/s` gives them.
  testing::TempDir dir;
  const std::string path = dir.file("camera.jpg");
  VImg img = MakeU8(3000, 2000, 3, Pattern(3000, 2000, 3));
  ASSERT_EQ(vips_jpegsave(img.get(), path.c_str(), "Q", 90, nullptr), 0) << vips_error_buffer();
  struct Case {
    int dw, dh, scale, w, h;
  };
  for (const Case& c : {Case{256, 256, 4, 750, 500}, Case{200, 200, 8, 375, 250}, Case{224, 224, 8, 375, 250},
                        Case{1000, 600, 2, 1500, 1000}, Case{1600, 900, 1, 3000, 2000}, Case{0, 0, 1, 3000, 2000}}) {
    DecodeOptions o;
    o.draft_width = c.dw;
    o.draft_height = c.dh;
    DecodedImage d = MustDecode(path, o);
    EXPECT_EQ(d.draft_scale, c.scale) << c.dw << "x" << c.dh;
    ASSERT_EQ(d.rgb.width, c.w) << c.dw << "x" << c.dh;
    ASSERT_EQ(d.rgb.height, c.h) << c.dw << "x" << c.dh;
    EXPECT_EQ(d.source_width, 3000);
    EXPECT_GE(d.rgb.width, c.dw);
    EXPECT_GE(d.rgb.height, c.dh);
    ImageU8 ref = Djpeg(path, c.scale > 1 ? "-scale 1/" + std::to_string(c.scale) : "");
    ASSERT_EQ(ref.width, c.w);
    EXPECT_TRUE(d.rgb.pixels == ref.pixels) << "1/" << c.scale << " differs from djpeg";
  }
  // With an EXIF rotation the draft applies to the stored size, then the picture is turned.
  VImg turned = MakeU8(1203, 803, 3, Pattern(1203, 803, 3));
  vips_image_set_int(turned.get(), VIPS_META_ORIENTATION, 6);
  const std::string rotated = dir.file("rotated.jpg");
  ASSERT_EQ(vips_jpegsave(turned.get(), rotated.c_str(), "Q", 90, nullptr), 0) << vips_error_buffer();
  DecodeOptions o;
  o.draft_width = o.draft_height = 256;
  DecodedImage r = MustDecode(rotated, o);
  EXPECT_EQ(r.draft_scale, 2);
  EXPECT_EQ(r.rgb.width, 402);  // ceil(803 / 2), turned
  EXPECT_EQ(r.rgb.height, 602);
  // Other formats decode at full size.
  const std::string png = dir.file("big.png");
  ASSERT_EQ(vips_pngsave(img.get(), png.c_str(), "compression", 1, nullptr), 0) << vips_error_buffer();
  DecodedImage p = MustDecode(png, o);
  EXPECT_EQ(p.draft_scale, 1);
  EXPECT_EQ(p.rgb.width, 3000);
}

// ---- Shrink-on-load beyond JPEG: WebP (libwebp's scaled decode) and HEIF (the stored thumbnail) ----

// Runs `cmd` (a shell command line) and returns its exit status.
int Shell(const std::string& cmd) {
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// A smooth 3000x2000 picture (lossy codecs keep it), as a libvips image.
VImg SmoothPicture(int w, int h) {
  std::vector<uint8_t> px(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[(size_t(y) * w + x) * 3];
      p[0] = uint8_t(40 + 170 * x / w);
      p[1] = uint8_t(60 + 150 * y / h);
      p[2] = uint8_t(128 + 100 * std::sin(x * 0.01) * std::cos(y * 0.013));
    }
  return MakeU8(w, h, 3, px);
}

TEST(ImageDecodeShrinkOnLoad, WebpFollowsTheDraftRuleAndEqualsDwebpScale) {
  // The same scale rule as JPEG; the pixels are libwebp's scaled decode, exactly what `dwebp -scale W H` writes.
  testing::TempDir dir;
  const std::string path = dir.file("camera.webp");
  VImg img = SmoothPicture(3000, 2000);
  ASSERT_EQ(vips_webpsave(img.get(), path.c_str(), "Q", 80, nullptr), 0) << vips_error_buffer();
  struct Case {
    int dw, dh, scale, w, h;
  };
  for (const Case& c : {Case{256, 256, 4, 750, 500}, Case{224, 224, 8, 375, 250}, Case{1000, 600, 2, 1500, 1000},
                        Case{1600, 900, 1, 3000, 2000}}) {
    DecodeOptions o;
    o.draft_width = c.dw;
    o.draft_height = c.dh;
    o.draft_formats = kDraftAll;
    DecodedImage d = MustDecode(path, o);
    EXPECT_EQ(d.format, "webp");
    EXPECT_EQ(d.draft_scale, c.scale) << c.dw << "x" << c.dh;
    ASSERT_EQ(d.rgb.width, c.w) << c.dw << "x" << c.dh;
    ASSERT_EQ(d.rgb.height, c.h) << c.dw << "x" << c.dh;
    EXPECT_EQ(d.source_width, 3000);
    const std::string ppm = dir.file("dwebp.ppm");
    const std::string scale = c.scale > 1 ? " -scale " + std::to_string(c.w) + " " + std::to_string(c.h) : "";
    ASSERT_EQ(Shell("dwebp -quiet '" + path + "'" + scale + " -ppm -o '" + ppm + "'"),
              0)
        << "dwebp (Debian package webp) is needed";
    ImageU8 ref = ReadPnm(testing::ReadFile(ppm));
    ASSERT_EQ(ref.width, c.w);
    EXPECT_TRUE(d.rgb.pixels == ref.pixels) << "1/" << c.scale << " differs from dwebp" << scale;
    // The same bytes from memory.
    auto m = DecodeImageBuffer(testing::ReadFile(path), "camera.webp", o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_TRUE(m->rgb.pixels == d.rgb.pixels);
  }
  // WebP shrinks only when asked for: JPEG alone is the default.
  DecodeOptions jpeg_only;
  jpeg_only.draft_width = jpeg_only.draft_height = 224;
  DecodedImage full = MustDecode(path, jpeg_only);
  EXPECT_EQ(full.draft_scale, 1);
  EXPECT_EQ(full.rgb.width, 3000);
}

TEST(ImageDecodeShrinkOnLoad, HeifUsesItsStoredThumbnailOnlyWhenItCoversTheDraft) {
  testing::TempDir dir;
  const std::string png = dir.file("picture.png");
  VImg img = SmoothPicture(1200, 800);
  ASSERT_EQ(vips_pngsave(img.get(), png.c_str(), "compression", 1, nullptr), 0) << vips_error_buffer();
  const std::string with_thumb = dir.file("thumb.heic"), without = dir.file("plain.heic");
  ASSERT_EQ(Shell("heif-enc -q 90 -t 480 -o '" + with_thumb + "' '" + png + "' >/dev/null"), 0)
      << "heif-enc (Debian package libheif-examples) is needed";
  ASSERT_EQ(Shell("heif-enc -q 90 -o '" + without + "' '" + png + "' >/dev/null"), 0);
  DecodeOptions o;
  o.draft_width = o.draft_height = 224;
  o.draft_formats = kDraftAll;
  // The thumbnail (480x320) covers 224x224: it is what decodes, and its pixels are the picture's, smaller.
  DecodedImage t = MustDecode(with_thumb, o);
  EXPECT_EQ(t.format, "heif");
  ASSERT_EQ(t.rgb.width, 480);
  ASSERT_EQ(t.rgb.height, 320);
  EXPECT_EQ(t.source_width, 1200);
  EXPECT_EQ(t.source_height, 800);
  EXPECT_EQ(t.draft_scale, 2);  // 1200 / 480, rounded down
  DecodedImage whole = MustDecode(with_thumb);
  ASSERT_EQ(whole.rgb.width, 1200);
  double err = 0;
  for (int y = 0; y < 320; ++y)
    for (int x = 0; x < 480; ++x)
      for (int c = 0; c < 3; ++c)
        err += std::abs(int(t.rgb.pixels[(size_t(y) * 480 + x) * 3 + c]) -
                        int(whole.rgb.pixels[(size_t(y * 5 / 2) * 1200 + x * 5 / 2) * 3 + c]));
  EXPECT_LT(err / (480 * 320 * 3), 4.0) << "the thumbnail is not the picture";
  // A draft larger than the thumbnail, a file without one, and a JPEG-only draft: the full picture.
  DecodeOptions big = o;
  big.draft_width = big.draft_height = 360;
  EXPECT_EQ(MustDecode(with_thumb, big).rgb.width, 1200);
  DecodedImage plain = MustDecode(without, o);
  EXPECT_EQ(plain.rgb.width, 1200);
  EXPECT_EQ(plain.draft_scale, 1);
  DecodeOptions jpeg_only = o;
  jpeg_only.draft_formats = kDraftJpeg;
  EXPECT_EQ(MustDecode(with_thumb, jpeg_only).rgb.width, 1200);
}

// DecodeServes: a decode made with one setting stands in for another only when that setting decodes the same
// pixels. Every pair of settings over pictures of every shrinking kind: when it says yes, the other decode is
// identical; and it says yes where the draft rule gives the same outcome (a 224 and a 299 draft on a camera JPEG).
TEST(ImageDecodeShrinkOnLoad, OneDecodeServesAnotherSettingOnlyWithTheSamePixels) {
  testing::TempDir dir;
  std::vector<std::string> files;
  auto jpeg = [&](const std::string& name, int w, int h, int orientation) {
    VImg img = MakeU8(w, h, 3, Pattern(w, h, 3));
    if (orientation != 1) vips_image_set_int(img.get(), VIPS_META_ORIENTATION, orientation);
    files.push_back(dir.file(name));
    ASSERT_EQ(vips_jpegsave(img.get(), files.back().c_str(), "Q", 90, nullptr), 0) << vips_error_buffer();
  };
  jpeg("camera.jpg", 3000, 2400, 1);  // 224 and 299 both draft to 1/8
  jpeg("vga.jpg", 640, 480, 1);       // 224: 1/2, 299: whole
  jpeg("turned.jpg", 1203, 803, 6);   // the oriented draft sizes below pick different scales
  {
    std::vector<uint8_t> px(size_t(64) * 64 * 4, 90);
    VImg cmyk = MakeU8(64, 64, 4, px, VIPS_INTERPRETATION_CMYK);
    files.push_back(dir.file("cmyk.jpg"));
    ASSERT_EQ(vips_jpegsave(cmyk.get(), files.back().c_str(), "Q", 90, nullptr), 0) << vips_error_buffer();
  }
  for (int side : {1000, 300}) {
    VImg img = SmoothPicture(side, side * 4 / 5);
    files.push_back(dir.file("w" + std::to_string(side) + ".webp"));
    ASSERT_EQ(vips_webpsave(img.get(), files.back().c_str(), "Q", 80, nullptr), 0) << vips_error_buffer();
  }
  {
    VImg img = SmoothPicture(1200, 800);
    const std::string png = dir.file("picture.png");
    ASSERT_EQ(vips_pngsave(img.get(), png.c_str(), "compression", 1, nullptr), 0) << vips_error_buffer();
    files.push_back(png);
    files.push_back(dir.file("thumb.heic"));
    ASSERT_EQ(Shell("heif-enc -q 90 -t 480 -o '" + files.back() + "' '" + png + "' >/dev/null"), 0)
        << "heif-enc (Debian package libheif-examples) is needed";
    files.push_back(dir.file("plain.heic"));
    ASSERT_EQ(Shell("heif-enc -q 90 -o '" + files.back() + "' '" + png + "' >/dev/null"), 0);
  }
  auto draft = [](int w, int h, unsigned formats) {
    DecodeOptions o;
    o.draft_width = w;
    o.draft_height = h;
    o.draft_oriented = true;
    o.draft_formats = formats;
    return o;
  };
  std::vector<std::pair<std::string, DecodeOptions>> settings = {
      {"whole", DecodeOptions{}},
      {"224", draft(224, 224, kDraftJpeg)},
      {"299", draft(299, 299, kDraftJpeg)},
      {"224 all", draft(224, 224, kDraftAll)},
      {"299 all", draft(299, 299, kDraftAll)},
      {"600x300", draft(600, 300, kDraftJpeg)},
  };
  settings.push_back({"224 drop alpha", settings[1].second});
  settings.back().second.alpha = AlphaMode::kDrop;
  settings.push_back({"224 no EXIF", settings[1].second});
  settings.back().second.apply_exif_orientation = false;
  settings.push_back({"224 small limit", settings[1].second});
  settings.back().second.max_pixels = 300000;

  std::map<std::pair<std::string, std::string>, bool> served;  // (file, "a -> b")
  for (const std::string& f : files) {
    const std::string name = fs::path(f).filename().string();
    std::vector<Result<DecodedImage>> decodes;
    for (const auto& setting : settings) decodes.push_back(DecodeImageFile(f, setting.second));
    for (size_t i = 0; i < settings.size(); ++i) {
      const auto& [an, a] = settings[i];
      const Result<DecodedImage>& da = decodes[i];
      if (!da.ok()) continue;  // the small limit
      for (size_t j = 0; j < settings.size(); ++j) {
        const auto& [bn, b] = settings[j];
        const Result<DecodedImage>& db = decodes[j];
        const bool yes = DecodeServes(*da, a, b);
        served[{name, an + " -> " + bn}] = yes;
        if (an == bn) {
          EXPECT_TRUE(yes) << name << " " << an;
        }
        if (!yes) continue;
        ASSERT_TRUE(db.ok()) << name << " " << an << " -> " << bn << ": " << db.status().ToString();
        EXPECT_EQ(da->draft_scale, db->draft_scale) << name << " " << an << " -> " << bn;
        EXPECT_TRUE(da->rgb.width == db->rgb.width && da->rgb.height == db->rgb.height &&
                    da->rgb.pixels == db->rgb.pixels)
            << name << " " << an << " -> " << bn << ": served by a decode with other pixels";
      }
    }
  }
  auto says = [&](const std::string& file, const std::string& pair) { return served.at({file, pair}); };
  // The same scale from different draft sizes: one decode for both.
  EXPECT_TRUE(says("camera.jpg", "299 -> 224"));
  EXPECT_TRUE(says("camera.jpg", "224 -> 299 all"));
  EXPECT_FALSE(says("camera.jpg", "224 -> whole"));
  EXPECT_FALSE(says("vga.jpg", "299 -> 224"));
  EXPECT_TRUE(says("vga.jpg", "299 -> whole"));
  EXPECT_FALSE(says("turned.jpg", "224 -> 600x300"));  // 1/2 against whole, once the draft is turned
  EXPECT_TRUE(says("turned.jpg", "224 -> 299"));
  EXPECT_FALSE(says("turned.jpg", "224 -> 224 no EXIF"));
  EXPECT_FALSE(says("camera.jpg", "224 -> 224 drop alpha"));
  EXPECT_FALSE(says("camera.jpg", "224 -> 224 small limit"));
  EXPECT_TRUE(says("cmyk.jpg", "whole -> 224 all"));  // libvips decodes CMYK JPEGs whole
  EXPECT_TRUE(says("picture.png", "299 all -> 224"));
  // WebP: shrunk by one setting, not by the other; a small one is whole under both.
  EXPECT_FALSE(says("w1000.webp", "224 all -> 224"));
  EXPECT_TRUE(says("w1000.webp", "224 all -> 299 all"));  // 1/2 under both
  EXPECT_TRUE(says("w300.webp", "224 all -> 224"));
  // HEIF: its thumbnail serves only the same draft; a full decode serves a setting that keeps it whole.
  EXPECT_FALSE(says("thumb.heic", "224 all -> 224"));
  EXPECT_TRUE(says("thumb.heic", "224 -> whole"));
  EXPECT_TRUE(says("plain.heic", "224 all -> 224"));
}

TEST(ImageDecodeJpegFastPath, OrientationsMoveEveryPixelExactly) {
  // An odd size (not a multiple of the 8x8 blocks nor of the transpose tiles): each displayed pixel must be exactly
  // the stored pixel the EXIF definition names, the stored pixels being the apply_exif_orientation=false decode.
  testing::TempDir dir;
  const int W = 301, H = 77;
  DecodeOptions stored_opts;
  stored_opts.apply_exif_orientation = false;
  for (int o = 1; o <= 8; ++o) {
    VImg img = MakeU8(W, H, 3, Pattern(W, H, 3));
    vips_image_set_int(img.get(), VIPS_META_ORIENTATION, o);
    const std::string path = dir.file("odd-size-orientation" + std::to_string(o) + ".jpg");
    ASSERT_EQ(vips_jpegsave(img.get(), path.c_str(), "Q", 80, nullptr), 0) << vips_error_buffer();
    DecodedImage stored = MustDecode(path, stored_opts);
    DecodedImage shown = MustDecode(path);
    ASSERT_EQ(stored.rgb.width, W);
    const bool swap = o >= 5;
    ASSERT_EQ(shown.rgb.width, swap ? H : W) << o;
    ASSERT_EQ(shown.rgb.height, swap ? W : H) << o;
    EXPECT_EQ(shown.source_width, W);
    EXPECT_EQ(shown.source_height, H);
    for (int y = 0; y < shown.rgb.height; ++y)
      for (int x = 0; x < shown.rgb.width; ++x) {
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
          ASSERT_EQ(shown.rgb.at(x, y, c), stored.rgb.at(sx, sy, c)) << "orientation " << o << " at " << x << "," << y;
      }
  }
}

TEST(ImageDecodeJpegFastPath, CorruptDataIsRecoveredAsDjpegDoes) {
  // Damaged entropy-coded data: libjpeg warns ("Corrupt JPEG data: ...") and recovers; Pillow and libvips keep those
  // pixels, and so does doppel. Only running out of data is an error.
  std::vector<std::string> files = SampleJpegs();
  if (files.empty()) GTEST_SKIP();
  testing::TempDir dir;
  std::string whole = testing::ReadFile(files[0]);
  const size_t sos = whole.find("\xFF\xDA");
  ASSERT_NE(sos, std::string::npos);
  std::string damaged = whole;
  for (size_t i = 0; i < 8; ++i) damaged[sos + 300 + i * (whole.size() - sos - 400) / 8] ^= 0x5A;
  const std::string path = dir.file("damaged.jpg");
  testing::WriteFile(path, damaged);
  DecodedImage d = MustDecode(path);
  EXPECT_EQ(d.decoder, "libjpeg-turbo");
  EXPECT_TRUE(d.rgb.pixels == DjpegTolerant(path).pixels);

  // Cut short but ended with an EOI marker: the scan data stops early, libjpeg warns and fills in; tolerated too.
  std::string cut = whole.substr(0, whole.size() / 2) + "\xFF\xD9";
  testing::WriteFile(path, cut);
  d = MustDecode(path);
  EXPECT_TRUE(d.rgb.pixels == DjpegTolerant(path).pixels);

  // Without the EOI it is truncated, even when only the marker is missing.
  testing::WriteFile(path, whole.substr(0, whole.size() - 2));
  ExpectError(DecodeImageFile(path), Status::Code::kInvalidArgument, path);
}

// The scans of a JPEG: [start of SOS marker, end of its entropy-coded data) and the SOS header fields.
struct Scan {
  size_t begin, end;
  int components, ss, se, ah, al;
};
std::vector<Scan> Scans(const std::string& jpeg) {
  std::vector<Scan> scans;
  auto byte = [&](size_t i) { return uint8_t(jpeg[i]); };
  for (size_t p = jpeg.find("\xFF\xDA"); p != std::string::npos && p + 4 < jpeg.size();
       p = jpeg.find("\xFF\xDA", p + 2)) {
    const size_t length = size_t(byte(p + 2)) << 8 | byte(p + 3);
    const int n = byte(p + 4);
    Scan s{p, 0, n, byte(p + 5 + 2 * n), byte(p + 6 + 2 * n), byte(p + 7 + 2 * n) >> 4, byte(p + 7 + 2 * n) & 15};
    size_t e = p + 2 + length;  // entropy-coded data: up to a marker that is neither a stuffed 0xFF nor RSTn
    while (e + 1 < jpeg.size() && !(byte(e) == 0xFF && byte(e + 1) != 0 && (byte(e + 1) & 0xF8) != 0xD0)) ++e;
    s.end = e;
    scans.push_back(s);
    p = e - 2;
  }
  return scans;
}

TEST(ImageDecodeJpegFastPath, WarningsToleratedUpToLibvipsLimit) {
  // A progressive JPEG whose first AC scan is repeated: each repeat makes libjpeg warn "Inconsistent progression
  // sequence" once per coefficient of the band and carry on. A few dozen warnings decode (to djpeg's pixels); the
  // 100th is fatal, as in libvips.
  testing::TempDir dir;
  VImg img = MakeU8(64, 48, 3, Pattern(64, 48, 3));
  const std::string prog_path = dir.file("prog.jpg");
  ASSERT_EQ(vips_jpegsave(img.get(), prog_path.c_str(), "interlace", TRUE, nullptr), 0) << vips_error_buffer();
  const std::string prog = testing::ReadFile(prog_path);
  std::vector<Scan> scans = Scans(prog);
  ASSERT_GT(scans.size(), 2u);
  auto ac = std::find_if(scans.begin(), scans.end(), [](const Scan& s) { return s.ss > 0 && s.ah == 0; });
  ASSERT_NE(ac, scans.end());
  const int band = ac->se - ac->ss + 1;
  auto repeated = [&](int k) {
    std::string out = prog.substr(0, ac->end);
    for (int i = 0; i < k; ++i) out += prog.substr(ac->begin, ac->end - ac->begin);
    return out + prog.substr(ac->end);
  };
  const std::string path = dir.file("repeated.jpg");
  testing::WriteFile(path, repeated(std::max(1, 80 / (band + 1))));
  DecodedImage d = MustDecode(path);
  EXPECT_EQ(d.decoder, "libjpeg-turbo");
  EXPECT_TRUE(d.rgb.pixels == DjpegTolerant(path).pixels);
  testing::WriteFile(path, repeated((150 + band - 1) / band));
  auto r = DecodeImageFile(path);
  ExpectError(r, Status::Code::kInvalidArgument, path);
  EXPECT_TRUE(Contains(r.status().message(), "100 libjpeg warnings")) << r.status().ToString();
}

TEST(ImageDecodeJpegFastPath, ScanBombRefused) {
  // A valid progressive JPEG with 2090 scans (every coefficient of every component sent in 11 successive-approximation
  // steps, the most libjpeg's encoder allows for 8-bit data): no libjpeg warning, but each scan walks the whole image.
  // More than 1000 scans are refused.
  const int kComponents = 3;
  std::vector<jpeg_scan_info> script;
  const int kTopBit = 10;  // the encoder's MAX_AH_AL for 8-bit samples
  jpeg_scan_info dc{kComponents, {0, 1, 2, 0}, 0, 0, 0, kTopBit};
  script.push_back(dc);
  for (int al = kTopBit - 1; al >= 0; --al) script.push_back(jpeg_scan_info{kComponents, {0, 1, 2, 0}, 0, 0, al + 1, al});
  for (int c = 0; c < kComponents; ++c)
    for (int k = 1; k < 64; ++k) {
      script.push_back(jpeg_scan_info{1, {c, 0, 0, 0}, k, k, 0, kTopBit});
      for (int al = kTopBit - 1; al >= 0; --al) script.push_back(jpeg_scan_info{1, {c, 0, 0, 0}, k, k, al + 1, al});
    }
  ASSERT_EQ(script.size(), 2090u);

  std::vector<uint8_t> px = Pattern(16, 16, 3);
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = 16;
  cinfo.image_height = 16;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  cinfo.scan_info = script.data();
  cinfo.num_scans = int(script.size());
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = px.data() + size_t(cinfo.next_scanline) * 16 * 3;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  const std::string bomb(reinterpret_cast<const char*>(buf), size);
  free(buf);
  ASSERT_EQ(Scans(bomb).size(), 2090u);

  testing::TempDir dir;
  const std::string path = dir.file("scans.jpg");
  testing::WriteFile(path, bomb);
  ASSERT_EQ(Djpeg(path).width, 16);  // a valid file: djpeg decodes it without a warning
  auto r = DecodeImageBuffer(bomb, "scan-bomb");
  ExpectError(r, Status::Code::kInvalidArgument, "scan-bomb");
  EXPECT_TRUE(Contains(r.status().message(), "scans")) << r.status().ToString();
}

TEST(ImageDecodeJpegFastPath, PixelLimitsComeFromTheHeader) {
  testing::TempDir dir;
  VImg img = MakeU8(40, 30, 3, Pattern(40, 30, 3));
  const std::string path = dir.file("small.jpg");
  ASSERT_EQ(vips_jpegsave(img.get(), path.c_str(), nullptr), 0) << vips_error_buffer();
  DecodeOptions o;
  o.max_pixels = 40 * 30 - 1;
  ExpectError(DecodeImageFile(path, o), Status::Code::kResourceExhausted, path);
  o.max_pixels = 40 * 30;
  EXPECT_TRUE(DecodeImageFile(path, o).ok());
  o = {};
  o.max_file_bytes = 100;
  ExpectError(DecodeImageFile(path, o), Status::Code::kResourceExhausted, path);
  ExpectError(DecodeImageBuffer(testing::ReadFile(path), "small-buffer", o), Status::Code::kResourceExhausted,
              "small-buffer");

  // A 60000 x 60000 header over a tiny file: refused before any allocation, at once.
  std::string bomb = testing::ReadFile(path);
  const size_t sof = FindSof(bomb);
  ASSERT_NE(sof, std::string::npos);
  for (size_t at : {sof + 5, sof + 7}) {  // height, then width, big-endian 16 bits
    bomb[at] = char(60000 >> 8);
    bomb[at + 1] = char(60000 & 0xFF);
  }
  const std::string bomb_path = dir.file("bomb.jpg");
  testing::WriteFile(bomb_path, bomb);
  auto t0 = std::chrono::steady_clock::now();
  ExpectError(DecodeImageFile(bomb_path), Status::Code::kResourceExhausted, bomb_path);
  ExpectError(DecodeImageBuffer(bomb, "bomb-jpeg"), Status::Code::kResourceExhausted, "bomb-jpeg");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.5);
}

TEST(ImageDecodeJpegFastPath, GarbageNeverCrashes) {
  // Random damage anywhere (headers included): every result is an image or an InvalidArgument naming the buffer.
  // libjpeg's default error handler would call exit(); a crash or exit here fails the whole test binary.
  testing::TempDir dir;
  VImg img = MakeU8(48, 40, 3, Pattern(48, 40, 3));
  std::string jpeg;
  for (int interlace : {0, 1}) {
    const std::string path = dir.file(interlace ? "p.jpg" : "b.jpg");
    ASSERT_EQ(vips_jpegsave(img.get(), path.c_str(), "interlace", gboolean(interlace), nullptr), 0)
        << vips_error_buffer();
    jpeg = testing::ReadFile(path);
    uint32_t seed = 12345 + uint32_t(interlace);
    auto next = [&]() { return seed = seed * 1664525u + 1013904223u, seed >> 8; };
    for (int i = 0; i < 150; ++i) {
      std::string bad = jpeg;
      switch (i % 3) {
        case 0:
          bad.resize(3 + next() % (bad.size() - 3));
          break;
        case 1:
          for (int k = 0; k < 1 + i % 7; ++k) bad[3 + next() % (bad.size() - 3)] = char(next());
          break;
        default:
          bad.insert(3 + next() % (bad.size() - 3), std::string(1 + next() % 9, char(next())));
      }
      auto r = DecodeImageBuffer(bad, "mutant-" + std::to_string(i));
      if (!r.ok()) {
        EXPECT_TRUE(r.status().code() == Status::Code::kInvalidArgument ||
                    r.status().code() == Status::Code::kResourceExhausted)
            << r.status().ToString();
        EXPECT_TRUE(Contains(r.status().message(), "mutant-" + std::to_string(i))) << r.status().ToString();
      } else {
        EXPECT_EQ(r->rgb.pixels.size(), size_t(r->rgb.width) * r->rgb.height * 3);
      }
    }
  }
}

TEST(ImageDecodeJpegFastPath, ConcurrentDecodesMatchSerial) {
  std::vector<std::string> files = SampleJpegs();
  if (files.size() < 4) GTEST_SKIP();
  files.resize(4);
  std::vector<std::vector<uint8_t>> serial;
  for (const auto& f : files) serial.push_back(MustDecode(f).rgb.pixels);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        const size_t k = size_t(t + i) % files.size();
        auto r = DecodeImageFile(files[k]);
        if (!r.ok() || r->rgb.pixels != serial[k]) ++wrong;
      }
    });
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
