// PilResize and Crop. The arithmetic lives in resize_coeffs.cc; this file applies the tables.
// Pass order: horizontal first, always, as Pillow 9.4 and 11.1 (Debian 12/13). Pillow >= 12.2 goes vertical first
// when H > 100 * W and the height shrinks; doppel does not follow that (documented deviation).
#include "doppel/image/resize.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "resize_coeffs.h"

#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif

namespace doppel {
namespace {

using image_internal::ConvCoeffs;

constexpr int kBits = ConvCoeffs::kPrecisionBits;

// Pillow's clip8: the accumulator already holds the +2^21 rounding term; arithmetic shift = floor.
inline uint8_t Clip8(int32_t acc) {
  if (acc >= (1 << kBits << 8)) return 255;
  if (acc <= 0) return 0;
  return uint8_t(acc >> kBits);
}

// Horizontal pass over source rows [y_first, y_first + out.height): out.width columns from src.width.
void ResampleHorizontal(const ImageU8& src, int y_first, const ConvCoeffs& c, ImageU8& out) {
  const int nc = src.channels;
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* in = src.row(y_first + y);
    uint8_t* o = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      const int32_t* k = &c.k[size_t(x) * c.ksize];
      const uint8_t* p = in + size_t(c.lo[x]) * nc;
      const int n = c.count[x];
#if defined(__SSE4_1__)
      // All three channels in one 4-lane vector (the 4th lane reads the next pixel's first byte and is discarded).
      // The 4-byte load may not pass the end of the buffer: only the very last pixel of the image is at risk.
      if (nc == 3 && (y_first + y + 1 < src.height || c.lo[x] + n < src.width)) {
        __m128i acc = _mm_set1_epi32(1 << (kBits - 1));
        for (int t = 0; t < n; ++t, p += 3) {
          int32_t v;
          std::memcpy(&v, p, 4);
          acc = _mm_add_epi32(acc, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v)), _mm_set1_epi32(k[t])));
        }
        // Saturating packs of acc >> 22 are exactly Clip8.
        __m128i v16 = _mm_packs_epi32(_mm_srai_epi32(acc, kBits), _mm_setzero_si128());
        uint32_t out = uint32_t(_mm_cvtsi128_si32(_mm_packus_epi16(v16, v16)));
        std::memcpy(o, &out, 3);
        o += 3;
        continue;
      }
#endif
      if (nc == 3) {
        int32_t a0 = 1 << (kBits - 1), a1 = a0, a2 = a0;
        for (int t = 0; t < n; ++t, p += 3) {
          a0 += p[0] * k[t];
          a1 += p[1] * k[t];
          a2 += p[2] * k[t];
        }
        o[0] = Clip8(a0);
        o[1] = Clip8(a1);
        o[2] = Clip8(a2);
        o += 3;
      } else {
        for (int ch = 0; ch < nc; ++ch) {
          int32_t a = 1 << (kBits - 1);
          for (int t = 0; t < n; ++t) a += p[size_t(t) * nc + ch] * k[t];
          *o++ = Clip8(a);
        }
      }
    }
  }
}

// Vertical pass: out.height rows from src, whose row 0 is source row `row_offset` of the coefficient table.
void ResampleVertical(const ImageU8& src, int row_offset, const ConvCoeffs& c, ImageU8& out) {
  const size_t n = size_t(out.width) * out.channels;
  std::vector<int32_t> acc(n);
  for (int y = 0; y < out.height; ++y) {
    std::fill(acc.begin(), acc.end(), 1 << (kBits - 1));
    const int32_t* k = &c.k[size_t(y) * c.ksize];
    for (int t = 0; t < c.count[y]; ++t) {
      const uint8_t* r = src.row(c.lo[y] - row_offset + t);
      const int32_t kt = k[t];
      for (size_t i = 0; i < n; ++i) acc[i] += r[i] * kt;
    }
    uint8_t* o = out.row(y);
    for (size_t i = 0; i < n; ++i) o[i] = Clip8(acc[i]);
  }
}

