// The generated models load and run in ONNX Runtime, with the documented names and shapes, finite and
// non-degenerate outputs, and the same trunk in both forms: keras-nhwc output == GlobalMaxPool(zoo-nchw last
// feature map) for the same image.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ostream>

#define ONNX_ML 1
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include "doppel/modelgen/modelgen.h"
#include "ort_runner.h"

namespace doppel::modelgen {

// gtest prints parameters through these (found by ADL, so in the enums' namespace).
void PrintTo(Arch arch, std::ostream* os) { *os << ArchName(arch); }
void PrintTo(Form form, std::ostream* os) { *os << FormName(form); }

namespace {

using testing::FloatTensor;
using testing::MakeImageNchw;
using testing::NchwToNhwc;
using testing::OrtRunner;

ModelGenOptions Tiny(Arch arch, Form form, uint64_t seed = 1, int size = 64) {
  return ModelGenOptions{arch, form, seed, 0.125, size, false};
}

std::string Generate(const ModelGenOptions& o) {
  auto bytes = GenerateModel(o);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::string();
}

// Adds `tensor` (a float tensor of the graph) as an extra graph output.
std::string WithExtraOutput(const std::string& bytes, const std::string& tensor) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  onnx::ValueInfoProto* v = m.mutable_graph()->add_output();
  v->set_name(tensor);
  v->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  return m.SerializeAsString();
}

FloatTensor Input(const ModelGenOptions& o, int n, uint32_t image_seed) {
  FloatTensor nchw = MakeImageNchw(n, o.input_size, image_seed);
  return o.form == Form::kKerasNhwc ? NchwToNhwc(nchw) : nchw;
}

void ExpectFiniteAndNonDegenerate(const FloatTensor& t) {
  size_t nonzero = 0;
  float lo = t.data.at(0), hi = t.data.at(0);
  for (float v : t.data) {
    ASSERT_TRUE(std::isfinite(v));
    nonzero += v != 0.0f;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_GT(nonzero, t.data.size() / 4);
  EXPECT_GT(hi - lo, 1e-3f * std::max(std::fabs(lo), std::fabs(hi)));
}

// Mean relative difference between the two rows of a [2, F] tensor: different images give different features.
double RowDifference(const FloatTensor& t) {
  const size_t f = t.data.size() / 2;
  double diff = 0, norm = 0;
  for (size_t i = 0; i < f; ++i) {
    diff += std::fabs(t.data[i] - t.data[f + i]);
    norm += std::fabs(t.data[i]) + std::fabs(t.data[f + i]);
  }
  return diff / std::max(norm, 1e-30);
}

class modelgenForms : public ::testing::TestWithParam<std::tuple<Arch, Form>> {};

TEST_P(modelgenForms, LoadsRunsWithDocumentedNamesAndShapes) {
  const auto [arch, form] = GetParam();
  const ModelGenOptions o = Tiny(arch, form);
  const ModelGenTensorNames names = TensorNames(o);
  OrtRunner r(Generate(o));
  ASSERT_EQ(r.session().GetInputCount(), 1u);
  ASSERT_EQ(r.session().GetOutputCount(), 1u);
  EXPECT_EQ(r.InputName(0), names.input);
  EXPECT_EQ(r.OutputName(0), names.output);
  const int s = o.input_size;
  const int64_t features = arch == Arch::kResNet50 ? 2048 / 8 : 512 / 8;
  if (form == Form::kKerasNhwc) {
    EXPECT_EQ(r.InputShape(0), (std::vector<int64_t>{-1, s, s, 3}));
    EXPECT_EQ(r.OutputShape(0), (std::vector<int64_t>{-1, features}));
  } else {
    EXPECT_EQ(r.InputShape(0), (std::vector<int64_t>{-1, 3, s, s}));
    EXPECT_EQ(r.OutputShape(0), (std::vector<int64_t>{-1, 1000}));
  }
  // Batch of 2 different images: output shape, finiteness, and the two rows differ.
  std::vector<FloatTensor> out = r.Run(names.input, Input(o, 2, 11), {names.output});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{2, form == Form::kKerasNhwc ? features : 1000}));
  ExpectFiniteAndNonDegenerate(out[0]);
  EXPECT_GT(RowDifference(out[0]), 1e-3);
}

TEST_P(modelgenForms, TappedTensorsHaveDocumentedShapes) {
  const auto [arch, form] = GetParam();
  const ModelGenOptions o = Tiny(arch, form);
  const ModelGenTensorNames names = TensorNames(o);
  std::string bytes = WithExtraOutput(Generate(o), names.last_feature_map);
  if (names.penultimate != names.output) bytes = WithExtraOutput(bytes, names.penultimate);
  OrtRunner r(bytes);
  std::vector<std::string> fetch = {names.last_feature_map};
  if (names.penultimate != names.output) fetch.push_back(names.penultimate);
  std::vector<FloatTensor> out = r.Run(names.input, Input(o, 1, 3), fetch);
  const int64_t c = arch == Arch::kResNet50 ? 2048 / 8 : 512 / 8;
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{1, c, 2, 2}));  // NCHW, 64 / 32 = 2
  ExpectFiniteAndNonDegenerate(out[0]);
  if (fetch.size() > 1) {
    EXPECT_EQ(out[1].shape, (std::vector<int64_t>{1, arch == Arch::kResNet50 ? c : 4096 / 8}));
    ExpectFiniteAndNonDegenerate(out[1]);
  }
}

