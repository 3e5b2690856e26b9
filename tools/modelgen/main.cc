// doppel-modelgen: writes a VGG16 or ResNet50 ONNX model with deterministic RANDOM weights, for tests and speed
// measurement only, and prints the names of its tensors as JSON. Parsing and printing only; the work is in
// doppel/modelgen.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "doppel/modelgen/modelgen.h"

namespace {

using doppel::modelgen::ModelGenOptions;

int Fail(const doppel::Status& st) {
  std::fprintf(stderr, "doppel-modelgen: %s\n", st.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "doppel-modelgen: writes a VGG16 or ResNet50 ONNX model with deterministic RANDOM weights.\n"
      "The weights are NOT pretrained: the model is for tests and speed measurement only, and its features mean\n"
      "nothing. It says so in its doc_string and in metadata_props[\"doppel.weights\"].\n"
      "Forms: keras-nhwc = as tf2onnx exports Keras <arch>(include_top=False, pooling='max') (input NHWC,\n"
      "output pooled features); zoo-nchw = as the ONNX Model Zoo ships it (input NCHW \"data\", output 1000 logits).\n"
      "The same seed gives both forms the same trunk weights. Prints the tensor names as JSON on stdout."};
  std::string arch_name, form_name, out;
  ModelGenOptions o;
  app.add_option("--arch", arch_name, "resnet50 or vgg16")->required()->check(CLI::IsMember({"resnet50", "vgg16"}));
  app.add_option("--form", form_name, "keras-nhwc or zoo-nchw")
      ->required()
      ->check(CLI::IsMember({"keras-nhwc", "zoo-nchw"}));
  app.add_option("--seed", o.seed, "seed of the random weights")->capture_default_str();
  app.add_option("--width-multiplier", o.width_multiplier,
                 "scales every channel count (min 8) for a small model of the same topology, in (0, 4]")
      ->capture_default_str();
  app.add_option("--input-size", o.input_size, "square input side, a multiple of 32")->capture_default_str();
  app.add_flag("--dynamic-spatial", o.dynamic_spatial, "symbolic input height and width (not vgg16 zoo-nchw)");
  app.add_option("--out", out,
                 "output file (default: a name saying arch, form, 'random' and the seed, e.g. "
                 "resnet50-keras-nhwc-random-seed1.onnx, in the current folder)");
  CLI11_PARSE(app, argc, argv);

  auto arch = doppel::modelgen::ParseArch(arch_name);
  if (!arch.ok()) return Fail(arch.status());
  auto form = doppel::modelgen::ParseForm(form_name);
  if (!form.ok()) return Fail(form.status());
  o.arch = *arch;
  o.form = *form;
  if (out.empty()) out = doppel::modelgen::DefaultFileName(o);

  const auto start = std::chrono::steady_clock::now();
  doppel::Status st = doppel::modelgen::WriteModel(o, out);
  if (!st.ok()) return Fail(st);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const doppel::modelgen::ModelGenTensorNames names = doppel::modelgen::TensorNames(o);
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(out, ec);
  nlohmann::json j = {
      {"file", out},
      {"bytes", ec ? 0 : bytes},
      {"seconds", seconds},
      {"arch", doppel::modelgen::ArchName(o.arch)},
      {"form", doppel::modelgen::FormName(o.form)},
      {"seed", o.seed},
      {"width_multiplier", o.width_multiplier},
      {"input_size", o.input_size},
      {"dynamic_spatial", o.dynamic_spatial},
      {"weights", doppel::modelgen::WeightsLabel(o.seed)},
      {"input", names.input},
      {"output", names.output},
      {"last_feature_map", names.last_feature_map},
      {"penultimate", names.penultimate},
  };
  std::printf("%s\n", j.dump(2).c_str());
  return 0;
}
