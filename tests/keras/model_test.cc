// A whole small functional model (MobileNetV2-style inverted residual + Inception-style branches + classifier head)
// with uint8-quantised weights split over many small shards, converted and compared layer by layer with values
// computed independently in the test; plus taps, pooling, the sidecar, metadata and written files.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "doppel/keras/import.h"
#include "keras/keras_test_util.h"
#include "keras/reference_ops.h"
#include "support/test_util.h"

namespace doppel::keras {
namespace {

using namespace doppel::keras::testing;

json Conv(int filters, int k, int s, const std::string& padding) {
  return {{"filters", filters}, {"kernel_size", {k, k}}, {"strides", {s, s}},  {"padding", padding},
          {"use_bias", false},  {"activation", "linear"}, {"dilation_rate", {1, 1}}, {"trainable", false}};
}
json BN() { return {{"axis", -1}, {"epsilon", 0.001}, {"center", true}, {"scale", true}, {"trainable", false}}; }
json Relu6Cfg() { return {{"max_value", 6}, {"negative_slope", 0}, {"threshold", 0}, {"trainable", false}}; }

struct BnW {
  std::vector<float> gamma, beta, mean, var;
};
BnW AddBn(TfjsModelWriter& mw, const std::string& name, int c, uint32_t seed) {
  BnW b;
  b.gamma = mw.RandomWeight(name, "gamma", {c}, seed, 0.5f, 1.5f);
  b.beta = mw.RandomWeight(name, "beta", {c}, seed + 1, -0.2f, 0.2f);
  b.mean = mw.RandomWeight(name, "moving_mean", {c}, seed + 2, -0.3f, 0.3f);
  b.var = mw.RandomWeight(name, "moving_variance", {c}, seed + 3, 0.0f, 1.0f);
  return b;
}
Nhwc ApplyBn(const Nhwc& x, const BnW& b) { return BatchNorm(x, b.gamma, b.beta, b.mean, b.var, 0.001f); }

class KerasModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TfjsModelWriter mw(/*quantize=*/true);
    mw.Input("input_1", {8, 8, 3});
    mw.Layer("Conv1_pad", "ZeroPadding2D", {{"padding", {{0, 1}, {0, 1}}}, {"trainable", false}}, {"input_1"});
    mw.Layer("Conv1", "Conv2D", Conv(8, 3, 2, "valid"), {"Conv1_pad"});
    mw.Layer("bn_Conv1", "BatchNormalization", BN(), {"Conv1"});
    mw.Layer("Conv1_relu", "ReLU", Relu6Cfg(), {"bn_Conv1"});
    mw.Layer("expand", "Conv2D", Conv(16, 1, 1, "same"), {"Conv1_relu"});
    mw.Layer("expand_BN", "BatchNormalization", BN(), {"expand"});
    mw.Layer("expand_relu", "ReLU", Relu6Cfg(), {"expand_BN"});
    mw.Layer("depthwise", "DepthwiseConv2D",
             {{"kernel_size", {3, 3}}, {"strides", {1, 1}}, {"padding", "same"}, {"depth_multiplier", 1},
              {"use_bias", false}, {"activation", "linear"}, {"trainable", false}},
             {"expand_relu"});
    mw.Layer("depthwise_BN", "BatchNormalization", BN(), {"depthwise"});
    mw.Layer("depthwise_relu", "ReLU", Relu6Cfg(), {"depthwise_BN"});
    mw.Layer("project", "Conv2D", Conv(8, 1, 1, "same"), {"depthwise_relu"});
    mw.Layer("project_BN", "BatchNormalization", BN(), {"project"});
    mw.Layer("block_add", "Add", {{"trainable", false}}, {"Conv1_relu", "project_BN"});
    mw.Layer("avg", "AveragePooling2D", {{"pool_size", {3, 3}}, {"strides", {2, 2}}, {"padding", "same"}},
             {"block_add"});
    mw.Layer("maxp", "MaxPooling2D", {{"pool_size", {3, 3}}, {"strides", {2, 2}}, {"padding", "same"}}, {"block_add"});
    json branch = Conv(4, 3, 2, "same");
    branch["trainable"] = true;
    mw.Layer("branch", "Conv2D", branch, {"block_add"});
    mw.Layer("branch_act", "Activation", {{"activation", "relu"}}, {"branch"});
    mw.Layer("mixed", "Concatenate", {{"axis", 3}}, {"branch_act", "maxp", "avg"});
    mw.Layer("gap", "GlobalAveragePooling2D", json::object(), {"mixed"});
    mw.Layer("drop", "Dropout", {{"rate", 0.5}}, {"gap"});
    mw.Layer("dense_1", "Dense", {{"units", 4}, {"activation", "softmax"}, {"use_bias", true}}, {"drop"});

