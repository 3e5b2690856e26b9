#include "doppel/model/graph_edit.h"

#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <unordered_set>

namespace doppel {

Status ParseModelProto(const std::string& bytes, const std::string& name, onnx::ModelProto* model) {
  if (bytes.empty()) return Status::InvalidArgument(name + ": empty file, not an ONNX model");
  if (bytes.size() > size_t(std::numeric_limits<int>::max()))
    return Status::Unsupported(name + ": models over 2 GiB (external data) are not supported");
  if (!model->ParseFromString(bytes) || !model->has_graph())
    return Status::InvalidArgument(name + ": not an ONNX model (protobuf parse failed)");
  return Status::OK();
}

Status CutAtTensor(onnx::ModelProto* model, const std::string& tensor) {
  onnx::GraphProto* g = model->mutable_graph();
  // Find the tensor among node outputs and graph inputs.
  bool found = false;
  for (const auto& in : g->input())
    if (in.name() == tensor) found = true;
  for (const auto& n : g->node())
    for (const auto& o : n.output())
      if (o == tensor) found = true;
  if (!found) {
    std::string some;
    int shown = 0;
    for (int i = g->node_size() - 1; i >= 0 && shown < 8; --i, ++shown)
      some += (some.empty() ? "" : ", ") + std::string("'") + g->node(i).output(0) + "'";
    return Status::NotFound("no tensor named '" + tensor + "' in the model (last node outputs: " + some +
                            "; `doppel model inspect --tensors` lists all)");
  }

  // Its type and shape: from the declared outputs/value_info, else from shape inference.
  onnx::ValueInfoProto out;
  bool typed = false;
  auto take = [&](const google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>& vis) {
    for (const auto& vi : vis)
      if (!typed && vi.name() == tensor && vi.has_type()) {
        out = vi;
        typed = true;
      }
  };
  take(g->output());
  take(g->value_info());
  if (!typed) {
    try {
      onnx::shape_inference::InferShapes(*model);
    } catch (const std::exception&) {
      // Custom or unknown ops: fall back to an untyped-shape float output below.
    }
    take(g->value_info());
  }
  if (!typed) {
    out.set_name(tensor);
    out.mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }

  // Backwards walk from the tensor: keep the nodes it depends on, in their original (topological) order.
  std::unordered_set<std::string> needed{tensor};
  std::vector<bool> keep(g->node_size(), false);
  for (int i = g->node_size() - 1; i >= 0; --i) {
    const auto& n = g->node(i);
    bool produces = false;
    for (const auto& o : n.output())
      if (needed.count(o)) produces = true;
    if (!produces) continue;
    keep[i] = true;
    for (const auto& in : n.input())
      if (!in.empty()) needed.insert(in);
    // Subgraph attributes (If/Loop bodies) may read outer tensors: keep everything they name.
    for (const auto& a : n.attribute()) {
      if (a.has_g()) {
        for (const auto& sn : a.g().node())
          for (const auto& si : sn.input()) needed.insert(si);
      }
    }
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (int i = 0; i < g->node_size(); ++i)
    if (keep[i]) *nodes.Add() = g->node(i);
  g->mutable_node()->Swap(&nodes);

  google::protobuf::RepeatedPtrField<onnx::TensorProto> inits;
  for (auto& t : *g->mutable_initializer())
    if (needed.count(t.name())) inits.Add()->Swap(&t);
  g->mutable_initializer()->Swap(&inits);

  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> inputs;
  for (const auto& in : g->input())
    if (needed.count(in.name())) *inputs.Add() = in;
  g->mutable_input()->Swap(&inputs);

  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> vis;
  for (const auto& vi : g->value_info())
    if (needed.count(vi.name()) && vi.name() != tensor) *vis.Add() = vi;
  g->mutable_value_info()->Swap(&vis);

  g->clear_output();
  *g->add_output() = out;
  return Status::OK();
}

}  // namespace doppel
