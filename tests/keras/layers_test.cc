// Every supported layer type, converted from a one- or few-layer model.json the test writes, run in ONNX Runtime
// and compared with values computed independently here (tests/keras/reference_ops.h).
#include <gtest/gtest.h>

#include "doppel/keras/import.h"
#include "keras/keras_test_util.h"
#include "keras/reference_ops.h"
#include "support/test_util.h"

namespace doppel::keras {
namespace {

using namespace doppel::keras::testing;

Nhwc RandomImage(int h, int w, int c, uint32_t seed) { return Nhwc{h, w, c, RandomValues(size_t(h) * w * c, seed)}; }

// Converts the model `mw` describes (output: its last layer or `output`) and runs it on `x`; returns the output in
// Keras order (NHWC for 4-D).
FloatTensor Convert(const TfjsModelWriter& mw, const Nhwc& x, const std::string& output = "",
                    KerasImportOptions options = {}) {
  doppel::testing::TempDir dir;
  mw.Write(dir.path().string(), 1 << 22, output);
  auto r = ConvertKeras(dir.path().string(), options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return {};
  FloatTensor in{{1, x.h, x.w, x.c}, x.v};
  return ToNhwc(RunModel(r->model_bytes, r->input_name, in, {r->output_name})[0]);
}

void ExpectNear(const FloatTensor& got, const std::vector<int64_t>& shape, const std::vector<float>& want,
                float tol = 1e-4f) {
  ASSERT_EQ(got.shape, shape);
  ASSERT_EQ(got.data.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got.data[i], want[i], tol) << "element " << i;
}

void ExpectImage(const FloatTensor& got, const Nhwc& want, float tol = 1e-4f) {
  ExpectNear(got, {1, want.h, want.w, want.c}, want.v, tol);
}

json ConvConfig(int filters, std::vector<int> k, std::vector<int> s, const std::string& padding, bool bias,
                const std::string& activation = "linear") {
  return {{"filters", filters}, {"kernel_size", k},   {"strides", s},
          {"padding", padding}, {"use_bias", bias},   {"activation", activation},
          {"data_format", "channels_last"}, {"dilation_rate", {1, 1}}};
}

TEST(KerasLayers, Conv2DPaddingsStridesAndKernels) {
  struct C {
    int h, w, kh, kw, s;
    std::string padding;
  };
  // Even and odd sizes, stride 2 'same' (asymmetric: the odd pad at the end), 1x7 and 7x1 'same', 'valid'.
  const C cases[] = {{6, 6, 3, 3, 2, "same"}, {7, 7, 3, 3, 2, "same"}, {7, 6, 3, 3, 2, "valid"},
                     {5, 9, 1, 7, 1, "same"}, {9, 5, 7, 1, 1, "same"}, {7, 7, 5, 5, 1, "same"},
                     {8, 8, 1, 1, 1, "valid"}, {6, 6, 2, 2, 2, "same"}};
  uint32_t seed = 1;
  for (const C& c : cases) {
    SCOPED_TRACE(std::to_string(c.h) + "x" + std::to_string(c.w) + " k" + std::to_string(c.kh) + "x" +
                 std::to_string(c.kw) + " s" + std::to_string(c.s) + " " + c.padding);
    TfjsModelWriter mw;
    mw.Input("input_1", {c.h, c.w, 3});
    mw.Layer("conv", "Conv2D", ConvConfig(4, {c.kh, c.kw}, {c.s, c.s}, c.padding, true), {"input_1"});
    auto k = mw.RandomWeight("conv", "kernel", {c.kh, c.kw, 3, 4}, seed++);
    auto b = mw.RandomWeight("conv", "bias", {4}, seed++);
    Nhwc x = RandomImage(c.h, c.w, 3, seed++);
    ExpectImage(Convert(mw, x), Conv2D(x, k, c.kh, c.kw, 4, c.s, c.s, c.padding, b));
  }
}

TEST(KerasLayers, Conv2DFusedActivation) {
  TfjsModelWriter mw;
  mw.Input("input_1", {5, 5, 3});
  mw.Layer("conv", "Conv2D", ConvConfig(2, {3, 3}, {1, 1}, "same", false, "relu"), {"input_1"});
  auto k = mw.RandomWeight("conv", "kernel", {3, 3, 3, 2}, 11);
  Nhwc x = RandomImage(5, 5, 3, 12);
  ExpectImage(Convert(mw, x), Map(Conv2D(x, k, 3, 3, 2, 1, 1, "same"), Relu));
}

TEST(KerasLayers, ZeroPaddingThenStride2DepthwiseIsAsymmetric) {
  // MobileNetV2's downsampling: ZeroPadding2D [[0,1],[0,1]] then a 'valid' stride-2 depthwise conv.
  TfjsModelWriter mw;
  mw.Input("input_1", {6, 6, 3});
  mw.Layer("pad", "ZeroPadding2D", {{"padding", {{0, 1}, {0, 1}}}, {"data_format", "channels_last"}}, {"input_1"});
  mw.Layer("dw", "DepthwiseConv2D",
           {{"kernel_size", {3, 3}}, {"strides", {2, 2}}, {"padding", "valid"}, {"depth_multiplier", 1},
            {"use_bias", false}, {"activation", "linear"}, {"data_format", "channels_last"}},
           {"pad"});
  auto k = mw.RandomWeight("dw", "depthwise_kernel", {3, 3, 3, 1}, 21);
  Nhwc x = RandomImage(6, 6, 3, 22);
  Nhwc padded = ZeroPad(x, 0, 1, 0, 1);
  ExpectImage(Convert(mw, x, "pad"), padded);
  ExpectImage(Convert(mw, x), Depthwise(padded, k, 3, 3, 1, 2, 2, "valid"));
}

TEST(KerasLayers, ZeroPaddingForms) {
  TfjsModelWriter mw;
  mw.Input("input_1", {3, 4, 3});
  mw.Layer("p1", "ZeroPadding2D", {{"padding", {{1, 2}, {0, 3}}}}, {"input_1"});
  mw.Layer("p2", "ZeroPadding2D", {{"padding", {1, 2}}}, {"p1"});
  mw.Layer("p3", "ZeroPadding2D", {{"padding", 1}}, {"p2"});
  Nhwc x = RandomImage(3, 4, 3, 23);
  ExpectImage(Convert(mw, x), ZeroPad(ZeroPad(ZeroPad(x, 1, 2, 0, 3), 1, 1, 2, 2), 1, 1, 1, 1));
}

TEST(KerasLayers, DepthwiseConv2DMultiplierAndBias) {
  TfjsModelWriter mw;
  mw.Input("input_1", {7, 5, 3});
  mw.Layer("dw", "DepthwiseConv2D",
           {{"kernel_size", {3, 3}}, {"strides", {2, 2}}, {"padding", "same"}, {"depth_multiplier", 2},
            {"use_bias", true}, {"activation", "linear"}},
           {"input_1"});
  auto k = mw.RandomWeight("dw", "depthwise_kernel", {3, 3, 3, 2}, 31);
  auto b = mw.RandomWeight("dw", "bias", {6}, 32);
  Nhwc x = RandomImage(7, 5, 3, 33);
  ExpectImage(Convert(mw, x), Depthwise(x, k, 3, 3, 2, 2, 2, "same", b));
}

TEST(KerasLayers, SeparableConv2D) {
  TfjsModelWriter mw;
  mw.Input("input_1", {6, 6, 3});
  mw.Layer("sep", "SeparableConv2D",
           {{"filters", 5}, {"kernel_size", {3, 3}}, {"strides", {1, 1}}, {"padding", "same"}, {"depth_multiplier", 1},
            {"use_bias", true}, {"activation", "linear"}},
           {"input_1"});
  auto dk = mw.RandomWeight("sep", "depthwise_kernel", {3, 3, 3, 1}, 41);
  auto pk = mw.RandomWeight("sep", "pointwise_kernel", {1, 1, 3, 5}, 42);
  auto b = mw.RandomWeight("sep", "bias", {5}, 43);
  Nhwc x = RandomImage(6, 6, 3, 44);
  ExpectImage(Convert(mw, x), Conv2D(Depthwise(x, dk, 3, 3, 1, 1, 1, "same"), pk, 1, 1, 5, 1, 1, "valid", b));
}

TEST(KerasLayers, BatchNormalizationEpsilonAndScaleFalse) {
  for (bool scale : {true, false}) {
    SCOPED_TRACE(scale ? "scale" : "no scale");
    TfjsModelWriter mw;
    mw.Input("input_1", {3, 3, 3});
    mw.Layer("bn", "BatchNormalization",
             {{"axis", scale ? json(-1) : json(3)}, {"epsilon", 0.001}, {"center", true}, {"scale", scale}},
             {"input_1"});
    std::vector<float> gamma(3, 1.0f);
    if (scale) gamma = mw.RandomWeight("bn", "gamma", {3}, 51, 0.5f, 1.5f);
    auto beta = mw.RandomWeight("bn", "beta", {3}, 52);
    auto mean = mw.RandomWeight("bn", "moving_mean", {3}, 53);
    // Tiny and zero variances: only epsilon 1e-3 keeps these finite and small.
    auto var = mw.Weight("bn", "moving_variance", {3}, {0.0f, 1e-4f, 2.0f});
    Nhwc x = RandomImage(3, 3, 3, 54);
    ExpectImage(Convert(mw, x), BatchNorm(x, gamma, beta, mean, var, 0.001f), 1e-3f);
  }
}

TEST(KerasLayers, ActivationsAndReLUVariants) {
  struct C {
    std::string cls;
    json config;
    float (*f)(float);
  };
  const C cases[] = {
      {"ReLU", {{"max_value", 6}, {"negative_slope", 0}, {"threshold", 0}}, [](float v) { return Relu6(v); }},
      {"ReLU", {{"max_value", nullptr}}, [](float v) { return Relu(v); }},
      {"ReLU", {{"negative_slope", 0.1}}, [](float v) { return v < 0 ? 0.1f * v : v; }},
      {"LeakyReLU", {{"alpha", 0.2}}, [](float v) { return v < 0 ? 0.2f * v : v; }},
      {"Activation", {{"activation", "relu"}}, [](float v) { return Relu(v); }},
      {"Activation", {{"activation", "relu6"}}, [](float v) { return Relu6(v); }},
      {"Activation", {{"activation", "sigmoid"}}, [](float v) { return 1.0f / (1.0f + std::exp(-v)); }},
      {"Activation", {{"activation", "tanh"}}, [](float v) { return std::tanh(v); }},
      {"Activation", {{"activation", "swish"}}, [](float v) { return v / (1.0f + std::exp(-v)); }},
      {"Activation", {{"activation", "hard_sigmoid"}},
       [](float v) { return std::clamp(0.2f * v + 0.5f, 0.0f, 1.0f); }},
      {"Activation", {{"activation", "elu"}}, [](float v) { return v < 0 ? std::exp(v) - 1.0f : v; }},
      {"Activation", {{"activation", "linear"}}, [](float v) { return v; }},
      {"Dropout", {{"rate", 0.5}}, [](float v) { return v; }},
  };
  for (const C& c : cases) {
    SCOPED_TRACE(c.cls + " " + c.config.dump());
    TfjsModelWriter mw;
    mw.Input("input_1", {4, 3, 3});
    mw.Layer("act", c.cls, c.config, {"input_1"});
    Nhwc x = Map(RandomImage(4, 3, 3, 61), [](float v) { return 8.0f * v; });  // reaches past 6
    ExpectImage(Convert(mw, x), Map(x, c.f), 1e-5f);
  }
}

TEST(KerasLayers, SoftmaxOverChannels) {
  TfjsModelWriter mw;
  mw.Input("input_1", {2, 3, 3});
  mw.Layer("sm", "Activation", {{"activation", "softmax"}}, {"input_1"});
  Nhwc x = RandomImage(2, 3, 3, 62);
  Nhwc want = x;
  for (int p = 0; p < 6; ++p) {
    double s = 0;
    for (int c = 0; c < 3; ++c) s += std::exp(x.v[p * 3 + c]);
    for (int c = 0; c < 3; ++c) want.v[p * 3 + c] = static_cast<float>(std::exp(x.v[p * 3 + c]) / s);
  }
  ExpectImage(Convert(mw, x), want, 1e-5f);
}

TEST(KerasLayers, MaxAndAveragePooling) {
  struct C {
    bool max;
    int h, w, k, s;
    std::string padding;
  };
  // InceptionV3: 3x3/2 valid max, 3x3/1 same average (padded cells excluded); odd-size stride-2 'same'.
  const C cases[] = {{true, 9, 9, 3, 2, "valid"},  {false, 7, 6, 3, 1, "same"}, {true, 5, 5, 2, 2, "same"},
                     {false, 5, 7, 2, 2, "same"},  {false, 6, 6, 3, 3, "valid"}, {true, 7, 7, 3, 1, "same"}};
  for (const C& c : cases) {
    SCOPED_TRACE(std::string(c.max ? "max" : "avg") + " " + std::to_string(c.h) + "x" + std::to_string(c.w) + " k" +
                 std::to_string(c.k) + " s" + std::to_string(c.s) + " " + c.padding);
    TfjsModelWriter mw;
    mw.Input("input_1", {c.h, c.w, 3});
    mw.Layer("pool", c.max ? "MaxPooling2D" : "AveragePooling2D",
             {{"pool_size", {c.k, c.k}}, {"strides", {c.s, c.s}}, {"padding", c.padding}}, {"input_1"});
    // Negative inputs, so a max pool that counted zero padding would show.
    Nhwc x = Map(RandomImage(c.h, c.w, 3, 71), [](float v) { return v - 1.5f; });
    ExpectImage(Convert(mw, x), Pool(x, c.max, c.k, c.k, c.s, c.s, c.padding));
  }
}

TEST(KerasLayers, GlobalPooling) {
  for (bool max : {false, true}) {
    TfjsModelWriter mw;
    mw.Input("input_1", {4, 5, 3});
    mw.Layer("gp", max ? "GlobalMaxPooling2D" : "GlobalAveragePooling2D", json::object(), {"input_1"});
    Nhwc x = RandomImage(4, 5, 3, 81);
    ExpectNear(Convert(mw, x), {1, 3}, GlobalPool(x, max));
  }
}

TEST(KerasLayers, AddAndConcatenateBranches) {
  TfjsModelWriter mw;
  mw.Input("input_1", {4, 4, 3});
  mw.Layer("a", "Conv2D", ConvConfig(3, {1, 1}, {1, 1}, "valid", false), {"input_1"});
  mw.Layer("b", "Conv2D", ConvConfig(3, {3, 3}, {1, 1}, "same", false), {"input_1"});
  mw.Layer("c", "Conv2D", ConvConfig(2, {1, 3}, {1, 1}, "same", false), {"input_1"});
  mw.Layer("add", "Add", json::object(), {"a", "b"});
  mw.Layer("cat", "Concatenate", {{"axis", 3}}, {"c", "add", "a"});
  mw.Layer("cat2", "Concatenate", {{"axis", -1}}, {"add", "c"});
  mw.Layer("sum3", "Add", json::object(), {"a", "b", "add"});
  auto ka = mw.RandomWeight("a", "kernel", {1, 1, 3, 3}, 91);
  auto kb = mw.RandomWeight("b", "kernel", {3, 3, 3, 3}, 92);
  auto kc = mw.RandomWeight("c", "kernel", {1, 3, 3, 2}, 93);
  Nhwc x = RandomImage(4, 4, 3, 94);
  Nhwc a = Conv2D(x, ka, 1, 1, 3, 1, 1, "valid"), b = Conv2D(x, kb, 3, 3, 3, 1, 1, "same"),
       c = Conv2D(x, kc, 1, 3, 2, 1, 1, "same");
  Nhwc add = a;
  for (size_t i = 0; i < add.v.size(); ++i) add.v[i] += b.v[i];
  ExpectImage(Convert(mw, x, "add"), add);
  ExpectImage(Convert(mw, x, "cat"), ConcatChannels({&c, &add, &a}));
  ExpectImage(Convert(mw, x, "cat2"), ConcatChannels({&add, &c}));
  Nhwc sum3 = add;
  for (size_t i = 0; i < sum3.v.size(); ++i) sum3.v[i] += add.v[i];
  ExpectImage(Convert(mw, x, "sum3"), sum3);
}

TEST(KerasLayers, FlattenDenseKeepsKerasOrder) {
  // Flatten of a 3x2x3 map must use NHWC order, or the Dense weights meet the wrong features.
  TfjsModelWriter mw;
  mw.Input("input_1", {3, 2, 3});
  mw.Layer("flat", "Flatten", {{"data_format", "channels_last"}}, {"input_1"});
  mw.Layer("drop", "Dropout", {{"rate", 0.25}}, {"flat"});
  mw.Layer("fc", "Dense", {{"units", 5}, {"activation", "relu"}, {"use_bias", true}}, {"drop"});
  mw.Layer("out", "Dense", {{"units", 3}, {"activation", "softmax"}, {"use_bias", false}}, {"fc"});
  auto k1 = mw.RandomWeight("fc", "kernel", {18, 5}, 101);
  auto b1 = mw.RandomWeight("fc", "bias", {5}, 102);
  auto k2 = mw.RandomWeight("out", "kernel", {5, 3}, 103);
  Nhwc x = RandomImage(3, 2, 3, 104);
  ExpectNear(Convert(mw, x, "flat"), {1, 18}, x.v);
  std::vector<float> fc = Dense(x.v, k1, 5, b1);
  for (float& v : fc) v = Relu(v);
  ExpectNear(Convert(mw, x, "fc"), {1, 5}, fc);
  std::vector<float> logits = Dense(fc, k2, 3, {});
  double s = 0;
  for (float v : logits) s += std::exp(v);
  std::vector<float> probs;
  for (float v : logits) probs.push_back(static_cast<float>(std::exp(v) / s));
  ExpectNear(Convert(mw, x), {1, 3}, probs, 1e-5f);
}

TEST(KerasLayers, DenseOnFeatureMapActsPerPixel) {
  TfjsModelWriter mw;
  mw.Input("input_1", {2, 3, 3});
  mw.Layer("fc", "Dense", {{"units", 2}, {"activation", "linear"}, {"use_bias", true}}, {"input_1"});
  auto k = mw.RandomWeight("fc", "kernel", {3, 2}, 111);
  auto b = mw.RandomWeight("fc", "bias", {2}, 112);
  Nhwc x = RandomImage(2, 3, 3, 113);
  ExpectImage(Convert(mw, x), Conv2D(x, k, 1, 1, 2, 1, 1, "valid", b));
}

TEST(KerasLayers, Reshape) {
  TfjsModelWriter mw;
  mw.Input("input_1", {2, 3, 3});
  mw.Layer("r1", "Reshape", {{"target_shape", {-1}}}, {"input_1"});
  mw.Layer("r2", "Reshape", {{"target_shape", {3, 3, 2}}}, {"input_1"});
  mw.Layer("r3", "Reshape", {{"target_shape", {6, -1}}}, {"input_1"});
  Nhwc x = RandomImage(2, 3, 3, 121);
  // Keras reshapes the NHWC row-major buffer: the values stay in order.
  ExpectNear(Convert(mw, x, "r1"), {1, 18}, x.v);
  ExpectNear(Convert(mw, x, "r2"), {1, 3, 3, 2}, x.v);
  ExpectNear(Convert(mw, x, "r3"), {1, 6, 3}, x.v);
}

}  // namespace
}  // namespace doppel::keras
