#include "doppel/model/onnx_model.h"

#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <unordered_set>

#include "doppel/model/graph_edit.h"
#include "doppel/util/hash.h"

namespace doppel {
namespace {

// One ONNX Runtime environment per process, created on first use (thread-safe static init), never destroyed
// before the sessions that use it (it is leaked on purpose at exit).
Ort::Env& OrtEnv() {
  static Ort::Env* env = new Ort::Env(ORT_LOGGING_LEVEL_ERROR, "doppel");
  return *env;
}

std::string OnnxTypeName(int t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return "float32";
    case onnx::TensorProto::UINT8: return "uint8";
    case onnx::TensorProto::INT8: return "int8";
    case onnx::TensorProto::UINT16: return "uint16";
    case onnx::TensorProto::INT16: return "int16";
    case onnx::TensorProto::INT32: return "int32";
    case onnx::TensorProto::INT64: return "int64";
    case onnx::TensorProto::STRING: return "string";
    case onnx::TensorProto::BOOL: return "bool";
    case onnx::TensorProto::FLOAT16: return "float16";
    case onnx::TensorProto::DOUBLE: return "float64";
    case onnx::TensorProto::BFLOAT16: return "bfloat16";
    default: return "?";
  }
}

TensorInfo FromValueInfo(const onnx::ValueInfoProto& vi) {
  TensorInfo t;
  t.name = vi.name();
  if (!vi.type().has_tensor_type()) {
    t.type = "?";
    t.known_rank = false;
    return t;
  }
  const auto& tt = vi.type().tensor_type();
  t.type = OnnxTypeName(tt.elem_type());
  if (!tt.has_shape()) {
    t.known_rank = false;
    return t;
  }
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value() && d.dim_value() > 0) {
      t.shape.push_back(d.dim_value());
      t.dims.push_back(std::to_string(d.dim_value()));
    } else {
      t.shape.push_back(-1);
      t.dims.push_back(d.has_dim_param() && !d.dim_param().empty() ? d.dim_param() : "?");
    }
  }
  return t;
}

ModelInfo InfoFromProto(const onnx::ModelProto& m, const std::string& path) {
  ModelInfo info;
  info.path = path;
  info.ir_version = m.ir_version();
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") info.opset = o.version();
  info.producer = m.producer_name() + (m.producer_version().empty() ? "" : " " + m.producer_version());
  info.doc = m.doc_string();
  for (const auto& p : m.metadata_props()) info.metadata[p.key()] = p.value();
  const auto& g = m.graph();
  std::unordered_set<std::string> inits;
  for (const auto& t : g.initializer()) {
    inits.insert(t.name());
    int64_t n = 1;
    for (auto d : t.dims()) n *= d;
    info.parameter_count += n;
  }
  for (const auto& in : g.input())
    if (!inits.count(in.name())) info.inputs.push_back(FromValueInfo(in));
  for (const auto& out : g.output()) info.outputs.push_back(FromValueInfo(out));
  info.node_count = g.node_size();
  return info;
}

std::string ShapeString(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + (s[i] < 0 ? std::string("?") : std::to_string(s[i]));
  return r + "]";
}

std::string ShapeString(const TensorInfo& t) {
  if (!t.known_rank) return "[unknown rank]";
  std::string r = "[";
  for (size_t i = 0; i < t.dims.size(); ++i) r += (i ? "," : "") + t.dims[i];
  return r + "]";
}

}  // namespace

Result<ModelInfo> InspectModelFile(const std::string& path) {
  DOPPEL_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path));
  onnx::ModelProto m;
  DOPPEL_RETURN_IF_ERROR(ParseModelProto(bytes, path, &m));
  return InfoFromProto(m, path);
}