ImageU8 ResizeNearest(const ImageU8& src, int out_w, int out_h, float x0, float y0, float x1, float y1) {
  const std::vector<int> xs = image_internal::NearestIndices(src.width, x0, x1, out_w);
  const std::vector<int> ys = image_internal::NearestIndices(src.height, y0, y1, out_h);
  const int nc = src.channels;
  ImageU8 out(out_w, out_h, nc);  // zero-filled: positions outside the source stay 0
  for (int y = 0; y < out_h; ++y) {
    if (ys[y] < 0) continue;
    const uint8_t* in = src.row(ys[y]);
    uint8_t* o = out.row(y);
    for (int x = 0; x < out_w; ++x) {
      if (xs[x] >= 0) std::memcpy(o + size_t(x) * nc, in + size_t(xs[x]) * nc, nc);
    }
  }
  return out;
}

}  // namespace

ImageU8 PilResize(const ImageU8& src, int out_w, int out_h, Filter filter, ResizeBox box) {
  if (out_w <= 0 || out_h <= 0 || src.width <= 0 || src.height <= 0 || src.channels <= 0) {
    return ImageU8(0, 0, std::max(src.channels, 1));
  }
  // Pillow keeps the box in float32.
  const float x0 = float(box.x0), y0 = float(box.y0);
  const float x1 = box.x1 < 0 ? float(src.width) : float(box.x1);
  const float y1 = box.y1 < 0 ? float(src.height) : float(box.y1);
  if (out_w == src.width && out_h == src.height && x0 == 0 && y0 == 0 && x1 == src.width && y1 == src.height) {
    return src;
  }
  if (filter == Filter::kNearest) return ResizeNearest(src, out_w, out_h, x0, y0, x1, y1);

  // Pillow's rule, literally (x1 is compared with the output width).
  const bool need_h = out_w != src.width || x0 != 0 || x1 != out_w;
  const bool need_v = out_h != src.height || y0 != 0 || y1 != out_h;
  const ConvCoeffs ch = image_internal::ComputeConvCoeffs(src.width, x0, x1, out_w, filter);
  const ConvCoeffs cv = image_internal::ComputeConvCoeffs(src.height, y0, y1, out_h, filter);
  if (!need_h && !need_v) return src;
  if (!need_h) {
    ImageU8 out(out_w, out_h, src.channels);
    ResampleVertical(src, 0, cv, out);
    return out;
  }
  // Horizontal first, on the source rows the vertical pass will read; uint8 in between.
  int y_first = 0, y_last = src.height;
  if (need_v) {
    y_first = cv.lo[0];
    y_last = cv.lo[out_h - 1] + cv.count[out_h - 1];
  }
  ImageU8 tmp(out_w, std::max(y_last - y_first, 0), src.channels);
  ResampleHorizontal(src, y_first, ch, tmp);
  if (!need_v) return tmp;
  ImageU8 out(out_w, out_h, src.channels);
  ResampleVertical(tmp, y_first, cv, out);
  return out;
}

ImageU8 Crop(const ImageU8& src, int left, int top, int width, int height, uint8_t fill) {
  width = std::max(width, 0);
  height = std::max(height, 0);
  const int nc = src.channels;
  ImageU8 out(width, height, nc);
  std::fill(out.pixels.begin(), out.pixels.end(), fill);
  // The overlap of the rectangle with the image, in output coordinates.
  const int x_begin = std::clamp(-left, 0, width), x_end = std::clamp(src.width - left, 0, width);
  const int y_begin = std::clamp(-top, 0, height), y_end = std::clamp(src.height - top, 0, height);
  if (x_begin >= x_end) return out;
  for (int y = y_begin; y < y_end; ++y) {
    std::memcpy(out.row(y) + size_t(x_begin) * nc, src.row(y + top) + size_t(x_begin + left) * nc,
                size_t(x_end - x_begin) * nc);
  }
  return out;
}

}  // namespace doppel
