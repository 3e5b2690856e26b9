// The perceptual hash as duplicate detection relies on it: stable under re-encoding and rescaling, far apart for
// different photos, the 8 dihedral variants from one DCT equal to hashing the transformed pixels, transforms made by
// libvips recognised, flat images scored low, bad input refused. Distances (of 256 bits) measured on Debian 12
// (libvips 8.14, libjpeg-turbo 2.1.5) on baboon, fruits, building, messi5 and butterfly from opencv-doc:
//   JPEG re-encode at quality 30: 0-2;  50% rescale: 0-2 (Pillow LANCZOS in memory; libvips + JPEG q75 too);
//   different photos: 108-140;  the 8 variants of one photo: 102-142 apart;
//   rotated/mirrored by libvips, 75% size, JPEG q75: matched variant 0-2, the next nearest 102-116.
// Distances are even: both hashes have 128 bits set. The thresholds (<= 24 close, >= 80 far) leave room around them.
#include "doppel/image/phash.h"

#include <gtest/gtest.h>
#include <vips/vips.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "doppel/image/decode.h"
#include "doppel/image/resize.h"
#include "support/image_files.h"
#include "support/test_util.h"
#include "support/vips_images.h"

namespace doppel {
namespace {

using testing::TempDir;

constexpr Dihedral kAll[8] = {Dihedral::kIdentity,     Dihedral::kRot90,       Dihedral::kRot180,
                              Dihedral::kRot270,       Dihedral::kMirror,      Dihedral::kMirrorRot90,
                              Dihedral::kMirrorRot180, Dihedral::kMirrorRot270};

// Photos of different subjects from opencv-doc: textures (baboon), objects (fruits), lines (building), people.
const char* const kPhotos[] = {"baboon.jpg", "fruits.jpg", "building.jpg", "messi5.jpg", "butterfly.jpg"};

std::string Sample(const std::string& name) { return std::string(DOPPEL_SAMPLE_DIR) + "/" + name; }

// EXIF orientation is ignored throughout, so that a file's pixels are exactly what was written.
DecodeOptions Raw() {
  DecodeOptions o;
  o.apply_exif_orientation = false;
  return o;
}

ImageU8 MustDecode(const std::string& path) {
  auto r = DecodeImageFile(path, Raw());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->rgb : ImageU8();
}

PerceptualHash MustHash(const ImageU8& img) {
  auto r = ComputePerceptualHash(img);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : PerceptualHash{};
}

std::array<PerceptualHash, 8> MustHashAll(const ImageU8& img) {
  auto r = ComputeDihedralHashes(img);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::array<PerceptualHash, 8>{};
}

bool HaveSamples() {
  for (const char* p : kPhotos)
    if (!std::filesystem::exists(Sample(p))) return false;
  return true;
}

#define REQUIRE_SAMPLES() \
  if (!HaveSamples()) GTEST_SKIP() << "opencv-doc sample photos missing from " << DOPPEL_SAMPLE_DIR

int Popcount(const PerceptualHash& h) {
  int n = 0;
  for (uint8_t b : h.bits) n += std::popcount(unsigned(b));
  return n;
}

ImageU8 FromVips(VipsImage* v) {
  size_t n = 0;
  void* mem = vips_image_write_to_memory(v, &n);
  EXPECT_TRUE(mem) << vips_error_buffer();
  ImageU8 img(vips_image_get_width(v), vips_image_get_height(v), vips_image_get_bands(v));
  EXPECT_EQ(n, img.pixels.size());
  if (mem && n == img.pixels.size()) std::memcpy(img.pixels.data(), mem, n);
  g_free(mem);
  return img;
}

// `img` transformed by libvips (an implementation independent of ApplyDihedral): a left-right flip for the mirror
// variants, then a clockwise rotation.
testing::VImg VipsDihedral(const ImageU8& img, Dihedral t) {
  testing::VImg v = testing::MakeVips(img.pixels.data(), img.pixels.size(), img.width, img.height, img.channels,
                                      VIPS_FORMAT_UCHAR, VIPS_INTERPRETATION_sRGB);
  const int i = static_cast<int>(t);
  if (i >= 4) {
    VipsImage* out = nullptr;
    EXPECT_EQ(vips_flip(v.get(), &out, VIPS_DIRECTION_HORIZONTAL, nullptr), 0) << vips_error_buffer();
    v.reset(out);
  }
  const VipsAngle angles[4] = {VIPS_ANGLE_D0, VIPS_ANGLE_D90, VIPS_ANGLE_D180, VIPS_ANGLE_D270};
  VipsImage* out = nullptr;
  EXPECT_EQ(vips_rot(v.get(), &out, angles[i % 4], nullptr), 0) << vips_error_buffer();
  v.reset(out);
  return v;
}

// ---- Stability and discrimination on photos ----

// A deterministic test picture: a smooth pattern plus noise (structure at every scale), `seed` picking the noise.
inline ImageU8 PatternPicture(int w, int h, int channels, uint32_t seed) {
  ImageU8 img(w, h, channels);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < channels; ++k) {
        seed = seed * 1664525u + 1013904223u;
        img.row(y)[x * channels + k] =
            uint8_t((x * (k + 1) * 7 / (w + 1) * 31 + y * 13 * 255 / (h + 1) + int(seed >> 26)) & 255);
      }
  return img;
}

std::string Hex(const PerceptualHash& h) {
  std::string out;
  char b[3];
  for (uint8_t x : h.bits) {
    std::snprintf(b, sizeof b, "%02x", x);
    out += b;
  }
  return out;
}

// Stored near-copy records (picture_hash.h) are only comparable with new ones while the hash gives the same bits:
// these were computed when the rule was set (kPictureHashRule 2). An implementation that changes any of them needs a
// rule bump, not a new golden value. Sizes: odd, narrower and wider than the 64x64 grid, grey and RGB.
TEST(PerceptualHash, HashesOfPatternPicturesArePinned) {
  struct Golden {
    int w, h, channels;
    uint32_t seed;
    int quality;
    const char* identity;
    const char* rot90;
  };
  const Golden golden[] = {
      {128, 44, 1, 1, 100, "25e5e93c11bbada2b83c4ccc692f08b61809ec415871696a09bbf5cb19fce7d5", "ed52aaaa830870f4becff820c806b208ef1d2692596adcd33a7e7df68b44077a"},
      {321, 239, 3, 2, 100, "8f2621688f5401733d1e415f4f1da1733f6e217fafa701f8eb2f81d88f46019a", "5555efffbeeffffbaaab38bdcaaa2fce02bc0364dbe8d800540021b104c0a802"},
      {500, 375, 3, 3, 100, "07d025db2f38813b4f8325524ffa01926f74017aafdc813baff301f06fb8a13e", "1555ffff9dfefeffaaaa8c0eeaeba232a0a25030aa2de4204141a640c99c395a"},
      {1301, 997, 3, 4, 100, "ef940176ef3401f7af4e21f2ef440112cfa201f76ffe21524f9a011a2fd601fa", "5555ffffffffffffaaaa8ae6aebebbaaa2a81000e0a89a0204548400c020827d"},
      {63, 65, 3, 5, 100, "078be36e43d3d0bdd2d5915e05935449e157586d3175b76b916925b0d07dd489", "cd97bdaaeb02aaa83270a887342890737774cda390ed2178d6cfa0d41cf5f72a"},
      {7, 300, 1, 6, 100, "3789b971007fa17de78c017f117be17c652cf1385e82ed2477883831a17db931", "5171bbbebbb7a806e91c31513ab53151c54aceae16e357f94448444144cbbbbe"},
  };
  for (const Golden& g : golden) {
    auto r = ComputeDihedralHashes(PatternPicture(g.w, g.h, g.channels, g.seed));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const std::string what = std::to_string(g.w) + "x" + std::to_string(g.h) + "x" + std::to_string(g.channels);
    EXPECT_EQ((*r)[0].quality, g.quality) << what;
    EXPECT_EQ(Hex((*r)[0]), g.identity) << what;
    EXPECT_EQ(Hex((*r)[1]), g.rot90) << what;
  }
}

TEST(PerceptualHash, SameImageSameHashAndGreyEqualsItsRgb) {
  REQUIRE_SAMPLES();
  ImageU8 img = MustDecode(Sample("fruits.jpg"));
  PerceptualHash a = MustHash(img), b = MustHash(ImageU8(img));
  EXPECT_EQ(a.bits, b.bits);
  EXPECT_EQ(a.quality, b.quality);
  EXPECT_EQ(HammingDistance(a, b), 0);
  // A grey image and its (g, g, g) RGB copy have the same luma, so the same hash.
  ImageU8 grey(img.width, img.height, 1), rgb(img.width, img.height, 3);
  for (size_t i = 0; i < grey.pixels.size(); ++i) {
    grey.pixels[i] = img.pixels[i * 3 + 1];
    for (int c = 0; c < 3; ++c) rgb.pixels[i * 3 + c] = grey.pixels[i];
  }
  PerceptualHash g = MustHash(grey), r = MustHash(rgb);
  EXPECT_EQ(g.bits, r.bits);
  EXPECT_EQ(g.quality, r.quality);
}

TEST(PerceptualHash, PhotoHashesHaveTheDocumentedLayout) {
  REQUIRE_SAMPLES();
  for (const char* p : kPhotos) {
    PerceptualHash h = MustHash(MustDecode(Sample(p)));
    // Lower-median threshold: 128 of 256 distinct coefficients lie strictly above it.
    EXPECT_EQ(Popcount(h), 128) << p;
    // Bit 0 is the DC term, 64 x the mean luma: the largest coefficient of any photo.
    EXPECT_EQ(h.bits[0] & 1, 1) << p;
  }
}

TEST(PerceptualHash, JpegReencodeAtQuality30IsClose) {
  REQUIRE_SAMPLES();
  TempDir dir;
  for (const char* p : kPhotos) {
    ImageU8 img = MustDecode(Sample(p));
    const std::string path = dir.file(std::string("q30_") + p);
    testing::WriteImage(img, path, 30);
    int d = HammingDistance(MustHash(img), MustHash(MustDecode(path)));
    std::cout << "re-encode q30 " << p << ": " << d << "\n";
    EXPECT_LE(d, 24) << p;
  }
}

TEST(PerceptualHash, HalfSizeRescaleIsClose) {
  REQUIRE_SAMPLES();
  TempDir dir;
  for (const char* p : kPhotos) {
    ImageU8 img = MustDecode(Sample(p));
    // In memory (Pillow's LANCZOS via PilResize) and through libvips' resize + JPEG quality 75.
    int d_mem = HammingDistance(MustHash(img), MustHash(PilResize(img, img.width / 2, img.height / 2,
                                                                   Filter::kLanczos)));
    const std::string path = dir.file(std::string("half_") + p);
    testing::WriteEditedCopy(Sample(p), path, 0.5);
    int d_file = HammingDistance(MustHash(img), MustHash(MustDecode(path)));
    std::cout << "rescale 50% " << p << ": " << d_mem << " (lanczos), " << d_file << " (vips + q75)\n";
    EXPECT_LE(d_mem, 24) << p;
    EXPECT_LE(d_file, 24) << p;
  }
}

TEST(PerceptualHash, DifferentPhotosAreFarApart) {
  REQUIRE_SAMPLES();
  std::vector<PerceptualHash> h;
  for (const char* p : kPhotos) h.push_back(MustHash(MustDecode(Sample(p))));
  for (size_t i = 0; i < h.size(); ++i)
    for (size_t j = i + 1; j < h.size(); ++j) {
      int d = HammingDistance(h[i], h[j]);
      std::cout << "different " << kPhotos[i] << " " << kPhotos[j] << ": " << d << "\n";
      EXPECT_GE(d, 80) << kPhotos[i] << " vs " << kPhotos[j];
    }
}

// ---- Dihedral variants ----

void ExpectVariantsEqualTransformedPixels(const ImageU8& img, const std::string& what) {
  std::array<PerceptualHash, 8> v = MustHashAll(img);
  EXPECT_EQ(v[0].bits, MustHash(img).bits) << what;
  for (Dihedral t : kAll) {
    ImageU8 moved = ApplyDihedral(img, t);
    PerceptualHash direct = MustHash(moved);
    const PerceptualHash& variant = v[size_t(t)];
    EXPECT_EQ(HammingDistance(variant, direct), 0) << what << " " << DihedralName(t);
    EXPECT_EQ(variant.quality, direct.quality) << what << " " << DihedralName(t);
  }
}

TEST(PerceptualHash, DihedralVariantsEqualHashesOfTransformedPixels) {
  REQUIRE_SAMPLES();
  ImageU8 photo = MustDecode(Sample("baboon.jpg"));
  // A 256x256 crop: the downscale is 4x4 blocks, which commute with every transform.
  ExpectVariantsEqualTransformedPixels(Crop(photo, 100, 60, 256, 256), "256x256 crop");
  // Sizes that are not multiples of 64, with fractional overlaps and upscaling: the integer area average and the
  // paired DCT keep them exact too (the contract only promised a few bits here).
  ExpectVariantsEqualTransformedPixels(Crop(photo, 33, 71, 301, 199), "301x199 crop");
  ExpectVariantsEqualTransformedPixels(PilResize(photo, 17, 40, Filter::kBilinear), "17x40 (upscaled)");
  ExpectVariantsEqualTransformedPixels(testing::Noise(97, 130, 7), "97x130 noise");
  ExpectVariantsEqualTransformedPixels(testing::Noise(301, 199, 1, 8), "301x199 grey noise");
  // The variants differ from each other as different photos do (measured 108-136): a photo is not symmetric.
  std::array<PerceptualHash, 8> v = MustHashAll(photo);
  for (int i = 0; i < 8; ++i)
    for (int j = i + 1; j < 8; ++j) EXPECT_GE(HammingDistance(v[size_t(i)], v[size_t(j)]), 80) << i << " " << j;
}

// Symmetric images tie many coefficients mathematically (a left-right symmetric image has every odd horizontal
// frequency 0), so the median and the bits hinge on those coefficients being exactly 0, or exactly equal, rather
// than rounding noise of either sign.
TEST(PerceptualHash, DihedralVariantsStayExactForSymmetricImages) {
  ImageU8 quarter = testing::Noise(50, 35, 3, 9);
  ImageU8 both(100, 70, 3);  // symmetric under both flips: 3/4 of the coefficients are 0, the median among them
  for (int y = 0; y < 70; ++y)
    for (int x = 0; x < 100; ++x)
      for (int c = 0; c < 3; ++c) both.at(x, y, c) = quarter.at(x < 50 ? x : 99 - x, y < 35 ? y : 69 - y, c);
  ExpectVariantsEqualTransformedPixels(both, "symmetric under flips");
  ImageU8 noise = testing::Noise(90, 90, 1, 10);
  ImageU8 transposed(90, 90, 1);  // equal to its transpose: the block must be exactly symmetric
  for (int y = 0; y < 90; ++y)
    for (int x = 0; x < 90; ++x) transposed.at(x, y, 0) = noise.at(std::min(x, y), std::max(x, y), 0);
  ExpectVariantsEqualTransformedPixels(transposed, "symmetric under transpose");
  // Both at once: all 8 variants are the same image, hence the same hash.
  std::array<PerceptualHash, 8> v = MustHashAll(both);
  EXPECT_EQ(v[size_t(Dihedral::kRot180)].bits, v[0].bits);
  EXPECT_EQ(v[size_t(Dihedral::kMirror)].bits, v[0].bits);
}

TEST(PerceptualHash, ClosestVariantNamesTheTransformLibvipsApplied) {
  REQUIRE_SAMPLES();
  TempDir dir;
  for (const char* p : {"fruits.jpg", "building.jpg", "messi5.jpg"}) {
    ImageU8 img = MustDecode(Sample(p));
    std::array<PerceptualHash, 8> variants = MustHashAll(img);
    for (Dihedral t : kAll) {
      // The photo rotated/mirrored by libvips, shrunk to 75% and saved as JPEG quality 75: a real edited copy.
      testing::VImg moved = VipsDihedral(img, t);
      VipsImage* small = nullptr;
      ASSERT_EQ(vips_resize(moved.get(), &small, 0.75, nullptr), 0) << vips_error_buffer();
      testing::VImg owned(small);
      const std::string path = dir.file(std::string(DihedralName(t)) + "_" + p);
      ASSERT_EQ(vips_jpegsave(small, path.c_str(), "Q", 75, nullptr), 0) << vips_error_buffer();
      PerceptualHash query = MustHash(MustDecode(path));
      int best = 0, best_d = 999, second_d = 999;
      for (int i = 0; i < 8; ++i) {
        int d = HammingDistance(variants[size_t(i)], query);
        if (d < best_d) {
          second_d = best_d;
          best_d = d;
          best = i;
        } else if (d < second_d) {
          second_d = d;
        }
      }
      std::cout << "transformed " << p << " " << DihedralName(t) << ": matched " << DihedralName(Dihedral(best))
                << " at " << best_d << ", next " << second_d << "\n";
      EXPECT_EQ(DihedralName(Dihedral(best)), std::string(DihedralName(t))) << p;
      EXPECT_LE(best_d, 24) << p << " " << DihedralName(t);
      EXPECT_GE(second_d, 80) << p << " " << DihedralName(t);
    }
  }
}

// ---- Quality ----

TEST(PerceptualHash, FlatImagesScoreBelowFiftyPhotosAbove) {
  // 50 is the "skip as flat" threshold phash.h recommends.
  ImageU8 flat(300, 200, 3);
  for (size_t i = 0; i < flat.pixels.size(); i += 3) {
    flat.pixels[i] = 200;
    flat.pixels[i + 1] = 120;
    flat.pixels[i + 2] = 40;
  }
  ImageU8 gradient(512, 384, 1);  // 100 -> 131 grey levels left to right: a smooth ramp, no structure
  for (int y = 0; y < gradient.height; ++y)
    for (int x = 0; x < gradient.width; ++x) gradient.at(x, y, 0) = uint8_t(100 + x * 32 / gradient.width);
  ImageU8 dark = testing::Noise(640, 480, 3, 5);  // near-black sensor noise: values 0..7
  for (auto& p : dark.pixels) p &= 7;
  ImageU8 tiny(1, 1, 3);
  for (const auto& [name, img] : {std::pair<const char*, const ImageU8*>{"flat", &flat},
                                  {"gradient", &gradient},
                                  {"dark noise", &dark},
                                  {"1x1", &tiny}}) {
    int q = MustHash(*img).quality;
    std::cout << "quality " << name << ": " << q << "\n";
    EXPECT_LT(q, 50) << name;
  }
  REQUIRE_SAMPLES();
  for (const char* p : kPhotos) {
    int q = MustHash(MustDecode(Sample(p))).quality;
    std::cout << "quality " << p << ": " << q << "\n";
    EXPECT_GE(q, 50) << p;
  }
}

// ---- Bad input ----

TEST(PerceptualHash, RefusesEmptyAndWrongChannelCounts) {
  ImageU8 empty;
  auto r = ComputePerceptualHash(empty);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("empty"), std::string::npos) << r.status().message();