Result<std::vector<TensorInfo>> ListModelTensors(const std::string& path) {
  DOPPEL_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path));
  onnx::ModelProto m;
  DOPPEL_RETURN_IF_ERROR(ParseModelProto(bytes, path, &m));
  try {
    onnx::shape_inference::InferShapes(m);
  } catch (const std::exception&) {
  }
  std::unordered_map<std::string, const onnx::ValueInfoProto*> typed;
  for (const auto& vi : m.graph().value_info()) typed[vi.name()] = &vi;
  for (const auto& vi : m.graph().output()) typed[vi.name()] = &vi;
  std::vector<TensorInfo> out;
  for (const auto& n : m.graph().node())
    for (const auto& o : n.output()) {
      auto it = typed.find(o);
      if (it != typed.end()) {
        out.push_back(FromValueInfo(*it->second));
      } else {
        TensorInfo t;
        t.name = o;
        t.type = "?";
        t.known_rank = false;
        out.push_back(t);
      }
    }
  return out;
}

Result<Layout> DetectInputLayout(const TensorInfo& in, LayoutHint hint) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("input '" + in.name + "' is " + in.type + " " + ShapeString(in) +
                                   ": not an image input (" + why +
                                   "; doppel needs float32 [N,3,H,W] or [N,H,W,3])");
  };
  if (in.type != "float32") return bad("element type " + in.type);
  if (!in.known_rank || in.shape.size() != 4) return bad("rank is not 4");
  if (hint == LayoutHint::kNCHW) {
    if (in.shape[1] != 3 && in.shape[1] != -1) return bad("dimension 1 is not 3 for NCHW");
    return Layout::kNCHW;
  }
  if (hint == LayoutHint::kNHWC) {
    if (in.shape[3] != 3 && in.shape[3] != -1) return bad("dimension 3 is not 3 for NHWC");
    return Layout::kNHWC;
  }
  bool c1 = in.shape[1] == 3, c3 = in.shape[3] == 3;
  if (c1 && !c3) return Layout::kNCHW;
  if (c3 && !c1) return Layout::kNHWC;
  if (c1 && c3) return Layout::kNCHW;  // a 3x3 image: NCHW is the ONNX convention; set input_layout to override
  return bad("no dimension 1 or 3 of size 3");
}

std::string GuessPreset(const ModelInfo& info) {
  if (info.inputs.size() != 1) return "";
  auto layout = DetectInputLayout(info.inputs[0]);
  if (!layout.ok()) return "";
  std::string name = info.inputs[0].name;
  std::string lower_doc = info.doc + " " + info.producer;
  for (auto& ch : lower_doc) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower_doc.find("clip") != std::string::npos || name == "pixel_values") return "clip";
  // tf2onnx exports of Keras applications keep NHWC at the boundary; VGG16/ResNet50 use caffe preprocessing.
  if (*layout == Layout::kNHWC) return "keras-caffe";
  return "torch-imagenet";
}

struct OnnxModel::Impl {
  std::unique_ptr<Ort::Session> session;
  Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
};

OnnxModel::~OnnxModel() = default;