    // Weights in name order (as tfjs writes them), not layer order: the importer must look them up by name.
    bn_conv1 = AddBn(mw, "bn_Conv1", 8, 10);
    k_conv1 = mw.RandomWeight("Conv1", "kernel", {3, 3, 3, 8}, 20);
    k_branch = mw.RandomWeight("branch", "kernel", {3, 3, 8, 4}, 25);
    k_dense = mw.RandomWeight("dense_1", "kernel", {20, 4}, 30);
    b_dense = mw.RandomWeight("dense_1", "bias", {4}, 31);
    k_dw = mw.RandomWeight("depthwise", "depthwise_kernel", {3, 3, 16, 1}, 40);
    bn_dw = AddBn(mw, "depthwise_BN", 16, 50);
    k_expand = mw.RandomWeight("expand", "kernel", {1, 1, 8, 16}, 60);
    bn_expand = AddBn(mw, "expand_BN", 16, 70);
    k_project = mw.RandomWeight("project", "kernel", {1, 1, 16, 8}, 80);
    bn_project = AddBn(mw, "project_BN", 8, 90);
    // 100-byte shards: most tensors cross a shard boundary.
    mw.Write(dir.path().string(), 100);
    shard_count = (mw.byte_count() + 99) / 100;

    // The reference, layer by layer.
    x = Nhwc{8, 8, 3, RandomValues(8 * 8 * 3, 99, 0.0f, 1.0f)};
    ref["Conv1_pad"] = ZeroPad(x, 0, 1, 0, 1);
    ref["Conv1"] = Conv2D(ref["Conv1_pad"], k_conv1, 3, 3, 8, 2, 2, "valid");
    ref["bn_Conv1"] = ApplyBn(ref["Conv1"], bn_conv1);
    ref["Conv1_relu"] = Map(ref["bn_Conv1"], Relu6);
    ref["expand"] = Conv2D(ref["Conv1_relu"], k_expand, 1, 1, 16, 1, 1, "same");
    ref["expand_BN"] = ApplyBn(ref["expand"], bn_expand);
    ref["expand_relu"] = Map(ref["expand_BN"], Relu6);
    ref["depthwise"] = Depthwise(ref["expand_relu"], k_dw, 3, 3, 1, 1, 1, "same");
    ref["depthwise_BN"] = ApplyBn(ref["depthwise"], bn_dw);
    ref["depthwise_relu"] = Map(ref["depthwise_BN"], Relu6);
    ref["project"] = Conv2D(ref["depthwise_relu"], k_project, 1, 1, 8, 1, 1, "same");
    ref["project_BN"] = ApplyBn(ref["project"], bn_project);
    ref["block_add"] = ref["project_BN"];
    for (size_t i = 0; i < ref["block_add"].v.size(); ++i) ref["block_add"].v[i] += ref["Conv1_relu"].v[i];
    ref["avg"] = Pool(ref["block_add"], false, 3, 3, 2, 2, "same");
    ref["maxp"] = Pool(ref["block_add"], true, 3, 3, 2, 2, "same");
    ref["branch"] = Conv2D(ref["block_add"], k_branch, 3, 3, 4, 2, 2, "same");
    ref["branch_act"] = Map(ref["branch"], Relu);
    ref["mixed"] = ConcatChannels({&ref["branch_act"], &ref["maxp"], &ref["avg"]});
    gap = GlobalPool(ref["mixed"], false);
    std::vector<float> logits = Dense(gap, k_dense, 4, b_dense);
    double s = 0;
    for (float v : logits) s += std::exp(v);
    for (float v : logits) probs.push_back(static_cast<float>(std::exp(v) / s));
  }

  FloatTensor Input(int batch = 1) const {
    FloatTensor t{{batch, 8, 8, 3}, {}};
    for (int b = 0; b < batch; ++b) t.data.insert(t.data.end(), x.v.begin(), x.v.end());
    return t;
  }

