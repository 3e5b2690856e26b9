#include "resize_coeffs.h"

#include <algorithm>
#include <cmath>

namespace doppel::image_internal {
namespace {

constexpr double kPi = 3.14159265358979323846;  // M_PI

double BoxKernel(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double BilinearKernel(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double HammingKernel(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * kPi;
  // The constants are float32 in Pillow: 0.540000021457672..., 0.460000008344650...
  return std::sin(x) / x * (double(0.54f) + double(0.46f) * std::cos(x));
}

double BicubicKernel(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double Sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * kPi;
  return std::sin(x) / x;
}

double LanczosKernel(double x) { return (-3.0 <= x && x < 3.0) ? Sinc(x) * Sinc(x / 3) : 0.0; }

struct Kernel {
  double (*f)(double);
  double support;
};

Kernel KernelFor(Filter filter) {
  switch (filter) {
    case Filter::kBox: return {BoxKernel, 0.5};
    case Filter::kBilinear: return {BilinearKernel, 1.0};
    case Filter::kHamming: return {HammingKernel, 1.0};
    case Filter::kBicubic: return {BicubicKernel, 2.0};
    case Filter::kLanczos: return {LanczosKernel, 3.0};
    case Filter::kNearest: break;
  }
  return {BilinearKernel, 1.0};  // unreachable for valid callers
}

// Truncation toward zero, as C's (int) cast, without undefined behaviour for values no int64 holds (NaN -> 0).
int64_t Trunc(double v) {
  if (!(v == v)) return 0;
  if (v > 9e18) return int64_t(9e18);
  if (v < -9e18) return -int64_t(9e18);
  return int64_t(v);
}

constexpr size_t kScratchMax = size_t(1) << 20;  // 8 MiB of doubles

int32_t ToFixed(double v) {
  // Round half away from zero to 22 fraction bits.
  return v < 0 ? int32_t(-0.5 + v * (1 << ConvAxis::kPrecisionBits))
               : int32_t(0.5 + v * (1 << ConvAxis::kPrecisionBits));
}

}  // namespace

ConvAxis::ConvAxis(int n_in, float b0, float b1, int n_out, Filter filter) {
  const Kernel kernel = KernelFor(filter);
  kernel_ = kernel.f;
  n_in_ = n_in;
  b0_ = double(b0);
  scale_ = double(b1 - b0) / n_out;  // float32 subtraction, double division
  const double fs = std::max(scale_, 1.0);  // antialias: widen the kernel when shrinking
  support_ = kernel.support * fs;
  inv_ = 1.0 / fs;
  // Pillow's ksize = ceil(support) * 2 + 1. A span never exceeds n_in either, so the smaller bound is the same table.
  const double ksize = std::ceil(support_) * 2 + 1;
  max_taps_ = (ksize >= double(n_in) || !(ksize == ksize)) ? std::max(n_in, 0) : int(ksize);
}

void ConvAxis::Span(int64_t i, int* lo, int* count) const {
  const double center = b0_ + (double(i) + 0.5) * scale_;
  int64_t l = Trunc(center - support_ + 0.5);  // C cast: toward zero
  if (l < 0) l = 0;
  int64_t h = Trunc(center + support_ + 0.5);
  if (h > n_in_) h = n_in_;
  const int64_t n = std::clamp<int64_t>(h - l, 0, max_taps_);
  *lo = int(std::min<int64_t>(l, n_in_));
  *count = int(n);
}

void ConvAxis::Weights(int64_t i, int32_t* k, std::vector<double>* scratch) const {
  const double center = b0_ + (double(i) + 0.5) * scale_;
  int lo = 0, count = 0;
  Span(i, &lo, &count);
  auto w = [&](int t) { return kernel_(((int64_t(t) + lo) - center + 0.5) * inv_); };
  double sum = 0.0;
  if (size_t(count) <= kScratchMax) {
    scratch->resize(size_t(count));
    double* ws = scratch->data();
    for (int t = 0; t < count; ++t) {
      ws[t] = w(t);
      sum += ws[t];
    }
    for (int t = 0; t < count; ++t) k[t] = ToFixed(sum != 0.0 ? ws[t] / sum : ws[t]);
    return;
  }
  // Very long spans (a huge downscale): evaluate the kernel twice rather than hold count doubles. Same values.
  for (int t = 0; t < count; ++t) sum += w(t);
  for (int t = 0; t < count; ++t) {
    const double v = w(t);
    k[t] = ToFixed(sum != 0.0 ? v / sum : v);
  }
}

std::vector<int> NearestIndices(int n_in, float b0, float b1, int n_out, int first, int count) {
  std::vector<int> idx(size_t(std::max(count, 0)), -1);
  const double step = double(b1 - b0) / n_out;
  double pos = double(b0) + 0.5 * step;  // a running sum, NOT (i + 0.5) * step: the rounding differs
  const int64_t end = int64_t(first) + count;
  for (int64_t i = 0; i < end; ++i) {
    if (i >= first) idx[size_t(i - first)] = (pos < 0 || !(pos < double(n_in))) ? -1 : int(pos);
    pos += step;
  }
  return idx;
}

}  // namespace doppel::image_internal
