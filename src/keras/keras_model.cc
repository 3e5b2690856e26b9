#include "keras_model.h"

#include <set>

namespace doppel::keras {
namespace {

using nlohmann::json;

// Appends the layer names referenced by one call's inputs. Keras 2 form: [[name, node_index, tensor_index, kwargs],
// ...]; Keras 3 form: {"args": [...], "kwargs": {...}} with {"config": {"keras_history": [name, node, tensor]}}
// objects somewhere inside args.
Status CollectHistory(const json& j, const std::string& layer, std::vector<std::string>* out) {
  if (j.is_object()) {
    if (j.contains("keras_history")) {
      const json& h = j["keras_history"];
      if (!h.is_array() || h.size() < 3 || !h[0].is_string())
        return Status::InvalidArgument("layer '" + layer + "': malformed keras_history " + h.dump());
      if (h[1] != 0 || h[2] != 0)
        return Status::Unsupported("layer '" + layer + "' reads output " + h[2].dump() + " of call " + h[1].dump() +
                                   " of layer '" + h[0].get<std::string>() +
                                   "' (shared or multi-output layers are not supported)");
      out->push_back(h[0].get<std::string>());
      return Status::OK();
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "kwargs") continue;
      DOPPEL_RETURN_IF_ERROR(CollectHistory(it.value(), layer, out));
    }
    return Status::OK();
  }
  if (j.is_array()) {
    if (j.size() >= 3 && j[0].is_string() && j[1].is_number_integer() && j[2].is_number_integer()) {
      if (j[1] != 0 || j[2] != 0)
        return Status::Unsupported("layer '" + layer + "' reads output " + j[2].dump() + " of call " + j[1].dump() +
                                   " of layer '" + j[0].get<std::string>() +
                                   "' (shared or multi-output layers are not supported)");
      out->push_back(j[0].get<std::string>());
      return Status::OK();
    }
    for (const json& e : j) DOPPEL_RETURN_IF_ERROR(CollectHistory(e, layer, out));
  }
  return Status::OK();
}

Result<std::string> LayerName(const json& l, const std::string& where, size_t index) {
  if (l.contains("name") && l["name"].is_string()) return l["name"].get<std::string>();
  if (l.contains("config") && l["config"].is_object() && l["config"].contains("name") &&
      l["config"]["name"].is_string())
    return l["config"]["name"].get<std::string>();
  return Status::InvalidArgument(where + ": layer #" + std::to_string(index) + " has no name");
}

Result<std::string> FirstName(const json& refs, const std::string& what, const std::string& where) {
  // [[name, 0, 0], ...] or [name, 0, 0]
  if (refs.is_array() && !refs.empty()) {
    if (refs[0].is_string()) return refs[0].get<std::string>();
    if (refs[0].is_array() && !refs[0].empty() && refs[0][0].is_string()) return refs[0][0].get<std::string>();
  }
  return Status::InvalidArgument(where + ": cannot read " + what + " " + refs.dump());
}

// Topological order, stable with respect to the listed order. Fails on unknown inputs and cycles.
Status SortAndCheck(KerasModel* m, const std::string& where) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < m->layers.size(); ++i)
    if (!index.emplace(m->layers[i].name, i).second)
      return Status::InvalidArgument(where + ": two layers are named '" + m->layers[i].name + "'");
  for (const KerasLayer& l : m->layers)
    for (const std::string& in : l.inputs)
      if (!index.count(in))
        return Status::InvalidArgument(where + ": layer '" + l.name + "' reads unknown layer '" + in + "'");
  std::vector<KerasLayer> sorted;
  std::set<std::string> done;
  std::vector<bool> placed(m->layers.size(), false);
  while (sorted.size() < m->layers.size()) {
    bool progress = false;
    for (size_t i = 0; i < m->layers.size(); ++i) {
      if (placed[i]) continue;
      bool ready = true;
      for (const std::string& in : m->layers[i].inputs) ready = ready && done.count(in);
      if (!ready) continue;
      placed[i] = true;
      done.insert(m->layers[i].name);
      sorted.push_back(m->layers[i]);
      progress = true;
    }
    if (!progress) return Status::InvalidArgument(where + ": the layer graph has a cycle");
  }
  m->layers = std::move(sorted);
  for (const std::string& o : m->outputs)
    if (!index.count(o)) return Status::InvalidArgument(where + ": output layer '" + o + "' does not exist");
  if (!index.count(m->input)) return Status::InvalidArgument(where + ": input layer '" + m->input + "' does not exist");
  int inputs = 0;
  for (const KerasLayer& l : m->layers) inputs += l.class_name == "InputLayer";
  if (inputs != 1)
    return Status::Unsupported(where + ": the model has " + std::to_string(inputs) +
                               " InputLayers; doppel needs exactly one image input");
  return Status::OK();
}

