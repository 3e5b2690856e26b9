// bench_image_decode: milliseconds per JPEG decode, per preprocess, and per decode + preprocess for each preset, on a
// 640x480 and a 4000x3000 JPEG (quality 90) made with libvips from a sample photo, plus the decode of the 4000x3000
// one tagged EXIF orientation 6 (phone photos). Prints Markdown tables.
//   bench_image_decode [--decode-only] [--rounds N] [sample.jpg]
//
// Decode timings: DecodeImageFile repeated for about a second (three for the big file) per round, N rounds (default
// 5); the minimum and median per-call wall time and process CPU time over the rounds are printed (the machine is
// shared: the minimum is the figure to compare). CPU time counts every thread, so a decoder that spreads work over
// threads does not look cheaper than it is. For reference, the same file decoded by libjpeg-turbo directly with
// default settings (what `djpeg -pnm` does, minus the PNM writing) is timed the same way.
// --decode-only skips the preprocess presets.
//
//   bench_image_decode --formats [--rounds N] [--out BENCHMARKS.md] [sample.jpg]
// Shrink-on-load by format (issue 15): a 4000x3000 picture made from the sample as a JPEG (q90), a WebP (q90), a
// HEIC with the 320x240 thumbnail phones store (heif-enc -t 320, Debian's libheif-examples) and one without, decoded
// + preprocessed for a 224x224 model (keras-tf preset): full decode, shrink_on_load true (JPEG alone) and
// ["jpeg", "webp", "heif"]. Writes section "shrink_formats" of --out.
#include <time.h>
#include <vips/vips.h>

#include <algorithm>
#include <chrono>
#include <csetjmp>
#include <cstdio>  // before jpeglib.h, which uses FILE
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <jpeglib.h>

#include "doppel/image/decode.h"
#include "doppel/image/preprocess.h"
#include "report.h"

