// Keras -> ONNX importer: turns a Keras model (TensorFlow.js layers-model folder, or a Keras HDF5 file written by
// model.save()) into an ONNX model doppel can embed with, plus its preprocessing sidecar.
//
// The ONNX graph (IR 8, opset 13):
//   - one float input named after the Keras InputLayer, NHWC [N, H, W, C] with N symbolic ("N"), as tf2onnx does;
//   - one Transpose to NCHW; every 3-D Keras tensor (H, W, C) is NCHW from there on, every other rank keeps the
//     Keras (channels-last) order;
//   - each Keras layer L writes its output tensor "L" (its last node is named "L"), so a tap or doppel's spec
//     `output` can name any layer; helper tensors are "L/<what>"; weights are initializers "L/<weight>";
//   - only the layers the output depends on are converted (a tap cuts the model there; layers after it may be of an
//     unsupported class).
// See docs/KERAS_IMPORT.md for the layer mapping.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "doppel/util/status.h"

namespace doppel::keras {

struct KerasImportOptions {
  // The layer whose output becomes the model output; empty: the model's own output layer(s).
  std::string tap;
  // Global pooling of a 4-D output, to turn a feature map into an embedding: "", "avg", "max", "gem".
  std::string pool;
  float gem_p = 3.0f;
  // false (default): the ONNX output stays the 4-D NCHW feature map and the pooling is written into the sidecar
  //   (spec keys pool, gem_p, output_layout "nchw"); doppel's engine pools, and the pooling can be changed later
  //   without re-importing.
  // true: pooling nodes are added to the graph (GlobalAveragePool / GlobalMaxPool / GeM as
  //   Max(x, 1e-6) -> Pow(p) -> ReduceMean -> Pow(1/p), then Flatten); output "<tap>/<pool>" [N, C], spec pool none.
  bool pool_in_graph = false;
  // Square input side; 0: the InputLayer's. Needed when the model's input size is not fixed.
  int input_size = 0;

  // Preprocessing written to the sidecar. With `preset` set (e.g. "keras-tf"), the sidecar says {"preset": ...}
  // plus width/height, and the fields below are not written.
  std::string preset;
  float scale = 1.0f / 255.0f;
  float mean[3] = {0, 0, 0};
  float std[3] = {1, 1, 1};
  std::string channel_order = "rgb";
  std::string resize = "stretch";
  std::string interpolation = "bilinear";
  // Written as the spec key "shrink_on_load" when true (JPEGs decoded at the smallest DCT scale the resize allows).
  bool shrink_on_load = false;
  // With shrink_on_load: more formats that shrink ("webp", "heif"); the key is then the list ["jpeg", ...].
  std::vector<std::string> shrink_formats;

  // Extra ModelProto metadata_props (provenance, licences); the importer adds its own "doppel.keras.*" entries.
  std::vector<std::pair<std::string, std::string>> metadata;
};

// What a conversion produced.
struct KerasImportResult {
  std::string model_bytes;            // serialized onnx::ModelProto
  std::string sidecar_json;           // the <name>.doppel.json text
  std::string input_name;             // e.g. "input_1"
  std::vector<int64_t> input_shape;   // [-1, H, W, C]
  std::string output_name;            // the tensor doppel embeds with
  std::vector<int64_t> output_shape;  // ONNX shape, -1 for N
  int layers_converted = 0;
};

// Converts without writing anything. `src`: a model.json, a folder holding model.json, or a Keras HDF5 file.
Result<KerasImportResult> ConvertKeras(const std::string& src, const KerasImportOptions& options);

// ConvertKeras, then writes `out_onnx` and its sidecar (out_onnx with ".onnx" replaced by ".doppel.json").
// Both files are written to a temporary name and renamed, so neither is ever half-written.
Status ImportKeras(const std::string& src, const std::string& out_onnx, const KerasImportOptions& options);

// The sidecar path of a model file: "dir/name.onnx" -> "dir/name.doppel.json" (as doppel::SidecarPath).
std::string KerasSidecarPath(const std::string& onnx_path);

// The built-in pretrained models from the npm package nsfwjs 4.4.0 (see scripts/fetch-nsfwjs.sh).
struct BuiltinKerasModel {
  std::string name;       // "mobilenet_v2", "inception_v3"
  std::string subfolder;  // the layers-model folder under the nsfwjs folder, e.g. "mobilenet_v2"
  KerasImportOptions options;  // tap, pool, preprocessing, provenance metadata
};
std::vector<std::string> BuiltinKerasModelNames();  // default first
Result<BuiltinKerasModel> BuiltinKeras(const std::string& name);

}  // namespace doppel::keras