Result<std::shared_ptr<OnnxModel>> OnnxModel::Load(const std::string& path, const ModelSpec& spec_in,
                                                   const SessionConfig& config) {
  std::shared_ptr<OnnxModel> m(new OnnxModel());
  m->path_ = path;
  m->spec_ = spec_in;
  m->impl_ = std::make_unique<Impl>();

  DOPPEL_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path));
  m->model_sha256_ = Sha256Hex(bytes);
  onnx::ModelProto proto;
  DOPPEL_RETURN_IF_ERROR(ParseModelProto(bytes, path, &proto));
  m->info_ = InfoFromProto(proto, path);

  if (m->info_.inputs.size() != 1) {
    std::string names;
    for (const auto& i : m->info_.inputs) names += (names.empty() ? "'" : ", '") + i.name + "'";
    return Status::Unsupported(path + ": the model has " + std::to_string(m->info_.inputs.size()) +
                               " inputs (" + names + "); an image embedding model has exactly one");
  }
  if (m->info_.outputs.empty()) return Status::InvalidArgument(path + ": the model has no outputs");

  // Which tensor is the embedding; cut the graph when it is not the model's only output.
  std::string target = spec_in.output.empty() ? m->info_.outputs[0].name : spec_in.output;
  bool cut = !(m->info_.outputs.size() == 1 && m->info_.outputs[0].name == target);
  if (cut) {
    Status st = CutAtTensor(&proto, target);
    if (!st.ok()) return st.WithContext(path);
    bytes.clear();
    if (!proto.SerializeToString(&bytes)) return Status::Internal(path + ": cannot serialise the cut model");
  }
  proto.Clear();

  try {
    Ort::SessionOptions so;
    so.SetIntraOpNumThreads(std::max(1, config.intra_op_threads));
    so.SetInterOpNumThreads(1);
    so.SetExecutionMode(ORT_SEQUENTIAL);
    so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    so.AddConfigEntry("session.intra_op.allow_spinning", config.allow_spinning ? "1" : "0");
    m->impl_->session = std::make_unique<Ort::Session>(OrtEnv(), bytes.data(), bytes.size(), so);
  } catch (const Ort::Exception& e) {
    return Status::InvalidArgument(path + ": ONNX Runtime cannot load the model: " + e.what());
  }
  bytes.clear();
  bytes.shrink_to_fit();

  Ort::Session& s = *m->impl_->session;
  Ort::AllocatorWithDefaultOptions alloc;
  TensorInfo in;
  TensorInfo out;
  try {
    in.name = s.GetInputNameAllocated(0, alloc).get();
    auto ti = s.GetInputTypeInfo(0);
    if (ti.GetONNXType() != ONNX_TYPE_TENSOR)
      return Status::InvalidArgument(path + ": input '" + in.name + "' is not a tensor");
    auto tsi = ti.GetTensorTypeAndShapeInfo();
    in.type = OnnxTypeName(tsi.GetElementType());
    in.shape = tsi.GetShape();
    for (auto d : in.shape) in.dims.push_back(d < 0 ? "?" : std::to_string(d));
    out.name = s.GetOutputNameAllocated(0, alloc).get();
    auto to = s.GetOutputTypeInfo(0);
    if (to.GetONNXType() != ONNX_TYPE_TENSOR)
      return Status::InvalidArgument(path + ": output '" + out.name + "' is not a tensor");
    auto tso = to.GetTensorTypeAndShapeInfo();
    out.type = OnnxTypeName(tso.GetElementType());
    out.shape = tso.GetShape();
    for (auto d : out.shape) out.dims.push_back(d < 0 ? "?" : std::to_string(d));
  } catch (const Ort::Exception& e) {
    return Status::InvalidArgument(path + ": " + e.what());
  }

  auto layout = DetectInputLayout(in, spec_in.input_layout);
  if (!layout.ok()) return layout.status().WithContext(path);
  m->layout_ = *layout;
  m->input_name_ = in.name;
  m->output_name_ = out.name;
  if (in.shape[0] > 0) m->max_batch_ = static_cast<int>(in.shape[0]);

  // Input size: fixed by the model, or the spec's.
  int64_t mh = m->layout_ == Layout::kNCHW ? in.shape[2] : in.shape[1];
  int64_t mw = m->layout_ == Layout::kNCHW ? in.shape[3] : in.shape[2];
  PreprocessSpec& p = m->spec_.preprocess;
  if (mh > 0 && mw > 0 && (mh != p.height || mw != p.width)) {
    if (p.resize_shorter > 0 && !m->spec_.preset.empty()) {
      double ratio = double(p.resize_shorter) / std::min(p.width, p.height);
      p.resize_shorter = static_cast<int>(std::lround(ratio * std::min(mw, mh)));
    }
    p.width = static_cast<int>(mw);
    p.height = static_cast<int>(mh);
  }

  // Output: [N, D], or a 4-D feature map that is pooled.
  if (out.type != "float32")
    return Status::InvalidArgument(path + ": output '" + out.name + "' is " + out.type +
                                   ", doppel needs a float32 embedding");
  m->output_rank_ = static_cast<int>(out.shape.size());
  if (m->output_rank_ == 2) {
    m->dim_ = out.shape[1] > 0 ? static_cast<int>(out.shape[1]) : 0;
    if (m->spec_.pool != Pooling::kNone)
      return Status::InvalidArgument(path + ": output '" + out.name + "' is " + ShapeString(out.shape) +
                                     ", already pooled; pool must be 'none'");
  } else if (m->output_rank_ == 4) {
    LayoutHint h = m->spec_.output_layout;
    int64_t d1 = out.shape[1], d3 = out.shape[3];
    if (h == LayoutHint::kNCHW) m->output_layout_ = Layout::kNCHW;
    else if (h == LayoutHint::kNHWC) m->output_layout_ = Layout::kNHWC;
    else if (d1 > 0 && d3 > 0 && d1 != d3) m->output_layout_ = d1 > d3 ? Layout::kNCHW : Layout::kNHWC;
    else m->output_layout_ = m->layout_;
    int64_t c = m->output_layout_ == Layout::kNCHW ? d1 : d3;
    m->dim_ = c > 0 ? static_cast<int>(c) : 0;
    m->spec_.output_layout = m->output_layout_ == Layout::kNCHW ? LayoutHint::kNCHW : LayoutHint::kNHWC;
  } else {
    return Status::InvalidArgument(path + ": output '" + out.name + "' has rank " +
                                   std::to_string(m->output_rank_) + " " + ShapeString(out.shape) +
                                   "; doppel needs [N, D] or a 4-D feature map with pool avg|max|gem");
  }
  m->spec_.output = out.name;
  m->spec_.input_layout = m->layout_ == Layout::kNCHW ? LayoutHint::kNCHW : LayoutHint::kNHWC;

  // Unknown dimension or 4-D without pooling: probe with one grey image to learn the real output shape.
  if (m->dim_ == 0 || (m->output_rank_ == 4 && m->spec_.pool == Pooling::kNone)) {
    std::vector<float> probe(m->input_floats(), 0.0f);
    try {
      std::vector<int64_t> shape = m->layout_ == Layout::kNCHW
                                       ? std::vector<int64_t>{1, 3, p.height, p.width}
                                       : std::vector<int64_t>{1, p.height, p.width, 3};
      auto t = Ort::Value::CreateTensor<float>(m->impl_->memory, probe.data(), probe.size(), shape.data(), 4);
      const char* in_names[] = {m->input_name_.c_str()};
      const char* out_names[] = {m->output_name_.c_str()};
      auto outs = s.Run(Ort::RunOptions{nullptr}, in_names, &t, 1, out_names, 1);
      auto os = outs[0].GetTensorTypeAndShapeInfo().GetShape();
      if (m->output_rank_ == 2) {
        m->dim_ = static_cast<int>(os[1]);
      } else {
        int64_t c = m->output_layout_ == Layout::kNCHW ? os[1] : os[3];
        int64_t hh = m->output_layout_ == Layout::kNCHW ? os[2] : os[1];
        int64_t ww = m->output_layout_ == Layout::kNCHW ? os[3] : os[2];
        if (m->spec_.pool == Pooling::kNone && hh * ww != 1)
          return Status::InvalidArgument(path + ": output '" + out.name + "' is a feature map " +
                                         ShapeString(os) + "; set pool (avg, max or gem) to make it a vector");
        m->dim_ = static_cast<int>(c);
      }
    } catch (const Ort::Exception& e) {
      return Status::InvalidArgument(path + ": running the model on a " + std::to_string(p.width) + "x" +
                                     std::to_string(p.height) + " input failed: " + e.what());
    }
  }
  if (m->dim_ <= 0) return Status::InvalidArgument(path + ": cannot determine the embedding dimension");

  std::string canonical = SpecToCanonicalJson(m->spec_);
  m->fingerprint_ = Sha256Hex("doppel-fingerprint-v1\n" + m->model_sha256_ + "\n" + canonical).substr(0, 32);
  return m;
}

