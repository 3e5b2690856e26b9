// OnnxModel: layouts, taps, pooling, normalisation, errors; on real ONNX Runtime sessions over generated models
// with random weights (tests only).
#include "doppel/model/onnx_model.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <onnxruntime_cxx_api.h>

#include <cmath>
#include <random>

#include "doppel/image/decode.h"
#include "doppel/image/phash.h"
#include "doppel/image/preprocess.h"
#include "doppel/model/graph_edit.h"
#include "doppel/modelgen/modelgen.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using modelgen::Arch;
using modelgen::Form;
using modelgen::ModelGenOptions;

std::string Gen(const testing::TempDir& dir, Arch arch, Form form, double width = 0.125, int size = 64,
                bool dynamic = false) {
  ModelGenOptions o;
  o.arch = arch;
  o.form = form;
  o.width_multiplier = width;
  o.input_size = size;
  o.dynamic_spatial = dynamic;
  std::string path = dir.file(modelgen::DefaultFileName(o));
  Status st = modelgen::WriteModel(o, path);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return path;
}

ImageU8 TestImage(int w, int h, uint32_t seed) {
  ImageU8 img(w, h, 3);
  std::mt19937 rng(seed);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        img.at(x, y, c) = static_cast<uint8_t>((x * (3 + c) + y * (5 - c) + (rng() % 40)) & 255);
  return img;
}

double Norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  return std::sqrt(s);
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

