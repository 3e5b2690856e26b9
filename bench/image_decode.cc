// bench_image_decode: milliseconds per JPEG decode, per preprocess, and per decode + preprocess for each preset, on a
// 640x480 and a 4000x3000 JPEG made with libvips from a sample photo. Prints a Markdown table.
//   bench_image_decode [sample.jpg]
#include <vips/vips.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "doppel/image/decode.h"
#include "doppel/image/preprocess.h"

namespace {

using Clock = std::chrono::steady_clock;

// Writes `sample` resized (forced, ignoring aspect) to w x h as a quality-90 JPEG at `path`.
bool MakeJpeg(const std::string& sample, int w, int h, const std::string& path) {
  VipsImage* thumb = nullptr;
  if (vips_thumbnail(sample.c_str(), &thumb, w, "height", h, "size", VIPS_SIZE_FORCE, nullptr) != 0) return false;
  int rc = vips_jpegsave(thumb, path.c_str(), "Q", 90, nullptr);
  g_object_unref(thumb);
  return rc == 0;
}

template <typename F>
double MsPerCall(F&& f, double min_seconds) {
  f();  // warm-up
  int n = 0;
  auto t0 = Clock::now();
  double s = 0;
  do {
    f();
    ++n;
    s = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (s < min_seconds);
  return s * 1000 / n;
}

}  // namespace

int main(int argc, char** argv) {
  std::string sample = argc > 1 ? argv[1] : "/usr/share/doc/opencv-doc/examples/data/fruits.jpg";
  if (!doppel::InitImageLibrary().ok()) return 1;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "doppel-bench-image";
  std::filesystem::create_directories(dir);
  struct Input {
    int w, h;
    std::string path;
  };
  std::vector<Input> inputs = {{640, 480, (dir / "640x480.jpg").string()}, {4000, 3000, (dir / "4000x3000.jpg").string()}};
  for (const auto& in : inputs) {
    if (!MakeJpeg(sample, in.w, in.h, in.path)) {
      std::fprintf(stderr, "cannot make %s from %s: %s\n", in.path.c_str(), sample.c_str(), vips_error_buffer());
      return 1;
    }
  }
  std::printf("| input | preset | decode ms | preprocess ms | decode + preprocess ms |\n|---|---|---|---|---|\n");
  std::vector<float> tensor(224 * 224 * 3);
  for (const auto& in : inputs) {
    const double budget = in.w > 1000 ? 3.0 : 1.0;
    auto decoded = doppel::DecodeImageFile(in.path);
    if (!decoded.ok()) {
      std::fprintf(stderr, "%s\n", decoded.status().ToString().c_str());
      return 1;
    }
    const double decode_ms = MsPerCall([&] { (void)doppel::DecodeImageFile(in.path); }, budget);
    for (const auto& name : doppel::PresetNames()) {
      doppel::PreprocessSpec spec = *doppel::PresetSpec(name);
      const double pre_ms = MsPerCall(
          [&] { (void)doppel::Preprocess(decoded->rgb, spec, doppel::Layout::kNCHW, tensor.data()); }, budget);
      const double both_ms = MsPerCall(
          [&] {
            auto d = doppel::DecodeImageFile(in.path);
            if (d.ok()) (void)doppel::Preprocess(d->rgb, spec, doppel::Layout::kNCHW, tensor.data());
          },
          budget);
      std::printf("| %dx%d JPEG | %s | %.2f | %.2f | %.2f |\n", in.w, in.h, name.c_str(), decode_ms, pre_ms, both_ms);
      std::fflush(stdout);
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
