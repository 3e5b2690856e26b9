// Pillow's Image.resize and crop, bit-exact (shared/reference/pil-resize.md sections 1-2): NEAREST as Pillow's
// running double sum, the other filters as its two-pass 8-bit fixed-point convolution with antialiasing.
// Written by hand because no maintained C/C++ library reproduces Pillow's pixels (libvips, OpenCV and
// torchvision's tensor path all differ), and vectors must match the Python pipelines users already have.
#pragma once

#include "doppel/image/image.h"

namespace doppel {

enum class Filter { kNearest, kBox, kBilinear, kHamming, kBicubic, kLanczos };

// A source rectangle in source pixel coordinates (Pillow's `box`); default = the whole image.
struct ResizeBox {
  double x0 = 0, y0 = 0, x1 = -1, y1 = -1;  // x1/y1 < 0 mean width/height
};

// Image.resize((out_w, out_h), filter, box) for 1- or 3-channel images. Thread-safe, pure.
ImageU8 PilResize(const ImageU8& src, int out_w, int out_h, Filter filter, ResizeBox box = {});

// Integer crop; the parts of the rectangle outside the image are filled with `fill` (Pillow's crop pads with 0).
ImageU8 Crop(const ImageU8& src, int left, int top, int width, int height, uint8_t fill = 0);

}  // namespace doppel