Status OnnxModel::Run(const float* input, int n, std::vector<float>* out) const {
  out->assign(size_t(n) * dim_, 0.0f);
  int chunk = max_batch_ > 0 ? max_batch_ : n;
  std::vector<float> mirrored, second;
  for (int i = 0; i < n; i += chunk) {
    const int k = std::min(chunk, n - i);
    const float* in = input + size_t(i) * input_floats();
    float* o = out->data() + size_t(i) * dim_;
    DOPPEL_RETURN_IF_ERROR(RunChunk(in, k, o));
    if (!spec_.flip_pool) continue;
    // Flip pooling: the same tensors mirrored left-right (the last spatial axis of each channel plane in NCHW; whole
    // pixels within each row in NHWC), through the model, averaged in.
    const PreprocessSpec& p = spec_.preprocess;
    mirrored.assign(in, in + size_t(k) * input_floats());
    const size_t rows = size_t(k) * (layout_ == Layout::kNCHW ? 3 : 1) * size_t(p.height);
    const size_t px = layout_ == Layout::kNCHW ? 1 : 3, row = size_t(p.width) * px;
    for (size_t r = 0; r < rows; ++r) {
      float* line = mirrored.data() + r * row;
      for (size_t a = 0, b = size_t(p.width) - 1; a < b; ++a, --b)
        for (size_t c = 0; c < px; ++c) std::swap(line[a * px + c], line[b * px + c]);
    }
    second.assign(size_t(k) * dim_, 0.0f);
    DOPPEL_RETURN_IF_ERROR(RunChunk(mirrored.data(), k, second.data()));
    for (int j = 0; j < k; ++j) {
      float* v = o + size_t(j) * dim_;
      for (int d = 0; d < dim_; ++d) v[d] = 0.5f * (v[d] + second[size_t(j) * dim_ + d]);
      if (spec_.normalize) L2Normalize(v, dim_);
    }
  }
  return Status::OK();
}