namespace {

using Clock = std::chrono::steady_clock;

// Writes `sample` resized (forced, ignoring aspect) to w x h as a quality-90 JPEG at `path`, with an EXIF
// orientation tag when `orientation` is not 0.
bool MakeJpeg(const std::string& sample, int w, int h, const std::string& path, int orientation = 0) {
  VipsImage* thumb = nullptr;
  if (vips_thumbnail(sample.c_str(), &thumb, w, "height", h, "size", VIPS_SIZE_FORCE, nullptr) != 0) return false;
  if (orientation != 0) vips_image_set_int(thumb, VIPS_META_ORIENTATION, orientation);
  int rc = vips_jpegsave(thumb, path.c_str(), "Q", 90, nullptr);
  g_object_unref(thumb);
  return rc == 0;
}

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
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

struct Timing {
  double wall_min, wall_median, cpu_min, cpu_median;
};

// `rounds` rounds of at least `min_seconds` each: per-call wall and CPU milliseconds.
template <typename F>
Timing Rounds(F&& f, double min_seconds, int rounds) {
  std::vector<double> wall, cpu;
  f();  // warm-up
  for (int r = 0; r < rounds; ++r) {
    int n = 0;
    const double c0 = CpuSeconds();
    const auto t0 = Clock::now();
    double s = 0;
    do {
      f();
      ++n;
      s = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (s < min_seconds);
    wall.push_back(s * 1000 / n);
    cpu.push_back((CpuSeconds() - c0) * 1000 / n);
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  return {wall.front(), wall[wall.size() / 2], cpu.front(), cpu[cpu.size() / 2]};
}

// libjpeg-turbo with its defaults (ISLOW, fancy upsampling, RGB out): the floor any JPEG decode here can reach.
bool PlainLibjpeg(const std::string& bytes, std::vector<unsigned char>& out) {
  struct Err {
    jpeg_error_mgr pub;
    std::jmp_buf jump;
  } err;
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = [](j_common_ptr c) { std::longjmp(reinterpret_cast<Err*>(c->err)->jump, 1); };
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  const size_t stride = size_t(cinfo.output_width) * 3;
  out.resize(stride * cinfo.output_height);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.data() + stride * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

// Shrink-on-load by format (--formats): see the comment at the top.
int Formats(const std::string& sample, int rounds, const std::string& out) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / "doppel-bench-formats";
  fs::create_directories(dir);
  VipsImage* big = nullptr;
  if (vips_thumbnail(sample.c_str(), &big, 4000, "height", 3000, "size", VIPS_SIZE_FORCE, nullptr) != 0) {
    std::fprintf(stderr, "cannot read %s: %s\n", sample.c_str(), vips_error_buffer());
    return 1;
  }
  VipsImage* in_memory = vips_image_copy_memory(big);  // saved four times: the thumbnail's stream is read once
  g_object_unref(big);
  big = in_memory;
  const std::string jpg = (dir / "picture.jpg").string(), webp = (dir / "picture.webp").string(),
                    png = (dir / "picture.png").string(), heic = (dir / "picture.heic").string(),
                    bare = (dir / "no-thumbnail.heic").string();
  bool ok = vips_jpegsave(big, jpg.c_str(), "Q", 90, nullptr) == 0 &&
            vips_webpsave(big, webp.c_str(), "Q", 90, nullptr) == 0 &&
            vips_pngsave(big, png.c_str(), "compression", 1, nullptr) == 0 &&
            vips_heifsave(big, bare.c_str(), "Q", 50, "compression", VIPS_FOREIGN_HEIF_COMPRESSION_HEVC, nullptr) == 0;
  g_object_unref(big);
  if (!ok || std::system(("heif-enc -q 50 -t 320 -o '" + heic + "' '" + png + "' >/dev/null").c_str()) != 0) {
    std::fprintf(stderr, "cannot write the pictures (heif-enc: Debian package libheif-examples): %s\n", vips_error_buffer());
    return 1;
  }
  doppel::bench::Section report;
  report.Say("## Shrink-on-load by format (issue 15)");
  report.Say("");
  report.Sayf("Command: `build/bin/bench_image_decode --formats --rounds %d`, %s, %s. One 4000x3000 picture (the "
              "opencv-doc sample `%s` stretched) saved as JPEG q90, WebP q90, HEIC q50 with a 320x240 thumbnail as "
              "phones store one (`heif-enc -t 320`) and HEIC without one (libvips), decoded + preprocessed for a "
              "224x224 model (keras-tf preset) on one thread; wall ms per picture, the best of %d rounds.",
              rounds, doppel::bench::Today().c_str(), doppel::bench::MachineDescription().c_str(),
              fs::path(sample).filename().c_str(), rounds);
  report.Say("");
  report.Say("| file | bytes | full decode + preprocess ms | shrink_on_load: true (JPEG) ms | [\"jpeg\", \"webp\", \"heif\"] ms | "
             "decoded at | speed-up |");
  report.Say("|---|---|---|---|---|---|---|");
  std::vector<float> tensor(224 * 224 * 3);
  for (const auto& [label, path] : std::vector<std::pair<std::string, std::string>>{
           {"JPEG", jpg}, {"WebP", webp}, {"HEIC with thumbnail", heic}, {"HEIC without thumbnail", bare}}) {
    double ms[3];
    std::string decoded_at;
    for (int v = 0; v < 3; ++v) {
      doppel::PreprocessSpec spec = *doppel::PresetSpec("keras-tf");
      spec.shrink_on_load = v > 0;
      spec.shrink_formats = v == 2 ? doppel::kDraftAll : doppel::kDraftJpeg;
      const doppel::DecodeOptions o = doppel::DecodeOptionsFor(spec);
      auto once = [&] {
        auto d = doppel::DecodeImageFile(path, o);
        if (!d.ok() || !doppel::Preprocess(d->rgb, spec, doppel::Layout::kNCHW, tensor.data()).ok()) {
          std::fprintf(stderr, "%s: %s\n", path.c_str(), d.ok() ? "preprocess failed" : d.status().ToString().c_str());
          std::exit(1);
        }
        if (v == 2) decoded_at = std::to_string(d->rgb.width) + "x" + std::to_string(d->rgb.height);
      };
      ms[v] = Rounds(once, 2.0, rounds).wall_min;
    }
    report.Sayf("| %s | %lld | %.1f | %.1f | %.1f | %s | %.1fx |", label.c_str(), (long long)fs::file_size(path),
                ms[0], ms[1], ms[2], decoded_at.c_str(), ms[0] / ms[2]);
  }
  fs::remove_all(dir);
  return report.Write(out, "shrink_formats") ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string sample = "/usr/share/doc/opencv-doc/examples/data/fruits.jpg";
  bool decode_only = false, formats = false;
  std::string out = "BENCHMARKS.md";
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--decode-only") {
      decode_only = true;
    } else if (a == "--formats") {
      formats = true;
    } else if (a == "--out" && i + 1 < argc) {
      out = argv[++i];
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else {
      sample = a;
    }
  }
  if (!doppel::InitImageLibrary().ok()) return 1;
  if (formats) return Formats(sample, rounds, out);
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "doppel-bench-image";
  std::filesystem::create_directories(dir);
  struct Input {
    int w, h;
    std::string path;
    int orientation = 0;
  };
  std::vector<Input> inputs = {{640, 480, (dir / "640x480.jpg").string()},
                               {4000, 3000, (dir / "4000x3000.jpg").string()},
                               {4000, 3000, (dir / "4000x3000-orientation6.jpg").string(), 6}};
  for (const auto& in : inputs) {
    if (!MakeJpeg(sample, in.w, in.h, in.path, in.orientation)) {
      std::fprintf(stderr, "cannot make %s from %s: %s\n", in.path.c_str(), sample.c_str(), vips_error_buffer());
      return 1;
    }
  }

  std::printf("| input | decoder | wall ms min | wall ms median | CPU ms min | CPU ms median |\n"
              "|---|---|---|---|---|---|\n");
  for (const auto& in : inputs) {
    const double budget = in.w > 1000 ? 3.0 : 1.0;
    auto decoded = doppel::DecodeImageFile(in.path);
    if (!decoded.ok()) {
      std::fprintf(stderr, "%s\n", decoded.status().ToString().c_str());
      return 1;
    }
    Timing t = Rounds([&] { (void)doppel::DecodeImageFile(in.path); }, budget, rounds);
    const std::string label = std::to_string(in.w) + "x" + std::to_string(in.h) + " JPEG" +
                              (in.orientation ? ", EXIF orientation " + std::to_string(in.orientation) : "");
    std::printf("| %s | DecodeImageFile | %.2f | %.2f | %.2f | %.2f |\n", label.c_str(), t.wall_min, t.wall_median,
                t.cpu_min, t.cpu_median);
    std::fflush(stdout);
    std::vector<unsigned char> px;
    Timing p = Rounds(
        [&] {
          std::ifstream f(in.path, std::ios::binary);
          std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
          if (!PlainLibjpeg(bytes, px)) std::abort();
        },
        budget, rounds);
    std::printf("| %s | plain libjpeg-turbo (read file + decode, no orientation) | %.2f | %.2f | %.2f | %.2f |\n",
                label.c_str(), p.wall_min, p.wall_median, p.cpu_min, p.cpu_median);
    std::fflush(stdout);
  }
  if (decode_only) {
    std::filesystem::remove_all(dir);
    return 0;
  }

  std::printf("\n| input | preset | decode ms | preprocess ms | decode + preprocess ms |\n|---|---|---|---|---|\n");
  std::vector<float> tensor(224 * 224 * 3);
  for (const auto& in : inputs) {
    if (in.orientation) continue;
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
