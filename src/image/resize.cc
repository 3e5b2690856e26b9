// PilResize, PilResizeCrop and Crop. The per-pixel arithmetic lives in resize_coeffs.cc; this file applies it.
// Pass order: horizontal first, always, as Pillow 9.4 and 11.1 (Debian 12/13). Pillow >= 12.2 goes vertical first
// when H > 100 * W and the height shrinks; doppel does not follow that (documented deviation).
//
// Only the output window is computed. Memory, whatever the sizes: the window itself, int32 accumulators for at most
// kChunkAcc of its values at a time, one horizontally resampled row at a time (never the whole intermediate image),
// and weight tables of at most kTableTaps entries, or one output pixel's span when that alone is longer.
#include "doppel/image/resize.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "resize_coeffs.h"

#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif

namespace doppel {
namespace {

using image_internal::ConvAxis;

constexpr int kBits = ConvAxis::kPrecisionBits;
constexpr int64_t kTableTaps = int64_t(1) << 22;  // weights held at once for one axis (16 MiB)
constexpr int64_t kChunkAcc = int64_t(1) << 22;   // int32 accumulators held at once (16 MiB)

std::string Size(int64_t w, int64_t h) { return std::to_string(w) + "x" + std::to_string(h); }

// Pillow's clip8: the accumulator already holds the +2^21 rounding term; arithmetic shift = floor.
inline uint8_t Clip8(int32_t acc) {
  if (acc >= (1 << kBits << 8)) return 255;
  if (acc <= 0) return 0;
  return uint8_t(acc >> kBits);
}

// Spans of output pixels [first, first + n) of one axis.
struct Spans {
  std::vector<int> lo, count;
  int64_t total = 0;  // sum of counts
};

Spans SpansOf(const ConvAxis& a, int first, int n) {
  Spans s;
  s.lo.resize(size_t(n));
  s.count.resize(size_t(n));
  for (int i = 0; i < n; ++i) {
    a.Span(int64_t(first) + i, &s.lo[size_t(i)], &s.count[size_t(i)]);
    s.total += s.count[size_t(i)];
  }
  return s;
}

// Weights of output pixels [first, first + n), `stride` per pixel (the longest span among them).
struct Table {
  int stride = 0;
  const int* lo = nullptr;
  const int* count = nullptr;
  std::vector<int32_t> k;
};

Table BuildTable(const ConvAxis& a, const Spans& s, int first, int begin, int end, std::vector<double>* scratch) {
  Table t;
  for (int i = begin; i < end; ++i) t.stride = std::max(t.stride, s.count[size_t(i)]);
  t.lo = s.lo.data() + begin;
  t.count = s.count.data() + begin;
  t.k.assign(size_t(end - begin) * size_t(t.stride), 0);
  for (int i = begin; i < end; ++i) a.Weights(int64_t(first) + i, t.k.data() + size_t(i - begin) * t.stride, scratch);
  return t;
}

// One source row `in` (src_w pixels of nc channels) resampled horizontally to n output pixels with table `t`.
// `last_row`: `in` is the last row of its buffer, so the 4-byte SIMD loads may not pass its last pixel.
void ResampleRow(const uint8_t* in, int nc, int src_w, bool last_row, const Table& t, int n, uint8_t* o) {
  for (int x = 0; x < n; ++x) {
    const int32_t* k = t.k.data() + size_t(x) * t.stride;
    const uint8_t* p = in + size_t(t.lo[x]) * nc;
    const int cnt = t.count[x];
#if defined(__SSE4_1__)
    // All three channels in one 4-lane vector (the 4th lane reads the next pixel's first byte and is discarded).
    // The 4-byte load may not pass the end of the buffer: only the very last pixel of the image is at risk.
    if (nc == 3 && (!last_row || t.lo[x] + cnt < src_w)) {
      __m128i acc = _mm_set1_epi32(1 << (kBits - 1));
      for (int j = 0; j < cnt; ++j, p += 3) {
        int32_t v;
        std::memcpy(&v, p, 4);
        acc = _mm_add_epi32(acc, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v)), _mm_set1_epi32(k[j])));
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
      for (int j = 0; j < cnt; ++j, p += 3) {
        a0 += p[0] * k[j];
        a1 += p[1] * k[j];
        a2 += p[2] * k[j];
      }
      o[0] = Clip8(a0);
      o[1] = Clip8(a1);
      o[2] = Clip8(a2);
      o += 3;
    } else {
      for (int ch = 0; ch < nc; ++ch) {
        int32_t a = 1 << (kBits - 1);
        for (int j = 0; j < cnt; ++j) a += p[size_t(j) * nc + ch] * k[j];
        *o++ = Clip8(a);
      }
    }
  }
}

