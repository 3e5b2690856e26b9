#include "model_flags.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace doppel::cli {

void ModelFlags::Add(CLI::App* cmd) {
  cmd->add_option("--model,-m", model, "ONNX model file")->required()->check(CLI::ExistingFile);
  AddSpecOptions(cmd);
}

void ModelFlags::AddSpecOptions(CLI::App* cmd) {
  cmd->add_option("--preset", preset, "preprocessing preset: keras-caffe, keras-tf, torch-imagenet, clip");
  cmd->add_option("--spec", spec_file, "preprocessing spec JSON (default: <model>.doppel.json if present)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", output, "tensor to take the embedding from (an output or any intermediate tensor)");
  cmd->add_option("--pool", pool, "global pooling of a 4-D tensor: none, avg, max, gem");
  cmd->add_option("--size", size, "model input size (square), when the model does not fix it");
  cmd->add_option("--resize", resize, "stretch, shorter-crop, letterbox");
  cmd->add_option("--interpolation", interpolation, "nearest, bilinear, bicubic, lanczos, box, hamming");
  cmd->add_flag("--no-normalize", no_normalize, "do not L2-normalise vectors");
  cmd->add_option("--intra-op-threads", intra_op_threads, "ONNX Runtime threads per inference call (default 1)");
}

Result<ModelSpec> ModelFlags::ResolveSpec() const {
  ModelSpec base;
  std::string sidecar = SidecarPath(model);
  bool have_sidecar = std::ifstream(sidecar).good();
  if (have_sidecar) {
    DOPPEL_ASSIGN_OR_RETURN(base, LoadSidecar(model));
  } else if (preset.empty() && spec_file.empty()) {
    DOPPEL_ASSIGN_OR_RETURN(ModelInfo info, InspectModelFile(model));
    std::string guess = GuessPreset(info);
    if (guess.empty()) return Status::InvalidArgument(model + ": no preprocessing spec; pass --preset or --spec");
    std::fprintf(stderr, "doppel: %s has no %s; guessed preset '%s' from its input (pass --preset to choose)\n",
                 model.c_str(), sidecar.c_str(), guess.c_str());
    DOPPEL_ASSIGN_OR_RETURN(base, SpecFromPreset(guess));
  }
  nlohmann::json j = nlohmann::json::object();
  if (!preset.empty()) j["preset"] = preset;
  ModelSpec spec = base;
  if (!j.empty()) {
    DOPPEL_ASSIGN_OR_RETURN(spec, SpecFromJson(j.dump(), spec));
  }
  if (!spec_file.empty()) {
    std::ifstream f(spec_file);
    std::stringstream ss;
    ss << f.rdbuf();
    auto r = SpecFromJson(ss.str(), spec);
    if (!r.ok()) return r.status().WithContext(spec_file);
    spec = *r;
  }
  nlohmann::json flags = nlohmann::json::object();
  if (!output.empty()) flags["output"] = output;
  if (!pool.empty()) flags["pool"] = pool;
  if (size) flags["size"] = *size;
  if (!resize.empty()) flags["resize"] = resize;
  if (!interpolation.empty()) flags["interpolation"] = interpolation;
  if (no_normalize) flags["normalize"] = false;
  if (!flags.empty()) {
    auto r = SpecFromJson(flags.dump(), spec);
    if (!r.ok()) return r.status().WithContext("command-line flags");
    spec = *r;
  }
  return spec;
}

Result<std::shared_ptr<OnnxModel>> ModelFlags::Load() const {
  DOPPEL_ASSIGN_OR_RETURN(ModelSpec spec, ResolveSpec());
  SessionConfig config;
  config.intra_op_threads = intra_op_threads;
  return OnnxModel::Load(model, spec, config);
}

}  // namespace doppel::cli
