// Layers without weights that are not spatial: activations, identities, Flatten, Reshape and the merge layers.
#include "layers.h"

#include <limits>

namespace doppel::keras {
namespace {

using nlohmann::json;

// Keras axis (counting the batch as 0, negative from the end) of a tensor with Keras shape `shape` -> ONNX axis.
// 3-D tensors are NCHW in ONNX: Keras 1 (H) -> 2, 2 (W) -> 3, 3 (C) -> 1.
Result<int64_t> OnnxAxis(const LayerContext& ctx, int64_t axis, const std::vector<int64_t>& shape) {
  const int64_t rank = static_cast<int64_t>(shape.size()) + 1;
  if (axis < 0) axis += rank;
  if (axis < 1 || axis >= rank)
    return Status::Unsupported(ctx.Where("axis " + std::to_string(axis) + " (must be a non-batch axis)"));
  if (rank == 4) return axis == 3 ? 1 : axis + 1;
  return axis;
}

// To NHWC order (Keras order) if 3-D; otherwise the tensor unchanged.
std::string KerasOrder(LayerContext& ctx, const Value& x) {
  if (x.shape.size() != 3) return x.name;
  const std::string t = ctx.layer->name + "/nhwc";
  OnnxGraph::Attr(ctx.graph->Node("Transpose", {x.name}, t), "perm", std::vector<int64_t>{0, 2, 3, 1});
  return t;
}

}  // namespace

Result<Value> ActivationLayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  DOPPEL_ASSIGN_OR_RETURN(std::string act, ConfigString(ctx, "activation", "linear"));
  DOPPEL_RETURN_IF_ERROR(EmitActivation(ctx, act, x, ctx.layer->name));
  return Value{ctx.layer->name, x.shape};
}

Result<Value> ReLULayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  const json& c = ctx.layer->config;
  auto number = [&](const char* key, double dflt) -> Result<double> {
    if (!c.contains(key) || c[key].is_null()) return dflt;
    if (!c[key].is_number())
      return Status::InvalidArgument(ctx.Where(std::string("config '") + key + "' must be a number"));
    return c[key].get<double>();
  };
  DOPPEL_ASSIGN_OR_RETURN(double max_value, number("max_value", std::numeric_limits<double>::infinity()));
  DOPPEL_ASSIGN_OR_RETURN(double slope, number("negative_slope", 0.0));
  DOPPEL_ASSIGN_OR_RETURN(double threshold, number("threshold", 0.0));
  if (threshold != 0.0) return Status::Unsupported(ctx.Where("threshold " + std::to_string(threshold) + " != 0"));
  OnnxGraph& g = *ctx.graph;
  const std::string& L = ctx.layer->name;
  const bool capped = max_value != std::numeric_limits<double>::infinity();
  if (slope == 0.0) {
    if (capped)  // ReLU(max_value=6) == clip(x, 0, 6)
      g.Node("Clip", {x.name, g.Scalar(L + "/min", 0.0f), g.Scalar(L + "/max", static_cast<float>(max_value))}, L);
    else
      g.Node("Relu", {x.name}, L);
  } else {
    const std::string leaky = capped ? L + "/leaky" : L;
    OnnxGraph::Attr(g.Node("LeakyRelu", {x.name}, leaky), "alpha", static_cast<float>(slope));
    if (capped) g.Node("Clip", {leaky, "", g.Scalar(L + "/max", static_cast<float>(max_value))}, L);
  }
  return Value{L, x.shape};
}

Result<Value> LeakyReLULayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  const json& c = ctx.layer->config;
  double alpha = 0.3;  // Keras 2's default; Keras 3 calls it negative_slope
  for (const char* key : {"alpha", "negative_slope"})
    if (c.contains(key) && c[key].is_number()) alpha = c[key].get<double>();
  OnnxGraph::Attr(ctx.graph->Node("LeakyRelu", {x.name}, ctx.layer->name), "alpha", static_cast<float>(alpha));
  return Value{ctx.layer->name, x.shape};
}

Result<Value> SoftmaxLayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  json axis = ctx.layer->config.value("axis", json(-1));
  if (axis.is_array() && axis.size() == 1) axis = axis[0];
  if (!axis.is_number_integer()) return Status::Unsupported(ctx.Where("axis " + axis.dump()));
  DOPPEL_ASSIGN_OR_RETURN(int64_t a, OnnxAxis(ctx, axis.get<int64_t>(), x.shape));
  OnnxGraph::Attr(ctx.graph->Node("Softmax", {x.name}, ctx.layer->name), "axis", a);
  return Value{ctx.layer->name, x.shape};
}

Result<Value> IdentityLayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  ctx.graph->Node("Identity", {x.name}, ctx.layer->name);
  return Value{ctx.layer->name, x.shape};
}

Result<Value> FlattenLayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  DOPPEL_RETURN_IF_ERROR(RequireChannelsLast(ctx));
  int64_t n = 1;
  for (int64_t d : x.shape) n *= d;
  // Keras flattens in NHWC order; an NCHW tensor is transposed back first unless H = W = 1 (same order then).
  const bool one_pixel = x.shape.size() == 3 && x.shape[0] == 1 && x.shape[1] == 1;
  const std::string in = one_pixel ? x.name : KerasOrder(ctx, x);
  OnnxGraph::Attr(ctx.graph->Node("Flatten", {in}, ctx.layer->name), "axis", int64_t{1});
  return Value{ctx.layer->name, {n}};
}

