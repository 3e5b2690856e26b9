// Keras HDF5 input: the test writes model.save()-style .h5 files with the HDF5 C API (functional and Sequential
// configs; fixed- and variable-length string attributes as Keras/h5py write them) and checks the converted model
// against values computed independently.
#include <gtest/gtest.h>

#include "doppel/keras/import.h"
#include "keras/keras_test_util.h"
#include "keras/reference_ops.h"
#include "support/test_util.h"

#ifdef DOPPEL_HAVE_HDF5
#include <hdf5.h>
#endif

namespace doppel::keras {
namespace {

using namespace doppel::keras::testing;

#ifdef DOPPEL_HAVE_HDF5

// Writes strings as fixed-length (numpy bytes, what Keras writes) or variable-length (h5py str) attributes.
void StringsAttr(hid_t obj, const char* name, const std::vector<std::string>& values, bool scalar, bool variable) {
  hid_t type = H5Tcopy(H5T_C_S1);
  size_t width = 1;
  for (const std::string& s : values) width = std::max(width, s.size());
  H5Tset_size(type, variable ? H5T_VARIABLE : width);
  hsize_t n = values.size();
  hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr);
  hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (values.empty()) {
    // nothing to write: an empty array attribute
  } else if (variable) {
    std::vector<const char*> ptrs;
    for (const std::string& s : values) ptrs.push_back(s.c_str());
    H5Awrite(attr, type, ptrs.data());
  } else {
    std::vector<char> buf(width * std::max<size_t>(values.size(), 1), 0);
    for (size_t i = 0; i < values.size(); ++i) std::copy(values[i].begin(), values[i].end(), buf.begin() + i * width);
    H5Awrite(attr, type, buf.data());
  }
  H5Aclose(attr);
  H5Sclose(space);
  H5Tclose(type);
}

class H5ModelWriter {
 public:
  explicit H5ModelWriter(const std::string& path) {
    file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    weights_ = H5Gcreate2(file_, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  }
  ~H5ModelWriter() { Close(); }

  // One layer's weights, as "<layer>/<name>:0" datasets under model_weights/<layer>/.
  void Layer(const std::string& layer, const std::vector<std::pair<std::string, std::pair<std::vector<int64_t>,
                                                                                          std::vector<float>>>>& ws,
             bool variable_strings) {
    layers_.push_back(layer);
    hid_t g = H5Gcreate2(weights_, layer.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<std::string> names;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    for (const auto& [name, w] : ws) {
      const std::string path = layer + "/" + name + ":0";
      names.push_back(path);
      std::vector<hsize_t> dims(w.first.begin(), w.first.end());
      hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
      hid_t ds = H5Dcreate2(g, path.c_str(), H5T_IEEE_F32LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
      H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w.second.data());
      H5Dclose(ds);
      H5Sclose(space);
    }
    H5Pclose(lcpl);
    StringsAttr(g, "weight_names", names, false, variable_strings);
    H5Gclose(g);
  }

  void Finish(const json& model_config, bool variable_strings) {
    StringsAttr(file_, "model_config", {model_config.dump()}, true, variable_strings);
    StringsAttr(file_, "keras_version", {"2.3.1"}, true, variable_strings);
    StringsAttr(file_, "backend", {"tensorflow"}, true, variable_strings);
    StringsAttr(weights_, "layer_names", layers_, false, variable_strings);
    Close();
  }

 private:
  void Close() {
    if (weights_ >= 0) H5Gclose(weights_);
    if (file_ >= 0) H5Fclose(file_);
    weights_ = file_ = -1;
  }
  hid_t file_ = -1, weights_ = -1;
  std::vector<std::string> layers_;
};

json Cfg(const std::string& name, json c) {
  c["name"] = name;
  return c;
}
json LayerJson(const std::string& name, const std::string& cls, json config, const std::string& input) {
  json inbound = json::array();
  if (!input.empty()) inbound.push_back(json::array({json::array({input, 0, 0, json::object()})}));
  return {{"name", name}, {"class_name", cls}, {"config", Cfg(name, config)}, {"inbound_nodes", inbound}};
}

struct Expected {
  Nhwc x;
  std::vector<float> probs;
};

// conv (3x3/2 same, bias) -> bn -> relu6 -> gap -> dense(2, softmax), weights written to `w`.
Expected WriteWeights(H5ModelWriter& w, bool variable_strings) {
  auto k = RandomValues(3 * 3 * 3 * 4, 1, -0.5f, 0.5f), b = RandomValues(4, 2, -0.1f, 0.1f);
  auto gamma = RandomValues(4, 3, 0.5f, 1.5f), beta = RandomValues(4, 4), mean = RandomValues(4, 5),
       var = RandomValues(4, 6, 0.0f, 1.0f);
  auto kd = RandomValues(4 * 2, 7), bd = RandomValues(2, 8);
  w.Layer("conv", {{"kernel", {{3, 3, 3, 4}, k}}, {"bias", {{4}, b}}}, variable_strings);
  w.Layer("bn",
          {{"gamma", {{4}, gamma}}, {"beta", {{4}, beta}}, {"moving_mean", {{4}, mean}},
           {"moving_variance", {{4}, var}}},
          variable_strings);
  w.Layer("relu", {}, variable_strings);
  w.Layer("gap", {}, variable_strings);
  w.Layer("dense", {{"kernel", {{4, 2}, kd}}, {"bias", {{2}, bd}}}, variable_strings);
  Expected e;
  e.x = Nhwc{6, 6, 3, RandomValues(6 * 6 * 3, 9, 0.0f, 1.0f)};
  Nhwc h = Map(BatchNorm(Conv2D(e.x, k, 3, 3, 4, 2, 2, "same", b), gamma, beta, mean, var, 0.001f), Relu6);
  std::vector<float> logits = Dense(GlobalPool(h, false), kd, 2, bd);
  const double s = std::exp(logits[0]) + std::exp(logits[1]);
  for (float l : logits) e.probs.push_back(static_cast<float>(std::exp(l) / s));
  return e;
}

std::vector<json> LayerConfigs() {
  return {json{{"filters", 4}, {"kernel_size", {3, 3}}, {"strides", {2, 2}}, {"padding", "same"}, {"use_bias", true},
               {"activation", "linear"}},
          json{{"axis", 3}, {"epsilon", 0.001}, {"center", true}, {"scale", true}},
          json{{"max_value", 6.0}, {"negative_slope", 0.0}, {"threshold", 0.0}}, json::object(),
          json{{"units", 2}, {"activation", "softmax"}, {"use_bias", true}}};
}
const char* kNames[] = {"conv", "bn", "relu", "gap", "dense"};
const char* kClasses[] = {"Conv2D", "BatchNormalization", "ReLU", "GlobalAveragePooling2D", "Dense"};

void Check(const std::string& path, const Expected& e, const std::string& input_name) {
  auto r = ConvertKeras(path, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->input_name, input_name);
  EXPECT_EQ(r->output_name, "dense");
  FloatTensor out = RunModel(r->model_bytes, r->input_name, FloatTensor{{1, 6, 6, 3}, e.x.v}, {r->output_name})[0];
  ASSERT_EQ(out.shape, (std::vector<int64_t>{1, 2}));
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(out.data[i], e.probs[i], 1e-5f);
}

TEST(KerasHdf5, FunctionalModelFixedLengthStrings) {
  doppel::testing::TempDir dir;
  const std::string path = dir.file("model.h5");
  H5ModelWriter w(path);
  Expected e = WriteWeights(w, false);
  json layers = json::array({LayerJson("input_1", "InputLayer", {{"batch_input_shape", {nullptr, 6, 6, 3}}}, "")});
  std::string prev = "input_1";
  std::vector<json> cfgs = LayerConfigs();
  for (int i = 0; i < 5; ++i) {
    layers.push_back(LayerJson(kNames[i], kClasses[i], cfgs[i], prev));
    prev = kNames[i];
  }
  w.Finish({{"class_name", "Functional"},
            {"config",
             {{"name", "model"},
              {"layers", layers},
              {"input_layers", {{"input_1", 0, 0}}},
              {"output_layers", {{"dense", 0, 0}}}}}},
           false);
  Check(path, e, "input_1");
  // A folder holding one .h5 file works too, and the source is labelled in the metadata.
  auto r = ConvertKeras(dir.path().string(), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

TEST(KerasHdf5, SequentialModelVariableLengthStrings) {
  doppel::testing::TempDir dir;
  const std::string path = dir.file("seq.keras.h5");
  H5ModelWriter w(path);
  Expected e = WriteWeights(w, true);
  json layers = json::array();
  std::vector<json> cfgs = LayerConfigs();
  cfgs[0]["batch_input_shape"] = {nullptr, 6, 6, 3};
  for (int i = 0; i < 5; ++i) layers.push_back({{"class_name", kClasses[i]}, {"config", Cfg(kNames[i], cfgs[i])}});
  w.Finish({{"class_name", "Sequential"}, {"config", {{"name", "sequential"}, {"layers", layers}}}}, true);
  Check(path, e, "conv_input");  // Keras's name for a Sequential model's implicit input
}

TEST(KerasHdf5, WeightsOnlyFileIsRejected) {
  doppel::testing::TempDir dir;
  const std::string path = dir.file("weights.h5");
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  StringsAttr(f, "layer_names", {"conv"}, false, false);
  H5Fclose(f);
  auto r = ConvertKeras(path, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("model_config"), std::string::npos) << r.status().ToString();
}

#else

TEST(KerasHdf5, Skipped) { GTEST_SKIP() << "doppel_keras built without libhdf5"; }

#endif

}  // namespace
}  // namespace doppel::keras
