// Keras layer weights as float32 arrays, looked up by "<layer>/<weight>" (e.g. "Conv1/kernel",
// "bn_Conv1/moving_variance"). Loaded from a TF.js weightsManifest + binary shards, or from a Keras HDF5 file
// (hdf5_reader.h). Internal to doppel_keras.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "doppel/util/status.h"

namespace doppel::keras {

// Invariant: data.size() == product of shape (1 for a scalar). Row-major, in Keras layout (e.g. Conv2D HWIO).
struct WeightTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

class WeightMap {
 public:
  // `name` is "<layer>/<weight>"; a trailing ":0" (HDF5 / TF variable names) is dropped.
  Status Add(std::string name, WeightTensor t);
  // The weight `weight` of `layer`: the entry "<layer>/<weight>", or the only entry ending in "/<layer>/<weight>"
  // (names with an outer scope). nullptr if absent.
  const WeightTensor* Find(const std::string& layer, const std::string& weight) const;
  size_t size() const { return map_.size(); }
  const std::map<std::string, WeightTensor>& all() const { return map_; }

  // How the weights were stored before decoding to float32 ("float32", "uint8", "uint16", "float16", ...).
  std::set<std::string> stored_dtypes;

 private:
  std::map<std::string, WeightTensor> map_;
};

// "[3, 3, 32, 64]"
std::string ShapeString(const std::vector<int64_t>& shape);

// Reads every group of a TF.js `weightsManifest` ([{paths: [...], weights: [{name, shape, dtype, quantization?}]}])
// whose shard files lie in `dir`. Per group the shards are concatenated in `paths` order and the tensors lie back
// to back in manifest order, each taking prod(shape) * sizeof(stored dtype) bytes. Stored dtypes: float32, int32,
// and the quantised uint8 / uint16 (value = min + scale * q, tfjs-core's rule) and float16.
// Errors: a missing shard (NotFound, naming the file); a tensor that does not fit in the group's bytes (Corruption,
// naming the shard file where the bytes run out and the tensor); bytes left over after the last tensor (Corruption).
Result<WeightMap> LoadTfjsWeights(const nlohmann::json& manifest, const std::string& dir);

}  // namespace doppel::keras
