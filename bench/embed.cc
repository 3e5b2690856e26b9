// bench_embed: speed of the embedding engine (issue 2) against raw ONNX Runtime and the machine's FP32 peak.
//
//   build/bin/bench_embed [--seconds S] [--images N] [--models resnet50,vgg16] [--out BENCHMARKS.md]
//
// Models are the real ResNet50 / VGG16 architectures with RANDOM weights (doppel-modelgen; speed only). Measures:
// the FP32 FMA peak of this machine (1 and 2 threads); inference images/s at batch 1/8/32 with 1 thread, ONNX
// Runtime's own 2-thread pool, and one session called from 2 threads (intra-op 1), as GFLOP/s and % of peak;
// decode + preprocess ms per 640x480 and 4000x3000 JPEG; and the whole file -> vector pipeline (Embedder) against
// pure inference with as many callers at its best batch, on 640x480 and 12 MP JPEGs.
#include <immintrin.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <vips/vips.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include "doppel/model/embedder.h"
#include "doppel/model/graph_edit.h"
#include "doppel/modelgen/modelgen.h"
#include "report.h"

namespace doppel::bench {
namespace {

// FP32 FMA peak: 12 independent accumulator chains of 16-wide FMAs per thread.
double MeasurePeakGflops(int threads, double seconds) {
  std::atomic<double> total{0};
  auto work = [&] {
#ifdef __AVX512F__
    __m512 acc[12];
    for (auto& a : acc) a = _mm512_set1_ps(1.0f);
    const __m512 m = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    const int lanes = 16;
#else
    __m256 acc[12];
    for (auto& a : acc) a = _mm256_set1_ps(1.0f);
    const __m256 m = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    const int lanes = 8;
#endif
    Stopwatch sw;
    long iters = 0;
    while (sw.Seconds() < seconds) {
      for (int i = 0; i < 100000; ++i)
        for (auto& a : acc)
#ifdef __AVX512F__
          a = _mm512_fmadd_ps(a, m, b);
#else
          a = _mm256_fmadd_ps(a, m, b);
#endif
      iters += 100000;
    }
    float sink = 0;
    for (auto& a : acc) {
      float tmp[16];
#ifdef __AVX512F__
      _mm512_storeu_ps(tmp, a);
#else
      _mm256_storeu_ps(tmp, a);
#endif
      sink += tmp[0];
    }
    double flops = double(iters) * 12 * lanes * 2 / sw.Seconds();
    double cur = total.load();
    while (!total.compare_exchange_weak(cur, cur + flops + (sink == 12345.0f ? 1 : 0))) {
    }
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) ts.emplace_back(work);
  for (auto& t : ts) t.join();
  return total.load() / 1e9;
}

// Multiply-accumulates of one image through Conv and Gemm/MatMul nodes, from ONNX shape inference at batch 1.
double GigaMacsPerImage(const std::string& path, int size) {
  auto bytes = ReadFileBytes(path);
  onnx::ModelProto m;
  if (!bytes.ok() || !m.ParseFromString(*bytes)) return 0;
  auto* in = m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (int i = 0; i < in->dim_size(); ++i)
    if (!in->dim(i).has_dim_value()) in->mutable_dim(i)->set_dim_value(i == 0 ? 1 : size);
  onnx::shape_inference::InferShapes(m);
  std::map<std::string, std::vector<int64_t>> shapes, inits;
  for (const auto& vi : m.graph().value_info()) {
    std::vector<int64_t> s;
    for (const auto& d : vi.type().tensor_type().shape().dim()) s.push_back(d.dim_value());
    shapes[vi.name()] = s;
  }
  for (const auto& vi : m.graph().output()) {
    std::vector<int64_t> s;
    for (const auto& d : vi.type().tensor_type().shape().dim()) s.push_back(d.dim_value());
    shapes[vi.name()] = s;
  }
  for (const auto& t : m.graph().initializer()) inits[t.name()] = {t.dims().begin(), t.dims().end()};
  double macs = 0;
  for (const auto& n : m.graph().node()) {
    if (n.op_type() == "Conv" && inits.count(n.input(1)) && shapes.count(n.output(0))) {
      const auto& w = inits[n.input(1)];  // [Co, Ci/g, kh, kw]
      const auto& o = shapes[n.output(0)];
      double out = 1;
      for (auto d : o) out *= double(d);
      macs += out * w[1] * w[2] * w[3];
    } else if ((n.op_type() == "Gemm" || n.op_type() == "MatMul") && inits.count(n.input(1))) {
      const auto& w = inits[n.input(1)];
      macs += double(w[0]) * w[1];
    }
  }
  return macs / 1e9;
}

struct Args {
  double seconds = 6;
  int images = 48;
  std::vector<std::string> models = {"resnet50", "vgg16"};
  std::string out = "BENCHMARKS.md";
};

// Writes `n` JPEGs of w x h made from the sample photos (crops of different photos, quality 90).
std::vector<std::string> MakeJpegs(const std::string& dir, int n, int w, int h) {
  std::vector<std::string> samples;
  for (const auto& e : std::filesystem::directory_iterator("/usr/share/doc/opencv-doc/examples/data"))
    if (e.path().extension() == ".jpg") samples.push_back(e.path().string());
  std::sort(samples.begin(), samples.end());
  std::vector<std::string> out;
  for (int i = 0; i < n && !samples.empty(); ++i) {
    VipsImage* img = nullptr;
    if (vips_thumbnail(samples[i % samples.size()].c_str(), &img, w, "height", h, "size", VIPS_SIZE_FORCE, nullptr))
      continue;
    std::string path = dir + "/img" + std::to_string(w) + "_" + std::to_string(i) + ".jpg";
    if (vips_jpegsave(img, path.c_str(), "Q", 90, nullptr) == 0) out.push_back(path);
    g_object_unref(img);
  }
  return out;
}

int Main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (k == "--seconds") a.seconds = std::stod(next());
    else if (k == "--images") a.images = std::stoi(next());
    else if (k == "--out") a.out = next();
    else if (k == "--models") {
      a.models.clear();
      std::stringstream ss(next());
      for (std::string m; std::getline(ss, m, ',');) a.models.push_back(m);
    } else {
      std::fprintf(stderr, "usage: bench_embed [--seconds S] [--images N] [--models resnet50,vgg16] [--out FILE]\n");
      return 2;
    }
  }
  if (VIPS_INIT("bench_embed")) return 1;
  std::string dir = std::filesystem::temp_directory_path() / "doppel-bench-embed";
  std::filesystem::create_directories(dir);
  std::ostringstream md;
  auto say = [&](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    md << line << "\n";
  };
  char buf[512];

