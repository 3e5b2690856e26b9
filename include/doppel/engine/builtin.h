// The built-in pretrained models: built from the Keras models of the npm package nsfwjs 4.4.0 (fetched by
// scripts/bootstrap.sh into third_party/nsfwjs) with the Keras importer, then registered like any other model.
// Their lower layers are ImageNet weights (uint8-quantised); see README.md and docs/KERAS_IMPORT.md.
#pragma once

#include <string>
#include <vector>

#include "doppel/engine/engine.h"

namespace doppel {

// The folder holding nsfwjs's layers-models: $DOPPEL_NSFWJS_DIR if set, else third_party/nsfwjs of the source
// tree doppel was built from.
std::string NsfwjsDir();

// The built-in default model: what a new data directory gets on its first index, and the default model after the
// default was removed.
inline constexpr char kBuiltinDefaultModel[] = "mobilenet_v2";

// "mobilenet_v2" (the default model), "inception_v3".
std::vector<std::string> BuiltinModelNames();

// Imports the built-in model `name` and registers it in `engine` under the same name. NotFound with a hint to run
// scripts/bootstrap.sh when the nsfwjs folder is missing.
Result<ModelEntry> AddBuiltinModel(Engine& engine, const std::string& name, const AddModelOptions& options = {});

// Imports the built-in model `name` to `onnx_path` (with its sidecar) without registering it, and loads it.
// `input_size` > 0 imports the same network and weights at another square input side (the spec's size follows): how
// `doppel eval --multi-scale` measures multi-scale pooling. Errors as AddBuiltinModel.
Result<std::shared_ptr<OnnxModel>> ImportBuiltinModel(const std::string& name, const std::string& onnx_path,
                                                      int input_size = 0);

}  // namespace doppel
