#include <string>

#include "trunks.h"

namespace doppel::modelgen {
namespace {

// One Keras v1 bottleneck block named "<prefix>": 1x1/stride -> 3x3 -> 1x1 (x4), each followed by BN (ReLU on the
// first two), plus the shortcut (a 1x1/stride conv + BN when `projection`), added, then ReLU into "<prefix>_out".
Tensor Bottleneck(GraphBuilder& b, const std::string& prefix, const Tensor& x, int filters, int stride,
                  bool projection) {
  const int mid = b.Width(filters);
  const int out = b.Width(4 * filters);
  Tensor shortcut = x;
  if (projection) {
    shortcut = b.BatchNorm(prefix + "_0_bn", b.Conv(prefix + "_0_conv", x, out, 1, stride, 0, true));
  }
  Tensor y = b.Relu(prefix + "_1_relu", b.BatchNorm(prefix + "_1_bn", b.Conv(prefix + "_1_conv", x, mid, 1, stride, 0, true)));
  y = b.Relu(prefix + "_2_relu", b.BatchNorm(prefix + "_2_bn", b.Conv(prefix + "_2_conv", y, mid, 3, 1, 1, true)));
  // The residual branch ends in a BN with gamma well below 1, so that the variance added by each of the 16 blocks
  // stays small next to the shortcut's and activations neither explode nor vanish through 50 layers.
  y = b.BatchNorm(prefix + "_3_bn", b.Conv(prefix + "_3_conv", y, out, 1, 1, 0, true), 0.2f, 0.4f);
  return b.Relu(prefix + "_out", b.Add(prefix + "_add", shortcut, y));
}

}  // namespace

Tensor BuildResNet50Trunk(GraphBuilder& b, const Tensor& x) {
  // Keras: ZeroPadding2D(3) + 7x7/2 valid conv == Conv with pads 3.
  Tensor y = b.Conv("conv1_conv", x, b.Width(64), 7, 2, 3, true);
  y = b.Relu("conv1_relu", b.BatchNorm("conv1_bn", y));
  // Keras: ZeroPadding2D(1) + 3x3/2 valid max pool. Its input is a ReLU output (>= 0), so zero padding and ONNX's
  // -inf padding give the same maxima.
  y = b.MaxPool("pool1_pool", y, 3, 2, 1);
  struct Stage {
    const char* name;
    int blocks;
    int filters;
    int stride;
  };
  static constexpr Stage kStages[] = {{"conv2", 3, 64, 1}, {"conv3", 4, 128, 2}, {"conv4", 6, 256, 2},
                                      {"conv5", 3, 512, 2}};
  for (const Stage& s : kStages) {
    for (int i = 1; i <= s.blocks; ++i) {
      const std::string prefix = std::string(s.name) + "_block" + std::to_string(i);
      y = Bottleneck(b, prefix, y, s.filters, i == 1 ? s.stride : 1, i == 1);
    }
  }
  return y;
}

}  // namespace doppel::modelgen
