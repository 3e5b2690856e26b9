#include "doppel/engine/builtin.h"

#include <cstdlib>
#include <filesystem>

#include "doppel/keras/import.h"

namespace doppel {
namespace fs = std::filesystem;

std::string NsfwjsDir() {
  const char* env = std::getenv("DOPPEL_NSFWJS_DIR");
  if (env && *env) return env;
  return DOPPEL_DEFAULT_NSFWJS_DIR;
}

std::vector<std::string> BuiltinModelNames() { return keras::BuiltinKerasModelNames(); }

namespace {
// The duplicates' similar-tier distance of each built-in model, measured by bench_dedup_calibration (1% false
// merges of different photos; BENCHMARKS.md).
float CalibratedSimilarThreshold(const std::string& name) {
  if (name == "mobilenet_v2") return kSimilarThreshold;
  if (name == "inception_v3") return 0.065f;
  return 0;
}
}  // namespace

namespace {
// Writes built-in `name` as an ONNX file + sidecar at `onnx_path` (at square side `input_size` when > 0).
Status ImportBuiltin(const std::string& name, const std::string& onnx_path, int input_size) {
  DOPPEL_ASSIGN_OR_RETURN(keras::BuiltinKerasModel b, keras::BuiltinKeras(name));
  fs::path src = fs::path(NsfwjsDir()) / b.subfolder;
  std::error_code ec;
  if (!fs::exists(src / "model.json", ec))
    return Status::NotFound(src.string() + "/model.json not found: the built-in models are built from the npm "
                            "package nsfwjs; run `bash scripts/bootstrap.sh` (or set DOPPEL_NSFWJS_DIR)");
  if (input_size > 0) b.options.input_size = input_size;
  return keras::ImportKeras(src.string(), onnx_path, b.options).WithContext("building built-in model " + name);
}
}  // namespace

Result<ModelEntry> AddBuiltinModel(Engine& engine, const std::string& name, const AddModelOptions& options_in) {
  AddModelOptions options = options_in;
  if (options.similar_threshold <= 0) options.similar_threshold = CalibratedSimilarThreshold(name);
  fs::path tmp = fs::path(engine.data_dir()) / "models" / (".import-" + name + ".onnx");
  std::error_code ec;
  Status st = ImportBuiltin(name, tmp.string(), 0);
  auto spec = st.ok() ? LoadSidecar(tmp.string()) : Result<ModelSpec>(st);
  Result<ModelEntry> added = spec.ok() ? engine.AddModel(name, tmp.string(), *spec, options) : spec.status();
  fs::remove(tmp, ec);
  fs::remove(SidecarPath(tmp.string()), ec);
  return added;
}

Result<std::shared_ptr<OnnxModel>> ImportBuiltinModel(const std::string& name, const std::string& onnx_path,
                                                      int input_size) {
  DOPPEL_RETURN_IF_ERROR(ImportBuiltin(name, onnx_path, input_size));
  DOPPEL_ASSIGN_OR_RETURN(ModelSpec spec, LoadSidecar(onnx_path));
  return OnnxModel::Load(onnx_path, spec);
}

}  // namespace doppel
