// KerasModel + WeightMap -> onnx::ModelProto. Internal to doppel_keras; the public entry is import.h.
#pragma once

#include <string>
#include <vector>

#include "keras_model.h"
#include "onnx_graph.h"
#include "weights.h"

namespace doppel::keras {

struct ConvertOptions {
  std::string tap;   // layer name; empty: the model's outputs
  std::string pool;  // "", "avg", "max", "gem"
  float gem_p = 3.0f;
  bool pool_in_graph = false;
  int input_size = 0;  // 0: from the InputLayer
};

struct ConvertedModel {
  onnx::ModelProto model;
  std::string input_name;
  std::vector<int64_t> input_shape;  // [-1, H, W, C]
  std::string output_name;
  std::vector<int64_t> output_shape;  // ONNX shape, -1 for N
  bool output_is_feature_map = false;  // 4-D NCHW output (pooling left to the consumer)
  std::vector<const KerasLayer*> converted;  // in graph order, InputLayer first
};

// Converts the layers the output (tap, or the model outputs) depends on. Errors name the layer at fault; an
// unsupported class is named with the layer and the list of supported classes.
Result<ConvertedModel> ConvertModel(const KerasModel& model, const WeightMap& weights, const ConvertOptions& options,
                                    const std::string& where);

}  // namespace doppel::keras