  ImageU8 zero_rows(10, 0, 3);
  EXPECT_EQ(ComputePerceptualHash(zero_rows).status().code(), Status::Code::kInvalidArgument);

  for (int channels : {2, 4}) {
    ImageU8 img(8, 8, channels);
    auto a = ComputeDihedralHashes(img);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(a.status().message().find(std::to_string(channels) + " channels"), std::string::npos)
        << a.status().message();
  }

  ImageU8 short_pixels(8, 8, 3);
  short_pixels.pixels.resize(100);
  auto s = ComputePerceptualHash(short_pixels);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.status().message().find("expected 192"), std::string::npos) << s.status().message();
}

// ---- ApplyDihedral, DihedralName, HammingDistance ----

TEST(ApplyDihedral, Rot90IsClockwiseAndMirrorIsLeftRight) {
  // 3 x 2:  a b c      rot90 (2 x 3):  d a      mirror:  c b a
  //         d e f                      e b               f e d
  //                                    f c
  ImageU8 img(3, 2, 1);
  img.pixels = {'a', 'b', 'c', 'd', 'e', 'f'};
  ImageU8 r = ApplyDihedral(img, Dihedral::kRot90);
  EXPECT_EQ(r.width, 2);
  EXPECT_EQ(r.height, 3);
  EXPECT_EQ(std::string(r.pixels.begin(), r.pixels.end()), "daebfc");
  ImageU8 m = ApplyDihedral(img, Dihedral::kMirror);
  EXPECT_EQ(std::string(m.pixels.begin(), m.pixels.end()), "cbafed");
  ImageU8 half = ApplyDihedral(img, Dihedral::kRot180);
  EXPECT_EQ(std::string(half.pixels.begin(), half.pixels.end()), "fedcba");
}