  doppel::testing::TempDir dir;
  size_t shard_count = 0;
  Nhwc x;
  std::map<std::string, Nhwc> ref;
  std::vector<float> gap, probs;
  BnW bn_conv1, bn_dw, bn_expand, bn_project;
  std::vector<float> k_conv1, k_branch, k_dense, b_dense, k_dw, k_expand, k_project;
};

TEST_F(KerasModelTest, EveryLayerMatchesTheReference) {
  ASSERT_GT(shard_count, 10u);
  ASSERT_TRUE(std::filesystem::exists(dir.file("group1-shard1of" + std::to_string(shard_count) + ".bin")));
  auto r = ConvertKeras(dir.file("model.json"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->input_name, "input_1");
  EXPECT_EQ(r->input_shape, (std::vector<int64_t>{-1, 8, 8, 3}));
  EXPECT_EQ(r->output_name, "dense_1");
  EXPECT_EQ(r->layers_converted, 22);
  std::vector<std::string> names;
  for (const auto& [name, t] : ref) names.push_back(name);
  names.push_back("gap");
  names.push_back("dense_1");
  std::vector<FloatTensor> outs = RunModel(WithOutputs(r->model_bytes, names), "input_1", Input(), names);
  for (size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    FloatTensor got = ToNhwc(outs[i]);
    std::vector<float> want;
    if (names[i] == "gap") want = gap;
    else if (names[i] == "dense_1") want = probs;
    else {
      const Nhwc& w = ref[names[i]];
      ASSERT_EQ(got.shape, (std::vector<int64_t>{1, w.h, w.w, w.c}));
      want = w.v;
    }
    ASSERT_EQ(got.data.size(), want.size());
    for (size_t j = 0; j < want.size(); ++j) ASSERT_NEAR(got.data[j], want[j], 2e-4f) << "element " << j;
  }
}

TEST_F(KerasModelTest, BatchDimensionIsSymbolic) {
  auto r = ConvertKeras(dir.path().string(), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  FloatTensor out = RunModel(r->model_bytes, r->input_name, Input(3), {r->output_name})[0];
  ASSERT_EQ(out.shape, (std::vector<int64_t>{3, 4}));
  for (int b = 0; b < 3; ++b)
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(out.data[b * 4 + i], probs[i], 1e-5f);
}

TEST_F(KerasModelTest, TapWithPoolingInTheSidecar) {
  KerasImportOptions o;
  o.tap = "depthwise_relu";
  o.pool = "gem";
  o.gem_p = 3;
  auto r = ConvertKeras(dir.path().string(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output_name, "depthwise_relu");
  EXPECT_EQ(r->output_shape, (std::vector<int64_t>{-1, 16, 4, 4}));
  EXPECT_EQ(r->layers_converted, 11);  // input_1 .. depthwise_relu
  json spec = json::parse(r->sidecar_json);
  EXPECT_EQ(spec["output"], "depthwise_relu");
  EXPECT_EQ(spec["pool"], "gem");
  EXPECT_EQ(spec["gem_p"], 3.0);
  EXPECT_EQ(spec["output_layout"], "nchw");
  EXPECT_EQ(spec["input_layout"], "nhwc");
  EXPECT_EQ(spec["width"], 8);
  EXPECT_EQ(spec["height"], 8);
  EXPECT_EQ(spec["channel_order"], "rgb");
  EXPECT_EQ(spec["resize"], "stretch");
  EXPECT_EQ(spec["interpolation"], "bilinear");
  EXPECT_NEAR(spec["scale"].get<double>(), 1.0 / 255, 1e-9);
  EXPECT_EQ(spec["mean"], json::array({0.0, 0.0, 0.0}));
  EXPECT_EQ(spec["std"], json::array({1.0, 1.0, 1.0}));
  EXPECT_FALSE(spec.contains("shrink_on_load")) << "off unless asked (the canonical spec, hence fingerprints, unchanged)";
  FloatTensor fm = ToNhwc(RunModel(r->model_bytes, r->input_name, Input(), {r->output_name})[0]);
  const Nhwc& want = ref["depthwise_relu"];
  for (size_t j = 0; j < want.v.size(); ++j) ASSERT_NEAR(fm.data[j], want.v[j], 2e-4f);
}

TEST_F(KerasModelTest, ShrinkOnLoadReachesTheSidecar) {
  KerasImportOptions o;
  o.shrink_on_load = true;
  auto r = ConvertKeras(dir.path().string(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  json spec = json::parse(r->sidecar_json);
  EXPECT_EQ(spec["shrink_on_load"], true);
  o.preset = "keras-tf";  // a preset's sidecar carries it too
  r = ConvertKeras(dir.path().string(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(json::parse(r->sidecar_json)["shrink_on_load"], true);
  o.shrink_formats = {"webp"};  // more formats: the list form
  r = ConvertKeras(dir.path().string(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(json::parse(r->sidecar_json)["shrink_on_load"], json::array({"jpeg", "webp"}));
}

TEST_F(KerasModelTest, PoolingInTheGraph) {
  const Nhwc& fm = ref["block_add"];
  for (const std::string pool : {"avg", "max", "gem"}) {
    SCOPED_TRACE(pool);
    KerasImportOptions o;
    o.tap = "block_add";
    o.pool = pool;
    o.gem_p = 2.5f;
    o.pool_in_graph = true;
    auto r = ConvertKeras(dir.path().string(), o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->output_name, "block_add/" + pool);
    EXPECT_EQ(r->output_shape, (std::vector<int64_t>{-1, 8}));
    json spec = json::parse(r->sidecar_json);
    EXPECT_EQ(spec["pool"], "none");
    EXPECT_EQ(spec["output"], "block_add/" + pool);
    EXPECT_FALSE(spec.contains("output_layout"));
    std::vector<float> want;
    if (pool == "gem") {
      want.assign(8, 0.0f);
      for (int i = 0; i < fm.h * fm.w; ++i)
        for (int c = 0; c < 8; ++c) want[c] += std::pow(std::max(fm.v[i * 8 + c], 1e-6f), 2.5f);
      for (float& v : want) v = std::pow(v / (fm.h * fm.w), 1.0f / 2.5f);
    } else {
      want = GlobalPool(fm, pool == "max");
    }
    FloatTensor got = RunModel(r->model_bytes, r->input_name, Input(), {r->output_name})[0];
    ASSERT_EQ(got.shape, (std::vector<int64_t>{1, 8}));
    for (int c = 0; c < 8; ++c) EXPECT_NEAR(got.data[c], want[c], 2e-4f) << c;
  }
}

TEST_F(KerasModelTest, ImportWritesModelSidecarAndMetadata) {
  doppel::testing::TempDir out;
  KerasImportOptions o;
  o.tap = "mixed";
  o.pool = "max";
  o.metadata.push_back({"doppel.weights", "test weights"});
  const std::string path = out.file("sub/model.onnx");
  Status st = ImportKeras(dir.path().string(), path, o);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(KerasSidecarPath(path), out.file("sub/model.doppel.json"));
  ASSERT_TRUE(std::filesystem::exists(out.file("sub/model.doppel.json")));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  json spec = json::parse(doppel::testing::ReadFile(out.file("sub/model.doppel.json")));
  EXPECT_EQ(spec["output"], "mixed");
  EXPECT_EQ(spec["pool"], "max");
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(doppel::testing::ReadFile(path)));
  EXPECT_EQ(m.ir_version(), 8);
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).version(), 13);
  std::map<std::string, std::string> meta;
  for (const auto& e : m.metadata_props()) meta[e.key()] = e.value();
  EXPECT_EQ(meta["doppel.weights"], "test weights");
  EXPECT_EQ(meta["doppel.keras.tap"], "mixed");
  EXPECT_EQ(meta["doppel.keras.keras_version"], "2.2.4");
  EXPECT_NE(meta["doppel.keras.stored_dtypes"].find("uint8"), std::string::npos);
  // Conv1 .. project_BN are frozen; branch is trainable.
  EXPECT_NE(meta["doppel.keras.frozen_layers"].find("8 of 9"), std::string::npos) << meta["doppel.keras.frozen_layers"];
  EXPECT_NE(meta["doppel.keras.frozen_layers"].find("branch"), std::string::npos);
  // Layers after the tap are not in the graph.
  for (const auto& n : m.graph().node()) EXPECT_NE(n.name(), "gap");
  // The ONNX tensors are named after the Keras layers.
  std::set<std::string> outputs;
  for (const auto& n : m.graph().node()) outputs.insert(n.output(0));
  for (const char* layer : {"Conv1_pad", "Conv1", "bn_Conv1", "Conv1_relu", "block_add", "maxp", "mixed"})
    EXPECT_TRUE(outputs.count(layer)) << layer;
}

}  // namespace
}  // namespace doppel::keras
