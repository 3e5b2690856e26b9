// Flags that choose a model and its preprocessing, shared by the subcommands that load a model.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "doppel/model/onnx_model.h"
#include "doppel/api/api.h"
#include "doppel/model/spec.h"

namespace doppel::cli {

struct ModelFlags {
  std::string model;
  api::SpecSources spec;  // --preset, --spec and the single overrides
  int intra_op_threads = 1;

  void Add(CLI::App* cmd);             // --model FILE and the spec options
  void AddSpecOptions(CLI::App* cmd);  // the spec options only
  // The spec: the model's sidecar (or the preset guessed from the model, with a note on stderr), then --preset,
  // then --spec, then the single flags.
  Result<ModelSpec> ResolveSpec() const;
  Result<std::shared_ptr<OnnxModel>> Load() const;
};

}  // namespace doppel::cli
