// Formats recognised by content (RecogniseImageFormat) and decoded through libvips beyond the common ones: Netpbm,
// HEIF/AVIF, JPEG XL; formats recognised but refused (PDF, SVG, JPEG 2000, BMP); header layouts refused before
// decoding (band counts, sample sizes).
#include <gtest/gtest.h>
#include <vips/vips.h>

#include <string>
#include <vector>

#include "doppel/image/decode.h"
#include "support/strings.h"
#include "support/test_util.h"
#include "support/vips_images.h"

namespace doppel {
namespace {

using testing::Contains;
using testing::MakeVips;
using testing::VImg;

std::vector<uint8_t> Pattern(int w, int h, int bands) {
  std::vector<uint8_t> px(size_t(w) * h * bands);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 37 + 11);
  return px;
}

DecodedImage MustDecode(const std::string& path) {
  auto r = DecodeImageFile(path);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : DecodedImage{};
}

DecodedImage MustDecodeBuffer(const std::string& bytes, const std::string& name) {
  auto r = DecodeImageBuffer(bytes, name);
  EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
  return r.ok() ? std::move(r).value() : DecodedImage{};
}

std::vector<uint8_t> Grey3(const std::vector<uint8_t>& grey) {
  std::vector<uint8_t> rgb;
  for (uint8_t g : grey) rgb.insert(rgb.end(), {g, g, g});
  return rgb;
}

// ---- Netpbm: written by hand, so the expected pixels are exact ----

struct Pnm {
  const char* name;
  std::string bytes;
  int w, h;
  std::vector<uint8_t> rgb;
};

std::vector<Pnm> NetpbmSamples() {
  using namespace std::literals;
  std::vector<Pnm> v;
  // P6: binary RGB, with a comment in the header.
  v.push_back({"p6", "P6\n# made by hand\n3 2\n255\n"s + "\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\xff\x00\x01"s,
               3, 2, {0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0, 0xff, 0x00, 0x01}});
  // P3: ASCII RGB.
  v.push_back({"p3", "P3 2 1 255\n1 2 3  250 251 252\n", 2, 1, {1, 2, 3, 250, 251, 252}});
  // P5: binary grey.
  v.push_back({"p5", "P5\n4 1\n255\n\x00\x40\x80\xff"s, 4, 1, Grey3({0x00, 0x40, 0x80, 0xff})});
  // P2: ASCII grey.
  v.push_back({"p2", "P2\n2 2\n255\n0 17\n34 255\n", 2, 2, Grey3({0, 17, 34, 255})});
  // P4: binary bitmap, 1 = black; rows padded to whole bytes: 10110000 / 01000000 for a 3x2 image.
  v.push_back({"p4", "P4\n3 2\n\xb0\x40"s, 3, 2, Grey3({0, 255, 0, 255, 0, 255})});
  // P1: ASCII bitmap.
  v.push_back({"p1", "P1\n# ascii\n4 1\n1 0 0 1\n", 4, 1, Grey3({0, 255, 255, 0})});
  return v;
}

TEST(ImageFormatsNetpbm, RecognisedByContentAndDecodedExactly) {
  testing::TempDir dir;
  for (const Pnm& s : NetpbmSamples()) {
    FormatGuess g = RecogniseImageFormat(s.bytes);
    EXPECT_EQ(g.format, "ppm") << s.name;
    EXPECT_TRUE(g.decodable) << s.name;
    // No extension: content decides.
    const std::string path = dir.file(std::string(s.name) + "-noext");
    testing::WriteFile(path, s.bytes);
    for (const DecodedImage& d : {MustDecode(path), MustDecodeBuffer(s.bytes, s.name)}) {
      EXPECT_EQ(d.format, "ppm") << s.name;
      EXPECT_EQ(d.decoder, "libvips");
      ASSERT_EQ(d.rgb.width, s.w) << s.name;
      ASSERT_EQ(d.rgb.height, s.h) << s.name;
      EXPECT_EQ(d.rgb.pixels, s.rgb) << s.name;
    }
  }
}

TEST(ImageFormatsNetpbm, TextThatStartsLikeAMagicNumberIsNotAnImage) {
  for (const char* text : {"P1 notes about the meeting\n", "P6: the sixth point\n", "P5", "Pf is a float"}) {
    FormatGuess g = RecogniseImageFormat(text);
    EXPECT_EQ(g.format, "") << text;
    EXPECT_FALSE(g.decodable) << text;
    auto r = DecodeImageBuffer(text, "text-buffer");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << r.status().ToString();
  }
}

TEST(ImageFormatsNetpbm, AbsurdHeaderRefusedBeforeDecoding) {
  testing::TempDir dir;
  const std::string path = dir.file("bomb.ppm");
  testing::WriteFile(path, "P6\n100000 100000\n255\n\x01\x02\x03");
  auto r = DecodeImageFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kResourceExhausted) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), path)) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "100000x100000")) << r.status().ToString();
  // Truncated pixel data within the limits is an error, not a grey-filled picture.
  testing::WriteFile(path, "P6\n100 100\n255\n\x01\x02\x03");
  r = DecodeImageFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << r.status().ToString();
}

