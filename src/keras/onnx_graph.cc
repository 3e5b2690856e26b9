#include "onnx_graph.h"

#include <bit>

namespace doppel::keras {

// TensorProto.raw_data is little-endian; values are copied as they lie in memory.
static_assert(std::endian::native == std::endian::little, "raw_data needs a little-endian host");

void OnnxGraph::Claim(const std::string& name) {
  if (!names_.insert(name).second && duplicate_.empty()) duplicate_ = name;
}

onnx::NodeProto* OnnxGraph::Node(const std::string& op, const std::vector<std::string>& inputs,
                                 const std::string& output) {
  Claim(output);
  onnx::NodeProto* node = graph_->add_node();
  node->set_op_type(op);
  node->set_name(output);
  for (const std::string& in : inputs) node->add_input(in);
  node->add_output(output);
  return node;
}

std::string OnnxGraph::Floats(const std::string& name, const std::vector<int64_t>& dims,
                              const std::vector<float>& values) {
  Claim(name);
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(values.data(), values.size() * sizeof(float));
  return name;
}

std::string OnnxGraph::Scalar(const std::string& name, float value) { return Floats(name, {}, {value}); }

std::string OnnxGraph::Int64s(const std::string& name, const std::vector<int64_t>& values) {
  Claim(name);
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  t->set_raw_data(values.data(), values.size() * sizeof(int64_t));
  return name;
}

void OnnxGraph::Attr(onnx::NodeProto* node, const std::string& name, int64_t value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void OnnxGraph::Attr(onnx::NodeProto* node, const std::string& name, float value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

void OnnxGraph::Attr(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

Status OnnxGraph::Check() const {
  if (!duplicate_.empty()) return Status::Internal("ONNX tensor name '" + duplicate_ + "' written twice");
  return Status::OK();
}

}  // namespace doppel::keras
