// doppel model inspect: what an ONNX file declares, and how doppel would use it.
#include <cstdio>
#include <optional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "doppel/engine/builtin.h"
#include "doppel/keras/import.h"
#include "doppel/model/onnx_model.h"
#include "doppel/api/json.h"
#include "engine_flags.h"
#include "model_flags.h"

namespace doppel::cli {
namespace {

struct InspectArgs {
  std::string path;
  bool tensors = false;
  bool json = false;
};

nlohmann::json TensorJson(const TensorInfo& t) {
  nlohmann::json j;
  j["name"] = t.name;
  j["type"] = t.type;
  if (t.known_rank) j["shape"] = t.dims;
  return j;
}

std::string ShapeText(const TensorInfo& t) {
  if (!t.known_rank) return "[?]";
  std::string s = "[";
  for (size_t i = 0; i < t.dims.size(); ++i) s += (i ? ", " : "") + t.dims[i];
  return s + "]";
}

int RunInspect(const InspectArgs& a) {
  auto info = InspectModelFile(a.path);
  if (!info.ok()) {
    std::fprintf(stderr, "doppel model inspect: %s\n", info.status().ToString().c_str());
    return 2;
  }
  nlohmann::json j;
  j["path"] = info->path;
  j["ir_version"] = info->ir_version;
  j["opset"] = info->opset;
  j["producer"] = info->producer;
  j["nodes"] = info->node_count;
  j["parameters"] = info->parameter_count;
  j["inputs"] = nlohmann::json::array();
  for (const auto& t : info->inputs) j["inputs"].push_back(TensorJson(t));
  j["outputs"] = nlohmann::json::array();
  for (const auto& t : info->outputs) j["outputs"].push_back(TensorJson(t));
  std::string layout_text;
  if (info->inputs.size() == 1) {
    auto l = DetectInputLayout(info->inputs[0]);
    layout_text = l.ok() ? (*l == Layout::kNCHW ? "NCHW" : "NHWC") : l.status().message();
  } else {
    layout_text = std::to_string(info->inputs.size()) + " inputs: not an image embedding model";
  }
  j["layout"] = layout_text;
  j["guessed_preset"] = GuessPreset(*info);
  j["metadata"] = info->metadata;
  if (a.tensors) {
    auto ts = ListModelTensors(a.path);
    if (!ts.ok()) {
      std::fprintf(stderr, "doppel model inspect: %s\n", ts.status().ToString().c_str());
      return 2;
    }
    j["tensors"] = nlohmann::json::array();
    for (const auto& t : *ts) j["tensors"].push_back(TensorJson(t));
  }
  if (a.json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("model     %s\n", info->path.c_str());
  std::printf("producer  %s (IR %lld, opset %lld), %lld nodes, %lld parameters\n", info->producer.c_str(),
              (long long)info->ir_version, (long long)info->opset, (long long)info->node_count,
              (long long)info->parameter_count);
  for (const auto& t : info->inputs)
    std::printf("input     %s %s %s\n", t.name.c_str(), t.type.c_str(), ShapeText(t).c_str());
  for (const auto& t : info->outputs)
    std::printf("output    %s %s %s\n", t.name.c_str(), t.type.c_str(), ShapeText(t).c_str());
  std::printf("layout    %s\n", layout_text.c_str());
  std::string g = GuessPreset(*info);
  std::printf("preset    %s (a guess from the input layout and names; check the model's documentation)\n",
              g.empty() ? "-" : g.c_str());
  for (const auto& [k, v] : info->metadata) std::printf("metadata  %s = %s\n", k.c_str(), v.c_str());
  if (a.tensors)
    for (const auto& t : j["tensors"])
      std::printf("tensor    %s %s %s\n", t["name"].get<std::string>().c_str(), t["type"].get<std::string>().c_str(),
                  t.contains("shape") ? t["shape"].dump().c_str() : "[?]");
  return 0;
}

struct AddArgs {
  EngineFlags engine;
  std::string name;
  ModelFlags model;
  std::string metric = "L2";
  std::string index = "HNSW";
};

int RunAdd(const AddArgs& a) {
  auto engine = a.engine.Open(EngineFlags::Mode::kWrite);
  if (!engine.ok()) return Fail("model add", engine.status());
  auto spec = a.model.ResolveSpec();
  if (!spec.ok()) return Fail("model add", spec.status());
  AddModelOptions o;
  o.metric = a.metric;
  o.index = a.index;
  auto e = (*engine)->AddModel(a.name, a.model.model, *spec, o);
  if (!e.ok()) return Fail("model add", e.status());
  std::printf("added model %s: dim %d, %s, %s, fingerprint %s%s\n", e->name.c_str(), e->dim, e->metric.c_str(),
              e->index.c_str(), e->fingerprint.c_str(),
              (*engine)->DefaultModel() == e->name ? " (the default model)" : "");
  return 0;
}

struct NameArgs {
  EngineFlags engine;
  std::string name;
  bool json = false;
};

int RunList(const NameArgs& a) {
  auto engine = a.engine.Open(EngineFlags::Mode::kRead);
  if (!engine.ok()) return Fail("model list", engine.status());
  auto models = (*engine)->ListModels();
  std::string def = (*engine)->DefaultModel();
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& e : models) j.push_back(api::ToJson(e, e.name == def));
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  if (models.empty()) std::printf("no models registered (`doppel index` adds the built-in default model)\n");
  for (const auto& e : models)
    std::printf("%-16s%s dim %-5d %-6s %-40s %s\n", e.name.c_str(), e.name == def ? " (default)" : "          ",
                e.dim, e.metric.c_str(), e.index.c_str(), e.source.c_str());
  return 0;
}

int RunShow(const NameArgs& a) {
  auto engine = a.engine.Open(EngineFlags::Mode::kRead);
  if (!engine.ok()) return Fail("model show", engine.status());
  auto e = (*engine)->GetModel(a.name);
  if (!e.ok()) return Fail("model show", e.status());
  std::cout << api::ToJson(*e, e->name == (*engine)->DefaultModel()).dump(2) << "\n";
  return 0;
}

int RunRemoveModel(const NameArgs& a) {
  auto engine = a.engine.Open(EngineFlags::Mode::kWrite);
  if (!engine.ok()) return Fail("model remove", engine.status());
  bool was_default = (*engine)->DefaultModel() == a.name;
  Status st = (*engine)->RemoveModel(a.name);
  if (!st.ok()) return Fail("model remove", st);
  std::printf("removed model %s and its collection\n", a.name.c_str());
  if (was_default) {
    std::string now = (*engine)->DefaultModel();
    std::printf("the default model is now %s\n", now.empty() ? "none (no models left)" : now.c_str());
  }
  return 0;
}

int RunDefault(const NameArgs& a) {
  auto engine = a.engine.Open(a.name.empty() ? EngineFlags::Mode::kRead : EngineFlags::Mode::kWrite);
  if (!engine.ok()) return Fail("model default", engine.status());
  if (!a.name.empty()) {
    Status st = (*engine)->SetDefaultModel(a.name);
    if (!st.ok()) return Fail("model default", st);
  }
  std::string def = (*engine)->DefaultModel();
  if (def.empty()) return Fail("model default", Status::NotFound("no models registered"));
  std::printf("%s\n", def.c_str());
  return 0;
}

struct ThresholdArgs {
  EngineFlags engine;
  std::string name;
  std::optional<float> threshold;
};

// The duplicates' similar tier threshold stored with a model: show it, or store one measured on a labelled set.
int RunThreshold(const ThresholdArgs& a) {
  auto engine = a.engine.Open(a.threshold ? EngineFlags::Mode::kWrite : EngineFlags::Mode::kRead);
  if (!engine.ok()) return Fail("model threshold", engine.status());
  if (a.threshold) {
    Status st = (*engine)->SetSimilarThreshold(a.name, *a.threshold);
    if (!st.ok()) return Fail("model threshold", st);
  }
  bool calibrated = false;
  auto t = (*engine)->SimilarThreshold(a.name, &calibrated);
  if (!t.ok()) return Fail("model threshold", t.status());
  std::printf("%g%s\n", *t, calibrated ? "" : " (not calibrated for this model: the built-in default model's)");
  return 0;
}

struct ImportArgs {
  std::string src;
  std::string out;
  keras::KerasImportOptions options;
};

int RunImport(const ImportArgs& a) {
  Status st = keras::ImportKeras(a.src, a.out, a.options);
  if (!st.ok()) return Fail("model import keras", st);
  std::printf("wrote %s and %s\n", a.out.c_str(), SidecarPath(a.out).c_str());
  return 0;
}

struct BuiltinArgs {
  EngineFlags engine;
  std::vector<std::string> names;
};

int RunAddBuiltin(const BuiltinArgs& a) {
  auto engine = a.engine.Open(EngineFlags::Mode::kWrite);
  if (!engine.ok()) return Fail("model add-builtin", engine.status());
  std::vector<std::string> names = a.names.empty() ? BuiltinModelNames() : a.names;
  for (const auto& n : names) {
    if ((*engine)->GetModel(n).ok()) {
      std::printf("model %s: already registered\n", n.c_str());
      continue;
    }
    auto e = AddBuiltinModel(**engine, n);
    if (!e.ok()) return Fail("model add-builtin", e.status());
    std::printf("added built-in model %s: dim %d, fingerprint %s\n", e->name.c_str(), e->dim, e->fingerprint.c_str());
  }
  return 0;
}

}  // namespace

void RegisterModel(CLI::App& app, Action* action) {
  CLI::App* model = app.add_subcommand("model", "Inspect and manage models");
  model->require_subcommand(1);
  auto args = std::make_shared<InspectArgs>();
  CLI::App* inspect = model->add_subcommand("inspect", "Show a model's inputs, outputs, layout, opset and preset guess");
  inspect->add_option("path", args->path, "ONNX model file")->required()->check(CLI::ExistingFile);
  inspect->add_flag("--tensors", args->tensors, "also list every intermediate tensor (for --output)");
  inspect->add_flag("--json", args->json, "print JSON");
  inspect->callback([args, action] { *action = [args] { return RunInspect(*args); }; });

  auto add = std::make_shared<AddArgs>();
  CLI::App* addc = model->add_subcommand("add", "Register a model: copies it into the data directory, creates its collection");
  add->engine.Add(addc);
  addc->add_option("name", add->name, "model name (letters, digits, _)")->required();
  addc->add_option("file", add->model.model, "ONNX model file")->required()->check(CLI::ExistingFile);
  add->model.AddSpecOptions(addc);
  addc->add_option("--metric", add->metric, "L2 (default), IP or COSINE");
  addc->add_option("--index", add->index, "FLAT, HNSW (default), HNSW,M=16,efConstruction=200,ef=64, IVF_FLAT, IVF_SQ8, IVF_PQ");
  addc->callback([add, action] { *action = [add] { return RunAdd(*add); }; });

  auto imp = std::make_shared<ImportArgs>();
  CLI::App* importc = model->add_subcommand("import", "Convert a model from another framework to ONNX");
  importc->require_subcommand(1);
  CLI::App* kerasc = importc->add_subcommand("keras", "Keras (TF.js layers-model folder or model.json, or HDF5 .h5) -> ONNX + preprocessing sidecar");
  kerasc->add_option("src", imp->src, "model.json, its folder, or a .h5 file")->required()->check(CLI::ExistingPath);
  kerasc->add_option("--out,-o", imp->out, "output .onnx file (the sidecar is written next to it)")->required();
  kerasc->add_option("--tap", imp->options.tap, "cut the model at this layer (its output becomes the embedding)");
  kerasc->add_option("--pool", imp->options.pool, "global pooling of a 4-D output: avg, max, gem");
  kerasc->add_option("--gem-p", imp->options.gem_p, "GeM exponent (default 3)");
  kerasc->add_flag("--pool-in-graph", imp->options.pool_in_graph, "add the pooling to the ONNX graph instead of the spec");
  kerasc->add_option("--input-size", imp->options.input_size, "square input side when the model does not fix it");
  kerasc->add_option("--preset", imp->options.preset, "preprocessing preset for the sidecar (default: x/255, RGB, bilinear stretch)");
  kerasc->add_option("--scale", imp->options.scale, "sidecar input scaling: value = (pixel*scale - mean)/std (default 1/255)");
  kerasc->add_option_function<std::vector<float>>(
      "--mean", [imp](const std::vector<float>& m) { std::copy(m.begin(), m.end(), imp->options.mean); },
      "sidecar mean, 3 values (default 0 0 0)")->expected(3);
  kerasc->add_option("--interpolation", imp->options.interpolation, "sidecar resize filter (default bilinear)");
  kerasc->callback([imp, action] { *action = [imp] { return RunImport(*imp); }; });

  auto bi = std::make_shared<BuiltinArgs>();
  CLI::App* bic = model->add_subcommand("add-builtin", "Build and register the built-in pretrained models (mobilenet_v2, inception_v3)");
  bi->engine.Add(bic);
  bic->add_option("names", bi->names, "which (default: all)");
  bic->callback([bi, action] { *action = [bi] { return RunAddBuiltin(*bi); }; });

  auto list = std::make_shared<NameArgs>();
  CLI::App* listc = model->add_subcommand("list", "List registered models");
  list->engine.Add(listc);
  listc->add_flag("--json", list->json, "print JSON");
  listc->callback([list, action] { *action = [list] { return RunList(*list); }; });

  auto show = std::make_shared<NameArgs>();
  CLI::App* showc = model->add_subcommand("show", "Show a registered model, its spec and fingerprint (JSON)");
  show->engine.Add(showc);
  showc->add_option("name", show->name, "model name")->required();
  showc->callback([show, action] { *action = [show] { return RunShow(*show); }; });

  auto rm = std::make_shared<NameArgs>();
  CLI::App* rmc = model->add_subcommand("remove", "Unregister a model and drop its collection");
  rm->engine.Add(rmc);
  rmc->add_option("name", rm->name, "model name")->required();
  rmc->callback([rm, action] { *action = [rm] { return RunRemoveModel(*rm); }; });

  auto def = std::make_shared<NameArgs>();
  CLI::App* defc = model->add_subcommand("default", "Show the default model, or make NAME the default");
  def->engine.Add(defc);
  defc->add_option("name", def->name, "model name");
  defc->callback([def, action] { *action = [def] { return RunDefault(*def); }; });

  auto th = std::make_shared<ThresholdArgs>();
  CLI::App* thc = model->add_subcommand(
      "threshold", "Show the duplicates' similar-tier distance stored with a model, or store one (0 forgets it)");
  th->engine.Add(thc);
  thc->add_option("name", th->name, "model name")->required();
  thc->add_option("distance", th->threshold, "the distance (squared L2 of unit vectors), e.g. from "
                                             "bench_dedup_calibration on your own labelled set");
  thc->callback([th, action] { *action = [th] { return RunThreshold(*th); }; });
}

}  // namespace doppel::cli
