// The public entry: source resolution, conversion, provenance metadata, the preprocessing sidecar, atomic writes.
#include "doppel/keras/import.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "converter.h"
#include "source.h"

namespace doppel::keras {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// `src` as a model.json or an HDF5 file.
Result<KerasSource> ReadSource(const std::string& src) {
  std::error_code ec;
  if (fs::is_directory(src, ec)) {
    const fs::path mj = fs::path(src) / "model.json";
    if (fs::exists(mj, ec)) return ReadTfjsModel(mj.string());
    std::vector<fs::path> h5;
    for (const auto& e : fs::directory_iterator(src, ec))
      if (e.is_regular_file() && (e.path().extension() == ".h5" || e.path().extension() == ".hdf5"))
        h5.push_back(e.path());
    if (h5.size() == 1) return ReadHdf5Model(h5[0].string());
    return Status::NotFound(src + ": folder holds no model.json" +
                            std::string(h5.size() > 1 ? " and several .h5 files" : " and no .h5 file"));
  }
  if (!fs::exists(src, ec)) return Status::NotFound(src + ": no such file or folder");
  if (IsHdf5File(src)) return ReadHdf5Model(src);
  return ReadTfjsModel(src);
}

// "all 104 converted layers with weights are frozen (trainable=false)", or the trainable ones.
std::string FrozenSummary(const std::vector<const KerasLayer*>& layers, const WeightMap& weights) {
  int with_weights = 0, frozen = 0;
  std::string trainable;
  for (const KerasLayer* l : layers) {
    bool has = false;
    for (const auto& [name, t] : weights.all())
      if (name.rfind(l->name + "/", 0) == 0 || name.find("/" + l->name + "/") != std::string::npos) has = true;
    if (!has) continue;
    ++with_weights;
    const bool is_frozen = l->config.contains("trainable") && l->config["trainable"].is_boolean() &&
                           !l->config["trainable"].get<bool>();
    if (is_frozen) ++frozen;
    else trainable += (trainable.empty() ? "" : ", ") + l->name;
  }
  if (frozen == with_weights)
    return "all " + std::to_string(with_weights) + " converted layers with weights are frozen (trainable=false)";
  if (trainable.size() > 400) trainable = trainable.substr(0, 400) + ", ...";
  return std::to_string(frozen) + " of " + std::to_string(with_weights) +
         " converted layers with weights are frozen (trainable=false); trainable: " + trainable;
}

void AddMeta(onnx::ModelProto* m, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto* e = m->add_metadata_props();
  e->set_key(key);
  e->set_value(value);
}

std::string Joined(const std::set<std::string>& s) {
  std::string out;
  for (const std::string& x : s) out += (out.empty() ? "" : ", ") + x;
  return out;
}

std::string SidecarJson(const ConvertedModel& c, const KerasImportOptions& o) {
  json j;
  if (!o.preset.empty()) {
    j["preset"] = o.preset;
  } else {
    j["resize"] = o.resize;
    j["interpolation"] = o.interpolation;
    j["channel_order"] = o.channel_order;
    j["scale"] = o.scale;
    j["mean"] = {o.mean[0], o.mean[1], o.mean[2]};
    j["std"] = {o.std[0], o.std[1], o.std[2]};
  }
  j["width"] = c.input_shape[2];
  j["height"] = c.input_shape[1];
  j["input_layout"] = "nhwc";
  j["output"] = c.output_name;
  const bool spec_pools = !o.pool.empty() && !o.pool_in_graph;
  j["pool"] = spec_pools ? o.pool : "none";
  if (spec_pools && o.pool == "gem") j["gem_p"] = o.gem_p;
  if (c.output_is_feature_map) j["output_layout"] = "nchw";
  j["normalize"] = true;
  if (o.shrink_on_load && o.shrink_formats.empty()) {
    j["shrink_on_load"] = true;
  } else if (o.shrink_on_load) {
    j["shrink_on_load"] = json::array({"jpeg"});
    for (const auto& f : o.shrink_formats) j["shrink_on_load"].push_back(f);
  }
  return j.dump(2) + "\n";
}

Status WriteAtomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Status::IOError(tmp + ": cannot create");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) return Status::IOError(tmp + ": write failed");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::IOError(path + ": cannot rename from " + tmp + ": " + ec.message());
  return Status::OK();
}

}  // namespace

std::string KerasSidecarPath(const std::string& onnx_path) {
  fs::path p(onnx_path);
  if (p.extension() == ".onnx") p.replace_extension();
  return p.string() + ".doppel.json";
}

Result<KerasImportResult> ConvertKeras(const std::string& src, const KerasImportOptions& options) {
  try {
    DOPPEL_ASSIGN_OR_RETURN(KerasSource source, ReadSource(src));
    DOPPEL_ASSIGN_OR_RETURN(KerasModel model, ParseModelConfig(source.model_config, src));
    if (model.keras_version.empty()) model.keras_version = source.keras_version;
    ConvertOptions co{options.tap, options.pool, options.gem_p, options.pool_in_graph, options.input_size};
    DOPPEL_ASSIGN_OR_RETURN(ConvertedModel c, ConvertModel(model, source.weights, co, src));

    onnx::ModelProto& m = c.model;
    m.set_doc_string("Converted from a Keras model (" + source.format + ") by doppel's Keras importer");
    AddMeta(&m, "doppel.keras.source", fs::path(src).filename().string() + " (" + source.format + ")");
    if (!model.keras_version.empty()) AddMeta(&m, "doppel.keras.keras_version", model.keras_version);
    AddMeta(&m, "doppel.keras.tap", options.tap.empty() ? "(the model's output)" : options.tap);
    AddMeta(&m, "doppel.keras.stored_dtypes", Joined(source.weights.stored_dtypes) + " (converted to float32)");
    AddMeta(&m, "doppel.keras.frozen_layers", FrozenSummary(c.converted, source.weights));
    for (const auto& [k, v] : options.metadata) AddMeta(&m, k, v);

    KerasImportResult r;
    if (!m.SerializeToString(&r.model_bytes)) return Status::Internal(src + ": ModelProto serialisation failed");
    r.sidecar_json = SidecarJson(c, options);
    r.input_name = c.input_name;
    r.input_shape = c.input_shape;
    r.output_name = c.output_name;
    r.output_shape = c.output_shape;
    r.layers_converted = static_cast<int>(c.converted.size());
    return r;
  } catch (const std::exception& e) {  // nlohmann::json type errors on malformed configs, bad_alloc
    return Status::InvalidArgument(src + ": " + e.what());
  }
}

Status ImportKeras(const std::string& src, const std::string& out_onnx, const KerasImportOptions& options) {
  DOPPEL_ASSIGN_OR_RETURN(KerasImportResult r, ConvertKeras(src, options));
  std::error_code ec;
  const fs::path parent = fs::path(out_onnx).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  DOPPEL_RETURN_IF_ERROR(WriteAtomically(out_onnx, r.model_bytes));
  return WriteAtomically(KerasSidecarPath(out_onnx), r.sidecar_json);
}

}  // namespace doppel::keras
