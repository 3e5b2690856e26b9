#include "support/image_files.h"

#include <vips/vips.h>

#include <random>
#include <stdexcept>

#include "doppel/image/decode.h"

namespace doppel::testing {
namespace {

void Check(int rc, const std::string& what) {
  if (rc != 0) {
    std::string msg = what + ": " + vips_error_buffer();
    vips_error_clear();
    throw std::runtime_error(msg);
  }
}

void Save(VipsImage* img, const std::string& path, int q) {
  auto ends = [&](const std::string& ext) {
    return path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
  };
  Check(ends(".png")    ? vips_pngsave(img, path.c_str(), nullptr)
        : ends(".webp") ? vips_webpsave(img, path.c_str(), "Q", q, nullptr)
                        : vips_jpegsave(img, path.c_str(), "Q", q, nullptr),
        "save " + path);
}

}  // namespace

ImageU8 Noise(int w, int h, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  ImageU8 img(w, h, channels);
  for (auto& p : img.pixels) p = uint8_t(rng() & 255);
  return img;
}

void WriteImage(const ImageU8& img, const std::string& path, int q) {
  if (!InitImageLibrary().ok()) throw std::runtime_error("libvips did not initialise");
  VipsImage* v = vips_image_new_from_memory_copy(img.pixels.data(), img.pixels.size(), img.width, img.height,
                                                 img.channels, VIPS_FORMAT_UCHAR);
  if (!v) throw std::runtime_error("vips_image_new_from_memory_copy failed");
  VipsImage* tagged = nullptr;
  Check(vips_copy(v, &tagged, "interpretation", img.channels == 1 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB,
                  nullptr),
        "copy");
  g_object_unref(v);
  Save(tagged, path, q);
  g_object_unref(tagged);
}

void WriteEditedCopy(const std::string& src, const std::string& path, double scale, double crop, int q) {
  if (!InitImageLibrary().ok()) throw std::runtime_error("libvips did not initialise");
  VipsImage* in = vips_image_new_from_file(src.c_str(), nullptr);
  if (!in) Check(-1, "open " + src);
  VipsImage* resized = nullptr;
  Check(vips_resize(in, &resized, scale, nullptr), "resize " + src);
  g_object_unref(in);
  int w = vips_image_get_width(resized), h = vips_image_get_height(resized);
  int cw = static_cast<int>(w * crop), ch = static_cast<int>(h * crop);
  VipsImage* cropped = nullptr;
  Check(vips_crop(resized, &cropped, (w - cw) / 2, (h - ch) / 2, cw, ch, nullptr), "crop " + src);
  g_object_unref(resized);
  Save(cropped, path, q);
  g_object_unref(cropped);
}

uint32_t Crc32(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char b : data) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

std::string Be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

std::string PngChunk(const std::string& type, const std::string& body) {
  return Be32(uint32_t(body.size())) + type + body + Be32(Crc32(type + body));
}

}  // namespace doppel::testing