// The vertical weights of the window's rows: a table when it is small, else each row's weights computed when the
// first source row it reads arrives and dropped after its last one.
class RowWeights {
 public:
  RowWeights(const ConvAxis& a, const Spans& s, int first, std::vector<double>* scratch)
      : axis_(a), spans_(s), first_(first), scratch_(scratch) {
    const int n = int(s.lo.size());
    if (s.total <= kTableTaps) {
      table_ = BuildTable(a, s, first, 0, n, scratch);
      whole_ = true;
    } else {
      rows_.resize(size_t(n));
    }
  }
  const int32_t* Get(int y) {
    if (whole_) return table_.k.data() + size_t(y) * table_.stride;
    std::vector<int32_t>& r = rows_[size_t(y)];
    if (r.empty()) {
      r.resize(size_t(spans_.count[size_t(y)]));
      axis_.Weights(int64_t(first_) + y, r.data(), scratch_);
    }
    return r.data();
  }
  void Release(int y) {
    if (!whole_) std::vector<int32_t>().swap(rows_[size_t(y)]);
  }

 private:
  const ConvAxis& axis_;
  const Spans& spans_;
  int first_;
  std::vector<double>* scratch_;
  bool whole_ = false;
  Table table_;
  std::vector<std::vector<int32_t>> rows_;
};

// The part of a resize that is computed: output columns [x0, x0 + w) and rows [y0, y0 + h) of the out_w x out_h
// result, written at (dx, dy) of `out`.
struct Region {
  int x0, y0, w, h, dx, dy;
};

void CopyRegion(const ImageU8& src, const Region& r, ImageU8& out) {
  const int nc = src.channels;
  for (int y = 0; y < r.h; ++y) {
    std::memcpy(out.row(r.dy + y) + size_t(r.dx) * nc, src.row(r.y0 + y) + size_t(r.x0) * nc, size_t(r.w) * nc);
  }
}

Status ResizeNearestRegion(const ImageU8& src, int out_w, int out_h, float bx0, float by0, float bx1, float by1,
                           const Region& r, ImageU8& out) {
  const std::vector<int> xs = image_internal::NearestIndices(src.width, bx0, bx1, out_w, r.x0, r.w);
  const std::vector<int> ys = image_internal::NearestIndices(src.height, by0, by1, out_h, r.y0, r.h);
  const int nc = src.channels;
  for (int y = 0; y < r.h; ++y) {
    uint8_t* o = out.row(r.dy + y) + size_t(r.dx) * nc;
    if (ys[size_t(y)] < 0) {  // positions outside the source are 0 (Pillow), not the crop's fill
      std::memset(o, 0, size_t(r.w) * nc);
      continue;
    }
    const uint8_t* in = src.row(ys[size_t(y)]);
    for (int x = 0; x < r.w; ++x) {
      if (xs[size_t(x)] >= 0) {
        std::memcpy(o + size_t(x) * nc, in + size_t(xs[size_t(x)]) * nc, size_t(nc));
      } else {
        std::memset(o + size_t(x) * nc, 0, size_t(nc));
      }
    }
  }
  return Status::OK();
}

