// Layers with weights: Conv2D, DepthwiseConv2D, SeparableConv2D, Dense, BatchNormalization.
//
// Kernel layouts (Keras -> ONNX):
//   Conv2D kernel [kh, kw, cin/groups, cout] (HWIO)  -> W[o, i, y, x] = K[y, x, i, o]            (OIHW)
//   depthwise_kernel [kh, kw, C, M]                  -> W[c*M + m, 0, y, x] = K[y, x, c, m], group = C
//   Dense kernel [in, out]                           -> Gemm B as is; on a 3-D tensor a 1x1 Conv W[o, i, 0, 0] = K[i, o]
#include "layers.h"

namespace doppel::keras {
namespace {

using nlohmann::json;

Result<Value> Image(const LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  if (x.shape.size() != 3)
    return Status::InvalidArgument(ctx.Where("needs a 3-D (H, W, C) input, got " + ShapeString(x.shape)));
  return x;
}

struct ConvPlan {
  int64_t kh = 1, kw = 1;
  std::vector<int64_t> strides, dilations;
  AxisPlan h, w;
  std::vector<int64_t> Pads() const { return {h.pad_begin, w.pad_begin, h.pad_end, w.pad_end}; }
};

Result<ConvPlan> PlanConv(const LayerContext& ctx, const Value& x) {
  DOPPEL_RETURN_IF_ERROR(RequireChannelsLast(ctx));
  ConvPlan p;
  DOPPEL_ASSIGN_OR_RETURN(std::vector<int64_t> k, ConfigPair(ctx, "kernel_size", 1));
  DOPPEL_ASSIGN_OR_RETURN(p.strides, ConfigPair(ctx, "strides", 1));
  DOPPEL_ASSIGN_OR_RETURN(p.dilations, ConfigPair(ctx, "dilation_rate", 1));
  DOPPEL_ASSIGN_OR_RETURN(std::string padding, ConfigString(ctx, "padding", "valid"));
  p.kh = k[0];
  p.kw = k[1];
  DOPPEL_ASSIGN_OR_RETURN(p.h, PlanAxis(ctx, x.shape[0], p.kh, p.strides[0], p.dilations[0], padding));
  DOPPEL_ASSIGN_OR_RETURN(p.w, PlanAxis(ctx, x.shape[1], p.kw, p.strides[1], p.dilations[1], padding));
  return p;
}

void SetConvAttrs(onnx::NodeProto* n, const ConvPlan& p, int64_t group) {
  OnnxGraph::Attr(n, "kernel_shape", std::vector<int64_t>{p.kh, p.kw});
  OnnxGraph::Attr(n, "strides", p.strides);
  OnnxGraph::Attr(n, "dilations", p.dilations);
  OnnxGraph::Attr(n, "pads", p.Pads());  // [top, left, bottom, right]: TF 'same' puts the odd pixel at the end
  OnnxGraph::Attr(n, "group", group);
}

std::vector<float> HwioToOihw(const WeightTensor& k) {
  const int64_t kh = k.shape[0], kw = k.shape[1], ci = k.shape[2], co = k.shape[3];
  std::vector<float> w(k.data.size());
  for (int64_t y = 0; y < kh; ++y)
    for (int64_t x = 0; x < kw; ++x)
      for (int64_t i = 0; i < ci; ++i)
        for (int64_t o = 0; o < co; ++o) w[((o * ci + i) * kh + y) * kw + x] = k.data[((y * kw + x) * ci + i) * co + o];
  return w;
}

std::vector<float> DepthwiseToOihw(const WeightTensor& k) {
  const int64_t kh = k.shape[0], kw = k.shape[1], c = k.shape[2], m = k.shape[3];
  std::vector<float> w(k.data.size());
  for (int64_t y = 0; y < kh; ++y)
    for (int64_t x = 0; x < kw; ++x)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t j = 0; j < m; ++j) w[((ch * m + j) * kh + y) * kw + x] = k.data[((y * kw + x) * c + ch) * m + j];
  return w;
}

bool UseBias(const LayerContext& ctx) {
  const json& c = ctx.layer->config;
  return !c.contains("use_bias") || !c["use_bias"].is_boolean() || c["use_bias"].get<bool>();
}

// Writes `op_out` for the linear part, then the activation as the layer's tensor.
Result<std::string> LinearOut(const LayerContext& ctx, std::string* activation) {
  DOPPEL_ASSIGN_OR_RETURN(*activation, ConfigString(ctx, "activation", "linear"));
  return *activation == "linear" ? ctx.layer->name : ctx.layer->name + "/linear";
}

Result<Value> Finish(LayerContext& ctx, const std::string& activation, const std::string& linear,
                     std::vector<int64_t> shape) {
  Value v{ctx.layer->name, std::move(shape)};
  if (activation != "linear") DOPPEL_RETURN_IF_ERROR(EmitActivation(ctx, activation, Value{linear, v.shape}, v.name));
  return v;
}

Result<int64_t> PositiveInt(const LayerContext& ctx, const char* key, int64_t dflt) {
  const json& c = ctx.layer->config;
  if (!c.contains(key) || c[key].is_null()) return dflt;
  if (!c[key].is_number_integer() || c[key].get<int64_t>() < 1)
    return Status::InvalidArgument(ctx.Where(std::string("config '") + key + "' must be a positive integer, got " +
                                             c[key].dump()));
  return c[key].get<int64_t>();
}

}  // namespace

