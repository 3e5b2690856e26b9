// Test helper shared by the model tests: runs a serialized ONNX model in ONNX Runtime from memory, one float
// input, any float outputs.
#pragma once

#include <onnxruntime_cxx_api.h>

#include <cstdint>
#include <string>
#include <vector>

namespace doppel::testing {

struct FloatTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

inline Ort::Env& TestEnv() {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "doppel_test");
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

}  // namespace doppel::testing