// ---- HEIF / AVIF and JPEG XL, written with libvips ----

TEST(ImageFormatsHeif, HeicAndAvifRecognisedAndDecoded) {
  testing::TempDir dir;
  // A smooth gradient: HEVC and AV1 keep it within a few levels even where "lossless" still subsamples chroma.
  std::vector<uint8_t> px(16 * 8 * 3);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 16; ++x) {
      px[(y * 16 + x) * 3 + 0] = uint8_t(60 + x * 4);
      px[(y * 16 + x) * 3 + 1] = uint8_t(100 + y * 4);
      px[(y * 16 + x) * 3 + 2] = 140;
    }
  VImg img = MakeVips(px.data(), px.size(), 16, 8, 3, VIPS_FORMAT_UCHAR, VIPS_INTERPRETATION_sRGB);
  int saved = 0;
  for (auto compression : {VIPS_FOREIGN_HEIF_COMPRESSION_HEVC, VIPS_FOREIGN_HEIF_COMPRESSION_AV1}) {
    const std::string path = dir.file(compression == VIPS_FOREIGN_HEIF_COMPRESSION_AV1 ? "avif-noext" : "heic-noext");
    if (vips_heifsave(img.get(), path.c_str(), "compression", compression, "lossless", TRUE, nullptr) != 0) {
      vips_error_clear();  // no encoder for this compression in this libheif
      continue;
    }
    ++saved;
    const std::string bytes = testing::ReadFile(path);
    FormatGuess g = RecogniseImageFormat(std::string_view(bytes).substr(0, kSniffBytes));
    EXPECT_EQ(g.format, "heif") << path;
    EXPECT_TRUE(g.decodable) << path;
    DecodedImage d = MustDecode(path);
    EXPECT_EQ(d.format, "heif");
    ASSERT_EQ(d.rgb.width, 16);
    ASSERT_EQ(d.rgb.height, 8);
    for (size_t i = 0; i < px.size(); ++i) ASSERT_NEAR(d.rgb.pixels[i], px[i], 6) << path << " at " << i;
  }
  if (saved == 0) GTEST_SKIP() << "libheif has no encoder here";
}

TEST(ImageFormatsJxl, RecognisedAndDecodedLosslessly) {
  testing::TempDir dir;
  std::vector<uint8_t> px = Pattern(16, 8, 3);
  VImg img = MakeVips(px.data(), px.size(), 16, 8, 3, VIPS_FORMAT_UCHAR, VIPS_INTERPRETATION_sRGB);
  // libvips marks the JPEG XL saver untrusted too; doppel blocks untrusted operations and unblocks only the loader.
  vips_operation_block_set("VipsForeignSaveJxl", FALSE);
  const std::string path = dir.file("picture");
  if (vips_jxlsave(img.get(), path.c_str(), "lossless", TRUE, nullptr) != 0) {
    vips_error_clear();
    GTEST_SKIP() << "no JPEG XL encoder";
  }
  const std::string bytes = testing::ReadFile(path);
  FormatGuess g = RecogniseImageFormat(bytes);
  EXPECT_EQ(g.format, "jxl");
  EXPECT_TRUE(g.decodable);
  DecodedImage d = MustDecode(path);
  EXPECT_EQ(d.format, "jxl");
  EXPECT_EQ(d.rgb.pixels, px);
}

// ---- Recognised, not decoded ----