Result<Value> Conv2DLayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, Image(ctx));
  DOPPEL_ASSIGN_OR_RETURN(ConvPlan p, PlanConv(ctx, x));
  if (!ctx.layer->config.contains("filters")) return Status::InvalidArgument(ctx.Where("config has no 'filters'"));
  DOPPEL_ASSIGN_OR_RETURN(int64_t filters, PositiveInt(ctx, "filters", 0));
  DOPPEL_ASSIGN_OR_RETURN(int64_t groups, PositiveInt(ctx, "groups", 1));
  const int64_t cin = x.shape[2];
  if (cin % groups || filters % groups)
    return Status::InvalidArgument(ctx.Where("groups " + std::to_string(groups) + " does not divide channels"));
  DOPPEL_ASSIGN_OR_RETURN(const WeightTensor* k, ctx.Weight("kernel", {p.kh, p.kw, cin / groups, filters}));
  std::string act;
  DOPPEL_ASSIGN_OR_RETURN(std::string out, LinearOut(ctx, &act));
  OnnxGraph& g = *ctx.graph;
  const std::string& L = ctx.layer->name;
  std::vector<std::string> ins = {x.name, g.Floats(L + "/kernel", {filters, cin / groups, p.kh, p.kw}, HwioToOihw(*k))};
  if (UseBias(ctx)) {
    DOPPEL_ASSIGN_OR_RETURN(const WeightTensor* b, ctx.Weight("bias", {filters}));
    ins.push_back(g.Floats(L + "/bias", {filters}, b->data));
  }
  SetConvAttrs(g.Node("Conv", ins, out), p, groups);
  return Finish(ctx, act, out, {p.h.out, p.w.out, filters});
}

Result<Value> DepthwiseConv2DLayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, Image(ctx));
  DOPPEL_ASSIGN_OR_RETURN(ConvPlan p, PlanConv(ctx, x));
  DOPPEL_ASSIGN_OR_RETURN(int64_t m, PositiveInt(ctx, "depth_multiplier", 1));
  const int64_t c = x.shape[2];
  DOPPEL_ASSIGN_OR_RETURN(const WeightTensor* k, ctx.Weight("depthwise_kernel", {p.kh, p.kw, c, m}));
  std::string act;
  DOPPEL_ASSIGN_OR_RETURN(std::string out, LinearOut(ctx, &act));
  OnnxGraph& g = *ctx.graph;
  const std::string& L = ctx.layer->name;
  std::vector<std::string> ins = {x.name, g.Floats(L + "/depthwise_kernel", {c * m, 1, p.kh, p.kw}, DepthwiseToOihw(*k))};
  if (UseBias(ctx)) {
    DOPPEL_ASSIGN_OR_RETURN(const WeightTensor* b, ctx.Weight("bias", {c * m}));
    ins.push_back(g.Floats(L + "/bias", {c * m}, b->data));
  }
  SetConvAttrs(g.Node("Conv", ins, out), p, c);
  return Finish(ctx, act, out, {p.h.out, p.w.out, c * m});
}

Result<Value> SeparableConv2DLayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, Image(ctx));
  DOPPEL_ASSIGN_OR_RETURN(ConvPlan p, PlanConv(ctx, x));
  DOPPEL_ASSIGN_OR_RETURN(int64_t m, PositiveInt(ctx, "depth_multiplier", 1));
  if (!ctx.layer->config.contains("filters")) return Status::InvalidArgument(ctx.Where("config has no 'filters'"));
  DOPPEL_ASSIGN_OR_RETURN(int64_t filters, PositiveInt(ctx, "filters", 0));
  const int64_t c = x.shape[2];
  DOPPEL_ASSIGN_OR_RETURN(const WeightTensor* dk, ctx.Weight("depthwise_kernel", {p.kh, p.kw, c, m}));
  DOPPEL_ASSIGN_OR_RETURN(const WeightTensor* pk, ctx.Weight("pointwise_kernel", {1, 1, c * m, filters}));
  std::string act;
  DOPPEL_ASSIGN_OR_RETURN(std::string out, LinearOut(ctx, &act));
  OnnxGraph& g = *ctx.graph;
  const std::string& L = ctx.layer->name;
  const std::string dw = L + "/depthwise";
  SetConvAttrs(g.Node("Conv", {x.name, g.Floats(L + "/depthwise_kernel", {c * m, 1, p.kh, p.kw}, DepthwiseToOihw(*dk))}, dw),
               p, c);
  std::vector<std::string> ins = {dw, g.Floats(L + "/pointwise_kernel", {filters, c * m, 1, 1}, HwioToOihw(*pk))};
  if (UseBias(ctx)) {
    DOPPEL_ASSIGN_OR_RETURN(const WeightTensor* b, ctx.Weight("bias", {filters}));
    ins.push_back(g.Floats(L + "/bias", {filters}, b->data));
  }
  g.Node("Conv", ins, out);
  return Finish(ctx, act, out, {p.h.out, p.w.out, filters});
}