ModelSpec Spec(const std::string& preset) {
  auto s = SpecFromPreset(preset);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

TEST(OnnxModel, KerasNhwcModelGivesUnitVectors) {
  testing::TempDir dir;
  std::string path = Gen(dir, Arch::kResNet50, Form::kKerasNhwc);
  auto m = OnnxModel::Load(path, Spec("keras-caffe"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->input_layout(), Layout::kNHWC);
  EXPECT_EQ((*m)->dim(), 256);  // 2048 * 1/8
  EXPECT_EQ((*m)->spec().preprocess.width, 64);  // taken from the model's fixed input size
  auto v = (*m)->Embed(TestImage(100, 80, 1));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_NEAR(Norm(*v), 1.0, 1e-5);
  auto w = (*m)->Embed(TestImage(100, 80, 2));
  ASSERT_TRUE(w.ok());
  EXPECT_GT(MaxAbsDiff(*v, *w), 1e-4) << "different images must give different vectors";
}

// Flip pooling (spec "flip_pool"): a picture and its mirror image get one vector, the normalised mean of the
// plain vectors of both, in both layouts and through batches; it is part of the fingerprint.
TEST(OnnxModel, FlipPoolingGivesMirrorImagesOneVector) {
  testing::TempDir dir;
  for (Form form : {Form::kKerasNhwc, Form::kZooNchw}) {
    std::string path = Gen(dir, Arch::kResNet50, form);
    ModelSpec plain_spec = Spec("keras-caffe");
    ModelSpec flip_spec = plain_spec;
    flip_spec.flip_pool = true;
    auto plain = OnnxModel::Load(path, plain_spec);
    auto flip = OnnxModel::Load(path, flip_spec);
    ASSERT_TRUE(plain.ok() && flip.ok());
    EXPECT_NE((*plain)->fingerprint(), (*flip)->fingerprint());
    // 64 wide: the stretch to the 64x64 input copies pixels, so mirroring commutes with it exactly.
    const ImageU8 img = TestImage(64, 64, 5);
    const ImageU8 mirror = ApplyDihedral(img, Dihedral::kMirror);
    auto a = (*plain)->Embed(img), b = (*plain)->Embed(mirror);
    auto f = (*flip)->Embed(img), fm = (*flip)->Embed(mirror);
    ASSERT_TRUE(a.ok() && b.ok() && f.ok() && fm.ok());
    EXPECT_GT(MaxAbsDiff(*a, *b), 1e-3) << "the plain model tells the mirror image apart";
    EXPECT_LT(MaxAbsDiff(*f, *fm), 1e-5) << "flip pooling does not";
    std::vector<float> mean(a->size());
    for (size_t i = 0; i < mean.size(); ++i) mean[i] = 0.5f * ((*a)[i] + (*b)[i]);
    L2Normalize(mean.data(), int(mean.size()));
    EXPECT_LT(MaxAbsDiff(*f, mean), 1e-5);
    EXPECT_NEAR(Norm(*f), 1.0, 1e-5);
    // A batch of two gives each its own flip-pooled vector.
    std::vector<float> batch((*flip)->input_floats() * 2), out;
    ASSERT_TRUE(Preprocess(img, (*flip)->spec().preprocess, (*flip)->input_layout(), batch.data()).ok());
    ASSERT_TRUE(Preprocess(TestImage(64, 64, 6), (*flip)->spec().preprocess, (*flip)->input_layout(),
                           batch.data() + (*flip)->input_floats()).ok());
    ASSERT_TRUE((*flip)->Run(batch.data(), 2, &out).ok());
    EXPECT_LT(MaxAbsDiff(std::vector<float>(out.begin(), out.begin() + (*flip)->dim()), *f), 1e-5);
  }
}

TEST(OnnxModel, SameWeightsNhwcAndNchwGiveTheSameVector) {
  testing::TempDir dir;
  for (Arch arch : {Arch::kResNet50, Arch::kVGG16}) {
    std::string nhwc = Gen(dir, arch, Form::kKerasNhwc);
    std::string nchw = Gen(dir, arch, Form::kZooNchw);
    auto names = modelgen::TensorNames({arch, Form::kZooNchw, 1, 0.125, 64});
    ModelSpec a = Spec("keras-caffe");
    ModelSpec b = a;
    b.output = names.last_feature_map;  // a tap inside the zoo model's trunk
    b.pool = Pooling::kMax;             // the Keras export's GlobalMaxPooling2D, done by doppel
    auto ma = OnnxModel::Load(nhwc, a);
    auto mb = OnnxModel::Load(nchw, b);
    ASSERT_TRUE(ma.ok()) << ma.status().ToString();
    ASSERT_TRUE(mb.ok()) << mb.status().ToString();
    EXPECT_EQ((*ma)->input_layout(), Layout::kNHWC);
    EXPECT_EQ((*mb)->input_layout(), Layout::kNCHW);
    ImageU8 img = TestImage(90, 70, 3);
    auto va = (*ma)->Embed(img);
    auto vb = (*mb)->Embed(img);
    ASSERT_TRUE(va.ok() && vb.ok());
    EXPECT_LT(MaxAbsDiff(*va, *vb), 1e-5) << modelgen::ArchName(arch);
  }
}

// Runs `path` directly in ONNX Runtime with `tensor` added as an extra graph output (nothing pruned).
std::vector<float> RunWithExtraOutput(const std::string& path, const std::string& tensor, const std::vector<float>& in,
                                      const std::vector<int64_t>& shape) {
  auto bytes = ReadFileBytes(path);
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(*bytes));
  auto* out = m.mutable_graph()->add_output();
  out->set_name(tensor);
  out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  std::string edited;
  m.SerializeToString(&edited);
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "test");
  Ort::Session s(env, edited.data(), edited.size(), Ort::SessionOptions());
  auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  auto t = Ort::Value::CreateTensor<float>(mem, const_cast<float*>(in.data()), in.size(), shape.data(), shape.size());
  Ort::AllocatorWithDefaultOptions alloc;
  std::string in_name = s.GetInputNameAllocated(0, alloc).get();
  const char* in_names[] = {in_name.c_str()};
  const char* out_names[] = {tensor.c_str()};
  auto outs = s.Run(Ort::RunOptions{nullptr}, in_names, &t, 1, out_names, 1);
  auto n = outs[0].GetTensorTypeAndShapeInfo().GetElementCount();
  const float* d = outs[0].GetTensorData<float>();
  return std::vector<float>(d, d + n);
}

