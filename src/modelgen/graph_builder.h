// Appends ONNX nodes and their random initializers to a GraphProto. Internal to doppel_modelgen.
//
// Naming invariant: a layer called L writes its output tensor "L" (and its node is named "L"); its parameters are
// initializers "L/<param>" (kernel, bias, gamma, beta, moving_mean, moving_variance). Weight values come from
// WeightRng(seed, initializer name), so a layer with the same name and shape holds the same weights in any model
// built with the same seed.
#pragma once

#define ONNX_ML 1
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace doppel::modelgen {

// A tensor of the graph and its channel count (dimension 1 in NCHW, or features for 2-D tensors).
struct Tensor {
  std::string name;
  int channels = 0;
};

class GraphBuilder {
 public:
  // `graph` must outlive the builder. Channel counts passed to Width() are scaled by `width_multiplier`.
  GraphBuilder(onnx::GraphProto* graph, uint64_t seed, double width_multiplier);

  // max(8, round(c * width_multiplier)).
  int Width(int channels) const;

  // Conv with a [cout, cin, k, k] kernel (He uniform: variance 2 / fan_in) and, if `bias`, a small random bias.
  Tensor Conv(const std::string& name, const Tensor& x, int cout, int kernel, int stride, int pad, bool bias);
  // Inference-mode BatchNormalization with sane random statistics: gamma ~ U(gamma_lo, gamma_hi), beta and mean
  // ~ U(-0.1, 0.1), variance ~ U(0.8, 1.2), epsilon 1.001e-5 (Keras ResNet50's).
  Tensor BatchNorm(const std::string& name, const Tensor& x, float gamma_lo = 0.8f, float gamma_hi = 1.2f);
  Tensor Relu(const std::string& name, const Tensor& x);
  Tensor MaxPool(const std::string& name, const Tensor& x, int kernel, int stride, int pad);
  Tensor Add(const std::string& name, const Tensor& a, const Tensor& b);
  Tensor GlobalMaxPool(const std::string& name, const Tensor& x);
  Tensor GlobalAveragePool(const std::string& name, const Tensor& x);
  // Flatten(axis=1). `channels` is the flattened feature count.
  Tensor Flatten(const std::string& name, const Tensor& x, int channels);
  Tensor Transpose(const std::string& name, const Tensor& x, const std::vector<int64_t>& perm);
  // Gemm(x, W^T, b) with W [out, in] (He uniform) and a small random bias b [out].
  Tensor Gemm(const std::string& name, const Tensor& x, int out);

 private:
  onnx::NodeProto* AddNode(const std::string& op, const std::string& name, const std::vector<std::string>& inputs);
  // Adds a float initializer "<layer>/<param>" of shape `dims` with values ~ U(lo, hi); returns its name.
  std::string AddUniform(const std::string& layer, const std::string& param, const std::vector<int64_t>& dims,
                         float lo, float hi);

  onnx::GraphProto* graph_;
  uint64_t seed_;
  double width_multiplier_;
};

}  // namespace doppel::modelgen
