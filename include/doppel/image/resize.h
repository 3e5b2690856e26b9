// Pillow's Image.resize and crop, bit-exact (shared/reference/pil-resize.md sections 1-2): NEAREST as Pillow's
// running double sum, the other filters as its two-pass 8-bit fixed-point convolution with antialiasing.
// Written by hand because no maintained C/C++ library reproduces Pillow's pixels (libvips, OpenCV and
// torchvision's tensor path all differ), and vectors must match the Python pipelines users already have.
//
// Limits: only the requested pixels are ever computed or held. PilResizeCrop computes just the window a crop keeps
// (Pillow derives each output pixel from its index alone, so this is bit-identical to resizing everything and then
// cropping), the horizontal pass is streamed one row at a time into the vertical one (no intermediate image), and
// weight tables are bounded (16 MiB, or one output pixel's taps). So resizing a 1 x 65500 image to 256 x 16768000
// and keeping the centre 224 x 224 (torchvision Resize(256) + CenterCrop(224)) costs about what a 224 x 224 output
// costs. The time is bounded too: a resize whose work (multiply-adds + weights computed + NEAREST steps, counted
// before anything is allocated) exceeds kMaxResizeWork is refused (ResourceExhausted); a 178-megapixel photo to
// 224 x 224 with LANCZOS is about 3.2e9, well within it, while a 1 x 100,000,000 strip stretched to 224 x 224 is not.
#pragma once

#include <cstdint>

#include "doppel/image/image.h"
#include "doppel/util/status.h"

namespace doppel {

enum class Filter { kNearest, kBox, kBilinear, kHamming, kBicubic, kLanczos };

// A source rectangle in source pixel coordinates (Pillow's `box`); default = the whole image.
struct ResizeBox {
  double x0 = 0, y0 = 0, x1 = -1, y1 = -1;  // x1/y1 < 0 mean width/height
};

// The most work one resize may take (see above): about 2-5 seconds of one core.
inline constexpr int64_t kMaxResizeWork = int64_t(1) << 33;

// Crop(PilResize(src, out_w, out_h, filter, box), left, top, width, height, fill), bit for bit, computing only the
// width x height window: the window may extend past the resized image (those pixels are `fill`, as Crop pads).
// InvalidArgument for a non-positive size or an empty/inconsistent source, ResourceExhausted over kMaxResizeWork or
// when memory runs out. Never throws. Thread-safe, pure.
Result<ImageU8> PilResizeCrop(const ImageU8& src, int out_w, int out_h, Filter filter, int left, int top, int width,
                              int height, uint8_t fill = 0, ResizeBox box = {});

// Image.resize((out_w, out_h), filter, box) for 1- or 3-channel images (any channel count works). An empty 0x0 image
// when a size is not positive, the source is empty, or PilResizeCrop would refuse the resize. Never throws.
// Thread-safe, pure.
ImageU8 PilResize(const ImageU8& src, int out_w, int out_h, Filter filter, ResizeBox box = {});

// Integer crop; the parts of the rectangle outside the image are filled with `fill` (Pillow's crop pads with 0).
// Any int arguments are safe (64-bit arithmetic); an empty image if the output cannot be allocated. Never throws.
ImageU8 Crop(const ImageU8& src, int left, int top, int width, int height, uint8_t fill = 0);

}  // namespace doppel
