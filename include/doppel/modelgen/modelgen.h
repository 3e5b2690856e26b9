// Generator of VGG16 and ResNet50 ONNX models with deterministic RANDOM weights, in the two forms users hold: the
// tf2onnx export of a Keras feature extractor (NHWC input, global max pooling) and the ONNX Model Zoo / torchvision
// classifier (NCHW input, 1000 logits). No pretrained weights can be downloaded where doppel is built, so tests and
// benchmarks use these. They are for tests and speed measurement ONLY: every ModelProto says so in its doc_string
// and in metadata_props["doppel.weights"]; their features mean nothing.
//
// Full-size (width 1, 224) models, measured: ResNet50 keras-nhwc 23,587,712 parameters (94 MB), zoo-nchw 25,636,712
// (103 MB), VGG16 keras-nhwc 14,714,688 (59 MB), zoo-nchw 138,357,544 (553 MB; about 2 s to write) -- the
// keras.applications counts. Tests should use width_multiplier 1/8 and a small input_size.
//
// Invariant: for the same (arch, seed, width_multiplier, input_size) both forms hold bit-identical trunk weights, so
// the kKerasNhwc output equals GlobalMaxPool over the kZooNchw last feature map for the same image (NHWC vs NCHW).
#pragma once

#include <cstdint>
#include <string>

#include "doppel/util/status.h"

namespace doppel::modelgen {

enum class Arch {
  kResNet50,  // Keras ResNet50 (v1 layout: the stride of a downsampling block sits on its first 1x1 conv).
  kVGG16,     // 13 3x3 convs (64,64,M,128,128,M,256x3,M,512x3,M,512x3,M), ReLU, 2x2/2 max pools.
};

enum class Form {
  // As tf2onnx writes Keras ResNet50/VGG16(include_top=False, pooling='max'): input "input_1:0" float
  // [N,S,S,3] (N symbolic; S = input_size, or symbolic with dynamic_spatial), Transpose to NCHW, the trunk,
  // GlobalMaxPool, Flatten. Output "max_pool" [N,2048*w] (ResNet50) or "global_max_pooling2d" [N,512*w] (VGG16).
  kKerasNhwc,
  // As the ONNX Model Zoo ships resnet50-v1 / vgg16: input "data" float [N,3,S,S], the trunk, then
  // ResNet50: GlobalAveragePool -> Flatten -> Gemm(1000); VGG16: Flatten -> Gemm(4096) -> Relu -> Gemm(4096) -> Relu
  // -> Gemm(1000) (dropout omitted). Output logits [N,1000]: "resnetv17_dense0_fwd" / "vgg0_dense2_fwd".
  kZooNchw,
};

struct ModelGenOptions {
  Arch arch = Arch::kResNet50;
  Form form = Form::kKerasNhwc;
  uint64_t seed = 1;
  // Every channel count c (and the VGG16 4096-wide FC layers) becomes max(8, round(c * width_multiplier)), so tests
  // can run a tiny model of the same topology. The 1000 logits are never scaled. Range (0, 4].
  double width_multiplier = 1.0;
  // Square input side S: a multiple of 32 in [32, 4096].
  int input_size = 224;
  // Input height and width become symbolic ("height", "width"). Not for kZooNchw VGG16, whose FC layer fixes S.
  bool dynamic_spatial = false;
};

// Names of the graph's tensors, so tests can feed and tap them.
struct ModelGenTensorNames {
  std::string input;
  std::string output;
  // The last 4-D trunk feature map before global pooling or flattening, NCHW in both forms (after the Transpose in
  // kKerasNhwc): "conv5_block3_out" (ResNet50) or "block5_pool" (VGG16).
  std::string last_feature_map;
  // The pre-logits tensor of kZooNchw: "flatten_gap" [N,2048*w] (ResNet50) or "fc2_relu" [N,4096*w] (VGG16).
  // kKerasNhwc has no classifier: there it equals `output`.
  std::string penultimate;
};

// Key of the ModelProto metadata_props entry that labels the weights as random.
inline constexpr const char kWeightsMetadataKey[] = "doppel.weights";
// "random (deterministic seed N): for tests and speed measurement only, not pretrained".
std::string WeightsLabel(uint64_t seed);

// OK iff the options describe a model GenerateModel can build; the message names the bad field.
Status ValidateOptions(const ModelGenOptions& options);

// The serialized ModelProto (IR version 8, opset 13). Same options, same bytes.
Result<std::string> GenerateModel(const ModelGenOptions& options);
// GenerateModel, written to `path` (replaced if present).
Status WriteModel(const ModelGenOptions& options, const std::string& path);

ModelGenTensorNames TensorNames(const ModelGenOptions& options);

// "resnet50" / "vgg16", "keras-nhwc" / "zoo-nchw", and the parsers of those spellings.
const char* ArchName(Arch arch);
const char* FormName(Form form);
Result<Arch> ParseArch(const std::string& name);
Result<Form> ParseForm(const std::string& name);
// A file name that says what the model is and that its weights are random, e.g.
// "resnet50-keras-nhwc-random-seed1.onnx" ("-w0.125", "-s64", "-dyn" appended to the stem when not default).
std::string DefaultFileName(const ModelGenOptions& options);

}  // namespace doppel::modelgen
