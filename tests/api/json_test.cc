// The API layer's JSON: field names and error codes are part of doppel's interface (the CLI's --json, the HTTP
// API), so these tests pin them; and spec resolution's order of sources.
#include "doppel/api/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "doppel/api/api.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using nlohmann::json;

TEST(ApiJson, ErrorCodesAreStableAndMapToHttp) {
  struct Case {
    Status st;
    const char* code;
    int http;
  } cases[] = {
      {Status::InvalidArgument("x"), "invalid_argument", 400}, {Status::NotFound("x"), "not_found", 404},
      {Status::AlreadyExists("x"), "already_exists", 409},     {Status::IOError("x"), "io_error", 500},
      {Status::Corruption("x"), "corruption", 500},            {Status::Unsupported("x"), "unsupported", 415},
      {Status::ResourceExhausted("x"), "resource_exhausted", 413},
      {Status::FailedPrecondition("x"), "failed_precondition", 409}, {Status::Internal("x"), "internal", 500},
  };
  for (const auto& c : cases) {
    EXPECT_STREQ(api::ErrorCode(c.st.code()), c.code);
    EXPECT_EQ(api::HttpStatus(c.st.code()), c.http) << c.code;
  }
  json e = api::ErrorJson(Status::NotFound("no model named 'nope'"));
  EXPECT_EQ(e, json::parse(R"({"error": {"code": "not_found", "message": "no model named 'nope'"}})"));
}

TEST(ApiJson, HitsSummariesAndComparisons) {
  Hit h;
  h.rank = 1;
  h.id = 42;
  h.distance = 0.25f;
  h.path = "/p/a.jpg";
  h.other_paths = {"/p/b.jpg"};
  h.fields = {{"path", std::string("/p/a.jpg")}, {"width", int64_t(640)}, {"format", std::string("jpeg")},
              {"score", FieldValue()}};
  json j = api::ToJson(h);
  EXPECT_EQ(j["id"], 42);
  EXPECT_EQ(j["path"], "/p/a.jpg");
  EXPECT_EQ(j["other_paths"], json::array({"/p/b.jpg"}));
  EXPECT_EQ(j["fields"]["width"], 640);
  EXPECT_TRUE(j["fields"]["score"].is_null());
  EXPECT_FALSE(j["fields"].contains("path")) << "the path is not repeated among the fields";
  EXPECT_EQ(api::SearchJson("m", {h})["model"], "m");

  IndexSummary s;
  s.counts.total = 5;
  s.counts.indexed = 3;
  s.counts.failed = 1;
  s.ignored = 1;
  s.ignored_files = {{"/p/notes.txt", "not an image (no known image signature)"}};
  s.failures = {{"/p/bad.jpg", "InvalidArgument: /p/bad.jpg: truncated"}};
  json sj = api::ToJson(s);
  for (const char* k : {"found", "indexed", "skipped", "failed", "duplicates", "pruned", "ignored", "seconds",
                        "images_per_second", "cancelled", "failures", "ignored_files"})
    EXPECT_TRUE(sj.contains(k)) << k;
  EXPECT_EQ(sj["found"], 5);
  EXPECT_EQ(sj["ignored_files"][0]["path"], "/p/notes.txt");
  EXPECT_EQ(sj["failures"][0]["path"], "/p/bad.jpg");

  Comparison c;
  c.models = {"a", "b"};
  c.hits = {{h}, {}};
  Comparison::Scale scale;
  scale.min = 0.1f;
  scale.mean = 0.2f;
  scale.max = 0.3f;
  c.distance_scales = {scale, {}};
  c.overlap = 0.5;
  c.rank_correlation = std::numeric_limits<double>::quiet_NaN();
  json cj = api::ToJson(c);
  EXPECT_TRUE(cj["rank_correlation"].is_null()) << "NaN is not JSON";
  EXPECT_EQ(cj["hits"].size(), 2u);
  EXPECT_EQ(cj["hits"][0][0]["id"], 42);
  EXPECT_FLOAT_EQ(cj["distance_scales"][0]["max"].get<float>(), 0.3f);
}

TEST(ApiSpec, SourcesApplyInOrder) {
  testing::TempDir dir;
  std::string model = dir.file("m.onnx");
  testing::WriteFile(model, "not read when a preset is given");
  // Preset, then the spec file, then single overrides.
  std::string spec_file = dir.file("spec.json");
  testing::WriteFile(spec_file, R"({"interpolation": "bicubic", "size": 160})");
  api::SpecSources src;
  src.preset = "torch-imagenet";
  src.spec_file = spec_file;
  src.size = 128;
  auto spec = api::ResolveSpec(model, src);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->preprocess.width, 128) << "the single override wins";
  EXPECT_EQ(spec->preprocess.interpolation, Filter::kBicubic) << "the spec file overrides the preset";
  EXPECT_NEAR(spec->preprocess.mean[0], 0.485f, 1e-6) << "the preset's values stay where nothing overrides them";
  // A sidecar is the base when present.
  testing::WriteFile(dir.file("m.doppel.json"), R"({"preset": "clip"})");
  auto side = api::ResolveSpec(model, api::SpecSources());
  ASSERT_TRUE(side.ok()) << side.status().ToString();
  EXPECT_NEAR(side->preprocess.mean[0], 0.48145466f, 1e-6);
  // A bad override names where it came from.
  src.resize = "sideways";
  auto bad = api::ResolveSpec(model, src);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sideways"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace doppel

namespace doppel {
namespace {

TEST(ApiSplitList, CommaListsIgnoreEmptyItems) {
  EXPECT_EQ(api::SplitList("mobilenet_v2,inception_v3"), (std::vector<std::string>{"mobilenet_v2", "inception_v3"}));
  EXPECT_EQ(api::SplitList(",largest,,prefer:/a,b/,"), (std::vector<std::string>{"largest", "prefer:/a", "b/"}));
  EXPECT_TRUE(api::SplitList("").empty());
  EXPECT_TRUE(api::SplitList(",,").empty());
}

}  // namespace
}  // namespace doppel
