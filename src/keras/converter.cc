#include "converter.h"

#include <map>
#include <set>

#include "layers.h"

namespace doppel::keras {
namespace {

using nlohmann::json;

void SetFloatType(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& shape) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : shape) {
    onnx::TensorShapeProto_Dimension* dim = t->mutable_shape()->add_dim();
    if (d < 0) dim->set_dim_param("N");
    else dim->set_dim_value(d);
  }
}

// ONNX shape of a Value: NCHW for 3-D Keras tensors, else [N, ...].
std::vector<int64_t> OnnxShape(const Value& v) {
  if (v.shape.size() == 3) return {-1, v.shape[2], v.shape[0], v.shape[1]};
  std::vector<int64_t> s{-1};
  s.insert(s.end(), v.shape.begin(), v.shape.end());
  return s;
}

std::string Joined(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// The InputLayer's Keras shape (H, W, C), with `input_size` replacing H and W when set.
Result<std::vector<int64_t>> InputShape(const KerasLayer& in, int input_size, const std::string& where) {
  json shape;
  for (const char* key : {"batch_input_shape", "batch_shape"})
    if (in.config.contains(key)) shape = in.config[key];
  if (!shape.is_array())
    return Status::InvalidArgument(where + ": InputLayer '" + in.name + "' has no batch_input_shape");
  if (shape.size() != 4)
    return Status::Unsupported(where + ": InputLayer '" + in.name + "' has shape " + shape.dump() +
                               "; doppel needs an image input [N, H, W, C]");
  std::vector<int64_t> s;
  for (size_t i = 1; i < 4; ++i) s.push_back(shape[i].is_number_integer() ? shape[i].get<int64_t>() : -1);
  if (input_size > 0) s[0] = s[1] = input_size;
  if (s[0] < 1 || s[1] < 1)
    return Status::InvalidArgument(where + ": InputLayer '" + in.name + "' has no fixed size " + shape.dump() +
                                   "; give an input size");
  if (s[2] != 3)
    return Status::Unsupported(where + ": InputLayer '" + in.name + "' has " + std::to_string(s[2]) +
                               " channels; doppel feeds 3-channel images");
  return s;
}

// Appends global pooling of the NCHW feature map `x` and returns the [N, C] output.
Value PoolInGraph(OnnxGraph& g, const Value& x, const std::string& pool, float p) {
  const std::string out = x.name + "/" + pool;
  if (pool == "gem") {
    // (mean over H, W of max(x, eps)^p)^(1/p), as doppel's engine computes GeM.
    g.Node("Max", {x.name, g.Scalar(out + "/eps", 1e-6f)}, out + "/clamp");
    g.Node("Pow", {out + "/clamp", g.Scalar(out + "/p", p)}, out + "/pow");
    onnx::NodeProto* m = g.Node("ReduceMean", {out + "/pow"}, out + "/mean");
    OnnxGraph::Attr(m, "axes", std::vector<int64_t>{2, 3});
    OnnxGraph::Attr(m, "keepdims", int64_t{0});
    g.Node("Pow", {out + "/mean", g.Scalar(out + "/inv_p", 1.0f / p)}, out);
  } else {
    g.Node(pool == "avg" ? "GlobalAveragePool" : "GlobalMaxPool", {x.name}, out + "/pool");
    OnnxGraph::Attr(g.Node("Flatten", {out + "/pool"}, out), "axis", int64_t{1});
  }
  return Value{out, {x.shape[2]}};
}

}  // namespace

Result<ConvertedModel> ConvertModel(const KerasModel& model, const WeightMap& weights, const ConvertOptions& options,
                                    const std::string& where) {
  if (!options.pool.empty() && options.pool != "avg" && options.pool != "max" && options.pool != "gem")
    return Status::InvalidArgument("pool '" + options.pool + "' (one of: avg, max, gem)");
  if (options.pool == "gem" && !(options.gem_p > 0)) return Status::InvalidArgument("gem_p must be > 0");
  if (options.input_size < 0) return Status::InvalidArgument("input size must be >= 0");

  std::vector<std::string> targets = model.outputs;
  if (!options.tap.empty()) {
    if (!model.Find(options.tap))
      return Status::NotFound(where + ": no layer named '" + options.tap + "' to tap");
    targets = {options.tap};
  }
  // The layers the targets depend on.
  std::set<std::string> needed;
  std::vector<std::string> stack = targets;
  while (!stack.empty()) {
    std::string n = stack.back();
    stack.pop_back();
    if (!needed.insert(n).second) continue;
    for (const std::string& in : model.Find(n)->inputs) stack.push_back(in);
  }
  if (!needed.count(model.input))
    return Status::InvalidArgument(where + ": output '" + targets[0] + "' does not depend on the input");

  ConvertedModel out;
  onnx::ModelProto& m = out.model;
  m.set_ir_version(8);
  m.set_producer_name("doppel keras import");
  m.set_producer_version("0.1.0");
  onnx::OperatorSetIdProto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  onnx::GraphProto* graph = m.mutable_graph();
  graph->set_name("keras");
  OnnxGraph g(graph);

  std::map<std::string, Value> values;
  for (const KerasLayer& layer : model.layers) {
    if (!needed.count(layer.name)) continue;
    if (layer.class_name == "InputLayer") {
      DOPPEL_ASSIGN_OR_RETURN(std::vector<int64_t> s, InputShape(layer, options.input_size, where));
      out.input_name = layer.name;
      out.input_shape = {-1, s[0], s[1], s[2]};
      SetFloatType(graph->add_input(), layer.name, out.input_shape);
      const std::string nchw = layer.name + "/nchw";
      OnnxGraph::Attr(g.Node("Transpose", {layer.name}, nchw), "perm", std::vector<int64_t>{0, 3, 1, 2});
      values[layer.name] = Value{nchw, s};
      out.converted.push_back(&layer);
      continue;
    }
    LayerFn fn = FindLayerFn(layer.class_name);
    if (!fn)
      return Status::Unsupported(where + ": layer '" + layer.name + "' has unsupported class '" + layer.class_name +
                                 "' (supported: " + Joined(SupportedLayerClasses()) + ")");
    LayerContext ctx{&g, &weights, &layer, {}};
    for (const std::string& in : layer.inputs) ctx.inputs.push_back(values.at(in));
    Result<Value> v = fn(ctx);
    if (!v.ok()) return v.status().WithContext(where);
    values[layer.name] = *v;
    out.converted.push_back(&layer);
  }

  // Graph outputs.
  for (size_t i = 0; i < targets.size(); ++i) {
    Value v = values.at(targets[i]);
    if (i == 0 && !options.pool.empty()) {
      if (v.shape.size() != 3)
        return Status::InvalidArgument(where + ": pool '" + options.pool + "' needs a 3-D (H, W, C) output, but '" +
                                       targets[i] + "' is " + ShapeString(v.shape));
      if (options.pool_in_graph) v = PoolInGraph(g, v, options.pool, options.gem_p);
    }
    const std::vector<int64_t> shape = OnnxShape(v);
    SetFloatType(graph->add_output(), v.name, shape);
    if (i == 0) {
      out.output_name = v.name;
      out.output_shape = shape;
      out.output_is_feature_map = v.shape.size() == 3;
    }
  }
  DOPPEL_RETURN_IF_ERROR(g.Check());
  return out;
}

}  // namespace doppel::keras
