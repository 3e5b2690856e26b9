// Failures name what is at fault: an unsupported layer (name and class), a truncated or missing shard (file and
// tensor), weights that do not match the layer config, bad taps and options, non-Keras inputs.
#include <gtest/gtest.h>

#include <filesystem>

#include "doppel/keras/import.h"
#include "keras/keras_test_util.h"
#include "support/test_util.h"

namespace doppel::keras {
namespace {

using namespace doppel::keras::testing;

json ConvCfg(int filters) {
  return {{"filters", filters}, {"kernel_size", {3, 3}}, {"strides", {1, 1}},
          {"padding", "same"},  {"use_bias", true},      {"activation", "linear"}};
}

// input_1 (6x6x3) -> conv (4 filters) -> lambda (a Lambda layer) -> gap
TfjsModelWriter SmallModel(bool quantize = false, int kernel_out = 4) {
  TfjsModelWriter mw(quantize);
  mw.Input("input_1", {6, 6, 3});
  mw.Layer("conv", "Conv2D", ConvCfg(4), {"input_1"});
  mw.Layer("my_lambda", "Lambda", {{"function", "lambda x: x * 2"}}, {"conv"});
  mw.Layer("gap", "GlobalAveragePooling2D", json::object(), {"my_lambda"});
  mw.RandomWeight("conv", "kernel", {3, 3, 3, kernel_out}, 1);
  mw.RandomWeight("conv", "bias", {4}, 2);
  return mw;
}

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(KerasErrors, UnknownLayerIsNamedWithItsClass) {
  doppel::testing::TempDir dir;
  SmallModel().Write(dir.path().string());
  auto r = ConvertKeras(dir.path().string(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnsupported);
  EXPECT_TRUE(Contains(r.status().message(), "'my_lambda'")) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "'Lambda'")) << r.status().ToString();
  // A tap before the unsupported layer cuts it away.
  KerasImportOptions o;
  o.tap = "conv";
  auto cut = ConvertKeras(dir.path().string(), o);
  EXPECT_TRUE(cut.ok()) << cut.status().ToString();
}

TEST(KerasErrors, TruncatedShardNamesTheFileAndTensor) {
  for (bool quantize : {false, true}) {
    SCOPED_TRACE(quantize ? "uint8" : "float32");
    doppel::testing::TempDir dir;
    TfjsModelWriter mw = SmallModel(quantize);
    const size_t shard = quantize ? 50 : 200;
    mw.Write(dir.path().string(), shard);
    const size_t n = (mw.byte_count() + shard - 1) / shard;
    const std::string last = dir.file("group1-shard" + std::to_string(n) + "of" + std::to_string(n) + ".bin");
    // Cut the last shard in the middle of the last tensor (conv/bias).
    std::filesystem::resize_file(last, std::filesystem::file_size(last) - (quantize ? 2 : 8));
    KerasImportOptions o;
    o.tap = "conv";
    auto r = ConvertKeras(dir.path().string(), o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
    EXPECT_TRUE(Contains(r.status().message(), last)) << r.status().ToString();
    RecordProperty(quantize ? "uint8" : "float32", r.status().ToString());
    EXPECT_TRUE(Contains(r.status().message(), "'conv/bias'")) << r.status().ToString();
  }
}

TEST(KerasErrors, MissingShardAndExtraBytes) {
  doppel::testing::TempDir dir;
  SmallModel().Write(dir.path().string());
  const std::string shard = dir.file("group1-shard1of1.bin");
  const std::string bytes = doppel::testing::ReadFile(shard);
  doppel::testing::WriteFile(shard, bytes + "xxxx");
  KerasImportOptions o;
  o.tap = "conv";
  auto extra = ConvertKeras(dir.path().string(), o);
  ASSERT_FALSE(extra.ok());
  EXPECT_EQ(extra.status().code(), Status::Code::kCorruption);
  EXPECT_TRUE(Contains(extra.status().message(), shard)) << extra.status().ToString();
  std::filesystem::remove(shard);
  auto missing = ConvertKeras(dir.path().string(), o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(Contains(missing.status().message(), shard)) << missing.status().ToString();
}

TEST(KerasErrors, WeightShapeMustMatchTheConfig) {
  doppel::testing::TempDir dir;
  SmallModel(false, /*kernel_out=*/5).Write(dir.path().string());
  KerasImportOptions o;
  o.tap = "conv";
  auto r = ConvertKeras(dir.path().string(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status().message(), "'conv/kernel'")) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "[3, 3, 3, 5]")) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "[3, 3, 3, 4]")) << r.status().ToString();
}

TEST(KerasErrors, MissingWeight) {
  doppel::testing::TempDir dir;
  TfjsModelWriter mw;
  mw.Input("input_1", {6, 6, 3});
  mw.Layer("conv", "Conv2D", ConvCfg(4), {"input_1"});
  mw.RandomWeight("conv", "kernel", {3, 3, 3, 4}, 1);  // no bias, though use_bias is true
  mw.Write(dir.path().string());
  auto r = ConvertKeras(dir.path().string(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(Contains(r.status().message(), "'conv/bias'")) << r.status().ToString();
}

TEST(KerasErrors, BadTapPoolAndInputs) {
  doppel::testing::TempDir dir;
  SmallModel().Write(dir.path().string());
  KerasImportOptions o;
  o.tap = "no_such_layer";
  auto r = ConvertKeras(dir.path().string(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(Contains(r.status().message(), "'no_such_layer'"));

  o.tap = "conv";
  o.pool = "median";
  r = ConvertKeras(dir.path().string(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "median"));

  EXPECT_EQ(ConvertKeras(dir.file("nothing-here.json"), {}).status().code(), Status::Code::kNotFound);
  doppel::testing::WriteFile(dir.file("bad.json"), "{ not json");
  EXPECT_EQ(ConvertKeras(dir.file("bad.json"), {}).status().code(), Status::Code::kInvalidArgument);
  doppel::testing::WriteFile(dir.file("graph.json"), R"({"format": "graph-model", "modelTopology": {}})");
  auto g = ConvertKeras(dir.file("graph.json"), {});
  EXPECT_EQ(g.status().code(), Status::Code::kUnsupported);
  EXPECT_TRUE(Contains(g.status().message(), "graph-model"));
  // Malformed config values are errors, not exceptions.
  doppel::testing::WriteFile(dir.file("weird.json"),
                             R"({"modelTopology": {"class_name": "Model", "config": {"layers": [{"name": 3}]}},
                                 "weightsManifest": []})");
  EXPECT_FALSE(ConvertKeras(dir.file("weird.json"), {}).ok());
}

TEST(KerasErrors, WriteFailsCleanly) {
  doppel::testing::TempDir dir;
  SmallModel().Write(dir.path().string());
  KerasImportOptions o;
  o.tap = "conv";
  doppel::testing::WriteFile(dir.file("file"), "x");
  Status st = ImportKeras(dir.path().string(), dir.file("file/model.onnx"), o);  // parent is a file
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Status::Code::kIOError) << st.ToString();
}

}  // namespace
}  // namespace doppel::keras
