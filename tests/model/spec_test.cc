#include "doppel/model/spec.h"

#include <gtest/gtest.h>

#include "support/test_util.h"

namespace doppel {
namespace {

TEST(ModelSpec, PresetsAndJsonRoundTrip) {
  for (const std::string& name : PresetNames()) {
    auto s = SpecFromPreset(name);
    ASSERT_TRUE(s.ok()) << name;
    auto back = SpecFromJson(SpecToCanonicalJson(*s));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(SpecToCanonicalJson(*back), SpecToCanonicalJson(*s)) << name;
  }
}

TEST(ModelSpec, SidecarOverridesPresetFields) {
  auto s = SpecFromJson(R"({"preset": "keras-tf", "pool": "max", "output": "block_10_add", "interpolation": "bilinear"})");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->preset, "keras-tf");
  EXPECT_EQ(s->pool, Pooling::kMax);
  EXPECT_EQ(s->output, "block_10_add");
  EXPECT_EQ(s->preprocess.interpolation, Filter::kBilinear);
  EXPECT_FLOAT_EQ(s->preprocess.mean[0], 1.0f);  // from keras-tf: x/127.5 - 1
}

TEST(ModelSpec, BadValuesNameTheKey) {
  auto a = SpecFromJson(R"({"pool": "median"})");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("'pool'"), std::string::npos);
  EXPECT_NE(a.status().message().find("median"), std::string::npos);
  auto b = SpecFromJson(R"({"colour": "rgb"})");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("'colour'"), std::string::npos);
  auto c = SpecFromJson(R"({"preset": "caffe2"})");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("caffe2"), std::string::npos);
  auto d = SpecFromJson(R"({"mean": [1, 2]})");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("'mean'"), std::string::npos);
  EXPECT_FALSE(SpecFromJson("{not json").ok());
}

TEST(ModelSpec, SidecarFileNextToTheModel) {
  testing::TempDir dir;
  std::string model = dir.file("net.onnx");
  EXPECT_EQ(SidecarPath(model), dir.file("net.doppel.json"));
  auto none = LoadSidecar(model, *SpecFromPreset("clip"));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->preset, "clip");
  ModelSpec s = *SpecFromPreset("torch-imagenet");
  s.pool = Pooling::kGeM;
  ASSERT_TRUE(WriteSidecar(model, s).ok());
  auto back = LoadSidecar(model);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(SpecToCanonicalJson(*back), SpecToCanonicalJson(s));
  testing::WriteFile(SidecarPath(model), R"({"pool": 3})");
  auto bad = LoadSidecar(model);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("net.doppel.json"), std::string::npos);
}

TEST(ModelSpec, FlipPoolRoundTripsAndIsInTheCanonicalFormOnlyWhenOn) {
  ModelSpec off = *SpecFromPreset("keras-tf");
  EXPECT_FALSE(off.flip_pool);
  EXPECT_EQ(SpecToCanonicalJson(off).find("flip_pool"), std::string::npos);
  auto on = SpecFromJson(R"({"preset": "keras-tf", "flip_pool": true})");
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_TRUE(on->flip_pool);
  auto back = SpecFromJson(SpecToCanonicalJson(*on));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->flip_pool);
  auto bad = SpecFromJson(R"({"flip_pool": 1})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'flip_pool'"), std::string::npos);
}

