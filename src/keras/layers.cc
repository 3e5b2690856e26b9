// Shared helpers of the layer functions, the activation mapping and the class-name registry.
#include "layers.h"

#include <algorithm>
#include <map>

namespace doppel::keras {

using nlohmann::json;

std::string LayerContext::Where(const std::string& msg) const {
  return "layer '" + layer->name + "' (" + layer->class_name + "): " + msg;
}

Result<const WeightTensor*> LayerContext::Weight(const std::string& name, const std::vector<int64_t>& shape) const {
  const WeightTensor* t = weights->Find(layer->name, name);
  if (!t) return Status::NotFound(Where("weight '" + layer->name + "/" + name + "' not found in the model's weights"));
  if (t->shape != shape)
    return Status::InvalidArgument(Where("weight '" + layer->name + "/" + name + "' has shape " +
                                         ShapeString(t->shape) + " but the layer config and its input need " +
                                         ShapeString(shape)));
  return t;
}

Result<Value> LayerContext::Single() const {
  if (inputs.size() != 1)
    return Status::InvalidArgument(Where("expects 1 input, has " + std::to_string(inputs.size())));
  return inputs[0];
}

Result<std::vector<int64_t>> ConfigPair(const LayerContext& ctx, const char* key, int64_t dflt) {
  const json& c = ctx.layer->config;
  if (!c.contains(key) || c[key].is_null()) return std::vector<int64_t>{dflt, dflt};
  const json& v = c[key];
  if (v.is_number_integer()) return std::vector<int64_t>{v.get<int64_t>(), v.get<int64_t>()};
  if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer())
    return std::vector<int64_t>{v[0].get<int64_t>(), v[1].get<int64_t>()};
  return Status::InvalidArgument(ctx.Where(std::string("config '") + key + "' must be an int or two ints, got " +
                                           v.dump()));
}

Result<std::string> ConfigString(const LayerContext& ctx, const char* key, const std::string& dflt) {
  const json& c = ctx.layer->config;
  if (!c.contains(key) || c[key].is_null()) return dflt;
  if (!c[key].is_string())
    return Status::InvalidArgument(ctx.Where(std::string("config '") + key + "' must be a string, got " +
                                             c[key].dump()));
  return c[key].get<std::string>();
}

Status RequireChannelsLast(const LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(std::string f, ConfigString(ctx, "data_format", "channels_last"));
  if (f != "channels_last")
    return Status::Unsupported(ctx.Where("data_format '" + f + "' (doppel imports channels_last models)"));
  return Status::OK();
}

Result<AxisPlan> PlanAxis(const LayerContext& ctx, int64_t n, int64_t k, int64_t s, int64_t d,
                          const std::string& padding) {
  if (k < 1 || s < 1 || d < 1)
    return Status::InvalidArgument(ctx.Where("kernel, stride and dilation must be >= 1"));
  const int64_t keff = (k - 1) * d + 1;
  AxisPlan p;
  if (padding == "valid") {
    if (n < keff)
      return Status::InvalidArgument(ctx.Where("input size " + std::to_string(n) + " is smaller than the window " +
                                               std::to_string(keff)));
    p.out = (n - keff) / s + 1;
  } else if (padding == "same") {
    p.out = (n + s - 1) / s;
    const int64_t total = std::max<int64_t>((p.out - 1) * s + keff - n, 0);
    p.pad_begin = total / 2;
    p.pad_end = total - p.pad_begin;
  } else {
    return Status::Unsupported(ctx.Where("padding '" + padding + "' (valid or same)"));
  }
  return p;
}