TEST(ImageFormatsRefused, DocumentsDrawingsAndBlockedLoadersAreNamed) {
  using namespace std::literals;
  struct Case {
    std::string bytes, format, reason;
  };
  const std::vector<Case> cases = {
      {"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"s, "pdf", "PDF document"},
      {"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>\n", "svg",
       "SVG drawing"},
      {"\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x14""ftypjp2 "s, "jp2k", "untrusted"},
      {"BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00\x00\x00junkjunk"s, "bmp", "ImageMagick"},
  };
  for (const Case& c : cases) {
    FormatGuess g = RecogniseImageFormat(c.bytes);
    EXPECT_EQ(g.format, c.format);
    EXPECT_FALSE(g.decodable) << c.format;
    EXPECT_TRUE(Contains(g.why_not, c.reason)) << c.format << ": " << g.why_not;
    auto r = DecodeImageBuffer(c.bytes, "upload-" + c.format);
    ASSERT_FALSE(r.ok()) << c.format;
    EXPECT_EQ(r.status().code(), Status::Code::kUnsupported) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), "upload-" + c.format)) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), c.format + " data")) << r.status().ToString();
  }
}

TEST(ImageFormatsRefused, TextIsNeverAnImage) {
  // libvips' matrix and CSV loaders read text as numbers; doppel does not take such text for a picture.
  for (const char* text : {"2 2\n1 2\n3 4\n", "1,2,3\n4,5,6\n", "hello world\n", "#!/bin/sh\necho hi\n"}) {
    FormatGuess g = RecogniseImageFormat(text);
    EXPECT_EQ(g.format, "") << text;
    auto r = DecodeImageBuffer(text, "text");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << r.status().ToString();
  }
}

TEST(ImageFormatsSniff, CommonFormatsNeedNoLibrary) {
  using namespace std::literals;
  for (auto [bytes, format] : {std::pair{"\xFF\xD8\xFF\xE0"sv, "jpeg"}, std::pair{"\x89PNG\r\n\x1a\n"sv, "png"},
                               std::pair{"GIF89a"sv, "gif"}, std::pair{"RIFF\x10\0\0\0WEBPVP8 "sv, "webp"},
                               std::pair{"II*\0\x08\0\0\0"sv, "tiff"}}) {
    FormatGuess g = RecogniseImageFormat(bytes);
    EXPECT_EQ(g.format, format);
    EXPECT_TRUE(g.decodable);
  }
  EXPECT_EQ(RecogniseImageFormat("").format, "");
}

// ---- Header layouts refused before decoding ----

void SaveTiff(const VImg& img, const std::string& path) {
  ASSERT_EQ(vips_tiffsave(img.get(), path.c_str(), nullptr), 0) << vips_error_buffer();
}

TEST(ImageFormatsLayout, TooManyBandsRefusedFromTheHeader) {
  testing::TempDir dir;
  std::vector<uint8_t> px = Pattern(8, 4, 6);
  VImg img = MakeVips(px.data(), px.size(), 8, 4, 6, VIPS_FORMAT_UCHAR, VIPS_INTERPRETATION_MULTIBAND);
  const std::string path = dir.file("six-bands.tif");
  SaveTiff(img, path);
  auto r = DecodeImageFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnsupported) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), path)) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "6 bands")) << r.status().ToString();
}

TEST(ImageFormatsLayout, WideSamplesCountAgainstThePixelLimit) {
  // CMYK + alpha in 32-bit floats = 20 bytes a pixel, over the 16 bytes a pixel doppel allows within max_pixels:
  // with max_pixels equal to the image's pixel count it is refused from the header; with twice as many it decodes.
  testing::TempDir dir;
  std::vector<float> px(size_t(10) * 10 * 5, 0.0f);
  for (size_t i = 4; i < px.size(); i += 5) px[i] = 255.0f;  // opaque, no ink: white
  VImg img = MakeVips(px.data(), px.size() * sizeof(float), 10, 10, 5, VIPS_FORMAT_FLOAT, VIPS_INTERPRETATION_CMYK);
  const std::string path = dir.file("double.tif");
  SaveTiff(img, path);
  DecodeOptions o;
  o.max_pixels = 100;
  auto r = DecodeImageFile(path, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kResourceExhausted) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "5 bands x 32 bits")) << r.status().ToString();
  o.max_pixels = 200;
  r = DecodeImageFile(path, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rgb.pixels, std::vector<uint8_t>(300, 255));
}

}  // namespace
}  // namespace doppel