TEST_P(modelgenForms, DifferentSeedDifferentOutput) {
  const auto [arch, form] = GetParam();
  const ModelGenOptions a = Tiny(arch, form, 1), b = Tiny(arch, form, 2);
  const std::string name = TensorNames(a).output;
  FloatTensor ya = OrtRunner(Generate(a)).Run(TensorNames(a).input, Input(a, 1, 5), {name})[0];
  FloatTensor yb = OrtRunner(Generate(b)).Run(TensorNames(b).input, Input(b, 1, 5), {name})[0];
  FloatTensor both{{2, static_cast<int64_t>(ya.data.size())}, ya.data};
  both.data.insert(both.data.end(), yb.data.begin(), yb.data.end());
  EXPECT_GT(RowDifference(both), 1e-2);
}

INSTANTIATE_TEST_SUITE_P(All, modelgenForms,
                         ::testing::Combine(::testing::Values(Arch::kResNet50, Arch::kVGG16),
                                            ::testing::Values(Form::kKerasNhwc, Form::kZooNchw)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) == Arch::kResNet50 ? "ResNet50" : "VGG16") +
                                  (std::get<1>(info.param) == Form::kKerasNhwc ? "KerasNhwc" : "ZooNchw");
                         });

// keras-nhwc(image in NHWC) == GlobalMaxPool(zoo-nchw last feature map(image in NCHW)), to 1e-5 relative.
void ExpectFormsAgree(Arch arch, int size) {
  const ModelGenOptions k = Tiny(arch, Form::kKerasNhwc, 77, size);
  const ModelGenOptions z = Tiny(arch, Form::kZooNchw, 77, size);
  const FloatTensor image = MakeImageNchw(2, size, 21);
  FloatTensor keras = OrtRunner(Generate(k)).Run(TensorNames(k).input, NchwToNhwc(image), {TensorNames(k).output})[0];
  const std::string fmap_name = TensorNames(z).last_feature_map;
  FloatTensor fmap = OrtRunner(WithExtraOutput(Generate(z), fmap_name)).Run(TensorNames(z).input, image, {fmap_name})[0];
  ASSERT_EQ(fmap.shape.size(), 4u);
  const int64_t n = fmap.shape[0], c = fmap.shape[1], hw = fmap.shape[2] * fmap.shape[3];
  ASSERT_EQ(keras.shape, (std::vector<int64_t>{n, c}));
  float scale = 0;
  for (float v : keras.data) scale = std::max(scale, std::fabs(v));
  ASSERT_GT(scale, 0.0f);
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* p = &fmap.data[(b * c + ch) * hw];
      const float pooled = *std::max_element(p, p + hw);
      const float got = keras.data[b * c + ch];
      ASSERT_NEAR(got, pooled, 1e-5f * std::max(std::fabs(pooled), 1e-3f * scale)) << "batch " << b << " ch " << ch;
    }
  }
}

TEST(modelgenOrt, ResNet50KerasEqualsMaxPooledZooFeatureMap) { ExpectFormsAgree(Arch::kResNet50, 96); }
TEST(modelgenOrt, VGG16KerasEqualsMaxPooledZooFeatureMap) { ExpectFormsAgree(Arch::kVGG16, 96); }

TEST(modelgenOrt, DynamicSpatialRunsAtSeveralSizes) {
  for (Form form : {Form::kKerasNhwc, Form::kZooNchw}) {
    ModelGenOptions o = Tiny(Arch::kResNet50, form);
    o.dynamic_spatial = true;
    OrtRunner r(Generate(o));
    const std::vector<int64_t> declared = r.InputShape(0);
    EXPECT_EQ(std::count(declared.begin(), declared.end(), -1), 3);
    for (int size : {64, 96}) {
      ModelGenOptions at = o;
      at.input_size = size;
      FloatTensor y = r.Run(TensorNames(o).input, Input(at, 1, 8), {TensorNames(o).output})[0];
      ExpectFiniteAndNonDegenerate(y);
    }
  }
}

