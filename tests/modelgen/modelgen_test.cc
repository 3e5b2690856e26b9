// API-level tests of the model generator: options, names, labels, determinism of the bytes, parameter counts.
#include "doppel/modelgen/modelgen.h"

#define ONNX_ML 1
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include "support/test_util.h"

namespace doppel::modelgen {
namespace {

ModelGenOptions Tiny(Arch arch, Form form, uint64_t seed = 1) {
  ModelGenOptions o;
  o.arch = arch;
  o.form = form;
  o.seed = seed;
  o.width_multiplier = 0.125;
  o.input_size = 64;
  return o;
}

onnx::ModelProto Parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

int64_t ParameterCount(const onnx::ModelProto& m) {
  int64_t total = 0;
  for (const auto& t : m.graph().initializer()) {
    int64_t n = 1;
    for (int64_t d : t.dims()) n *= d;
    EXPECT_EQ(t.raw_data().size(), static_cast<size_t>(n) * 4) << t.name();
    total += n;
  }
  return total;
}

TEST(modelgenApi, ValidateRejectsBadOptions) {
  ModelGenOptions o;
  EXPECT_TRUE(ValidateOptions(o).ok());
  o.width_multiplier = 0;
  EXPECT_EQ(ValidateOptions(o).code(), Status::Code::kInvalidArgument);
  o = {};
  o.input_size = 100;
  Status st = ValidateOptions(o);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("input_size"), std::string::npos);
  o = {};
  o.arch = Arch::kVGG16;
  o.form = Form::kZooNchw;
  o.dynamic_spatial = true;
  EXPECT_FALSE(GenerateModel(o).ok());
  o.arch = Arch::kResNet50;
  EXPECT_TRUE(ValidateOptions(o).ok());
}

TEST(modelgenApi, NamesAndParsing) {
  ModelGenOptions o;
  EXPECT_EQ(TensorNames(o).input, "input_1:0");
  EXPECT_EQ(TensorNames(o).output, "max_pool");
  EXPECT_EQ(TensorNames(o).last_feature_map, "conv5_block3_out");
  o.arch = Arch::kVGG16;
  EXPECT_EQ(TensorNames(o).output, "global_max_pooling2d");
  EXPECT_EQ(TensorNames(o).last_feature_map, "block5_pool");
  o.form = Form::kZooNchw;
  EXPECT_EQ(TensorNames(o).input, "data");
  EXPECT_EQ(TensorNames(o).output, "vgg0_dense2_fwd");
  EXPECT_EQ(TensorNames(o).penultimate, "fc2_relu");
  for (Arch a : {Arch::kResNet50, Arch::kVGG16}) EXPECT_EQ(*ParseArch(ArchName(a)), a);
  for (Form f : {Form::kKerasNhwc, Form::kZooNchw}) EXPECT_EQ(*ParseForm(FormName(f)), f);
  EXPECT_FALSE(ParseArch("resnet").ok());
  EXPECT_FALSE(ParseForm("nhwc").ok());
  EXPECT_EQ(DefaultFileName(o), "vgg16-zoo-nchw-random-seed1.onnx");
  EXPECT_EQ(DefaultFileName(Tiny(Arch::kResNet50, Form::kKerasNhwc, 7)),
            "resnet50-keras-nhwc-random-seed7-w0.125-s64.onnx");
}

TEST(modelgenApi, LabelledRandomAndVersioned) {
  for (Arch a : {Arch::kResNet50, Arch::kVGG16}) {
    for (Form f : {Form::kKerasNhwc, Form::kZooNchw}) {
      auto bytes = GenerateModel(Tiny(a, f, 42));
      ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
      onnx::ModelProto m = Parse(*bytes);
      EXPECT_EQ(m.ir_version(), 8);
      ASSERT_EQ(m.opset_import_size(), 1);
      EXPECT_EQ(m.opset_import(0).version(), 13);
      EXPECT_NE(m.doc_string().find("RANDOM"), std::string::npos);
      EXPECT_NE(m.doc_string().find("not pretrained"), std::string::npos);
      ASSERT_EQ(m.metadata_props_size(), 1);
      EXPECT_EQ(m.metadata_props(0).key(), "doppel.weights");
      EXPECT_EQ(m.metadata_props(0).value(),
                "random (deterministic seed 42): for tests and speed measurement only, not pretrained");
    }
  }
}

TEST(modelgenApi, SameSeedSameBytesDifferentSeedDifferentWeights) {
  const auto a = GenerateModel(Tiny(Arch::kResNet50, Form::kZooNchw, 5));
  const auto b = GenerateModel(Tiny(Arch::kResNet50, Form::kZooNchw, 5));
  const auto c = GenerateModel(Tiny(Arch::kResNet50, Form::kZooNchw, 6));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_EQ(a->size(), c->size());
}

// Both forms hold the same trunk initializers, bit for bit.
TEST(modelgenApi, FormsShareTrunkWeights) {
  for (Arch arch : {Arch::kResNet50, Arch::kVGG16}) {
    onnx::ModelProto k = Parse(*GenerateModel(Tiny(arch, Form::kKerasNhwc, 3)));
    onnx::ModelProto z = Parse(*GenerateModel(Tiny(arch, Form::kZooNchw, 3)));
    std::map<std::string, std::string> zoo;
    for (const auto& t : z.graph().initializer()) zoo[t.name()] = t.SerializeAsString();
    ASSERT_GT(k.graph().initializer_size(), 10);
    for (const auto& t : k.graph().initializer()) {
      ASSERT_TRUE(zoo.count(t.name())) << t.name();
      EXPECT_EQ(zoo[t.name()], t.SerializeAsString()) << t.name();
    }
  }
}

TEST(modelgenApi, WriteModelWritesTheBytes) {
  doppel::testing::TempDir dir;
  const ModelGenOptions o = Tiny(Arch::kVGG16, Form::kKerasNhwc);
  ASSERT_TRUE(WriteModel(o, dir.file("m.onnx")).ok());
  EXPECT_EQ(doppel::testing::ReadFile(dir.file("m.onnx")), *GenerateModel(o));
  Status st = WriteModel(o, "/nonexistent/doppel/m.onnx");
  EXPECT_EQ(st.code(), Status::Code::kIOError);
  EXPECT_NE(st.message().find("/nonexistent/doppel/m.onnx"), std::string::npos);
}

// Full width: the parameter counts of keras.applications (include_top=False counts BN moving statistics too;
// the zoo ResNet50 adds the 2048x1000 classifier, matching Keras ResNet50 with its top, 25,636,712).
TEST(modelgenApi, FullSizeParameterCountsMatchKeras) {
  ModelGenOptions o;
  o.arch = Arch::kResNet50;
  o.form = Form::kKerasNhwc;
  EXPECT_EQ(ParameterCount(Parse(*GenerateModel(o))), 23587712);
  o.form = Form::kZooNchw;
  EXPECT_EQ(ParameterCount(Parse(*GenerateModel(o))), 25636712);
  o.arch = Arch::kVGG16;
  o.form = Form::kKerasNhwc;
  EXPECT_EQ(ParameterCount(Parse(*GenerateModel(o))), 14714688);
}

}  // namespace
}  // namespace doppel::modelgen
