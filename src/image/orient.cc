#include "orient.h"

#include <libexif/exif-data.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace doppel::image_internal {
namespace {

struct ExifDataUnref {
  void operator()(ExifData* d) const { exif_data_unref(d); }
};

// Copies one pixel of `n` bytes (n is 1..4 in practice; the switch lets the compiler inline the common RGB case).
inline void CopyPixel(uint8_t* dst, const uint8_t* src, int n) {
  if (n == 3) {
    dst[0] = src[0];
    dst[1] = src[1];
    dst[2] = src[2];
  } else {
    std::memcpy(dst, src, size_t(n));
  }
}

}  // namespace

int ExifOrientation(const uint8_t* exif, size_t size) {
  // exif_data_load_data takes an unsigned int length; a JPEG APP1 segment is at most 65533 bytes anyway.
  if (!exif || size < 6 || size > (size_t(1) << 20)) return 1;
  std::unique_ptr<ExifData, ExifDataUnref> ed(exif_data_new());
  if (!ed) return 1;
  // As libvips does: don't "fix" the data (that would add default tags, including an Orientation of 1).
  exif_data_unset_option(ed.get(), EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
  exif_data_load_data(ed.get(), exif, static_cast<unsigned int>(size));
  ExifEntry* e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
  // libvips turns entries of 10 or more components into text first, where the number no longer parses: 1.
  if (!e || e->components < 1 || e->components >= 10 || !e->data) return 1;
  const ExifByteOrder order = exif_data_get_byte_order(ed.get());
  const size_t component = e->size / e->components;
  long v;
  switch (e->format) {
    case EXIF_FORMAT_SHORT:
      if (component < 2) return 1;
      v = exif_get_short(e->data, order);
      break;
    case EXIF_FORMAT_SSHORT:
      if (component < 2) return 1;
      v = exif_get_sshort(e->data, order);
      break;
    case EXIF_FORMAT_LONG:
      if (component < 4) return 1;
      v = long(exif_get_long(e->data, order));
      break;
    case EXIF_FORMAT_SLONG:
      if (component < 4) return 1;
      v = exif_get_slong(e->data, order);
      break;
    default:
      return 1;
  }
  return int(std::clamp(v, 1L, 8L));
}

void PlaceRows(const uint8_t* strip, int y0, int n, int W, int H, int orientation, ImageU8* out) {
  const int c = out->channels;
  const size_t row_bytes = size_t(W) * c;
  if (orientation < 5) {
    // Stored row sy lands on displayed row sy (1, 2) or H-1-sy (3, 4), mirrored for 2 and 3.
    const bool mirror = orientation == 2 || orientation == 3;
    const bool flip = orientation == 3 || orientation == 4;
    for (int i = 0; i < n; ++i) {
      const int sy = y0 + i;
      const uint8_t* src = strip + size_t(i) * row_bytes;
      uint8_t* dst = out->row(flip ? H - 1 - sy : sy);
      if (!mirror) {
        std::memcpy(dst, src, row_bytes);
      } else {
        for (int x = 0; x < W; ++x) CopyPixel(dst + size_t(x) * c, src + size_t(W - 1 - x) * c, c);
      }
    }
    return;
  }
  // 5..8: stored (sx, sy) lands on displayed column x = sy (5, 8) or H-1-sy (6, 7) of displayed row y = sx (5, 6) or
  // W-1-sx (7, 8). For each stored column, the strip's n pixels are n adjacent pixels of one displayed row.
  const bool rev_x = orientation == 6 || orientation == 7;
  const bool rev_y = orientation == 7 || orientation == 8;
  const int x_first = rev_x ? H - 1 - y0 : y0;  // displayed column of the strip's first row
  const ptrdiff_t x_step = rev_x ? -c : c;
  for (int sx = 0; sx < W; ++sx) {
    uint8_t* dst = out->row(rev_y ? W - 1 - sx : sx) + ptrdiff_t(x_first) * c;
    const uint8_t* src = strip + size_t(sx) * c;
    for (int i = 0; i < n; ++i, dst += x_step, src += row_bytes) CopyPixel(dst, src, c);
  }
}

ImageU8 ApplyOrientation(ImageU8 img, int orientation) {
  if (orientation < 2 || orientation > 8 || img.width <= 0 || img.height <= 0) return img;
  const bool swap = orientation >= 5;
  ImageU8 out(swap ? img.height : img.width, swap ? img.width : img.height, img.channels);
  constexpr int kStrip = 64;  // as the JPEG path's strips
  for (int y = 0; y < img.height; y += kStrip) {
    PlaceRows(img.row(y), y, std::min(kStrip, img.height - y), img.width, img.height, orientation, &out);
  }
  return out;
}

}  // namespace doppel::image_internal
