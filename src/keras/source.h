// Readers of the two Keras containers: a TF.js layers-model (model.json + binary shards) and a Keras HDF5 file.
// Both yield the Keras model_config JSON and the weights. Internal to doppel_keras.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "doppel/util/status.h"
#include "weights.h"

namespace doppel::keras {

struct KerasSource {
  nlohmann::json model_config;  // {"class_name": ..., "config": ...}
  WeightMap weights;
  std::string keras_version;  // "" if the file does not say
  std::string format;         // "tfjs-layers-model" or "keras-hdf5"
};

// `path`: a model.json. Its shards are read from the same folder.
Result<KerasSource> ReadTfjsModel(const std::string& path);
// `path`: an HDF5 file written by Keras model.save() (root attribute model_config, group model_weights).
Result<KerasSource> ReadHdf5Model(const std::string& path);
// True if `path` starts with the HDF5 signature.
bool IsHdf5File(const std::string& path);

}  // namespace doppel::keras
