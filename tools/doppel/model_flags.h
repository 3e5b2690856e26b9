// Flags that choose a model and its preprocessing, shared by the subcommands that load a model.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "doppel/model/onnx_model.h"
#include "doppel/model/spec.h"

namespace doppel::cli {

struct ModelFlags {
  std::string model;
  std::string preset;
  std::string spec_file;
  std::string output;
  std::string pool;
  std::optional<int> size;
  std::string resize;
  std::string interpolation;
  bool no_normalize = false;
  int intra_op_threads = 1;

  void Add(CLI::App* cmd);             // --model FILE and the spec options
  void AddSpecOptions(CLI::App* cmd);  // the spec options only
  // The spec: the model's sidecar (or the preset guessed from the model, with a note on stderr), then --preset,
  // then --spec, then the single flags.
  Result<ModelSpec> ResolveSpec() const;
  Result<std::shared_ptr<OnnxModel>> Load() const;
};

}  // namespace doppel::cli
