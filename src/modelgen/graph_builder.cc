#include "graph_builder.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "weight_rng.h"

namespace doppel::modelgen {
namespace {

// TensorProto.raw_data is little-endian; floats are copied as they lie in memory.
static_assert(std::endian::native == std::endian::little, "raw_data needs a little-endian host");

void SetInts(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void SetInt(onnx::NodeProto* node, const std::string& name, int64_t value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void SetFloat(onnx::NodeProto* node, const std::string& name, float value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

// He uniform bound: U(-b, b) has variance b^2 / 3 = 2 / fan_in, which keeps the second moment of activations
// through Conv + ReLU.
float HeBound(int64_t fan_in) { return static_cast<float>(std::sqrt(6.0 / static_cast<double>(fan_in))); }

}  // namespace

GraphBuilder::GraphBuilder(onnx::GraphProto* graph, uint64_t seed, double width_multiplier)
    : graph_(graph), seed_(seed), width_multiplier_(width_multiplier) {}

int GraphBuilder::Width(int channels) const {
  return std::max(8, static_cast<int>(std::lround(channels * width_multiplier_)));
}

onnx::NodeProto* GraphBuilder::AddNode(const std::string& op, const std::string& name,
                                       const std::vector<std::string>& inputs) {
  onnx::NodeProto* node = graph_->add_node();
  node->set_op_type(op);
  node->set_name(name);
  for (const std::string& in : inputs) node->add_input(in);
  node->add_output(name);
  return node;
}

std::string GraphBuilder::AddUniform(const std::string& layer, const std::string& param,
                                     const std::vector<int64_t>& dims, float lo, float hi) {
  const std::string name = layer + "/" + param;
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  int64_t count = 1;
  for (int64_t d : dims) {
    t->add_dims(d);
    count *= d;
  }
  WeightRng rng(seed_, name);
  std::string* raw = t->mutable_raw_data();
  raw->resize(static_cast<size_t>(count) * sizeof(float));
  char* out = raw->data();
  for (int64_t i = 0; i < count; ++i) {
    const float v = rng.Uniform(lo, hi);
    std::memcpy(out + i * sizeof(float), &v, sizeof(float));
  }
  return name;
}

Tensor GraphBuilder::Conv(const std::string& name, const Tensor& x, int cout, int kernel, int stride, int pad,
                          bool bias) {
  const float b = HeBound(static_cast<int64_t>(x.channels) * kernel * kernel);
  std::vector<std::string> inputs = {x.name, AddUniform(name, "kernel", {cout, x.channels, kernel, kernel}, -b, b)};
  if (bias) inputs.push_back(AddUniform(name, "bias", {cout}, -0.01f, 0.01f));
  onnx::NodeProto* node = AddNode("Conv", name, inputs);
  SetInts(node, "kernel_shape", {kernel, kernel});
  SetInts(node, "strides", {stride, stride});
  SetInts(node, "pads", {pad, pad, pad, pad});
  SetInts(node, "dilations", {1, 1});
  SetInt(node, "group", 1);
  return {name, cout};
}

Tensor GraphBuilder::BatchNorm(const std::string& name, const Tensor& x, float gamma_lo, float gamma_hi) {
  const int64_t c = x.channels;
  onnx::NodeProto* node = AddNode("BatchNormalization", name,
                                  {x.name, AddUniform(name, "gamma", {c}, gamma_lo, gamma_hi),
                                   AddUniform(name, "beta", {c}, -0.1f, 0.1f),
                                   AddUniform(name, "moving_mean", {c}, -0.1f, 0.1f),
                                   AddUniform(name, "moving_variance", {c}, 0.8f, 1.2f)});
  SetFloat(node, "epsilon", 1.001e-5f);
  return {name, x.channels};
}

Tensor GraphBuilder::Relu(const std::string& name, const Tensor& x) {
  AddNode("Relu", name, {x.name});
  return {name, x.channels};
}

Tensor GraphBuilder::MaxPool(const std::string& name, const Tensor& x, int kernel, int stride, int pad) {
  onnx::NodeProto* node = AddNode("MaxPool", name, {x.name});
  SetInts(node, "kernel_shape", {kernel, kernel});
  SetInts(node, "strides", {stride, stride});
  SetInts(node, "pads", {pad, pad, pad, pad});
  return {name, x.channels};
}

Tensor GraphBuilder::Add(const std::string& name, const Tensor& a, const Tensor& b) {
  AddNode("Add", name, {a.name, b.name});
  return {name, a.channels};
}

Tensor GraphBuilder::GlobalMaxPool(const std::string& name, const Tensor& x) {
  AddNode("GlobalMaxPool", name, {x.name});
  return {name, x.channels};
}

Tensor GraphBuilder::GlobalAveragePool(const std::string& name, const Tensor& x) {
  AddNode("GlobalAveragePool", name, {x.name});
  return {name, x.channels};
}

Tensor GraphBuilder::Flatten(const std::string& name, const Tensor& x, int channels) {
  SetInt(AddNode("Flatten", name, {x.name}), "axis", 1);
  return {name, channels};
}

Tensor GraphBuilder::Transpose(const std::string& name, const Tensor& x, const std::vector<int64_t>& perm) {
  SetInts(AddNode("Transpose", name, {x.name}), "perm", perm);
  return {name, x.channels};
}

Tensor GraphBuilder::Gemm(const std::string& name, const Tensor& x, int out) {
  const float b = HeBound(x.channels);
  onnx::NodeProto* node = AddNode("Gemm", name,
                                  {x.name, AddUniform(name, "kernel", {out, x.channels}, -b, b),
                                   AddUniform(name, "bias", {out}, -0.01f, 0.01f)});
  SetInt(node, "transB", 1);
  return {name, out};
}

}  // namespace doppel::modelgen