Result<KerasModel> ParseFunctional(const json& config, const std::string& where) {
  KerasModel m;
  if (!config.is_object() || !config.contains("layers") || !config["layers"].is_array())
    return Status::InvalidArgument(where + ": model_config.config has no layers[]");
  const json& layers = config["layers"];
  for (size_t i = 0; i < layers.size(); ++i) {
    const json& l = layers[i];
    KerasLayer layer;
    DOPPEL_ASSIGN_OR_RETURN(layer.name, LayerName(l, where, i));
    if (!l.contains("class_name") || !l["class_name"].is_string())
      return Status::InvalidArgument(where + ": layer '" + layer.name + "' has no class_name");
    layer.class_name = l["class_name"].get<std::string>();
    layer.config = l.value("config", json::object());
    const json inbound = l.value("inbound_nodes", json::array());
    if (inbound.size() > 1)
      return Status::Unsupported(where + ": layer '" + layer.name + "' (" + layer.class_name + ") is called " +
                                 std::to_string(inbound.size()) + " times; shared layers are not supported");
    if (inbound.size() == 1)
      DOPPEL_RETURN_IF_ERROR(CollectHistory(inbound[0], layer.name, &layer.inputs).WithContext(where));
    m.layers.push_back(std::move(layer));
  }
  const json ins = config.value("input_layers", json::array());
  const json outs = config.value("output_layers", json::array());
  if (ins.size() != 1)
    return Status::Unsupported(where + ": the model has " + std::to_string(ins.size()) +
                               " inputs; doppel needs exactly one image input");
  DOPPEL_ASSIGN_OR_RETURN(m.input, FirstName(ins, "input_layers", where));
  if (outs.empty()) return Status::InvalidArgument(where + ": the model has no output_layers");
  // output_layers is [[name, 0, 0], ...], or a single [name, 0, 0] in some Keras 3 files.
  if (outs[0].is_string()) {
    m.outputs.push_back(outs[0].get<std::string>());
  } else {
    for (const json& o : outs) {
      DOPPEL_ASSIGN_OR_RETURN(std::string name, FirstName(json::array({o}), "output_layers", where));
      m.outputs.push_back(name);
    }
  }
  DOPPEL_RETURN_IF_ERROR(SortAndCheck(&m, where));
  return m;
}

Result<KerasModel> ParseSequential(const json& config, const std::string& where) {
  const json& layers = config.is_array() ? config : config.value("layers", json::array());
  if (!layers.is_array() || layers.empty()) return Status::InvalidArgument(where + ": Sequential model has no layers");
  KerasModel m;
  std::string prev;
  for (size_t i = 0; i < layers.size(); ++i) {
    const json& l = layers[i];
    KerasLayer layer;
    DOPPEL_ASSIGN_OR_RETURN(layer.name, LayerName(l, where, i));
    if (!l.contains("class_name") || !l["class_name"].is_string())
      return Status::InvalidArgument(where + ": layer '" + layer.name + "' has no class_name");
    layer.class_name = l["class_name"].get<std::string>();
    layer.config = l.value("config", json::object());
    if (i == 0 && layer.class_name != "InputLayer") {
      // Keras names the implicit input "<first layer>_input" and takes its shape from the first layer.
      KerasLayer input;
      input.name = layer.name + "_input";
      input.class_name = "InputLayer";
      input.config = json::object();
      for (const char* key : {"batch_input_shape", "batch_shape"})
        if (layer.config.contains(key)) input.config[key] = layer.config[key];
      if (input.config.empty())
        return Status::InvalidArgument(where + ": Sequential model: first layer '" + layer.name +
                                       "' has no batch_input_shape, so the input shape is unknown");
      prev = input.name;
      m.layers.push_back(std::move(input));
    }
    if (!prev.empty()) layer.inputs.push_back(prev);
    prev = layer.name;
    m.layers.push_back(std::move(layer));
  }
  m.input = m.layers.front().name;
  m.outputs.push_back(prev);
  DOPPEL_RETURN_IF_ERROR(SortAndCheck(&m, where));
  return m;
}

}  // namespace

const KerasLayer* KerasModel::Find(const std::string& name) const {
  for (const KerasLayer& l : layers)
    if (l.name == name) return &l;
  return nullptr;
}

Result<KerasModel> ParseModelConfig(const json& model_config, const std::string& where) {
  if (!model_config.is_object() || !model_config.contains("class_name") || !model_config["class_name"].is_string())
    return Status::InvalidArgument(where + ": model_config has no class_name");
  const std::string cls = model_config["class_name"].get<std::string>();
  const json config = model_config.value("config", json());
  if (cls == "Model" || cls == "Functional") return ParseFunctional(config, where);
  if (cls == "Sequential") return ParseSequential(config, where);
  return Status::Unsupported(where + ": model class '" + cls + "' (doppel reads Model, Functional, Sequential)");
}

}  // namespace doppel::keras