  double peak1 = MeasurePeakGflops(1, 1.5), peak2 = MeasurePeakGflops(2, 1.5);
  say("## Embedding engine (issue 2)");
  say("");
  std::string cmd = "build/bin/bench_embed --seconds " + std::to_string(int(a.seconds)) + " --images " +
                    std::to_string(a.images);
  say("Command: `" + cmd + "`, " + Today() + ", " + MachineDescription() + ". Models: real architectures with "
      "RANDOM weights (doppel-modelgen; speed only), Keras/tf2onnx form (NHWC input). ONNX Runtime 1.30 (npm "
      "onnxruntime-node), graph optimisation ALL, no spinning.");
  say("");
  std::snprintf(buf, sizeof buf, "FP32 FMA peak measured in this run: %.0f GFLOP/s on 1 thread, %.0f on 2.", peak1,
                peak2);
  say(buf);
  say("");
  say("| model | GMAC/img | threads | batch | img/s | GFLOP/s | % of peak |");
  say("|---|---|---|---|---|---|---|");

  struct Loaded {
    std::string name;
    std::shared_ptr<OnnxModel> one, two;  // intra-op 1 / intra-op 2
    double gmac;
    double two_callers_best = 0;  // 2 callers, intra-op 1, the best batch measured
  };
  std::vector<Loaded> loaded;
  for (const auto& name : a.models) {
    modelgen::ModelGenOptions o;
    o.arch = name == "vgg16" ? modelgen::Arch::kVGG16 : modelgen::Arch::kResNet50;
    o.form = modelgen::Form::kKerasNhwc;
    std::string path = dir + "/" + modelgen::DefaultFileName(o);
    if (!std::filesystem::exists(path) && !modelgen::WriteModel(o, path).ok()) return 1;
    ModelSpec spec = *SpecFromPreset("keras-caffe");
    SessionConfig c1, c2;
    c2.intra_op_threads = 2;
    auto m1 = OnnxModel::Load(path, spec, c1);
    auto m2 = OnnxModel::Load(path, spec, c2);
    if (!m1.ok() || !m2.ok()) {
      std::fprintf(stderr, "%s\n", (m1.ok() ? m2.status() : m1.status()).ToString().c_str());
      return 1;
    }
    Loaded l{name, *m1, *m2, GigaMacsPerImage(path, 224)};
    for (int batch : {1, 8, 32}) {
      struct Mode {
        const char* label;
        const OnnxModel* m;
        int callers;
        double peak;
      } modes[] = {{"1", l.one.get(), 1, peak1},
                   {"2 (ORT pool, intra-op 2)", l.two.get(), 1, peak2},
                   {"2 (2 callers, intra-op 1)", l.one.get(), 2, peak2}};
      for (const auto& mode : modes) {
        double rate = InferenceRate(*mode.m, batch, mode.callers, a.seconds);
        if (mode.callers == 2) l.two_callers_best = std::max(l.two_callers_best, rate);
        double gflops = rate * l.gmac * 2;
        std::snprintf(buf, sizeof buf, "| %s | %.2f | %s | %d | %.1f | %.0f | %.0f%% |", name.c_str(), l.gmac,
                      mode.label, batch, rate, gflops, 100 * gflops / mode.peak);
        say(buf);
      }
    }
    loaded.push_back(l);
  }