Status EmitActivation(LayerContext& ctx, const std::string& act, const Value& in, const std::string& out) {
  OnnxGraph& g = *ctx.graph;
  const std::string& x = in.name;
  if (act == "linear" || act.empty()) {
    g.Node("Identity", {x}, out);
  } else if (act == "relu") {
    g.Node("Relu", {x}, out);
  } else if (act == "relu6") {
    g.Node("Clip", {x, g.Scalar(out + "/min", 0.0f), g.Scalar(out + "/max", 6.0f)}, out);
  } else if (act == "sigmoid") {
    g.Node("Sigmoid", {x}, out);
  } else if (act == "tanh") {
    g.Node("Tanh", {x}, out);
  } else if (act == "softmax") {
    // Keras: over the last axis, which is ONNX axis 1 for an NCHW tensor.
    OnnxGraph::Attr(g.Node("Softmax", {x}, out), "axis", int64_t{in.shape.size() == 3 ? 1 : -1});
  } else if (act == "softplus") {
    g.Node("Softplus", {x}, out);
  } else if (act == "softsign") {
    g.Node("Softsign", {x}, out);
  } else if (act == "elu") {
    g.Node("Elu", {x}, out);
  } else if (act == "selu") {
    g.Node("Selu", {x}, out);  // ONNX defaults are Keras's alpha and scale
  } else if (act == "hard_sigmoid") {
    onnx::NodeProto* n = g.Node("HardSigmoid", {x}, out);  // Keras 2: clip(0.2 x + 0.5, 0, 1)
    OnnxGraph::Attr(n, "alpha", 0.2f);
    OnnxGraph::Attr(n, "beta", 0.5f);
  } else if (act == "swish" || act == "silu") {
    g.Node("Sigmoid", {x}, out + "/sigmoid");
    g.Node("Mul", {x, out + "/sigmoid"}, out);
  } else if (act == "exponential") {
    g.Node("Exp", {x}, out);
  } else {
    return Status::Unsupported(ctx.Where("activation '" + act + "'"));
  }
  return Status::OK();
}

namespace {

const std::map<std::string, LayerFn>& Registry() {
  static const std::map<std::string, LayerFn> r = {
      {"Conv2D", Conv2DLayer},
      {"Convolution2D", Conv2DLayer},
      {"DepthwiseConv2D", DepthwiseConv2DLayer},
      {"SeparableConv2D", SeparableConv2DLayer},
      {"SeparableConvolution2D", SeparableConv2DLayer},
      {"Dense", DenseLayer},
      {"BatchNormalization", BatchNormalizationLayer},
      {"MaxPooling2D", MaxPooling2DLayer},
      {"MaxPool2D", MaxPooling2DLayer},
      {"AveragePooling2D", AveragePooling2DLayer},
      {"AvgPool2D", AveragePooling2DLayer},
      {"GlobalAveragePooling2D", GlobalAveragePooling2DLayer},
      {"GlobalAvgPool2D", GlobalAveragePooling2DLayer},
      {"GlobalMaxPooling2D", GlobalMaxPooling2DLayer},
      {"GlobalMaxPool2D", GlobalMaxPooling2DLayer},
      {"ZeroPadding2D", ZeroPadding2DLayer},
      {"Activation", ActivationLayer},
      {"ReLU", ReLULayer},
      {"LeakyReLU", LeakyReLULayer},
      {"Softmax", SoftmaxLayer},
      {"Dropout", IdentityLayer},
      {"SpatialDropout2D", IdentityLayer},
      {"GaussianNoise", IdentityLayer},
      {"GaussianDropout", IdentityLayer},
      {"AlphaDropout", IdentityLayer},
      {"ActivityRegularization", IdentityLayer},
      {"Flatten", FlattenLayer},
      {"Reshape", ReshapeLayer},
      {"Concatenate", ConcatenateLayer},
      {"Add", MergeLayer},
      {"Subtract", MergeLayer},
      {"Multiply", MergeLayer},
      {"Average", MergeLayer},
      {"Maximum", MergeLayer},
      {"Minimum", MergeLayer},
  };
  return r;
}

}  // namespace

LayerFn FindLayerFn(const std::string& class_name) {
  auto it = Registry().find(class_name);
  return it == Registry().end() ? nullptr : it->second;
}

std::vector<std::string> SupportedLayerClasses() {
  std::vector<std::string> names{"InputLayer"};
  for (const auto& [name, fn] : Registry()) names.push_back(name);
  return names;
}

}  // namespace doppel::keras
