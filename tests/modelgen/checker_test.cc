// The generated models pass ONNX's own checker (libonnx 1.12, which knows opsets up to 17).
#include <onnx/checker.h>

#include <gtest/gtest.h>

#include "doppel/modelgen/modelgen.h"

namespace doppel::modelgen {
namespace {

TEST(modelgenChecker, AllArchsAndFormsPass) {
  for (Arch arch : {Arch::kResNet50, Arch::kVGG16}) {
    for (Form form : {Form::kKerasNhwc, Form::kZooNchw}) {
      for (bool dynamic : {false, true}) {
        if (dynamic && arch == Arch::kVGG16 && form == Form::kZooNchw) continue;
        ModelGenOptions o{arch, form, 9, 0.125, 64, dynamic};
        auto bytes = GenerateModel(o);
        ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
        onnx::ModelProto m;
        ASSERT_TRUE(m.ParseFromString(*bytes));
        EXPECT_NO_THROW(onnx::checker::check_model(m)) << DefaultFileName(o);
      }
    }
  }
}

// The checker is really checking: a node with an unknown operator fails it.
TEST(modelgenChecker, RejectsABrokenModel) {
  auto bytes = GenerateModel(ModelGenOptions{Arch::kVGG16, Form::kKerasNhwc, 9, 0.125, 64, false});
  ASSERT_TRUE(bytes.ok());
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(*bytes));
  m.mutable_graph()->mutable_node(3)->set_op_type("NoSuchOp");
  EXPECT_ANY_THROW(onnx::checker::check_model(m));
}

}  // namespace
}  // namespace doppel::modelgen
