// doppel-modelgen writes the same bytes as the library and prints the tensor names as JSON. Skipped when the CLI
// target has not been built into this build folder.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include <gtest/gtest.h>

#include "doppel/modelgen/modelgen.h"
#include "support/test_util.h"

namespace doppel::modelgen {
namespace {

std::string RunCommand(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

TEST(modelgenCli, WritesLibraryBytesAndPrintsNames) {
  const std::string cli = std::string(DOPPEL_BINARY_DIR) + "/bin/doppel-modelgen";
  if (!std::filesystem::exists(cli)) GTEST_SKIP() << cli << " not built";
  doppel::testing::TempDir dir;
  const std::string path = dir.file("m.onnx");
  int status = -1;
  const std::string out = RunCommand(cli + " --arch vgg16 --form zoo-nchw --seed 4 --width-multiplier 0.125 " +
                                         "--input-size 64 --out " + path, &status);
  ASSERT_EQ(status, 0) << out;
  const ModelGenOptions o{Arch::kVGG16, Form::kZooNchw, 4, 0.125, 64, false};
  EXPECT_EQ(doppel::testing::ReadFile(path), *GenerateModel(o));
  const nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["input"], "data");
  EXPECT_EQ(j["output"], "vgg0_dense2_fwd");
  EXPECT_EQ(j["last_feature_map"], "block5_pool");
  EXPECT_EQ(j["penultimate"], "fc2_relu");
  EXPECT_EQ(j["weights"], WeightsLabel(4));

  const std::string bad = RunCommand(cli + " --arch vgg16 --form zoo-nchw --dynamic-spatial --out " + path + " 2>&1",
                                     &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(bad.find("dynamic_spatial"), std::string::npos) << bad;
}

}  // namespace
}  // namespace doppel::modelgen
