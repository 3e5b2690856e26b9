// Test helpers of the modelgen tests: the shared ONNX Runtime runner, and pseudo-images.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "support/ort_runner.h"

namespace doppel::modelgen::testing {

using doppel::testing::FloatTensor;
using doppel::testing::OrtRunner;
using doppel::testing::TestEnv;

// A deterministic pseudo-image in NCHW, values in [0, 1): smooth gradients plus noise, different per `seed`.
inline FloatTensor MakeImageNchw(int n, int side, uint32_t seed) {
  FloatTensor t{{n, 3, side, side}, std::vector<float>(static_cast<size_t>(n) * 3 * side * side)};
  std::mt19937 rng(seed);
  size_t i = 0;
  for (int b = 0; b < n; ++b)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x) {
          const float noise = static_cast<float>(rng() >> 8) / 16777216.0f;
          t.data[i++] = 0.5f * noise + 0.5f * static_cast<float>((x * (c + 1) + y * (b + 2)) % side) / side;
        }
  return t;
}

inline FloatTensor NchwToNhwc(const FloatTensor& t) {
  const int64_t n = t.shape[0], c = t.shape[1], h = t.shape[2], w = t.shape[3];
  FloatTensor out{{n, h, w, c}, std::vector<float>(t.data.size())};
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          out.data[((b * h + y) * w + x) * c + ch] = t.data[((b * c + ch) * h + y) * w + x];
  return out;
}

}  // namespace doppel::modelgen::testing
