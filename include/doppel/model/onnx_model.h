// OnnxModel: one ONNX Runtime session for one embedding model. It reads the model's inputs and outputs, works out
// the input layout and size, cuts the graph at a chosen tensor if the spec asks, and turns a batch of preprocessed
// tensors into L2-normalised vectors. One session per model, shared by all threads: Run() is thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "doppel/image/preprocess.h"
#include "doppel/model/spec.h"
#include "doppel/util/status.h"

namespace doppel {

struct TensorInfo {
  std::string name;
  std::string type;                // "float32", "int64", ... ("?" when unknown)
  std::vector<int64_t> shape;      // -1 for a dynamic dimension
  std::vector<std::string> dims;   // per dimension: the number, or the symbolic name ("?" if none)
  bool known_rank = true;
};

// What an ONNX file declares, read without creating a session.
struct ModelInfo {
  std::string path;
  int64_t ir_version = 0;
  int64_t opset = 0;               // of the default ("" / "ai.onnx") domain
  std::string producer;            // producer_name + " " + producer_version
  std::string doc;
  std::vector<TensorInfo> inputs;  // graph inputs that are not initializers
  std::vector<TensorInfo> outputs;
  std::map<std::string, std::string> metadata;  // metadata_props
  int64_t node_count = 0;
  int64_t parameter_count = 0;     // elements in initializers
};

Result<ModelInfo> InspectModelFile(const std::string& path);
// Every tensor an embedding could be taken from (node outputs), with shapes from ONNX shape inference, in graph
// order. For `doppel model inspect --tensors`.
Result<std::vector<TensorInfo>> ListModelTensors(const std::string& path);

// The image layout of a model's input, from its shape: NCHW if dim 1 is 3, NHWC if dim 3 is 3. InvalidArgument
// naming the input when it is not a float32 rank-4 tensor with 3 channels (e.g. a text model's int64 ids).
Result<Layout> DetectInputLayout(const TensorInfo& input, LayoutHint hint = LayoutHint::kAuto);

// A guess of the preset a model was trained with, from its layout, names and producer (a guess, shown as such).
std::string GuessPreset(const ModelInfo& info);

struct SessionConfig {
  int intra_op_threads = 1;     // ONNX Runtime's own pool; 1 = run on the calling thread (see BENCHMARKS.md)
  bool allow_spinning = false;  // spinning pools collapse when a neighbour takes a core
};

class OnnxModel {
 public:
  // Loads `path` with `spec`. Resolves the spec against the model: the input size comes from the model when its
  // H and W are fixed (the spec's resize_shorter is scaled by the same ratio when it came from a preset), else
  // from the spec. Errors name the file and the tensor at fault.
  static Result<std::shared_ptr<OnnxModel>> Load(const std::string& path, const ModelSpec& spec,
                                                 const SessionConfig& config = {});
  ~OnnxModel();

  const std::string& path() const { return path_; }
  const ModelSpec& spec() const { return spec_; }        // effective spec
  const ModelInfo& info() const { return info_; }        // of the file as given (before any cut)
  Layout input_layout() const { return layout_; }
  const std::string& input_name() const { return input_name_; }
  const std::string& output_name() const { return output_name_; }
  int dim() const { return dim_; }                       // embedding dimension
  int max_batch() const { return max_batch_; }           // 0 = any
  size_t input_floats() const { return size_t(3) * spec_.preprocess.width * spec_.preprocess.height; }
  // Hash of the model file's bytes and the canonical spec: names one embedding space.
  const std::string& fingerprint() const { return fingerprint_; }
  const std::string& model_sha256() const { return model_sha256_; }

  // Runs `n` images whose tensors lie contiguously in `input` (n * input_floats()), writes n * dim() floats.
  // Thread-safe. Splits the batch itself when the model has a fixed batch size.
  Status Run(const float* input, int n, std::vector<float>* out) const;

  // Convenience: preprocess + Run for one decoded image.
  Result<std::vector<float>> Embed(const ImageU8& rgb) const;

 private:
  OnnxModel() = default;
  Status RunChunk(const float* input, int n, float* out) const;

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  ModelSpec spec_;
  ModelInfo info_;
  Layout layout_ = Layout::kNCHW;
  Layout output_layout_ = Layout::kNCHW;  // of a 4-D embedding tensor
  std::string input_name_;
  std::string output_name_;
  int output_rank_ = 2;
  int dim_ = 0;
  int max_batch_ = 0;
  std::string fingerprint_;
  std::string model_sha256_;
};

// Pools a 4-D tensor of one image ([C,H,W] or [H,W,C] floats) to C floats.
void PoolFeatureMap(const float* data, int c, int h, int w, Layout layout, Pooling pool, float gem_p, float* out);
// Scales v to unit L2 length (left as is when its norm is 0).
void L2Normalize(float* v, int n);

}  // namespace doppel
