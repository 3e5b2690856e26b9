// ImageU8: the pixels that flow from decoding to preprocessing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace doppel {

// An 8-bit image, rows top to bottom, channels interleaved (RGB when channels == 3, grey when 1).
// Invariant: pixels.size() == width * height * channels.
struct ImageU8 {
  int width = 0;
  int height = 0;
  int channels = 3;
  std::vector<uint8_t> pixels;

  ImageU8() = default;
  ImageU8(int w, int h, int c) : width(w), height(h), channels(c), pixels(size_t(w) * h * c) {}
  uint8_t* row(int y) { return pixels.data() + size_t(y) * width * channels; }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * width * channels; }
  uint8_t& at(int x, int y, int c) { return pixels[(size_t(y) * width + x) * channels + c]; }
  uint8_t at(int x, int y, int c) const { return pixels[(size_t(y) * width + x) * channels + c]; }
};

}  // namespace doppel