Result<Value> ReshapeLayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  const json t = ctx.layer->config.value("target_shape", json());
  if (!t.is_array() || t.empty()) return Status::InvalidArgument(ctx.Where("config has no target_shape"));
  int64_t n = 1, known = 1, unknown_at = -1;
  for (int64_t d : x.shape) n *= d;
  std::vector<int64_t> shape;
  for (size_t i = 0; i < t.size(); ++i) {
    if (!t[i].is_number_integer()) return Status::InvalidArgument(ctx.Where("bad target_shape " + t.dump()));
    const int64_t d = t[i].get<int64_t>();
    if (d == -1 && unknown_at < 0) unknown_at = static_cast<int64_t>(i);
    else if (d < 1) return Status::InvalidArgument(ctx.Where("bad target_shape " + t.dump()));
    else known *= d;
    shape.push_back(d);
  }
  if (unknown_at >= 0) {
    if (n % known) return Status::InvalidArgument(ctx.Where("cannot reshape " + ShapeString(x.shape) + " to " + t.dump()));
    shape[unknown_at] = n / known;
    known = n;
  }
  if (known != n) return Status::InvalidArgument(ctx.Where("cannot reshape " + ShapeString(x.shape) + " to " + t.dump()));
  OnnxGraph& g = *ctx.graph;
  const std::string& L = ctx.layer->name;
  const std::string in = KerasOrder(ctx, x);
  std::vector<int64_t> onnx_shape{0};  // 0: copy the batch dimension
  onnx_shape.insert(onnx_shape.end(), shape.begin(), shape.end());
  if (shape.size() != 3) {
    g.Node("Reshape", {in, g.Int64s(L + "/shape", onnx_shape)}, L);
  } else {
    g.Node("Reshape", {in, g.Int64s(L + "/shape", onnx_shape)}, L + "/reshaped");
    OnnxGraph::Attr(g.Node("Transpose", {L + "/reshaped"}, L), "perm", std::vector<int64_t>{0, 3, 1, 2});
  }
  return Value{L, shape};
}

Result<Value> ConcatenateLayer(LayerContext& ctx) {
  if (ctx.inputs.size() < 2) return Status::InvalidArgument(ctx.Where("needs at least 2 inputs"));
  json axis = ctx.layer->config.value("axis", json(-1));
  if (!axis.is_number_integer()) return Status::InvalidArgument(ctx.Where("bad axis " + axis.dump()));
  const std::vector<int64_t>& s0 = ctx.inputs[0].shape;
  DOPPEL_ASSIGN_OR_RETURN(int64_t a, OnnxAxis(ctx, axis.get<int64_t>(), s0));
  int64_t k = axis.get<int64_t>();  // Keras axis without batch, 0-based
  if (k < 0) k += static_cast<int64_t>(s0.size()) + 1;
  k -= 1;
  std::vector<int64_t> shape = s0;
  shape[k] = 0;
  std::vector<std::string> names;
  for (const Value& v : ctx.inputs) {
    bool ok = v.shape.size() == s0.size();
    for (size_t i = 0; ok && i < s0.size(); ++i) ok = static_cast<int64_t>(i) == k || v.shape[i] == s0[i];
    if (!ok)
      return Status::InvalidArgument(ctx.Where("input '" + v.name + "' " + ShapeString(v.shape) +
                                               " does not match " + ShapeString(s0) + " outside the axis"));
    shape[k] += v.shape[k];
    names.push_back(v.name);
  }
  OnnxGraph::Attr(ctx.graph->Node("Concat", names, ctx.layer->name), "axis", a);
  return Value{ctx.layer->name, shape};
}

Result<Value> MergeLayer(LayerContext& ctx) {
  const std::string& cls = ctx.layer->class_name;
  if (ctx.inputs.size() < 2) return Status::InvalidArgument(ctx.Where("needs at least 2 inputs"));
  if (cls == "Subtract" && ctx.inputs.size() != 2) return Status::InvalidArgument(ctx.Where("needs exactly 2 inputs"));
  std::vector<std::string> names;
  for (const Value& v : ctx.inputs) {
    if (v.shape != ctx.inputs[0].shape)
      return Status::Unsupported(ctx.Where("inputs of different shapes " + ShapeString(ctx.inputs[0].shape) + " and " +
                                           ShapeString(v.shape) + " (no broadcasting)"));
    names.push_back(v.name);
  }
  OnnxGraph& g = *ctx.graph;
  const std::string& L = ctx.layer->name;
  if (cls == "Add") g.Node(names.size() == 2 ? "Add" : "Sum", names, L);
  else if (cls == "Subtract") g.Node("Sub", names, L);
  else if (cls == "Average") g.Node("Mean", names, L);
  else if (cls == "Maximum") g.Node("Max", names, L);
  else if (cls == "Minimum") g.Node("Min", names, L);
  else {  // Multiply: a chain of binary Mul
    std::string acc = names[0];
    for (size_t i = 1; i < names.size(); ++i) {
      const std::string out = i + 1 == names.size() ? L : L + "/mul" + std::to_string(i);
      g.Node("Mul", {acc, names[i]}, out);
      acc = out;
    }
  }
  return Value{L, ctx.inputs[0].shape};
}

}  // namespace doppel::keras
