// The API layer: what every front end (the CLI, the HTTP server, the web page's JSON) shares on top of the engine,
// so that a front end only parses its input, calls these and formats the result.
//   - the newcomer policy: the first index of a new data directory registers the built-in default model;
//   - spec resolution: a model's preprocessing from its sidecar, a preset, a spec file and single overrides;
//   - query building: one query from what a caller gave, refusing server-side paths for remote callers;
//   - JSON codecs of every engine type, and errors with stable codes (see json.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "doppel/engine/engine.h"
#include "doppel/model/spec.h"
#include "doppel/util/status.h"

namespace doppel::api {

// ---------------------------------------------------------------- models

// When `engine` has no model yet, registers the built-in default model (kBuiltinDefaultModel) and returns a note
// saying so ("" when nothing was done). Front ends call it before the first index.
Result<std::string> EnsureDefaultModel(Engine& engine);

// Where a model's preprocessing comes from, lowest priority first: its sidecar (MODEL.doppel.json) or, without one
// and without a preset or spec file, a preset guessed from its input; then `preset`; then the JSON of `spec_file`;
// then the single overrides.
struct SpecSources {
  std::string preset;
  std::string spec_file;
  std::string output;
  std::string pool;
  std::optional<int> size;
  std::string resize;
  std::string interpolation;
  bool no_normalize = false;
};
// The spec for the ONNX file `model`. `note` (optional) receives a sentence when the preset was guessed.
Result<ModelSpec> ResolveSpec(const std::string& model, const SpecSources& sources, std::string* note = nullptr);

// ---------------------------------------------------------------- queries

// Who asks: a local user (the CLI: may name image files on this machine) or a remote caller (a server request:
// image bytes are uploaded; a path on the server is never opened).
enum class Caller { kLocal, kRemote };

// What a caller gave; exactly one of the query kinds must be set.
struct QueryInput {
  std::string image_file;   // a file to open (local callers only)
  std::string upload;       // uploaded image bytes...
  std::string upload_name;  // ...and their display name (a label, never opened)
  int64_t id = 0;
  std::string indexed_path;  // an indexed picture's path (looked up in the catalog, not opened)
  std::vector<float> vector;
  std::string vector_fingerprint;
};

// InvalidArgument naming what is wrong: none or several kinds given, an image file from a remote caller, a bad id.
Result<SearchQuery> BuildQuery(const QueryInput& input, Caller caller);

// ---------------------------------------------------------------- search profiles

// The models a similarity search runs on. `models` (a comma-separated list), when given, wins: one model is a plain
// search, two or more are fused (Engine::SearchFused). Else the profile: "" or "fast" = `model` (or the default
// model) alone; "quality" = the registered built-in models fused (BENCHMARKS.md: better than either alone on every
// labelled set, at the cost of one embedding and one search per model). InvalidArgument for an unknown profile;
// FailedPrecondition when "quality" finds fewer than two built-in models, naming the command that adds them.
Result<std::vector<std::string>> SearchModels(Engine& engine, const std::string& model, const std::string& models,
                                              const std::string& profile);
// Engine::Search for one model, Engine::SearchFused for several.
Result<std::vector<Hit>> SearchWith(Engine& engine, const SearchQuery& query, const std::vector<std::string>& models,
                                    const SearchOptions& options);
// The label of a search's models in output ("a" or "a+b").
std::string ModelsLabel(const std::vector<std::string>& models);

// "a,b,,c" -> {"a", "b", "c"}: the comma-separated lists front ends take (model names, keeper rules).
std::vector<std::string> SplitList(const std::string& text);

}  // namespace doppel::api
