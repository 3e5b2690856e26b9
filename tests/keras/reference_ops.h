// Independent reference implementations of Keras layers on one NHWC image (batch 1), written as direct loops from
// the TensorFlow definitions, for checking the importer's ONNX graphs. No code is shared with src/keras.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace doppel::keras::testing {

// An H x W x C image, or a vector (h = w = 1 and `flat`).
struct Nhwc {
  int h = 1, w = 1, c = 1;
  std::vector<float> v;
  float at(int y, int x, int ch) const { return v[(static_cast<size_t>(y) * w + x) * c + ch]; }
  float& at(int y, int x, int ch) { return v[(static_cast<size_t>(y) * w + x) * c + ch]; }
};

inline Nhwc Make(int h, int w, int c) { return Nhwc{h, w, c, std::vector<float>(static_cast<size_t>(h) * w * c)}; }

// TensorFlow's padding for one axis: 'valid' none; 'same' total = max((ceil(n/s)-1)*s + k - n, 0), the smaller half
// first.
struct Pad1 {
  int out, before;
};
inline Pad1 TfPad(int n, int k, int s, const std::string& padding) {
  if (padding == "valid") return {(n - k) / s + 1, 0};
  const int out = (n + s - 1) / s;
  const int total = std::max((out - 1) * s + k - n, 0);
  return {out, total / 2};
}

// Conv2D, kernel HWIO [kh][kw][cin][cout], zero padding.
inline Nhwc Conv2D(const Nhwc& x, const std::vector<float>& k, int kh, int kw, int cout, int sh, int sw,
                   const std::string& padding, const std::vector<float>& bias = {}) {
  const Pad1 ph = TfPad(x.h, kh, sh, padding), pw = TfPad(x.w, kw, sw, padding);
  Nhwc y = Make(ph.out, pw.out, cout);
  for (int oy = 0; oy < y.h; ++oy)
    for (int ox = 0; ox < y.w; ++ox)
      for (int o = 0; o < cout; ++o) {
        double acc = bias.empty() ? 0.0 : bias[o];
        for (int i = 0; i < kh; ++i)
          for (int j = 0; j < kw; ++j) {
            const int iy = oy * sh + i - ph.before, ix = ox * sw + j - pw.before;
            if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
            for (int ci = 0; ci < x.c; ++ci)
              acc += double(x.at(iy, ix, ci)) * k[((static_cast<size_t>(i) * kw + j) * x.c + ci) * cout + o];
          }
        y.at(oy, ox, o) = static_cast<float>(acc);
      }
  return y;
}

// DepthwiseConv2D, kernel [kh][kw][C][M]; output channel c*M + m.
inline Nhwc Depthwise(const Nhwc& x, const std::vector<float>& k, int kh, int kw, int m, int sh, int sw,
                      const std::string& padding, const std::vector<float>& bias = {}) {
  const Pad1 ph = TfPad(x.h, kh, sh, padding), pw = TfPad(x.w, kw, sw, padding);
  Nhwc y = Make(ph.out, pw.out, x.c * m);
  for (int oy = 0; oy < y.h; ++oy)
    for (int ox = 0; ox < y.w; ++ox)
      for (int c = 0; c < x.c; ++c)
        for (int d = 0; d < m; ++d) {
          double acc = bias.empty() ? 0.0 : bias[c * m + d];
          for (int i = 0; i < kh; ++i)
            for (int j = 0; j < kw; ++j) {
              const int iy = oy * sh + i - ph.before, ix = ox * sw + j - pw.before;
              if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
              acc += double(x.at(iy, ix, c)) * k[((static_cast<size_t>(i) * kw + j) * x.c + c) * m + d];
            }
          y.at(oy, ox, c * m + d) = static_cast<float>(acc);
        }
  return y;
}

