// The built-in mobilenet_v2 model against golden values computed by an independent numpy port of nsfwjs's
// MobileNetV2 (tests/keras/data/nsfwjs-mobilenet_v2-golden.json, copied from the project's reference facts).
// Needs third_party/nsfwjs/mobilenet_v2 (scripts/fetch-nsfwjs.sh); skipped without it.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "doppel/keras/import.h"
#include "keras/keras_test_util.h"
#include "support/test_util.h"

namespace doppel::keras {
namespace {

using namespace doppel::keras::testing;

const std::string kModelDir = std::string(DOPPEL_SOURCE_DIR) + "/third_party/nsfwjs/mobilenet_v2";

json Golden() {
  std::ifstream f(std::string(DOPPEL_SOURCE_DIR) + "/tests/keras/data/nsfwjs-mobilenet_v2-golden.json");
  return json::parse(f);
}

// px[h, w, c] = (7h + 13w + 29c) mod 256, RGB, then x / 255; NHWC [1, 224, 224, 3].
FloatTensor GoldenInput(double* sum_u8) {
  FloatTensor t{{1, 224, 224, 3}, std::vector<float>(224 * 224 * 3)};
  *sum_u8 = 0;
  for (int h = 0; h < 224; ++h)
    for (int w = 0; w < 224; ++w)
      for (int c = 0; c < 3; ++c) {
        const int v = (7 * h + 13 * w + 29 * c) % 256;
        *sum_u8 += v;
        t.data[(h * 224 + w) * 3 + c] = static_cast<float>(v) / 255.0f;
      }
  return t;
}

std::vector<float> L2(std::vector<float> v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  const float inv = static_cast<float>(1.0 / std::sqrt(s));
  for (float& x : v) x *= inv;
  return v;
}

TEST(KerasNsfwjsGolden, MobileNetV2TapsAndEmbeddings) {
  if (!std::filesystem::exists(kModelDir + "/model.json"))
    GTEST_SKIP() << kModelDir << " missing (run scripts/fetch-nsfwjs.sh)";
  const json golden = Golden();
  auto builtin = BuiltinKeras("mobilenet_v2");
  ASSERT_TRUE(builtin.ok()) << builtin.status().ToString();
  KerasImportOptions options = builtin->options;
  options.tap = "block_10_project_BN";  // depends on every golden tap
  options.pool.clear();
  auto r = ConvertKeras(kModelDir, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->input_name, "input_1");
  EXPECT_EQ(r->input_shape, (std::vector<int64_t>{-1, 224, 224, 3}));

  std::vector<std::string> taps;
  for (auto it = golden["tap_shapes"].begin(); it != golden["tap_shapes"].end(); ++it) taps.push_back(it.key());
  double sum_u8 = 0;
  FloatTensor input = GoldenInput(&sum_u8);
  EXPECT_EQ(sum_u8, golden["input_sum_uint8"].get<double>());
  std::vector<FloatTensor> outs = RunModel(WithOutputs(r->model_bytes, taps), r->input_name, input, taps);
  for (size_t i = 0; i < taps.size(); ++i) {
    SCOPED_TRACE(taps[i]);
    FloatTensor t = ToNhwc(outs[i]);
    const json& shape = golden["tap_shapes"][taps[i]];
    ASSERT_EQ(t.shape, (std::vector<int64_t>{1, shape[0], shape[1], shape[2]}));
    double sum = 0;
    for (float x : t.data) sum += x;
    const double want = golden["tap_sums"][taps[i]].get<double>();
    // Sums over ~10^5..10^6 float32 values: relative 1e-4 (absolute floor for the near-zero project_BN sum).
    RecordProperty("sum_" + taps[i], std::to_string(sum) + " vs " + std::to_string(want));
    EXPECT_NEAR(sum, want, std::max(1e-4 * std::fabs(want), 0.5)) << "sum";
    const json& first = golden["tap_first5_at_0_0"][taps[i]];
    for (int c = 0; c < 5; ++c) EXPECT_NEAR(t.data[c], first[c].get<double>(), 1e-3) << "channel " << c;
  }

  // Embeddings at the recommended tap: GeM p=3 and GMP over the 14x14 map, L2-normalised.
  options.tap = "block_10_depthwise_relu";
  auto tapped = ConvertKeras(kModelDir, options);
  ASSERT_TRUE(tapped.ok()) << tapped.status().ToString();
  FloatTensor fm = RunModel(tapped->model_bytes, tapped->input_name, input, {tapped->output_name})[0];
  ASSERT_EQ(fm.shape, (std::vector<int64_t>{1, 384, 14, 14}));
  std::vector<float> gem(384), gmp(384);
  for (int c = 0; c < 384; ++c) {
    double s = 0;
    float mx = -1e30f;
    for (int i = 0; i < 196; ++i) {
      const float x = fm.data[c * 196 + i];
      s += std::pow(std::max(x, 1e-6f), 3.0);
      mx = std::max(mx, x);
    }
    gem[c] = static_cast<float>(std::cbrt(s / 196));
    gmp[c] = mx;
  }
  gem = L2(gem);
  gmp = L2(gmp);
  const json& g3 = golden["block_10_depthwise_relu_gem3_l2"];
  const json& gm = golden["block_10_depthwise_relu_gmp_l2"];
  double max_err_gem = 0, max_err_gmp = 0;
  for (int c = 0; c < 384; ++c) {
    max_err_gem = std::max(max_err_gem, std::fabs(gem[c] - g3[c].get<double>()));
    max_err_gmp = std::max(max_err_gmp, std::fabs(gmp[c] - gm[c].get<double>()));
  }
  RecordProperty("max_err_gem", std::to_string(max_err_gem));
  RecordProperty("max_err_gmp", std::to_string(max_err_gmp));
  EXPECT_LT(max_err_gem, 2e-5) << "GeM3 embedding";
  EXPECT_LT(max_err_gmp, 2e-5) << "GMP embedding";

  // Provenance: every converted layer up to the tap is frozen ImageNet weight, and the file says so.
  {
    onnx::ModelProto m;
    ASSERT_TRUE(m.ParseFromString(tapped->model_bytes));
    std::map<std::string, std::string> meta;
    for (const auto& e : m.metadata_props()) meta[e.key()] = e.value();
    RecordProperty("frozen_layers", meta["doppel.keras.frozen_layers"]);
    EXPECT_EQ(meta["doppel.keras.frozen_layers"].rfind("all ", 0), 0u) << meta["doppel.keras.frozen_layers"];
    EXPECT_NE(meta["doppel.keras.stored_dtypes"].find("uint8"), std::string::npos);
    EXPECT_NE(meta["doppel.license"].find("MIT"), std::string::npos);
    EXPECT_NE(meta["doppel.weights"].find("nsfwjs 4.4.0"), std::string::npos);
  }

  // The same embedding with the pooling baked into the graph.
  options.pool = "gem";
  options.pool_in_graph = true;
  auto pooled = ConvertKeras(kModelDir, options);
  ASSERT_TRUE(pooled.ok()) << pooled.status().ToString();
  EXPECT_EQ(pooled->output_name, "block_10_depthwise_relu/gem");
  FloatTensor v = RunModel(pooled->model_bytes, pooled->input_name, input, {pooled->output_name})[0];
  ASSERT_EQ(v.shape, (std::vector<int64_t>{1, 384}));
  std::vector<float> vl = L2(v.data);
  for (int c = 0; c < 384; ++c) EXPECT_NEAR(vl[c], g3[c].get<double>(), 2e-5) << "in-graph GeM channel " << c;
}

// The whole classifier (no tap) converts too: its softmax head gives 5 probabilities.
TEST(KerasNsfwjsGolden, MobileNetV2WholeClassifier) {
  if (!std::filesystem::exists(kModelDir + "/model.json"))
    GTEST_SKIP() << kModelDir << " missing (run scripts/fetch-nsfwjs.sh)";
  KerasImportOptions options;
  auto r = ConvertKeras(kModelDir, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output_name, "dense_3");
  double sum_u8 = 0;
  FloatTensor p = RunModel(r->model_bytes, r->input_name, GoldenInput(&sum_u8), {r->output_name})[0];
  ASSERT_EQ(p.shape, (std::vector<int64_t>{1, 5}));
  double s = 0;
  for (float x : p.data) s += x;
  EXPECT_NEAR(s, 1.0, 1e-5);
}

// InceptionV3 cut at mixed5 (the built-in's options): a 35x35x288 map, finite, 'same' average pools included.
TEST(KerasNsfwjsGolden, InceptionV3Mixed5) {
  const std::string dir = std::string(DOPPEL_SOURCE_DIR) + "/third_party/nsfwjs/inception_v3";
  if (!std::filesystem::exists(dir + "/model.json")) GTEST_SKIP() << dir << " missing (run scripts/fetch-nsfwjs.sh)";
  auto builtin = BuiltinKeras("inception_v3");
  ASSERT_TRUE(builtin.ok());
  auto r = ConvertKeras(dir, builtin->options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output_name, "mixed5");
  EXPECT_EQ(r->output_shape, (std::vector<int64_t>{-1, 768, 17, 17}));
  FloatTensor in{{1, 299, 299, 3}, RandomValues(299 * 299 * 3, 7, 0.0f, 1.0f)};
  FloatTensor fm = RunModel(r->model_bytes, r->input_name, in, {r->output_name})[0];
  ASSERT_EQ(fm.shape, (std::vector<int64_t>{1, 768, 17, 17}));
  for (float x : fm.data) ASSERT_TRUE(std::isfinite(x) && x >= 0.0f);  // a concat of ReLU outputs
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(r->model_bytes));
  for (const auto& e : m.metadata_props())
    if (e.key() == "doppel.keras.frozen_layers") {
      RecordProperty("frozen_layers", e.value());
      EXPECT_EQ(e.value().rfind("all ", 0), 0u) << e.value();
    }
  EXPECT_NE(r->sidecar_json.find("\"pool\": \"max\""), std::string::npos) << r->sidecar_json;
  EXPECT_NE(r->sidecar_json.find("\"width\": 299"), std::string::npos) << r->sidecar_json;
}

// Both built-ins decode JPEGs and WebPs with shrink-on-load (bench_shrink_quality: no loss beyond 0.005 mAP / copy
// R@1 on at least two large-picture sets, in each format; BENCHMARKS.md). Needs no weights: the options alone.
TEST(KerasNsfwjsGolden, BuiltinsShrinkOnLoad) {
  for (const std::string name : BuiltinKerasModelNames()) {
    auto b = BuiltinKeras(name);
    ASSERT_TRUE(b.ok()) << name;
    EXPECT_TRUE(b->options.shrink_on_load) << name;
    EXPECT_EQ(b->options.shrink_formats, std::vector<std::string>{"webp"}) << name << ": WebP too, HEIF not";
  }
}

}  // namespace
}  // namespace doppel::keras