TEST(OnnxModel, TapEqualsTheModelTruncatedAtThatTensor) {
  testing::TempDir dir;
  std::string path = Gen(dir, Arch::kResNet50, Form::kZooNchw);
  auto names = modelgen::TensorNames({Arch::kResNet50, Form::kZooNchw, 1, 0.125, 64});
  ModelSpec spec = Spec("torch-imagenet");
  spec.output = names.penultimate;
  auto m = OnnxModel::Load(path, spec);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->dim(), 256);
  ImageU8 img = TestImage(120, 90, 4);
  std::vector<float> tensor((*m)->input_floats());
  ASSERT_TRUE(Preprocess(img, (*m)->spec().preprocess, Layout::kNCHW, tensor.data()).ok());
  std::vector<float> got;
  ASSERT_TRUE((*m)->Run(tensor.data(), 1, &got).ok());
  std::vector<float> want = RunWithExtraOutput(path, names.penultimate, tensor, {1, 3, 64, 64});
  L2Normalize(want.data(), static_cast<int>(want.size()));
  EXPECT_LT(MaxAbsDiff(got, want), 1e-5);
  // And the default output is the 1000 logits.
  auto logits = OnnxModel::Load(path, Spec("torch-imagenet"));
  ASSERT_TRUE(logits.ok());
  EXPECT_EQ((*logits)->dim(), 1000);
}

TEST(OnnxModel, BatchesGiveTheSameVectorsAsSingleImages) {
  testing::TempDir dir;
  std::string path = Gen(dir, Arch::kResNet50, Form::kKerasNhwc, 0.125, 64, /*dynamic=*/true);
  auto m = OnnxModel::Load(path, Spec("keras-tf"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->spec().preprocess.width, 224) << "dynamic H/W: the size comes from the spec";
  const int n = 5;
  std::vector<float> batch(n * (*m)->input_floats());
  std::vector<std::vector<float>> singles;
  for (int i = 0; i < n; ++i) {
    ImageU8 img = TestImage(50 + 10 * i, 60, 10 + i);
    ASSERT_TRUE(Preprocess(img, (*m)->spec().preprocess, Layout::kNHWC, batch.data() + i * (*m)->input_floats()).ok());
    auto v = (*m)->Embed(img);
    ASSERT_TRUE(v.ok());
    singles.push_back(*v);
  }
  std::vector<float> out;
  ASSERT_TRUE((*m)->Run(batch.data(), n, &out).ok());
  for (int i = 0; i < n; ++i) {
    std::vector<float> row(out.begin() + i * (*m)->dim(), out.begin() + (i + 1) * (*m)->dim());
    EXPECT_LT(MaxAbsDiff(row, singles[i]), 1e-5) << i;
    EXPECT_NEAR(Norm(row), 1.0, 1e-5);
  }
}

TEST(OnnxModel, FingerprintNamesModelAndSpec) {
  testing::TempDir dir;
  std::string path = Gen(dir, Arch::kVGG16, Form::kKerasNhwc);
  auto a = OnnxModel::Load(path, Spec("keras-caffe"));
  auto b = OnnxModel::Load(path, Spec("keras-caffe"));
  auto c = OnnxModel::Load(path, Spec("keras-tf"));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ((*a)->fingerprint(), (*b)->fingerprint());
  EXPECT_NE((*a)->fingerprint(), (*c)->fingerprint());
  ModelGenOptions o{Arch::kVGG16, Form::kKerasNhwc, /*seed=*/2, 0.125, 64};
  std::string other = dir.file("other-seed.onnx");
  ASSERT_TRUE(modelgen::WriteModel(o, other).ok());
  auto d = OnnxModel::Load(other, Spec("keras-caffe"));
  ASSERT_TRUE(d.ok());
  EXPECT_NE((*a)->fingerprint(), (*d)->fingerprint());
}

// A model built in the test: one input, one output, nodes given by `build`.
std::string WriteTinyModel(const std::string& path, int in_type, std::vector<int64_t> in_shape,
                           std::vector<int64_t> out_shape, const std::string& op,
                           const std::vector<int64_t>& reshape_to = {}) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("tiny");
  auto set_shape = [](onnx::ValueInfoProto* vi, int type, const std::vector<int64_t>& shape) {
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(type);
    for (auto d : shape) {
      auto* dim = tt->mutable_shape()->add_dim();
      if (d < 0) dim->set_dim_param("N");
      else dim->set_dim_value(d);
    }
  };
  auto* in = g->add_input();
  in->set_name("x");
  set_shape(in, in_type, in_shape);
  auto* out = g->add_output();
  out->set_name("y");
  set_shape(out, onnx::TensorProto::FLOAT, out_shape);
  auto* n = g->add_node();
  n->set_op_type(op);
  n->add_input("x");
  if (op == "Cast") {
    auto* a = n->add_attribute();
    a->set_name("to");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(onnx::TensorProto::FLOAT);
  }
  if (op == "Reshape") {
    n->add_input("shape");
    auto* t = g->add_initializer();
    t->set_name("shape");
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(reshape_to.size()));
    for (auto d : reshape_to) t->add_int64_data(d);
  }
  n->add_output("y");
  std::string bytes;
  m.SerializeToString(&bytes);
  testing::WriteFile(path, bytes);
  return path;
}

