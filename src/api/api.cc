#include "doppel/api/api.h"

#include <algorithm>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "doppel/engine/builtin.h"
#include "doppel/model/onnx_model.h"
#include "doppel/util/file.h"

namespace doppel::api {
namespace fs = std::filesystem;

Result<std::string> EnsureDefaultModel(Engine& engine) {
  if (!engine.ListModels().empty()) return std::string();
  auto added = AddBuiltinModel(engine, kBuiltinDefaultModel);
  if (!added.ok()) {
    // Another caller may have registered it meanwhile.
    if (added.status().code() == Status::Code::kAlreadyExists) return std::string();
    return added.status().WithContext("registering the built-in default model " + std::string(kBuiltinDefaultModel));
  }
  return "no models were registered in " + engine.data_dir() + ": registered the built-in default model " +
         added->name + " (" + std::to_string(added->dim) + "-d; `doppel model add-builtin` adds the others)";
}

Result<ModelSpec> ResolveSpec(const std::string& model, const SpecSources& src, std::string* note) {
  ModelSpec spec;
  std::string sidecar = SidecarPath(model);
  std::error_code ec;
  if (fs::exists(sidecar, ec)) {
    DOPPEL_ASSIGN_OR_RETURN(spec, LoadSidecar(model));
  } else if (src.preset.empty() && src.spec_file.empty()) {
    DOPPEL_ASSIGN_OR_RETURN(ModelInfo info, InspectModelFile(model));
    std::string guess = GuessPreset(info);
    if (guess.empty()) return Status::InvalidArgument(model + ": no preprocessing spec; pass a preset or a spec file");
    if (note)
      *note = model + " has no " + sidecar + "; guessed preset '" + guess + "' from its input (pass --preset to choose)";
    DOPPEL_ASSIGN_OR_RETURN(spec, SpecFromPreset(guess));
  }
  if (!src.preset.empty()) {
    nlohmann::json j{{"preset", src.preset}};
    DOPPEL_ASSIGN_OR_RETURN(spec, SpecFromJson(j.dump(), spec));
  }
  if (!src.spec_file.empty()) {
    DOPPEL_ASSIGN_OR_RETURN(std::string text, ReadFileBytes(src.spec_file, int64_t(1) << 20));
    auto r = SpecFromJson(text, spec);
    if (!r.ok()) return r.status().WithContext(src.spec_file);
    spec = *r;
  }
  nlohmann::json flags = nlohmann::json::object();
  if (!src.output.empty()) flags["output"] = src.output;
  if (!src.pool.empty()) flags["pool"] = src.pool;
  if (src.size) flags["size"] = *src.size;
  if (!src.resize.empty()) flags["resize"] = src.resize;
  if (!src.interpolation.empty()) flags["interpolation"] = src.interpolation;
  if (src.no_normalize) flags["normalize"] = false;
  if (!flags.empty()) {
    auto r = SpecFromJson(flags.dump(), spec);
    if (!r.ok()) return r.status().WithContext("spec overrides");
    spec = *r;
  }
  return spec;
}

Result<SearchQuery> BuildQuery(const QueryInput& in, Caller caller) {
  int given = !in.image_file.empty() + !in.upload.empty() + (in.id != 0) + !in.indexed_path.empty() +
              !in.vector.empty();
  if (given == 0) return Status::InvalidArgument("no query: give an image, an id, an indexed path or a vector");
  if (given > 1) return Status::InvalidArgument("give exactly one of: an image, an id, an indexed path, a vector");
  if (!in.image_file.empty() && caller == Caller::kRemote)
    return Status::InvalidArgument("a query image must be uploaded; paths on the server are never opened");
  if (in.id < 0) return Status::InvalidArgument("id " + std::to_string(in.id) + " is not a picture id (negative)");
  SearchQuery q;
  q.image_file = in.image_file;
  q.upload = in.upload;
  q.upload_name = in.upload_name.empty() && !in.upload.empty() ? "upload" : in.upload_name;
  q.id = in.id;
  q.indexed_path = in.indexed_path;
  q.vector = in.vector;
  q.vector_fingerprint = in.vector_fingerprint;
  return q;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  for (size_t at = 0; at <= text.size();) {
    size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    if (end > at) out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

Result<std::vector<std::string>> SearchModels(Engine& engine, const std::string& model, const std::string& models,
                                              const std::string& profile) {
  std::vector<std::string> names = SplitList(models);
  if (!names.empty()) {
    if (!model.empty()) return Status::InvalidArgument("give a model or a list of models to fuse, not both");
    for (auto& n : names) {
      DOPPEL_ASSIGN_OR_RETURN(n, engine.ResolveModelName(n));
    }
    return names;
  }
  if (profile.empty() || profile == "fast") {
    DOPPEL_ASSIGN_OR_RETURN(std::string name, engine.ResolveModelName(model));
    return std::vector<std::string>{name};
  }
  if (profile != "quality") return Status::InvalidArgument("profile '" + profile + "': use fast or quality");
  if (!model.empty()) return Status::InvalidArgument("the quality profile fuses the built-in models: give no model");
  std::vector<std::string> registered;
  for (const auto& m : engine.ListModels()) registered.push_back(m.name);
  std::string missing;
  for (const auto& b : BuiltinModelNames()) {
    if (std::find(registered.begin(), registered.end(), b) != registered.end()) names.push_back(b);
    else missing += " " + b;
  }
  if (names.size() < 2)
    return Status::FailedPrecondition("the quality profile fuses the built-in models, and this data directory has " +
                                      std::to_string(names.size()) + ": add them with `doppel model add-builtin" +
                                      missing + "` and index again");
  return names;
}

Result<std::vector<Hit>> SearchWith(Engine& engine, const SearchQuery& query, const std::vector<std::string>& models,
                                    const SearchOptions& options) {
  if (models.size() == 1) return engine.Search(query, models[0], options);
  return engine.SearchFused(query, models, options);
}

std::string ModelsLabel(const std::vector<std::string>& models) {
  std::string s;
  for (const auto& m : models) s += (s.empty() ? "" : "+") + m;
  return s;
}

}  // namespace doppel::api