Status OnnxModel::RunChunk(const float* input, int n, float* out) const {
  const PreprocessSpec& p = spec_.preprocess;
  std::vector<int64_t> shape = layout_ == Layout::kNCHW ? std::vector<int64_t>{n, 3, p.height, p.width}
                                                        : std::vector<int64_t>{n, p.height, p.width, 3};
  try {
    auto t = Ort::Value::CreateTensor<float>(impl_->memory, const_cast<float*>(input), size_t(n) * input_floats(),
                                             shape.data(), shape.size());
    const char* in_names[] = {input_name_.c_str()};
    const char* out_names[] = {output_name_.c_str()};
    auto outs = impl_->session->Run(Ort::RunOptions{nullptr}, in_names, &t, 1, out_names, 1);
    auto os = outs[0].GetTensorTypeAndShapeInfo().GetShape();
    const float* data = outs[0].GetTensorData<float>();
    if (os.empty() || os[0] != n)
      return Status::Internal(path_ + ": output batch " + ShapeString(os) + " for an input batch of " +
                              std::to_string(n));
    if (output_rank_ == 2) {
      if (os.size() != 2 || os[1] != dim_)
        return Status::Internal(path_ + ": output shape " + ShapeString(os) + " changed from [N," +
                                std::to_string(dim_) + "]");
      std::copy(data, data + size_t(n) * dim_, out);
    } else {
      if (os.size() != 4) return Status::Internal(path_ + ": output rank changed: " + ShapeString(os));
      int c = static_cast<int>(output_layout_ == Layout::kNCHW ? os[1] : os[3]);
      int h = static_cast<int>(output_layout_ == Layout::kNCHW ? os[2] : os[1]);
      int w = static_cast<int>(output_layout_ == Layout::kNCHW ? os[3] : os[2]);
      if (c != dim_) return Status::Internal(path_ + ": output channels changed: " + ShapeString(os));
      Pooling pool = spec_.pool == Pooling::kNone ? Pooling::kAvg : spec_.pool;  // kNone only when h*w == 1
      for (int i = 0; i < n; ++i)
        PoolFeatureMap(data + size_t(i) * c * h * w, c, h, w, output_layout_, pool, spec_.gem_p,
                       out + size_t(i) * dim_);
    }
  } catch (const Ort::Exception& e) {
    return Status::Internal(path_ + ": inference failed: " + e.what());
  }
  for (int i = 0; i < n; ++i) {
    float* v = out + size_t(i) * dim_;
    for (int j = 0; j < dim_; ++j)
      if (!std::isfinite(v[j]))
        return Status::Internal(path_ + ": the model produced a non-finite value (" + std::to_string(v[j]) +
                                ") at index " + std::to_string(j));
    if (spec_.normalize) L2Normalize(v, dim_);
  }
  return Status::OK();
}

