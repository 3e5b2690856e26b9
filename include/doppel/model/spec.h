// ModelSpec: everything besides the ONNX file that decides which vector an image gets: the preprocessing, which
// tensor is the embedding, how it is pooled and normalised. It is stored as a JSON sidecar next to the model
// (`<model>.doppel.json`), can be overridden by CLI flags, and its canonical JSON is part of the model
// fingerprint, so two different specs never share an embedding space.
#pragma once

#include <string>

#include "doppel/image/preprocess.h"
#include "doppel/util/status.h"

namespace doppel {

enum class Pooling {
  kNone,  // the output must already be [N, D] (or [N, D, 1, 1])
  kAvg,   // global average over the spatial dimensions of a 4-D output
  kMax,   // global max
  kGeM,   // generalised mean, (mean(max(x,eps)^p))^(1/p), p = gem_p
};

enum class LayoutHint { kAuto, kNCHW, kNHWC };

struct ModelSpec {
  std::string preset;  // the preset it started from ("" if none); informational, the fields below decide
  PreprocessSpec preprocess;
  // kAuto: from the model input's shape (the dimension of size 3). Set when both dims 1 and 3 are 3, or to force.
  LayoutHint input_layout = LayoutHint::kAuto;
  // The tensor that becomes the embedding: an output name, or any intermediate tensor ("tap": the graph is cut
  // there). Empty: the model's first output.
  std::string output;
  Pooling pool = Pooling::kNone;  // for 4-D embedding tensors; kNone on a 4-D tensor with spatial size > 1 is an error
  float gem_p = 3.0f;
  // Layout of a 4-D embedding tensor. kAuto: the larger of dims 1 and 3 is taken as channels (feature maps have
  // more channels than pixels per side), the input layout if equal.
  LayoutHint output_layout = LayoutHint::kAuto;
  bool normalize = true;  // L2-normalise the vector (doppel always does unless told otherwise)
  // Flip pooling ("flip_pool"): the embedding is the mean of the vectors of the input tensor and of its left-right
  // mirror (each normalised first when `normalize`), normalised again. Twice the inference per image; for pictures
  // and their mirror images to match. Measured in BENCHMARKS.md ("Retrieval refinements": neutral on clip art and
  // icons, worse on glyphs, whose mirror images are other shapes), so no built-in uses it. In the canonical spec only
  // when on.
  bool flip_pool = false;
};

// A spec from a preset name: keras-caffe, keras-tf, torch-imagenet, clip. The preset's pooling: none.
Result<ModelSpec> SpecFromPreset(const std::string& preset);

// JSON <-> spec. Unknown keys and bad values are errors naming the key and value. Missing keys keep the value of
// `base` (so a sidecar may say just {"preset": "keras-tf", "pool": "max"}; "preset" is applied first).
Result<ModelSpec> SpecFromJson(const std::string& json_text, const ModelSpec& base = {});
// Canonical JSON: every field, keys sorted, no whitespace; equal specs give equal strings.
std::string SpecToCanonicalJson(const ModelSpec& spec);
// Indented JSON for files and display.
std::string SpecToPrettyJson(const ModelSpec& spec);

// The sidecar path of a model file: "dir/name.onnx" -> "dir/name.doppel.json".
std::string SidecarPath(const std::string& model_path);
// Reads the sidecar of `model_path` if it exists: its spec, or `base` unchanged when there is no sidecar.
Result<ModelSpec> LoadSidecar(const std::string& model_path, const ModelSpec& base = {});
Status WriteSidecar(const std::string& model_path, const ModelSpec& spec);

const char* PoolingName(Pooling p);
const char* FilterName(Filter f);

}  // namespace doppel
