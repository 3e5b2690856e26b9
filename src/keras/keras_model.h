// The Keras model graph as the importer sees it: layers in topological order, each with its class, config and the
// names of the layers feeding it. Parsed from a Keras `model_config` JSON ({"class_name": "Model" | "Functional" |
// "Sequential", "config": ...}), which both the TF.js layers-model format (modelTopology) and Keras HDF5 files
// (the model_config attribute) carry. Internal to doppel_keras.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "doppel/util/status.h"

namespace doppel::keras {

struct KerasLayer {
  std::string name;
  std::string class_name;
  nlohmann::json config;
  // Names of the input layers, in call order (Add/Concatenate order matters). Empty for the InputLayer.
  std::vector<std::string> inputs;
};

// Invariants: layers are in topological order (every input precedes its consumer); names are unique; exactly one
// InputLayer; outputs name existing layers.
struct KerasModel {
  std::vector<KerasLayer> layers;
  std::string input;                 // the InputLayer's name
  std::vector<std::string> outputs;  // the model's output layers
  std::string keras_version;         // "" if unknown

  const KerasLayer* Find(const std::string& name) const;
};

// `model_config`: the {"class_name", "config"} object. `where` names the file for error messages.
Result<KerasModel> ParseModelConfig(const nlohmann::json& model_config, const std::string& where);

}  // namespace doppel::keras
