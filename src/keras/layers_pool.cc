// Spatial layers without weights: pooling (local and global) and ZeroPadding2D.
//
// TF 'same' pooling pads asymmetrically (the odd cell at the end) and ignores padded cells: ONNX MaxPool never
// sees its pads, AveragePool divides by the real cells with count_include_pad = 0.
#include "layers.h"

namespace doppel::keras {
namespace {

using nlohmann::json;

Result<Value> Pool(LayerContext& ctx, const char* op) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  if (x.shape.size() != 3)
    return Status::InvalidArgument(ctx.Where("needs a 3-D (H, W, C) input, got " + ShapeString(x.shape)));
  DOPPEL_RETURN_IF_ERROR(RequireChannelsLast(ctx));
  DOPPEL_ASSIGN_OR_RETURN(std::vector<int64_t> k, ConfigPair(ctx, "pool_size", 2));
  DOPPEL_ASSIGN_OR_RETURN(std::vector<int64_t> s, ConfigPair(ctx, "strides", 0));
  if (s[0] == 0) s = k;  // Keras: strides None means pool_size
  DOPPEL_ASSIGN_OR_RETURN(std::string padding, ConfigString(ctx, "padding", "valid"));
  DOPPEL_ASSIGN_OR_RETURN(AxisPlan h, PlanAxis(ctx, x.shape[0], k[0], s[0], 1, padding));
  DOPPEL_ASSIGN_OR_RETURN(AxisPlan w, PlanAxis(ctx, x.shape[1], k[1], s[1], 1, padding));
  onnx::NodeProto* n = ctx.graph->Node(op, {x.name}, ctx.layer->name);
  OnnxGraph::Attr(n, "kernel_shape", k);
  OnnxGraph::Attr(n, "strides", s);
  OnnxGraph::Attr(n, "pads", std::vector<int64_t>{h.pad_begin, w.pad_begin, h.pad_end, w.pad_end});
  if (std::string(op) == "AveragePool") OnnxGraph::Attr(n, "count_include_pad", int64_t{0});
  return Value{ctx.layer->name, {h.out, w.out, x.shape[2]}};
}

Result<Value> GlobalPool(LayerContext& ctx, const char* op) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  if (x.shape.size() != 3)
    return Status::InvalidArgument(ctx.Where("needs a 3-D (H, W, C) input, got " + ShapeString(x.shape)));
  DOPPEL_RETURN_IF_ERROR(RequireChannelsLast(ctx));
  const json& c = ctx.layer->config;
  const bool keepdims = c.contains("keepdims") && c["keepdims"].is_boolean() && c["keepdims"].get<bool>();
  const std::string& L = ctx.layer->name;
  if (keepdims) {
    ctx.graph->Node(op, {x.name}, L);
    return Value{L, {1, 1, x.shape[2]}};
  }
  ctx.graph->Node(op, {x.name}, L + "/pool");
  OnnxGraph::Attr(ctx.graph->Node("Flatten", {L + "/pool"}, L), "axis", int64_t{1});
  return Value{L, {x.shape[2]}};
}

}  // namespace

Result<Value> MaxPooling2DLayer(LayerContext& ctx) { return Pool(ctx, "MaxPool"); }
Result<Value> AveragePooling2DLayer(LayerContext& ctx) { return Pool(ctx, "AveragePool"); }
Result<Value> GlobalAveragePooling2DLayer(LayerContext& ctx) { return GlobalPool(ctx, "GlobalAveragePool"); }
Result<Value> GlobalMaxPooling2DLayer(LayerContext& ctx) { return GlobalPool(ctx, "GlobalMaxPool"); }

Result<Value> ZeroPadding2DLayer(LayerContext& ctx) {
  DOPPEL_ASSIGN_OR_RETURN(Value x, ctx.Single());
  if (x.shape.size() != 3)
    return Status::InvalidArgument(ctx.Where("needs a 3-D (H, W, C) input, got " + ShapeString(x.shape)));
  DOPPEL_RETURN_IF_ERROR(RequireChannelsLast(ctx));
  // padding: n | [h, w] | [[top, bottom], [left, right]]
  const json p = ctx.layer->config.value("padding", json(1));
  int64_t t = 0, b = 0, l = 0, r = 0;
  auto bad = [&] { return Status::InvalidArgument(ctx.Where("cannot read padding " + p.dump())); };
  if (p.is_number_integer()) {
    t = b = l = r = p.get<int64_t>();
  } else if (p.is_array() && p.size() == 2 && p[0].is_number_integer() && p[1].is_number_integer()) {
    t = b = p[0].get<int64_t>();
    l = r = p[1].get<int64_t>();
  } else if (p.is_array() && p.size() == 2 && p[0].is_array() && p[1].is_array() && p[0].size() == 2 &&
             p[1].size() == 2) {
    for (const json& v : {p[0][0], p[0][1], p[1][0], p[1][1]})
      if (!v.is_number_integer()) return bad();
    t = p[0][0].get<int64_t>();
    b = p[0][1].get<int64_t>();
    l = p[1][0].get<int64_t>();
    r = p[1][1].get<int64_t>();
  } else {
    return bad();
  }
  if (t < 0 || b < 0 || l < 0 || r < 0) return bad();
  const std::string& L = ctx.layer->name;
  // NCHW pads: [n_begin, c_begin, h_begin, w_begin, n_end, c_end, h_end, w_end]; mode constant, value 0.
  ctx.graph->Node("Pad", {x.name, ctx.graph->Int64s(L + "/pads", {0, 0, t, l, 0, 0, b, r})}, L);
  return Value{L, {x.shape[0] + t + b, x.shape[1] + l + r, x.shape[2]}};
}

}  // namespace doppel::keras
