// TF.js layers-model: model.json = {format?, modelTopology, weightsManifest}; modelTopology is either
// {keras_version, backend, model_config: {class_name, config}} (Python converter) or {class_name, config, ...}
// (saved from TF.js).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "doppel/util/file.h"
#include "source.h"

namespace doppel::keras {

using nlohmann::json;

Result<KerasSource> ReadTfjsModel(const std::string& path) {
  auto text = ReadFileBytes(path, int64_t(256) << 20);
  if (!text.ok()) return text.status();
  json j;
  try {
    j = json::parse(*text);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) return Status::InvalidArgument(path + ": not a JSON object");
  const std::string format = j.value("format", std::string());
  if (format == "graph-model")
    return Status::Unsupported(path + ": a TF.js graph-model; doppel imports Keras layers-models");
  if (!j.contains("modelTopology") || !j["modelTopology"].is_object())
    return Status::InvalidArgument(path + ": no modelTopology object (not a TF.js layers-model)");
  if (!j.contains("weightsManifest")) return Status::InvalidArgument(path + ": no weightsManifest");
  const json& topo = j["modelTopology"];
  KerasSource src;
  src.format = "tfjs-layers-model";
  if (topo.contains("model_config")) src.model_config = topo["model_config"];
  else if (topo.contains("class_name")) src.model_config = topo;
  else return Status::InvalidArgument(path + ": modelTopology has neither model_config nor class_name");
  if (topo.contains("keras_version") && topo["keras_version"].is_string())
    src.keras_version = topo["keras_version"].get<std::string>();
  const std::string dir = std::filesystem::path(path).parent_path().string();
  Result<WeightMap> w = LoadTfjsWeights(j["weightsManifest"], dir.empty() ? "." : dir);
  if (!w.ok()) return w.status().WithContext(path);
  src.weights = std::move(w).value();
  return src;
}

bool IsHdf5File(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char sig[8] = {};
  if (!f.read(sig, 8)) return false;
  return std::string(sig, 8) == std::string("\x89HDF\r\n\x1a\n", 8);
}

}  // namespace doppel::keras
