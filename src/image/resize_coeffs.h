// Internal: Pillow's per-dimension resampling tables (shared/reference/pil-resize.md sections 1 and 2).
// Compiled without fast-math and without FP contraction so the double arithmetic is exactly the reference's.
#pragma once

#include <cstdint>
#include <vector>

#include "doppel/image/resize.h"

namespace doppel::image_internal {

// Invariant: for output i, taps j = lo[i] .. lo[i] + count[i] - 1 are inside [0, n_in), and their 22-bit fixed-point
// weights are k[i * ksize + (j - lo[i])]; count[i] <= ksize.
struct ConvCoeffs {
  static constexpr int kPrecisionBits = 22;  // 32 - 8 - 2
  int ksize = 0;
  std::vector<int> lo;
  std::vector<int> count;
  std::vector<int32_t> k;
};

// The table for resampling n_in pixels, box edges [b0, b1) (float32, as Pillow stores them), to n_out pixels with
// `filter` (not kNearest).
ConvCoeffs ComputeConvCoeffs(int n_in, float b0, float b1, int n_out, Filter filter);

// NEAREST source index of each output pixel, Pillow's running double sum; -1 where the position falls outside
// [0, n_in) (that output pixel is 0).
std::vector<int> NearestIndices(int n_in, float b0, float b1, int n_out);

}  // namespace doppel::image_internal
