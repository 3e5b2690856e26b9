#include "to_rgb.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace doppel::image_internal {
namespace {

// Reads sample `i` of the raw buffer as 8 bits, with the layout-dependent 16-bit rule.
struct SampleReader {
  const uint8_t* u8;
  const uint16_t* u16;
  bool saturate;  // 16-bit single grey band: min(v, 255); otherwise v >> 8
  uint8_t operator()(size_t i) const {
    if (!u16) return u8[i];
    uint16_t v = u16[i];
    return saturate ? uint8_t(std::min<uint16_t>(v, 255)) : uint8_t(v >> 8);
  }
};

inline uint8_t CompositeWhite(uint8_t c, uint8_t a) {
  return uint8_t((int(c) * a + 255 * (255 - int(a)) + 127) / 255);
}

}  // namespace

Result<ImageU8> ToRgb8(const RawPixels& raw, AlphaMode alpha) {
  const int nb = raw.bands;
  const bool valid = raw.cmyk ? (nb == 4 || nb == 5) : (nb >= 1 && nb <= 4);
  if (!valid) {
    return Status::Unsupported(std::to_string(nb) + (raw.cmyk ? " CMYK bands" : " bands") +
                               " (expected grey, grey+alpha, RGB, RGBA, CMYK or CMYK+alpha)");
  }
  SampleReader rd{static_cast<const uint8_t*>(raw.data),
                  raw.sixteen_bit ? static_cast<const uint16_t*>(raw.data) : nullptr,
                  nb == 1 && !raw.cmyk};
  ImageU8 out(raw.width, raw.height, 3);
  const size_t n = size_t(raw.width) * raw.height;
  if (!raw.sixteen_bit && !raw.cmyk && nb == 3) {  // the common case: already 8-bit RGB
    std::memcpy(out.pixels.data(), raw.data, n * 3);
    return out;
  }
  const bool has_alpha = raw.cmyk ? nb == 5 : (nb == 2 || nb == 4);
  const bool composite = has_alpha && alpha == AlphaMode::kCompositeWhite;
  uint8_t* dst = out.pixels.data();
  for (size_t p = 0; p < n; ++p, dst += 3) {
    const size_t s = p * nb;
    uint8_t r, g, b;
    if (raw.cmyk) {
      const int k = 255 - rd(s + 3);
      r = uint8_t(std::clamp(k - MulDiv255(rd(s + 0), k), 0, 255));
      g = uint8_t(std::clamp(k - MulDiv255(rd(s + 1), k), 0, 255));
      b = uint8_t(std::clamp(k - MulDiv255(rd(s + 2), k), 0, 255));
    } else if (nb <= 2) {
      r = g = b = rd(s);
    } else {
      r = rd(s);
      g = rd(s + 1);
      b = rd(s + 2);
    }
    if (composite) {
      const uint8_t a = rd(s + nb - 1);
      r = CompositeWhite(r, a);
      g = CompositeWhite(g, a);
      b = CompositeWhite(b, a);
    }
    dst[0] = r;
    dst[1] = g;
    dst[2] = b;
  }
  return out;
}

}  // namespace doppel::image_internal
