// Internal: interleaved 8- or 16-bit pixels as libvips decodes them -> 8-bit RGB, following Pillow's convert('RGB')
// (shared/reference/pil-resize.md section 4) except for alpha, which AlphaMode decides.
#pragma once

#include <cstdint>

#include "doppel/image/decode.h"
#include "doppel/image/image.h"
#include "doppel/util/status.h"

namespace doppel::image_internal {

struct RawPixels {
  int width = 0;
  int height = 0;
  int bands = 0;           // 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; with cmyk: 4 CMYK, 5 CMYK+alpha
  bool sixteen_bit = false;  // samples are native-endian uint16, else uint8
  bool cmyk = false;
  const void* data = nullptr;  // width * height * bands samples, interleaved
};

// 16-bit samples become 8-bit as Pillow opens them: a single grey band saturates, min(v, 255) (Pillow's "I;16"/"I"
// modes); every other layout takes the high byte, v >> 8 (Pillow's "RGB;16B", "RGBA;16B", "LA;16B" raw modes).
// CMYK: R = round((255-C)(255-K)/255), computed as Pillow does. Alpha, kCompositeWhite:
// out = (c*a + 255*(255-a) + 127) / 255 in integers, i.e. c*a/255 + (255-a) rounded to nearest (no ties: 255 is odd).
// kDrop keeps c. Unsupported for other band counts.
Result<ImageU8> ToRgb8(const RawPixels& raw, AlphaMode alpha);

// Pillow's muldiv255 (a*b/255 rounded) as used by its CMYK conversion.
inline int MulDiv255(int a, int b) {
  int t = a * b + 128;
  return (t + (t >> 8)) >> 8;
}

}  // namespace doppel::image_internal