inline Nhwc BatchNorm(const Nhwc& x, const std::vector<float>& gamma, const std::vector<float>& beta,
                      const std::vector<float>& mean, const std::vector<float>& var, float eps) {
  Nhwc y = x;
  for (size_t i = 0; i < y.v.size(); ++i) {
    const int c = static_cast<int>(i % x.c);
    y.v[i] = gamma[c] * (x.v[i] - mean[c]) / std::sqrt(var[c] + eps) + beta[c];
  }
  return y;
}

template <typename F>
Nhwc Map(const Nhwc& x, F f) {
  Nhwc y = x;
  for (float& v : y.v) v = f(v);
  return y;
}

// Pooling with TF semantics: padded cells never count (max ignores them, average divides by the real cells).
inline Nhwc Pool(const Nhwc& x, bool max, int kh, int kw, int sh, int sw, const std::string& padding) {
  const Pad1 ph = TfPad(x.h, kh, sh, padding), pw = TfPad(x.w, kw, sw, padding);
  Nhwc y = Make(ph.out, pw.out, x.c);
  for (int oy = 0; oy < y.h; ++oy)
    for (int ox = 0; ox < y.w; ++ox)
      for (int c = 0; c < x.c; ++c) {
        double acc = max ? -std::numeric_limits<double>::infinity() : 0.0;
        int n = 0;
        for (int i = 0; i < kh; ++i)
          for (int j = 0; j < kw; ++j) {
            const int iy = oy * sh + i - ph.before, ix = ox * sw + j - pw.before;
            if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
            acc = max ? std::max(acc, double(x.at(iy, ix, c))) : acc + x.at(iy, ix, c);
            ++n;
          }
        y.at(oy, ox, c) = static_cast<float>(max ? acc : acc / n);
      }
  return y;
}

inline std::vector<float> GlobalPool(const Nhwc& x, bool max) {
  std::vector<float> out(x.c, max ? -std::numeric_limits<float>::infinity() : 0.0f);
  for (int y = 0; y < x.h; ++y)
    for (int z = 0; z < x.w; ++z)
      for (int c = 0; c < x.c; ++c) out[c] = max ? std::max(out[c], x.at(y, z, c)) : out[c] + x.at(y, z, c);
  if (!max)
    for (float& v : out) v /= static_cast<float>(x.h * x.w);
  return out;
}

inline Nhwc ZeroPad(const Nhwc& x, int top, int bottom, int left, int right) {
  Nhwc y = Make(x.h + top + bottom, x.w + left + right, x.c);
  for (int i = 0; i < x.h; ++i)
    for (int j = 0; j < x.w; ++j)
      for (int c = 0; c < x.c; ++c) y.at(i + top, j + left, c) = x.at(i, j, c);
  return y;
}

// Dense on a flat vector, kernel [in][out].
inline std::vector<float> Dense(const std::vector<float>& x, const std::vector<float>& k, int out,
                                const std::vector<float>& bias) {
  std::vector<float> y(out);
  for (int o = 0; o < out; ++o) {
    double acc = bias.empty() ? 0.0 : bias[o];
    for (size_t i = 0; i < x.size(); ++i) acc += double(x[i]) * k[i * out + o];
    y[o] = static_cast<float>(acc);
  }
  return y;
}

inline Nhwc ConcatChannels(const std::vector<const Nhwc*>& xs) {
  int c = 0;
  for (const Nhwc* x : xs) c += x->c;
  Nhwc y = Make(xs[0]->h, xs[0]->w, c);
  for (int i = 0; i < y.h; ++i)
    for (int j = 0; j < y.w; ++j) {
      int off = 0;
      for (const Nhwc* x : xs) {
        for (int k = 0; k < x->c; ++k) y.at(i, j, off + k) = x->at(i, j, k);
        off += x->c;
      }
    }
  return y;
}

inline float Relu6(float v) { return std::min(std::max(v, 0.0f), 6.0f); }
inline float Relu(float v) { return std::max(v, 0.0f); }

}  // namespace doppel::keras::testing