TEST(OnnxModelErrors, TextModelIsRefusedNamingItsInput) {
  testing::TempDir dir;
  std::string path = WriteTinyModel(dir.file("text.onnx"), onnx::TensorProto::INT64, {-1, 16}, {-1, 16}, "Cast");
  auto m = OnnxModel::Load(path, Spec("clip"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("text.onnx"), std::string::npos) << m.status().ToString();
  EXPECT_NE(m.status().message().find("input 'x' is int64"), std::string::npos) << m.status().ToString();
}

TEST(OnnxModelErrors, WrongRankOutputIsRefusedNamingIt) {
  testing::TempDir dir;
  std::string path = WriteTinyModel(dir.file("rank3.onnx"), onnx::TensorProto::FLOAT, {-1, 3, 8, 8}, {-1, 3, 64},
                                    "Reshape", {-1, 3, 64});
  ModelSpec spec = Spec("torch-imagenet");
  auto m = OnnxModel::Load(path, spec);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("output 'y' has rank 3"), std::string::npos) << m.status().ToString();
  EXPECT_NE(m.status().message().find("rank3.onnx"), std::string::npos);
}

TEST(OnnxModelErrors, FeatureMapWithoutPoolingIsRefused) {
  testing::TempDir dir;
  std::string path = Gen(dir, Arch::kResNet50, Form::kZooNchw);
  ModelSpec spec = Spec("torch-imagenet");
  spec.output = modelgen::TensorNames({Arch::kResNet50, Form::kZooNchw, 1, 0.125, 64}).last_feature_map;
  auto m = OnnxModel::Load(path, spec);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("set pool"), std::string::npos) << m.status().ToString();
}

TEST(OnnxModelErrors, UnknownTapAndNonModelFiles) {
  testing::TempDir dir;
  std::string path = Gen(dir, Arch::kVGG16, Form::kZooNchw);
  ModelSpec spec = Spec("torch-imagenet");
  spec.output = "no_such_tensor";
  auto m = OnnxModel::Load(path, spec);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Status::Code::kNotFound);
  EXPECT_NE(m.status().message().find("no_such_tensor"), std::string::npos);

  testing::WriteFile(dir.file("empty.onnx"), "");
  auto e = OnnxModel::Load(dir.file("empty.onnx"), spec);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("empty.onnx"), std::string::npos);
  testing::WriteFile(dir.file("text.onnx"), "this is not a model\n");
  auto t = OnnxModel::Load(dir.file("text.onnx"), spec);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("text.onnx"), std::string::npos);
}

