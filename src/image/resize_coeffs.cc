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

}  // namespace

ConvCoeffs ComputeConvCoeffs(int n_in, float b0, float b1, int n_out, Filter filter) {
  const Kernel kernel = KernelFor(filter);
  const double scale = double(b1 - b0) / n_out;  // float32 subtraction, double division
  const double fs = std::max(scale, 1.0);          // antialias: widen the kernel when shrinking
  const double support = kernel.support * fs;
  const double inv = 1.0 / fs;
  ConvCoeffs c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.lo.resize(n_out);
  c.count.resize(n_out);
  c.k.assign(size_t(n_out) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int i = 0; i < n_out; ++i) {
    const double center = double(b0) + (i + 0.5) * scale;
    int lo = int(center - support + 0.5);  // C cast: toward zero
    if (lo < 0) lo = 0;
    int hi = int(center + support + 0.5);
    if (hi > n_in) hi = n_in;
    const int count = std::clamp(hi - lo, 0, c.ksize);
    double sum = 0.0;
    for (int t = 0; t < count; ++t) {
      w[t] = kernel.f(((t + lo) - center + 0.5) * inv);
      sum += w[t];
    }
    int32_t* k = &c.k[size_t(i) * c.ksize];
    for (int t = 0; t < count; ++t) {
      double v = sum != 0.0 ? w[t] / sum : w[t];
      // Round half away from zero to 22 fraction bits.
      k[t] = v < 0 ? int32_t(-0.5 + v * (1 << ConvCoeffs::kPrecisionBits))
                   : int32_t(0.5 + v * (1 << ConvCoeffs::kPrecisionBits));
    }
    c.lo[i] = lo;
    c.count[i] = count;
  }
  return c;
}

std::vector<int> NearestIndices(int n_in, float b0, float b1, int n_out) {
  std::vector<int> idx(n_out);
  const double step = double(b1 - b0) / n_out;
  double pos = double(b0) + 0.5 * step;  // a running sum, NOT (i + 0.5) * step: the rounding differs
  for (int i = 0; i < n_out; ++i) {
    int s = pos < 0 ? -1 : int(pos);
    idx[i] = (s >= 0 && s < n_in) ? s : -1;
    pos += step;
  }
  return idx;
}

}  // namespace doppel::image_internal