TEST(ApplyDihedral, MatchesLibvipsFlipThenRotate) {
  ImageU8 img = testing::Noise(7, 5, 3, 11);
  for (Dihedral t : kAll) {
    testing::VImg v = VipsDihedral(img, t);
    ImageU8 want = FromVips(v.get());
    ImageU8 got = ApplyDihedral(img, t);
    EXPECT_EQ(got.width, want.width) << DihedralName(t);
    EXPECT_EQ(got.height, want.height) << DihedralName(t);
    EXPECT_TRUE(got.pixels == want.pixels) << DihedralName(t);
  }
}

TEST(ApplyDihedral, RoundTripsAndCompositions) {
  ImageU8 img = testing::Noise(5, 3, 3, 2);
  ImageU8 r = img;
  for (int i = 0; i < 4; ++i) r = ApplyDihedral(r, Dihedral::kRot90);
  EXPECT_TRUE(r.pixels == img.pixels);
  EXPECT_EQ(r.width, 5);
  ImageU8 m = ApplyDihedral(ApplyDihedral(img, Dihedral::kMirror), Dihedral::kMirror);
  EXPECT_TRUE(m.pixels == img.pixels);
  // "mirror+rotK" is the mirror, then the rotation; rot270 undoes rot90.
  ImageU8 mirrored = ApplyDihedral(img, Dihedral::kMirror);
  const Dihedral rots[4] = {Dihedral::kIdentity, Dihedral::kRot90, Dihedral::kRot180, Dihedral::kRot270};
  for (int k = 1; k < 4; ++k) {
    ImageU8 composed = ApplyDihedral(mirrored, rots[k]);
    ImageU8 direct = ApplyDihedral(img, Dihedral(4 + k));
    EXPECT_EQ(composed.width, direct.width) << k;
    EXPECT_TRUE(composed.pixels == direct.pixels) << k;
  }
  EXPECT_TRUE(ApplyDihedral(ApplyDihedral(img, Dihedral::kRot90), Dihedral::kRot270).pixels == img.pixels);
  // Inconsistent input gives an empty image rather than reading out of bounds.
  ImageU8 bad(4, 4, 3);
  bad.pixels.resize(5);
  EXPECT_EQ(ApplyDihedral(bad, Dihedral::kRot90).width, 0);
}

TEST(ApplyDihedral, Names) {
  const char* want[8] = {"identity", "rot90",        "rot180",        "rot270",
                         "mirror",   "mirror+rot90", "mirror+rot180", "mirror+rot270"};
  for (int i = 0; i < 8; ++i) EXPECT_STREQ(DihedralName(kAll[i]), want[i]);
}

TEST(PerceptualHash, HammingDistanceCountsDifferingBits) {
  PerceptualHash a, b;
  EXPECT_EQ(HammingDistance(a, b), 0);
  b.bits.fill(0xFF);
  EXPECT_EQ(HammingDistance(a, b), kPerceptualHashBits);
  b.bits.fill(0);
  b.bits[0] = 0x81;
  b.bits[31] = 0x10;
  EXPECT_EQ(HammingDistance(a, b), 3);
  EXPECT_EQ(HammingDistance(b, a), 3);
}

}  // namespace
}  // namespace doppel