Result<Value> DenseLayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  if (x.shape.empty()) return Status::InvalidArgument(ctx.Where("input has no feature axis"));
  if (!ctx.layer->config.contains("units")) return Status::InvalidArgument(ctx.Where("config has no 'units'"));
  DOPPEL_ASSIGN_OR_RETURN(int64_t units, PositiveInt(ctx, "units", 0));
  const int64_t in = x.shape.back();
  DOPPEL_ASSIGN_OR_RETURN(const WeightTensor* k, ctx.Weight("kernel", {in, units}));
  const WeightTensor* b = nullptr;
  if (UseBias(ctx)) {
    DOPPEL_ASSIGN_OR_RETURN(b, ctx.Weight("bias", {units}));
  }
  std::string act;
  DOPPEL_ASSIGN_OR_RETURN(std::string out, LinearOut(ctx, &act));
  OnnxGraph& g = *ctx.graph;
  const std::string& L = ctx.layer->name;
  std::vector<int64_t> shape = x.shape;
  shape.back() = units;
  if (x.shape.size() == 1) {
    std::vector<std::string> ins = {x.name, g.Floats(L + "/kernel", {in, units}, k->data)};
    if (b) ins.push_back(g.Floats(L + "/bias", {units}, b->data));
    g.Node("Gemm", ins, out);
  } else if (x.shape.size() == 3) {
    // Dense on (H, W, C) acts on C at every pixel: a 1x1 convolution on the NCHW tensor.
    std::vector<float> w(k->data.size());
    for (int64_t i = 0; i < in; ++i)
      for (int64_t o = 0; o < units; ++o) w[o * in + i] = k->data[i * units + o];
    std::vector<std::string> ins = {x.name, g.Floats(L + "/kernel", {units, in, 1, 1}, w)};
    if (b) ins.push_back(g.Floats(L + "/bias", {units}, b->data));
    g.Node("Conv", ins, out);
  } else {
    const std::string mm = b ? L + "/matmul" : out;
    g.Node("MatMul", {x.name, g.Floats(L + "/kernel", {in, units}, k->data)}, mm);
    if (b) g.Node("Add", {mm, g.Floats(L + "/bias", {units}, b->data)}, out);
  }
  return Finish(ctx, act, out, shape);
}

Result<Value> BatchNormalizationLayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  const json& c = ctx.layer->config;
  const int64_t rank = static_cast<int64_t>(x.shape.size()) + 1;  // with batch
  // axis: an int or a one-element list; it must be the channel (last) axis.
  json axis = c.value("axis", json(-1));
  if (axis.is_array() && axis.size() == 1) axis = axis[0];
  if (!axis.is_number_integer())
    return Status::Unsupported(ctx.Where("axis " + axis.dump() + " (only the channel axis)"));
  int64_t a = axis.get<int64_t>();
  if (a < 0) a += rank;
  if (a != rank - 1) return Status::Unsupported(ctx.Where("axis " + axis.dump() + " is not the channel axis"));
  if (x.shape.size() != 1 && x.shape.size() != 3)
    return Status::Unsupported(ctx.Where("input of shape " + ShapeString(x.shape) + " (needs (F) or (H, W, C))"));
  const int64_t ch = x.shape.back();
  const bool center = c.value("center", true), scale = c.value("scale", true);
  if (!c.contains("epsilon") || !c["epsilon"].is_number())
    return Status::InvalidArgument(ctx.Where("config has no numeric 'epsilon'"));
  const float eps = c["epsilon"].get<float>();
  OnnxGraph& g = *ctx.graph;
  const std::string& L = ctx.layer->name;
  std::vector<float> gamma(ch, 1.0f), beta(ch, 0.0f);
  if (scale) {
    DOPPEL_ASSIGN_OR_RETURN(const WeightTensor* t, ctx.Weight("gamma", {ch}));
    gamma = t->data;
  }
  if (center) {
    DOPPEL_ASSIGN_OR_RETURN(const WeightTensor* t, ctx.Weight("beta", {ch}));
    beta = t->data;
  }
  DOPPEL_ASSIGN_OR_RETURN(const WeightTensor* mean, ctx.Weight("moving_mean", {ch}));
  DOPPEL_ASSIGN_OR_RETURN(const WeightTensor* var, ctx.Weight("moving_variance", {ch}));
  onnx::NodeProto* n = g.Node("BatchNormalization",
                              {x.name, g.Floats(L + "/gamma", {ch}, gamma), g.Floats(L + "/beta", {ch}, beta),
                               g.Floats(L + "/moving_mean", {ch}, mean->data),
                               g.Floats(L + "/moving_variance", {ch}, var->data)},
                              L);
  OnnxGraph::Attr(n, "epsilon", eps);  // never ONNX's default 1e-5: Keras's is 1e-3
  return Value{L, x.shape};
}

}  // namespace doppel::keras