  // Decode + preprocess on one thread.
  say("");
  say("Decode + preprocess, one thread, ms per image (libjpeg-turbo decode, Pillow-exact resize, tensor fill):");
  say("");
  say("| image | keras-caffe | keras-tf | torch-imagenet | clip |");
  say("|---|---|---|---|---|");
  auto small = MakeJpegs(dir, a.images, 640, 480);
  auto big = MakeJpegs(dir, std::max(4, a.images / 8), 4000, 3000);
  for (auto* set : {&small, &big}) {
    std::string row = set == &small ? "| 640x480 JPEG |" : "| 4000x3000 JPEG |";
    for (const char* preset : {"keras-caffe", "keras-tf", "torch-imagenet", "clip"}) {
      PreprocessSpec spec = *PresetSpec(preset);
      std::vector<float> t(3 * 224 * 224);
      Stopwatch sw;
      int n = 0;
      do {
        for (const auto& f : *set) {
          auto d = DecodeImageFile(f);
          if (d.ok() && !Preprocess(d->rgb, spec, Layout::kNHWC, t.data()).ok()) std::abort();
          ++n;
        }
      } while (sw.Seconds() < 1.0);
      std::snprintf(buf, sizeof buf, " %.2f |", 1000 * sw.Seconds() / n);
      row += buf;
    }
    say(row);
  }

  // Whole pipeline (the Embedder's defaults) vs pure inference with as many callers at its best batch.
  say("");
  say("Files -> vectors (Embedder defaults: 2 workers, each decoding and running inference on its own images, "
      "intra-op 1, batch 1) against pure inference with 2 callers at its best batch above (the pipeline also "
      "decodes and preprocesses, on the same cores):");
  say("");
  say("| model | files | pipeline img/s | pure inference img/s | ratio |");
  say("|---|---|---|---|---|");
  for (const auto& l : loaded) {
    for (auto* set : {&small, &big}) {
      EmbedOptions eo;
      eo.infer_threads = 2;
      Embedder e({l.one}, eo);
      std::vector<std::string> files;
      // Enough files for ~seconds of work.
      int want = std::max<int>(int(set->size()), int(l.two_callers_best * a.seconds));
      for (int i = 0; i < want; ++i) files.push_back((*set)[i % set->size()]);
      std::atomic<int> ok{0};
      Stopwatch sw;
      e.EmbedFiles(files, [&](EmbedResult&& r) { ok += r.status.ok(); });
      double rate = ok / sw.Seconds();
      std::snprintf(buf, sizeof buf, "| %s | %zu x %s | %.1f | %.1f | %.0f%% |", l.name.c_str(), files.size(),
                    set == &small ? "640x480" : "4000x3000", rate, l.two_callers_best,
                    100 * rate / l.two_callers_best);
      say(buf);
    }
  }
  UpdateSection(a.out, "embed", md.str());
  std::printf("\nwrote section 'embed' of %s\n", a.out.c_str());
  return 0;
}

}  // namespace
}  // namespace doppel::bench

int main(int argc, char** argv) { return doppel::bench::Main(argc, argv); }
