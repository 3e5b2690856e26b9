// Helpers for the Keras importer tests: a writer of TF.js layers-model folders (model.json + shards, float32 or
// uint8-quantised weights), an ONNX Runtime runner that can fetch intermediate tensors, and layout conversions.
#pragma once

#define ONNX_ML 1
#include <onnx/onnx_pb.h>
#include <onnxruntime_cxx_api.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "support/ort_runner.h"

namespace doppel::keras::testing {

using nlohmann::json;

using doppel::testing::FloatTensor;
using doppel::testing::OrtRunner;

// `model_bytes` with extra graph outputs `names` (any intermediate tensor), so ORT can fetch them.
inline std::string WithOutputs(const std::string& model_bytes, const std::vector<std::string>& names) {
  onnx::ModelProto m;
  m.ParseFromString(model_bytes);
  for (const std::string& n : names) {
    bool present = false;
    for (const auto& o : m.graph().output()) present = present || o.name() == n;
    if (present) continue;
    onnx::ValueInfoProto* v = m.mutable_graph()->add_output();
    v->set_name(n);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }
  std::string out;
  m.SerializeToString(&out);
  return out;
}

// Runs the model on one float input and fetches `outputs` (which must be graph outputs).
inline std::vector<FloatTensor> RunModel(const std::string& model_bytes, const std::string& input_name,
                                         FloatTensor input, const std::vector<std::string>& outputs) {
  return OrtRunner(model_bytes).Run(input_name, std::move(input), outputs);
}

// [N, C, H, W] -> [N, H, W, C]; other ranks unchanged.
inline FloatTensor ToNhwc(const FloatTensor& t) {
  if (t.shape.size() != 4) return t;
  const int64_t n = t.shape[0], c = t.shape[1], h = t.shape[2], w = t.shape[3];
  FloatTensor out{{n, h, w, c}, std::vector<float>(t.data.size())};
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          out.data[((b * h + y) * w + x) * c + ch] = t.data[((b * c + ch) * h + y) * w + x];
  return out;
}

inline std::vector<float> RandomValues(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

inline size_t Count(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

// Builds a TF.js layers-model folder. Layers are added in order with their inbound layer names; weights in a
// manifest with float32 or uint8-quantised storage.
class TfjsModelWriter {
 public:
  explicit TfjsModelWriter(bool quantize = false) : quantize_(quantize) {}

  void Input(const std::string& name, std::vector<int64_t> hwc) {
    input_ = name;
    json shape = json::array({nullptr});
    for (int64_t d : hwc) shape.push_back(d);
    layers_.push_back({{"name", name},
                       {"class_name", "InputLayer"},
                       {"config", {{"batch_input_shape", shape}, {"dtype", "float32"}, {"name", name}}},
                       {"inbound_nodes", json::array()}});
  }

  void Layer(const std::string& name, const std::string& cls, json config, const std::vector<std::string>& inputs) {
    config["name"] = name;
    json call = json::array();
    for (const std::string& in : inputs) call.push_back(json::array({in, 0, 0, json::object()}));
    layers_.push_back({{"name", name}, {"class_name", cls}, {"config", config}, {"inbound_nodes", {call}}});
    last_ = name;
  }

  // Adds weight "<layer>/<name>"; returns the values the model will actually hold (after uint8 rounding).
  std::vector<float> Weight(const std::string& layer, const std::string& name, const std::vector<int64_t>& shape,
                            std::vector<float> values) {
    json w = {{"name", layer + "/" + name}, {"shape", shape}, {"dtype", "float32"}};
    if (quantize_) {
      float lo = values[0], hi = values[0];
      for (float v : values) lo = std::min(lo, v), hi = std::max(hi, v);
      // tfjs-converter's affine uint8 scheme with 0 exactly representable: min = -zp * scale.
      lo = std::min(lo, 0.0f);
      hi = std::max(hi, 0.0f);
      const float scale = hi > lo ? (hi - lo) / 255.0f : 1.0f;
      const float zp = std::round(-lo / scale);
      const float min = -zp * scale;
      w["quantization"] = {{"min", min}, {"scale", scale}, {"dtype", "uint8"}};
      for (float& v : values) {
        const float q = std::clamp(std::round((v - min) / scale), 0.0f, 255.0f);
        bytes_.push_back(static_cast<char>(static_cast<uint8_t>(q)));
        v = q * scale + min;  // what the importer must reconstruct (float(q) * scale + min)
      }
    } else {
      bytes_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
    }
    weights_.push_back(w);
    return values;
  }

  std::vector<float> RandomWeight(const std::string& layer, const std::string& name,
                                  const std::vector<int64_t>& shape, uint32_t seed, float lo = -0.5f,
                                  float hi = 0.5f) {
    return Weight(layer, name, shape, RandomValues(Count(shape), seed, lo, hi));
  }

  // Writes dir/model.json and shards of at most `shard_bytes` bytes each; the output is `output` (default: the last
  // layer added).
  void Write(const std::string& dir, size_t shard_bytes = 1 << 22, std::string output = "") const {
    if (output.empty()) output = last_;
    json paths = json::array();
    const size_t nshards = std::max<size_t>(1, (bytes_.size() + shard_bytes - 1) / shard_bytes);
    for (size_t i = 0; i < nshards; ++i) {
      const std::string name = "group1-shard" + std::to_string(i + 1) + "of" + std::to_string(nshards) + ".bin";
      paths.push_back(name);
      std::ofstream f(dir + "/" + name, std::ios::binary);
      const size_t begin = std::min(bytes_.size(), i * shard_bytes);
      const size_t end = std::min(bytes_.size(), begin + shard_bytes);
      f.write(bytes_.data() + begin, static_cast<std::streamsize>(end - begin));
    }
    json model = {
        {"format", "layers-model"},
        {"generatedBy", "keras v2.2.4"},
        {"convertedBy", "doppel test"},
        {"modelTopology",
         {{"keras_version", "2.2.4"},
          {"backend", "tensorflow"},
          {"model_config",
           {{"class_name", "Model"},
            {"config",
             {{"name", "test_model"},
              {"layers", layers_},
              {"input_layers", json::array({json::array({input_, 0, 0})})},
              {"output_layers", json::array({json::array({output, 0, 0})})}}}}}}},
        {"weightsManifest", json::array({{{"paths", paths}, {"weights", weights_}}})}};
    std::ofstream(dir + "/model.json") << model.dump();
  }

  size_t byte_count() const { return bytes_.size(); }

 private:
  bool quantize_;
  std::string input_, last_;
  json layers_ = json::array();
  json weights_ = json::array();
  std::string bytes_;
};

}  // namespace doppel::keras::testing
