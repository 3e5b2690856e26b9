// Helpers for the in-process engine tests: a data directory with a small random-weight model (doppel-modelgen's
// ResNet50 topology at width 0.25, 96 px: RANDOM weights, for tests only) and folders of real photos and edited
// copies of them.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "doppel/engine/engine.h"
#include "doppel/modelgen/modelgen.h"
#include "doppel/model/spec.h"
#include "doppel/util/file.h"
#include "doppel/util/hash.h"
#include "support/image_files.h"
#include "support/test_util.h"

namespace doppel::testing {

// The opencv-doc sample photos over 20 KB, sorted.
inline std::vector<std::string> SamplePhotos(size_t n) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(DOPPEL_SAMPLE_DIR))
    if (e.path().extension() == ".jpg" && std::filesystem::file_size(e.path()) > 20000)
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  if (out.size() > n) out.resize(n);
  return out;
}

// Writes `per_photo` rescaled copies of each of `photos` into `dir` (created), named <prefix><n>.jpg. Returns the
// paths, in order.
inline std::vector<std::string> WriteCopies(const std::vector<std::string>& photos, const std::string& dir,
                                            const std::string& prefix, int per_photo) {
  std::filesystem::create_directories(dir);
  std::vector<std::string> out;
  for (const auto& p : photos)
    for (int c = 0; c < per_photo; ++c) {
      std::string path = dir + "/" + prefix + std::to_string(out.size()) + ".jpg";
      WriteEditedCopy(p, path, 0.25 + 0.1 * c);
      out.push_back(path);
    }
  return out;
}

// A random-weight model file at `path` (seed picks the weights).
inline void WriteRandomModel(const std::string& path, uint64_t seed = 1) {
  modelgen::ModelGenOptions o;
  o.arch = modelgen::Arch::kResNet50;
  o.form = modelgen::Form::kKerasNhwc;
  o.width_multiplier = 0.25;
  o.input_size = 96;
  o.seed = seed;
  Status s = modelgen::WriteModel(o, path);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

inline ModelSpec RandomModelSpec() {
  auto spec = SpecFromPreset("keras-caffe");
  EXPECT_TRUE(spec.ok());
  return spec.ok() ? *spec : ModelSpec();
}

// The JSON a command printed; a test failure (and null) when it is not JSON.
inline nlohmann::json ParseJsonOutput(const CommandResult& r) {
  try {
    return nlohmann::json::parse(r.out);
  } catch (...) {
    ADD_FAILURE() << "not JSON: " << r.out;
    return nlohmann::json();
  }
}

// The content id of a file, as the engine computes it.
inline int64_t FileContentId(const std::string& path) {
  auto bytes = ReadFileBytes(path);
  EXPECT_TRUE(bytes.ok()) << path;
  return bytes.ok() ? ContentId(Sha256Hex(*bytes)) : 0;
}

}  // namespace doppel::testing
