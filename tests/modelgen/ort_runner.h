// Test helper: runs a serialized ONNX model in ONNX Runtime from memory, one float input, any float outputs.
#pragma once

#include <onnxruntime_cxx_api.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace doppel::modelgen::testing {

struct FloatTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

inline Ort::Env& TestEnv() {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "modelgen_test");
  return env;
}

class OrtRunner {
 public:
  explicit OrtRunner(const std::string& model_bytes) : session_(nullptr) {
    Ort::SessionOptions options;
    options.SetIntraOpNumThreads(1);  // the build machine's cores are shared
    options.SetInterOpNumThreads(1);
    session_ = Ort::Session(TestEnv(), model_bytes.data(), model_bytes.size(), options);
  }

  Ort::Session& session() { return session_; }

  std::string InputName(size_t i) { return session_.GetInputNameAllocated(i, allocator_).get(); }
  std::string OutputName(size_t i) { return session_.GetOutputNameAllocated(i, allocator_).get(); }
  // Declared shapes; symbolic dimensions read -1.
  std::vector<int64_t> InputShape(size_t i) {
    return session_.GetInputTypeInfo(i).GetTensorTypeAndShapeInfo().GetShape();
  }
  std::vector<int64_t> OutputShape(size_t i) {
    return session_.GetOutputTypeInfo(i).GetTensorTypeAndShapeInfo().GetShape();
  }

  // Feeds `input` to the graph's input `input_name` and fetches `outputs`.
  std::vector<FloatTensor> Run(const std::string& input_name, FloatTensor input,
                               const std::vector<std::string>& outputs) {
    Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    Ort::Value in = Ort::Value::CreateTensor<float>(mem, input.data.data(), input.data.size(), input.shape.data(),
                                                    input.shape.size());
    const char* in_names[] = {input_name.c_str()};
    std::vector<const char*> out_names;
    for (const std::string& o : outputs) out_names.push_back(o.c_str());
    std::vector<Ort::Value> values =
        session_.Run(Ort::RunOptions{nullptr}, in_names, &in, 1, out_names.data(), out_names.size());
    std::vector<FloatTensor> result;
    for (Ort::Value& v : values) {
      auto info = v.GetTensorTypeAndShapeInfo();
      FloatTensor t;
      t.shape = info.GetShape();
      const float* p = v.GetTensorData<float>();
      t.data.assign(p, p + info.GetElementCount());
      result.push_back(std::move(t));
    }
    return result;
  }

 private:
  Ort::AllocatorWithDefaultOptions allocator_;
  Ort::Session session_;
};

// A deterministic pseudo-image in NCHW, values in [0, 1): smooth gradients plus noise, different per `seed`.
inline FloatTensor MakeImageNchw(int n, int side, uint32_t seed) {
  FloatTensor t{{n, 3, side, side}, std::vector<float>(static_cast<size_t>(n) * 3 * side * side)};
  std::mt19937 rng(seed);
  size_t i = 0;
  for (int b = 0; b < n; ++b)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x) {
          const float noise = static_cast<float>(rng() >> 8) / 16777216.0f;
          t.data[i++] = 0.5f * noise + 0.5f * static_cast<float>((x * (c + 1) + y * (b + 2)) % side) / side;
        }
  return t;
}

inline FloatTensor NchwToNhwc(const FloatTensor& t) {
  const int64_t n = t.shape[0], c = t.shape[1], h = t.shape[2], w = t.shape[3];
  FloatTensor out{{n, h, w, c}, std::vector<float>(t.data.size())};
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          out.data[((b * h + y) * w + x) * c + ch] = t.data[((b * c + ch) * h + y) * w + x];
  return out;
}

}  // namespace doppel::modelgen::testing