// Pillow's two-pass convolution restricted to `r`. Horizontal first on the source rows the vertical pass reads, one
// row at a time, each accumulated straight into the output rows that use it (integer sums: the order does not change
// them). Columns are done in chunks so that weights and accumulators stay bounded.
Status ResizeConvRegion(const ImageU8& src, bool need_h, bool need_v, const ConvAxis* ah, const ConvAxis* av,
                        const Spans& sh, const Spans& sv, const Region& r, ImageU8& out) {
  const int nc = src.channels;
  std::vector<double> scratch;
  std::vector<uint8_t> tmp;
  std::vector<int32_t> acc;
  // The source rows the vertical pass reads: [r_begin, r_end).
  int r_begin = std::numeric_limits<int>::max(), r_end = 0;
  if (need_v) {
    for (int y = 0; y < r.h; ++y) {
      if (sv.count[size_t(y)] == 0) continue;
      r_begin = std::min(r_begin, sv.lo[size_t(y)]);
      r_end = std::max(r_end, sv.lo[size_t(y)] + sv.count[size_t(y)]);
    }
  }
  int xa = 0;
  while (xa < r.w) {
    // The chunk [xa, xb): at least one column; more while its weights and accumulators stay within the bounds.
    int xb = xa + 1;
    int64_t taps = need_h ? sh.count[size_t(xa)] : 0;
    while (xb < r.w) {
      const int64_t more = need_h ? sh.count[size_t(xb)] : 0;
      if (taps + more > kTableTaps || int64_t(xb + 1 - xa) * r.h * nc > kChunkAcc) break;
      taps += more;
      ++xb;
    }
    const int cw = xb - xa;
    Table th;
    if (need_h) th = BuildTable(*ah, sh, r.x0, xa, xb, &scratch);
    if (!need_v) {  // the rows are the source's: one horizontal pass per output row, straight into the output
      for (int y = 0; y < r.h; ++y) {
        const int sy = r.y0 + y;
        ResampleRow(src.row(sy), nc, src.width, sy + 1 == src.height, th, cw,
                    out.row(r.dy + y) + size_t(r.dx + xa) * nc);
      }
      xa = xb;
      continue;
    }
    const size_t n = size_t(cw) * nc;  // values per output row in this chunk
    acc.assign(n * size_t(r.h), 1 << (kBits - 1));
    if (need_h) tmp.resize(n);
    RowWeights wv(*av, sv, r.y0, &scratch);
    int ya = 0, yb = 0;  // output rows whose span may contain the current source row
    for (int sy = r_begin; sy < r_end; ++sy) {
      const uint8_t* line;
      if (need_h) {
        ResampleRow(src.row(sy), nc, src.width, sy + 1 == src.height, th, cw, tmp.data());
        line = tmp.data();
      } else {
        line = src.row(sy) + size_t(r.x0 + xa) * nc;  // no horizontal pass: output columns are source columns
      }
      while (ya < r.h && sv.lo[size_t(ya)] + sv.count[size_t(ya)] <= sy) ++ya;
      while (yb < r.h && sv.lo[size_t(yb)] <= sy) ++yb;
      for (int y = ya; y < yb; ++y) {
        const int lo = sv.lo[size_t(y)], cnt = sv.count[size_t(y)];
        if (sy < lo || sy >= lo + cnt) continue;
        const int32_t kt = wv.Get(y)[sy - lo];
        int32_t* a = acc.data() + size_t(y) * n;
        for (size_t i = 0; i < n; ++i) a[i] += line[i] * kt;
        if (sy == lo + cnt - 1) wv.Release(y);
      }
    }
    for (int y = 0; y < r.h; ++y) {
      const int32_t* a = acc.data() + size_t(y) * n;
      uint8_t* o = out.row(r.dy + y) + size_t(r.dx + xa) * nc;
      for (size_t i = 0; i < n; ++i) o[i] = Clip8(a[i]);
    }
    xa = xb;
  }
  return Status::OK();
}

