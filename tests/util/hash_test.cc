#include "doppel/util/hash.h"

#include <gtest/gtest.h>

#include "support/test_util.h"

namespace doppel {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, FileEqualsInMemory) {
  testing::TempDir dir;
  std::string data(200000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  testing::WriteFile(dir.file("f.bin"), data);
  auto h = Sha256File(dir.file("f.bin"));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(*h, Sha256Hex(data));
}

TEST(Sha256, MissingFileNamesPath) {
  auto h = Sha256File("/nonexistent/doppel/file.bin");
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("/nonexistent/doppel/file.bin"), std::string::npos);
}

}  // namespace
}  // namespace doppel
