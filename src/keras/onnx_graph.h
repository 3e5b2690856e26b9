// A thin writer of ONNX nodes and initializers into a GraphProto. Internal to doppel_keras.
// Invariant: every tensor name it writes (node output or initializer) is unique in the graph; a second write of a
// name is reported by Check() (a converter bug), never silently overwritten.
#pragma once

#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "doppel/util/status.h"

namespace doppel::keras {

class OnnxGraph {
 public:
  explicit OnnxGraph(onnx::GraphProto* graph) : graph_(graph) {}

  // Adds node `op` named `output` with one output tensor `output`.
  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& inputs, const std::string& output);

  // Float initializer of shape `dims` (row-major `values`); returns its name.
  std::string Floats(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values);
  // Float scalar (shape []) / int64 vector initializers.
  std::string Scalar(const std::string& name, float value);
  std::string Int64s(const std::string& name, const std::vector<int64_t>& values);

  static void Attr(onnx::NodeProto* node, const std::string& name, int64_t value);
  static void Attr(onnx::NodeProto* node, const std::string& name, float value);
  static void Attr(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values);

  // Internal if a name was written twice.
  Status Check() const;

 private:
  void Claim(const std::string& name);

  onnx::GraphProto* graph_;
  std::set<std::string> names_;
  std::string duplicate_;
};

}  // namespace doppel::keras