Status ResizeCropImpl(const ImageU8& src, int out_w, int out_h, Filter filter, int left, int top, int width,
                      int height, uint8_t fill, ResizeBox box, ImageU8* result) {
  if (src.width <= 0 || src.height <= 0 || src.channels <= 0 ||
      src.pixels.size() != size_t(src.width) * size_t(src.height) * size_t(src.channels)) {
    return Status::InvalidArgument("resize: source image " + Size(src.width, src.height) + "x" +
                                   std::to_string(src.channels) + " is empty or inconsistent");
  }
  if (out_w <= 0 || out_h <= 0 || width <= 0 || height <= 0) {
    return Status::InvalidArgument("resize: sizes must be positive (resize to " + Size(out_w, out_h) +
                                   ", window " + Size(width, height) + ")");
  }
  // Pillow keeps the box in float32.
  const float x0 = float(box.x0), y0 = float(box.y0);
  const float x1 = box.x1 < 0 ? float(src.width) : float(box.x1);
  const float y1 = box.y1 < 0 ? float(src.height) : float(box.y1);

  // The window's overlap with the resized image, in resized coordinates; the rest of the window is `fill`.
  const int64_t cx0 = std::max<int64_t>(left, 0), cx1 = std::min<int64_t>(int64_t(left) + width, out_w);
  const int64_t cy0 = std::max<int64_t>(top, 0), cy1 = std::min<int64_t>(int64_t(top) + height, out_h);
  const bool empty = cx0 >= cx1 || cy0 >= cy1;
  Region reg{};
  if (!empty) reg = {int(cx0), int(cy0), int(cx1 - cx0), int(cy1 - cy0), int(cx0 - left), int(cy0 - top)};

  const bool identity =
      out_w == src.width && out_h == src.height && x0 == 0 && y0 == 0 && x1 == src.width && y1 == src.height;
  // Pillow's rule, literally (x1 is compared with the output width).
  const bool need_h = out_w != src.width || x0 != 0 || x1 != out_w;
  const bool need_v = out_h != src.height || y0 != 0 || y1 != out_h;
  const bool nearest = filter == Filter::kNearest;
  const bool copy = empty || identity || (!nearest && !need_h && !need_v);

  // The work, counted before anything large is allocated: multiply-adds, weights computed, NEAREST's running sums.
  const int64_t nc = src.channels;
  int64_t work = int64_t(width) * height * nc;
  std::unique_ptr<ConvAxis> ah, av;
  Spans sh, sv;
  if (!copy && nearest) {
    work += cx1 + cy1;
  } else if (!copy) {
    if (need_h) {
      ah = std::make_unique<ConvAxis>(src.width, x0, x1, out_w, filter);
      sh = SpansOf(*ah, reg.x0, reg.w);
    }
    if (need_v) {
      av = std::make_unique<ConvAxis>(src.height, y0, y1, out_h, filter);
      sv = SpansOf(*av, reg.y0, reg.h);
    }
    int64_t rows = reg.h;  // source rows the horizontal pass runs on
    if (need_v) {
      int64_t b = std::numeric_limits<int64_t>::max(), e = 0;
      for (int y = 0; y < reg.h; ++y)
        if (sv.count[size_t(y)] > 0) {
          b = std::min<int64_t>(b, sv.lo[size_t(y)]);
          e = std::max<int64_t>(e, int64_t(sv.lo[size_t(y)]) + sv.count[size_t(y)]);
        }
      rows = std::max<int64_t>(e - b, 0);
    }
    if (need_h) work += sh.total + rows * sh.total * nc;
    if (need_v) work += sv.total * (1 + int64_t(reg.w) * nc);
  }
  if (work > kMaxResizeWork) {
    return Status::ResourceExhausted("resizing a " + Size(src.width, src.height) + " image to " +
                                     Size(out_w, out_h) + " (window " + Size(width, height) + ") would take " +
                                     std::to_string(work) + " operations, more than the limit of " +
                                     std::to_string(kMaxResizeWork));
  }

  ImageU8 out(width, height, src.channels);
  std::fill(out.pixels.begin(), out.pixels.end(), fill);
  if (!empty) {
    if (copy) {
      CopyRegion(src, reg, out);
    } else if (nearest) {
      DOPPEL_RETURN_IF_ERROR(ResizeNearestRegion(src, out_w, out_h, x0, y0, x1, y1, reg, out));
    } else {
      DOPPEL_RETURN_IF_ERROR(ResizeConvRegion(src, need_h, need_v, ah.get(), av.get(), sh, sv, reg, out));
    }
  }
  *result = std::move(out);
  return Status::OK();
}

}  // namespace

Result<ImageU8> PilResizeCrop(const ImageU8& src, int out_w, int out_h, Filter filter, int left, int top, int width,
                              int height, uint8_t fill, ResizeBox box) {
  try {
    ImageU8 out;
    DOPPEL_RETURN_IF_ERROR(ResizeCropImpl(src, out_w, out_h, filter, left, top, width, height, fill, box, &out));
    return out;
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("resizing a " + Size(src.width, src.height) + " image to " +
                                     Size(out_w, out_h) + " (window " + Size(width, height) + "): out of memory");
  } catch (const std::exception& e) {
    return Status::Internal("resizing a " + Size(src.width, src.height) + " image: " + e.what());
  }
}

ImageU8 PilResize(const ImageU8& src, int out_w, int out_h, Filter filter, ResizeBox box) {
  Result<ImageU8> r = PilResizeCrop(src, out_w, out_h, filter, 0, 0, out_w, out_h, 0, box);
  if (!r.ok()) return ImageU8(0, 0, std::max(src.channels, 1));
  return std::move(r).value();
}

ImageU8 Crop(const ImageU8& src, int left, int top, int width, int height, uint8_t fill) {
  try {
    width = std::max(width, 0);
    height = std::max(height, 0);
    const int nc = src.channels;
    ImageU8 out(width, height, nc);
    std::fill(out.pixels.begin(), out.pixels.end(), fill);
    // The overlap of the rectangle with the image, in output coordinates (64-bit: no overflow for any int input).
    const int64_t x_begin = std::clamp<int64_t>(-int64_t(left), 0, width);
    const int64_t x_end = std::clamp<int64_t>(int64_t(src.width) - left, 0, width);
    const int64_t y_begin = std::clamp<int64_t>(-int64_t(top), 0, height);
    const int64_t y_end = std::clamp<int64_t>(int64_t(src.height) - top, 0, height);
    if (x_begin >= x_end) return out;
    for (int64_t y = y_begin; y < y_end; ++y) {
      std::memcpy(out.row(int(y)) + size_t(x_begin) * nc, src.row(int(y + top)) + size_t(x_begin + left) * nc,
                  size_t(x_end - x_begin) * nc);
    }
    return out;
  } catch (const std::exception&) {
    return ImageU8(0, 0, std::max(src.channels, 1));
  }
}

}  // namespace doppel