TEST(Pooling, LayoutsAgreeAndModesAreRight) {
  const int c = 3, h = 2, w = 2;
  // NCHW data: channel k holds k*10 + position.
  std::vector<float> nchw(c * h * w), nhwc(c * h * w);
  for (int k = 0; k < c; ++k)
    for (int i = 0; i < h * w; ++i) {
      nchw[k * h * w + i] = float(k * 10 + i);
      nhwc[i * c + k] = float(k * 10 + i);
    }
  for (Pooling p : {Pooling::kAvg, Pooling::kMax, Pooling::kGeM}) {
    std::vector<float> a(c), b(c);
    PoolFeatureMap(nchw.data(), c, h, w, Layout::kNCHW, p, 3.0f, a.data());
    PoolFeatureMap(nhwc.data(), c, h, w, Layout::kNHWC, p, 3.0f, b.data());
    for (int k = 0; k < c; ++k) EXPECT_FLOAT_EQ(a[k], b[k]);
  }
  std::vector<float> out(c);
  PoolFeatureMap(nchw.data(), c, h, w, Layout::kNCHW, Pooling::kAvg, 3, out.data());
  EXPECT_FLOAT_EQ(out[1], 11.5f);
  PoolFeatureMap(nchw.data(), c, h, w, Layout::kNCHW, Pooling::kMax, 3, out.data());
  EXPECT_FLOAT_EQ(out[2], 23.0f);
  PoolFeatureMap(nchw.data(), c, h, w, Layout::kNCHW, Pooling::kGeM, 1.0f, out.data());
  EXPECT_NEAR(out[1], 11.5f, 1e-4);  // p = 1 is the average
  PoolFeatureMap(nchw.data(), c, h, w, Layout::kNCHW, Pooling::kGeM, 3.0f, out.data());
  EXPECT_NEAR(out[1], std::cbrt((1000.0 + 1331 + 1728 + 2197) / 4.0), 1e-3);  // p = 3: multiplied, not pow
  PoolFeatureMap(nchw.data(), c, h, w, Layout::kNCHW, Pooling::kGeM, 2.5f, out.data());
  const double p25 = (std::pow(10.0, 2.5) + std::pow(11.0, 2.5) + std::pow(12.0, 2.5) + std::pow(13.0, 2.5)) / 4;
  EXPECT_NEAR(out[1], std::pow(p25, 1 / 2.5), 1e-3);
}

// A map of the built-in's shape class (many channels, positions not a multiple of the vector width, negative values
// the GeM clamp must catch): both layouts give the same bits, and each mode matches its definition in double.
TEST(Pooling, LayoutsAgreeBitForBitOnALargerMap) {
  const int c = 37, h = 5, w = 7, hw = h * w;
  std::vector<float> nchw(size_t(c * hw)), nhwc(size_t(c * hw));
  uint32_t seed = 12345;
  for (int k = 0; k < c; ++k)
    for (int i = 0; i < hw; ++i) {
      seed = seed * 1664525u + 1013904223u;
      const float v = float(int(seed >> 9) % 2001 - 700) / 250.0f;  // -2.8 .. 5.2
      nchw[size_t(k * hw + i)] = v;
      nhwc[size_t(i * c + k)] = v;
    }
  for (Pooling p : {Pooling::kAvg, Pooling::kMax, Pooling::kGeM})
    for (float gem : {3.0f, 2.5f}) {
      std::vector<float> a(c), b(c);
      PoolFeatureMap(nchw.data(), c, h, w, Layout::kNCHW, p, gem, a.data());
      PoolFeatureMap(nhwc.data(), c, h, w, Layout::kNHWC, p, gem, b.data());
      for (int k = 0; k < c; ++k) {
        EXPECT_EQ(a[k], b[k]) << PoolingName(p) << " p=" << gem << " channel " << k;
        double want = p == Pooling::kMax ? -1e30 : 0;
        for (int i = 0; i < hw; ++i) {
          const double x = nchw[size_t(k * hw + i)];
          if (p == Pooling::kMax) want = std::max(want, x);
          else if (p == Pooling::kAvg) want += x / hw;
          else want += std::pow(std::max(x, 1e-6), double(gem)) / hw;
        }
        if (p == Pooling::kGeM) want = std::pow(want, 1.0 / gem);
        EXPECT_NEAR(a[k], want, 1e-4 * std::max(1.0, std::fabs(want))) << PoolingName(p) << " channel " << k;
      }
    }
}

}  // namespace
}  // namespace doppel
