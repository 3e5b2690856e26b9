// Internal: Pillow's per-dimension resampling arithmetic (shared/reference/pil-resize.md sections 1 and 2), per output
// pixel. Pillow computes each output pixel's taps and weights from its index alone, so any run of output pixels can be
// computed without the others: this is what lets resize.cc compute only the pixels a crop keeps, bit-identically.
// Compiled without fast-math and without FP contraction so the double arithmetic is exactly the reference's.
#pragma once

#include <cstdint>
#include <vector>

#include "doppel/image/resize.h"

namespace doppel::image_internal {

// The convolution geometry of one axis: n_in source pixels, box edges [b0, b1) (float32, as Pillow stores them),
// n_out output pixels, `filter` (not kNearest). No table is held: spans and weights are computed per output pixel.
class ConvAxis {
 public:
  static constexpr int kPrecisionBits = 22;  // 32 - 8 - 2

  ConvAxis(int n_in, float b0, float b1, int n_out, Filter filter);

  // Output pixel i (0 <= i < n_out) reads source pixels [*lo, *lo + *count), all inside [0, n_in); *count may be 0
  // (that output pixel is 0). Never more than max_taps().
  void Span(int64_t i, int* lo, int* count) const;
  // Its 22-bit fixed-point weights, k[0 .. count) for the span above. `scratch` is reused between calls; spans longer
  // than 2^20 taps are computed in two passes without it (same values).
  void Weights(int64_t i, int32_t* k, std::vector<double>* scratch) const;
  // Pillow's ksize (2 * ceil(support) + 1), capped at n_in, which no span exceeds.
  int max_taps() const { return max_taps_; }

 private:
  double (*kernel_)(double) = nullptr;
  int n_in_ = 0;
  double b0_ = 0, scale_ = 0, support_ = 0, inv_ = 0;
  int max_taps_ = 0;
};

// NEAREST source index of output pixels [first, first + count) of n_out, Pillow's running double sum (so the time is
// O(first + count), the memory O(count)); -1 where the position falls outside [0, n_in) (that output pixel is 0).
std::vector<int> NearestIndices(int n_in, float b0, float b1, int n_out, int first, int count);

}  // namespace doppel::image_internal
