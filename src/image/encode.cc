#include "doppel/image/encode.h"

#include <vips/vips.h>

#include <algorithm>
#include <cmath>

#include "doppel/image/decode.h"
#include "doppel/image/resize.h"

namespace doppel {

Result<std::string> EncodeJpeg(const ImageU8& img, int quality) {
  DOPPEL_RETURN_IF_ERROR(InitImageLibrary());
  if (img.channels != 1 && img.channels != 3) return Status::InvalidArgument("EncodeJpeg: 1 or 3 channels only");
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
  std::string out(static_cast<const char*>(buf), len);
  g_free(buf);
  return out;
}

ImageU8 Thumbnail(const ImageU8& img, int max_side) {
  int longer = std::max(img.width, img.height);
  if (longer <= max_side || longer == 0) return img;
  double s = double(max_side) / longer;
  int w = std::max(1, int(std::lround(img.width * s))), h = std::max(1, int(std::lround(img.height * s)));
  return PilResize(img, w, h, Filter::kBilinear);
}

}  // namespace doppel