// Full-size ResNet50 keras-nhwc at 224: generate, load, run one image. Prints the times.
TEST(modelgenOrt, FullSizeResNet50Runs) {
  ModelGenOptions o;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string bytes = Generate(o);
  const auto t1 = std::chrono::steady_clock::now();
  OrtRunner r(bytes);
  const auto t2 = std::chrono::steady_clock::now();
  FloatTensor y = r.Run(TensorNames(o).input, Input(o, 2, 1), {TensorNames(o).output})[0];
  const auto t3 = std::chrono::steady_clock::now();
  EXPECT_EQ(y.shape, (std::vector<int64_t>{2, 2048}));
  ExpectFiniteAndNonDegenerate(y);
  EXPECT_GT(RowDifference(y), 1e-3);
  double dot = 0, n0 = 0, n1 = 0;
  for (size_t i = 0; i < 2048; ++i) {
    dot += double(y.data[i]) * y.data[2048 + i];
    n0 += double(y.data[i]) * y.data[i];
    n1 += double(y.data[2048 + i]) * y.data[2048 + i];
  }
  std::printf("cosine between the two images' features: %.4f, row difference %.4f\n", dot / std::sqrt(n0 * n1),
              RowDifference(y));
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  std::printf("full ResNet50 keras-nhwc: %zu bytes, generate %.0f ms, load %.0f ms, run (batch 2) %.0f ms\n",
              bytes.size(), ms(t0, t1), ms(t1, t2), ms(t2, t3));
}

}  // namespace
}  // namespace doppel::modelgen

namespace doppel::modelgen {
namespace {

double Rms(const FloatTensor& t) {
  double s = 0;
  for (float v : t.data) s += static_cast<double>(v) * v;
  return std::sqrt(s / static_cast<double>(t.data.size()));
}

// He scaling plus a small gamma on each residual branch's last BN keep activations in a sane range through all
// 16 bottleneck blocks of the full-width ResNet50 (and all 13 convs of VGG16): no stage's RMS drifts by more than
// a factor 30 from the stem's.
TEST(modelgenOrt, ActivationsStayInRangeThroughDepth) {
  for (Arch arch : {Arch::kResNet50, Arch::kVGG16}) {
    ModelGenOptions o{arch, Form::kZooNchw, 1, 1.0, 224, false};
    std::vector<std::string> taps;
    if (arch == Arch::kResNet50) {
      taps = {"conv1_relu"};
      const int blocks[] = {3, 4, 6, 3};
      for (int s = 0; s < 4; ++s)
        for (int b = 1; b <= blocks[s]; ++b)
          taps.push_back("conv" + std::to_string(s + 2) + "_block" + std::to_string(b) + "_out");
    } else {
      o.width_multiplier = 0.5;  // the full-width FC layers would make the model 550 MB
      taps = {"block1_conv1_relu", "block1_pool", "block2_pool", "block3_pool", "block4_pool", "block5_pool",
              "fc1_relu", "fc2_relu", TensorNames(o).output};
    }
    std::string bytes = Generate(o);
    for (const std::string& t : taps) bytes = WithExtraOutput(bytes, t);
    OrtRunner r(bytes);
    std::vector<FloatTensor> out = r.Run(TensorNames(o).input, MakeImageNchw(1, 224, 4), taps);
    const double stem = Rms(out[0]);
    std::printf("%s RMS:", ArchName(arch));
    for (size_t i = 0; i < taps.size(); ++i) {
      const double rms = Rms(out[i]);
      std::printf(" %s=%.3g", taps[i].c_str(), rms);
      EXPECT_TRUE(std::isfinite(rms)) << taps[i];
      EXPECT_GT(rms, stem / 30) << taps[i];
      EXPECT_LT(rms, stem * 30) << taps[i];
    }
    std::printf("\n");
  }
}

}  // namespace
}  // namespace doppel::modelgen

namespace doppel::modelgen {
namespace {

// All four full-size models (VGG16 zoo-nchw is 553 MB): generate, load, run one image. Slow and memory-hungry,
// so only when DOPPEL_MODELGEN_FULL=1.
TEST(modelgenOrt, FullSizeAllFormsLoadAndRun) {
  const char* env = std::getenv("DOPPEL_MODELGEN_FULL");
  if (!env || std::string(env) != "1") GTEST_SKIP() << "set DOPPEL_MODELGEN_FULL=1 to run";
  for (Arch arch : {Arch::kResNet50, Arch::kVGG16}) {
    for (Form form : {Form::kKerasNhwc, Form::kZooNchw}) {
      ModelGenOptions o{arch, form, 1, 1.0, 224, false};
      const auto t0 = std::chrono::steady_clock::now();
      std::string bytes = Generate(o);
      const auto t1 = std::chrono::steady_clock::now();
      OrtRunner r(bytes);
      const size_t size = bytes.size();
      bytes = std::string();
      const auto t2 = std::chrono::steady_clock::now();
      FloatTensor y = r.Run(TensorNames(o).input, Input(o, 1, 1), {TensorNames(o).output})[0];
      const auto t3 = std::chrono::steady_clock::now();
      ExpectFiniteAndNonDegenerate(y);
      auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
      std::printf("full %s %s: %zu bytes, generate %.0f ms, load %.0f ms, run (batch 1) %.0f ms\n", ArchName(arch),
                  FormName(form), size, ms(t0, t1), ms(t1, t2), ms(t2, t3));
    }
  }
}

}  // namespace
}  // namespace doppel::modelgen
