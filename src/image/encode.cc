#include "doppel/image/encode.h"

#include <vips/vips.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <string>

#include "doppel/image/decode.h"
#include "doppel/image/resize.h"

namespace doppel {

namespace {

Result<std::string> EncodeJpegImpl(const ImageU8& img, int quality) {
  DOPPEL_RETURN_IF_ERROR(InitImageLibrary());
  if (img.channels != 1 && img.channels != 3) return Status::InvalidArgument("EncodeJpeg: 1 or 3 channels only");
  if (img.width <= 0 || img.height <= 0 ||
      img.pixels.size() != size_t(img.width) * size_t(img.height) * size_t(img.channels)) {
    return Status::InvalidArgument("EncodeJpeg: empty or inconsistent image");
  }
  VipsImage* v = vips_image_new_from_memory(img.pixels.data(), img.pixels.size(), img.width, img.height,
                                            img.channels, VIPS_FORMAT_UCHAR);
  if (!v) return Status::Internal("EncodeJpeg: cannot wrap the pixels");
  void* buf = nullptr;
  size_t len = 0;
  int rc = vips_jpegsave_buffer(v, &buf, &len, "Q", quality, "strip", TRUE, nullptr);
  g_object_unref(v);
  if (rc != 0) {
    vips_error_clear();
    return Status::Internal("EncodeJpeg: libvips failed");
  }
  std::unique_ptr<void, decltype(&g_free)> owned(buf, &g_free);
  return std::string(static_cast<const char*>(buf), len);
}

}  // namespace

Result<std::string> EncodeJpeg(const ImageU8& img, int quality) {
  try {
    return EncodeJpegImpl(img, quality);
  } catch (const std::exception& e) {
    return Status::ResourceExhausted(std::string("EncodeJpeg: ") + e.what());
  }
}

ImageU8 Thumbnail(const ImageU8& img, int max_side) {
  try {
    const int longer = std::max(img.width, img.height);
    if (longer <= max_side || longer == 0) return img;
    if (max_side <= 0) return ImageU8(0, 0, std::max(img.channels, 1));
    const double s = double(max_side) / longer;  // <= 1: both sides stay within max_side
    const int w = std::max(1, int(std::lround(img.width * s))), h = std::max(1, int(std::lround(img.height * s)));
    return PilResize(img, w, h, Filter::kBilinear);
  } catch (const std::exception&) {
    return ImageU8(0, 0, std::max(img.channels, 1));
  }
}

}  // namespace doppel
