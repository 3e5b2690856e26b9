#include "model_flags.h"

#include "doppel/api/api.h"

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
  cmd->add_option("--preset", spec.preset, "preprocessing preset: keras-caffe, keras-tf, torch-imagenet, clip");
  cmd->add_option("--spec", spec.spec_file, "preprocessing spec JSON (default: <model>.doppel.json if present)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", spec.output, "tensor to take the embedding from (an output or any intermediate tensor)");
  cmd->add_option("--pool", spec.pool, "global pooling of a 4-D tensor: none, avg, max, gem");
  cmd->add_option("--size", spec.size, "model input size (square), when the model does not fix it");
  cmd->add_option("--resize", spec.resize, "stretch, shorter-crop, letterbox");
  cmd->add_option("--interpolation", spec.interpolation, "nearest, bilinear, bicubic, lanczos, box, hamming");
  cmd->add_flag("--no-normalize", spec.no_normalize, "do not L2-normalise vectors");
  cmd->add_option("--intra-op-threads", intra_op_threads, "ONNX Runtime threads per inference call (default 1)");
}

Result<ModelSpec> ModelFlags::ResolveSpec() const {
  std::string note;
  auto resolved = api::ResolveSpec(model, spec, &note);
  if (!note.empty()) std::fprintf(stderr, "doppel: %s\n", note.c_str());
  return resolved;
}

Result<std::shared_ptr<OnnxModel>> ModelFlags::Load() const {
  DOPPEL_ASSIGN_OR_RETURN(ModelSpec resolved, ResolveSpec());
  SessionConfig config;
  config.intra_op_threads = intra_op_threads;
  return OnnxModel::Load(model, resolved, config);
}

}  // namespace doppel::cli