Result<std::vector<float>> OnnxModel::Embed(const ImageU8& rgb) const {
  std::vector<float> tensor(input_floats());
  DOPPEL_RETURN_IF_ERROR(Preprocess(rgb, spec_.preprocess, layout_, tensor.data()));
  std::vector<float> v;
  DOPPEL_RETURN_IF_ERROR(Run(tensor.data(), 1, &v));
  return v;
}

namespace {

// out[k] = fold of `op` over channel k's activations, in position order (the same order for both layouts, so they
// agree bit for bit). NHWC visits a row of channels per position: the inner loop runs over k with `out` and `data`
// apart, which the compiler vectorises (each out[k] still folds its own values in the same order).
template <typename Op>
void FoldChannels(const float* __restrict data, int c, int hw, Layout layout, float init, Op op,
                  float* __restrict out) {
  if (layout == Layout::kNCHW) {
    for (int k = 0; k < c; ++k) {
      const float* ch = data + size_t(k) * size_t(hw);
      float acc = init;
      for (int i = 0; i < hw; ++i) acc = op(acc, ch[i]);
      out[k] = acc;
    }
    return;
  }
  for (int k = 0; k < c; ++k) out[k] = init;
  for (int i = 0; i < hw; ++i) {
    const float* row = data + size_t(i) * size_t(c);
    for (int k = 0; k < c; ++k) out[k] = op(out[k], row[k]);
  }
}

}  // namespace

void PoolFeatureMap(const float* data, int c, int h, int w, Layout layout, Pooling pool, float gem_p, float* out) {
  const int hw = h * w;
  const float eps = 1e-6f;
  switch (pool) {
    case Pooling::kMax:
      FoldChannels(data, c, hw, layout, -INFINITY, [](float a, float x) { return std::max(a, x); }, out);
      return;
    case Pooling::kGeM:
      // p = 3 (the built-in default's) multiplies instead of calling pow for every activation.
      if (gem_p == 3.0f) {
        FoldChannels(data, c, hw, layout, 0.0f, [eps](float a, float x) {
          const float y = std::max(x, eps);
          return a + y * y * y;
        }, out);
      } else {
        FoldChannels(data, c, hw, layout, 0.0f, [eps, gem_p](float a, float x) {
          return a + std::pow(std::max(x, eps), gem_p);
        }, out);
      }
      for (int k = 0; k < c; ++k) out[k] = std::pow(out[k] / float(hw), 1.0f / gem_p);
      return;
    default:  // kAvg, and kNone (a 1x1 map or the caller's check)
      FoldChannels(data, c, hw, layout, 0.0f, [](float a, float x) { return a + x; }, out);
      for (int k = 0; k < c; ++k) out[k] /= float(hw);
      return;
  }
}

void L2Normalize(float* v, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += double(v[i]) * v[i];
  if (s <= 0) return;
  float inv = static_cast<float>(1.0 / std::sqrt(s));
  for (int i = 0; i < n; ++i) v[i] *= inv;
}

}  // namespace doppel
