// Per-layer conversion: one function per Keras layer class, appending ONNX nodes for one layer. Internal to
// doppel_keras.
//
// Tensor convention (the invariant every layer function keeps): a Value's `shape` is its Keras shape without the
// batch dimension. A 3-D Keras tensor (H, W, C) lies in ONNX as NCHW [N, C, H, W]; any other rank lies in Keras
// order [N, ...]. A layer L's last node writes the tensor named L; helper tensors are "L/<what>", weights
// "L/<weight>".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "keras_model.h"
#include "onnx_graph.h"
#include "weights.h"

namespace doppel::keras {

struct Value {
  std::string name;
  std::vector<int64_t> shape;  // Keras shape without batch
};

struct LayerContext {
  OnnxGraph* graph;
  const WeightMap* weights;
  const KerasLayer* layer;
  std::vector<Value> inputs;

  // "layer 'L' (Class): <msg>"
  std::string Where(const std::string& msg) const;
  // The weight `name` of this layer with exactly `shape`; NotFound / InvalidArgument naming layer and weight.
  Result<const WeightTensor*> Weight(const std::string& name, const std::vector<int64_t>& shape) const;
  // The single input; InvalidArgument when the layer has a different number of inputs.
  Result<Value> Single() const;
};

using LayerFn = Result<Value> (*)(LayerContext& ctx);

// The function for a Keras class name, or nullptr when the class is not supported.
LayerFn FindLayerFn(const std::string& class_name);
// The supported class names, for error messages and docs.
std::vector<std::string> SupportedLayerClasses();

// Applies a Keras activation (by name: linear, relu, relu6, sigmoid, tanh, softmax, softplus, softsign, elu, selu,
// hard_sigmoid, swish/silu, exponential) to `in`, writing tensor `out`. "linear" writes an Identity.
Status EmitActivation(LayerContext& ctx, const std::string& activation, const Value& in, const std::string& out);

// Config helpers. Pairs accept an int n (-> {n, n}) or a list of two ints.
Result<std::vector<int64_t>> ConfigPair(const LayerContext& ctx, const char* key, int64_t dflt);
Result<std::string> ConfigString(const LayerContext& ctx, const char* key, const std::string& dflt);
// Fails unless data_format is channels_last (or absent).
Status RequireChannelsLast(const LayerContext& ctx);

// Output size and TF padding of one spatial axis: n in, kernel k, stride s, dilation d, "valid" | "same".
// 'same': out = ceil(n/s), total = max((out-1)*s + (k-1)*d + 1 - n, 0), begin = total/2, end = total - begin.
struct AxisPlan {
  int64_t out = 0, pad_begin = 0, pad_end = 0;
};
Result<AxisPlan> PlanAxis(const LayerContext& ctx, int64_t n, int64_t k, int64_t s, int64_t d,
                          const std::string& padding);

// The layer functions, by file.
// layers_conv.cc
Result<Value> Conv2DLayer(LayerContext& ctx);
Result<Value> DepthwiseConv2DLayer(LayerContext& ctx);
Result<Value> SeparableConv2DLayer(LayerContext& ctx);
Result<Value> DenseLayer(LayerContext& ctx);
Result<Value> BatchNormalizationLayer(LayerContext& ctx);
// layers_pool.cc
Result<Value> MaxPooling2DLayer(LayerContext& ctx);
Result<Value> AveragePooling2DLayer(LayerContext& ctx);
Result<Value> GlobalAveragePooling2DLayer(LayerContext& ctx);
Result<Value> GlobalMaxPooling2DLayer(LayerContext& ctx);
Result<Value> ZeroPadding2DLayer(LayerContext& ctx);
// layers_misc.cc
Result<Value> ActivationLayer(LayerContext& ctx);
Result<Value> ReLULayer(LayerContext& ctx);
Result<Value> LeakyReLULayer(LayerContext& ctx);
Result<Value> SoftmaxLayer(LayerContext& ctx);
Result<Value> IdentityLayer(LayerContext& ctx);  // Dropout and friends: inference-time identity
Result<Value> FlattenLayer(LayerContext& ctx);
Result<Value> ReshapeLayer(LayerContext& ctx);
Result<Value> ConcatenateLayer(LayerContext& ctx);
Result<Value> MergeLayer(LayerContext& ctx);  // Add, Subtract, Multiply, Average, Maximum, Minimum

}  // namespace doppel::keras