TEST(ModelSpec, ShrinkOnLoadRoundTripsAndIsInTheCanonicalFormOnlyWhenOn) {
  ModelSpec off = *SpecFromPreset("keras-tf");
  EXPECT_FALSE(off.preprocess.shrink_on_load) << "off by default";
  // Specs without it keep the canonical form (and so the fingerprints) they had before the option existed.
  EXPECT_EQ(SpecToCanonicalJson(off).find("shrink_on_load"), std::string::npos);
  auto on = SpecFromJson(R"({"preset": "keras-tf", "shrink_on_load": true})");
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_TRUE(on->preprocess.shrink_on_load);
  EXPECT_NE(SpecToCanonicalJson(*on), SpecToCanonicalJson(off));
  auto back = SpecFromJson(SpecToCanonicalJson(*on));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->preprocess.shrink_on_load);
  EXPECT_EQ(SpecToCanonicalJson(*back), SpecToCanonicalJson(*on));
  auto pretty = SpecFromJson(SpecToPrettyJson(*on));
  ASSERT_TRUE(pretty.ok());
  EXPECT_TRUE(pretty->preprocess.shrink_on_load);
  auto bad = SpecFromJson(R"({"shrink_on_load": "yes"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'shrink_on_load'"), std::string::npos);
  // The draft size is what the resize step needs.
  DecodeOptions stretch = DecodeOptionsFor(on->preprocess);
  EXPECT_EQ(stretch.draft_width, 224);
  EXPECT_EQ(stretch.draft_height, 224);
  ModelSpec torch = *SpecFromPreset("torch-imagenet");
  torch.preprocess.shrink_on_load = true;
  DecodeOptions crop = DecodeOptionsFor(torch.preprocess);
  EXPECT_EQ(crop.draft_width, 256) << "the shorter side's target";
  EXPECT_EQ(crop.draft_height, 256);
  EXPECT_EQ(DecodeOptionsFor(off.preprocess).draft_width, 0) << "off: full decode";
  EXPECT_EQ(stretch.draft_formats, unsigned(kDraftJpeg)) << "true: JPEG alone";
}

TEST(ModelSpec, ShrinkOnLoadListsMoreFormats) {
  // A list names the formats that shrink; JPEG alone keeps the form `true` (and with it the fingerprints of specs
  // written before lists existed).
  auto on = SpecFromJson(R"({"preset": "keras-tf", "shrink_on_load": true})");
  auto jpeg = SpecFromJson(R"({"preset": "keras-tf", "shrink_on_load": ["jpeg"]})");
  auto all = SpecFromJson(R"({"preset": "keras-tf", "shrink_on_load": ["heif", "jpeg", "webp", "jpeg"]})");
  auto webp = SpecFromJson(R"({"preset": "keras-tf", "shrink_on_load": ["webp"]})");
  auto none = SpecFromJson(R"({"preset": "keras-tf", "shrink_on_load": []})");
  ASSERT_TRUE(on.ok() && jpeg.ok() && all.ok() && webp.ok() && none.ok());
  EXPECT_EQ(SpecToCanonicalJson(*jpeg), SpecToCanonicalJson(*on));
  EXPECT_NE(SpecToCanonicalJson(*all), SpecToCanonicalJson(*on));
  EXPECT_NE(SpecToCanonicalJson(*webp), SpecToCanonicalJson(*all));
  EXPECT_NE(SpecToCanonicalJson(*all).find(R"("shrink_on_load":["jpeg","webp","heif"])"), std::string::npos)
      << SpecToCanonicalJson(*all);
  EXPECT_FALSE(none->preprocess.shrink_on_load) << "an empty list is off";
  EXPECT_EQ(SpecToCanonicalJson(*none), SpecToCanonicalJson(*SpecFromPreset("keras-tf")));
  for (const auto* spec : {&*all, &*webp}) {
    auto back = SpecFromJson(SpecToCanonicalJson(*spec));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->preprocess.shrink_formats, spec->preprocess.shrink_formats);
    EXPECT_EQ(SpecToCanonicalJson(*back), SpecToCanonicalJson(*spec));
  }
  DecodeOptions d = DecodeOptionsFor(all->preprocess);
  EXPECT_EQ(d.draft_formats, unsigned(kDraftJpeg | kDraftWebp | kDraftHeif));
  EXPECT_EQ(d.draft_width, 224);
  EXPECT_EQ(DecodeOptionsFor(webp->preprocess).draft_formats, unsigned(kDraftWebp));
  auto bad = SpecFromJson(R"({"shrink_on_load": ["jpeg", "png"]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"png\""), std::string::npos) << bad.status().ToString();
}

}  // namespace
}  // namespace doppel
