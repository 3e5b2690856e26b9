// bench_dedup_calibration: the duplicate tiers' thresholds from a labelled set (issue 14). Every opencv-doc sample
// photo gets edited copies (rescale, crops, strong JPEG, rotations, mirror, grey, brightness/contrast, blur, a
// caption bar, a small rotation); hard negatives are all pairs of different photos, among them pairs of the same
// scene (left/right stereo pairs, leuvenA/B, the two Blender renders, ...). For the near-copy tier (256-bit hash,
// best of the 8 rotations/flips) and the similar tier (the built-in default model), per edit kind: the distance of
// each copy to its original and the recall at the threshold; per negative kind: the false-merge rate.
//
//   build/bin/bench_dedup_calibration [--out BENCHMARKS.md]
#include <vips/vips.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "doppel/engine/builtin.h"
#include "doppel/engine/engine.h"
#include "doppel/image/decode.h"
#include "doppel/image/phash.h"
#include "doppel/image/picture_hash.h"
#include "report.h"

namespace doppel::bench {
namespace {
namespace fs = std::filesystem;

struct Edit {
  const char* name;
  // Makes the edited image from `in` (a new reference); nullptr on failure.
  VipsImage* (*make)(VipsImage* in);
  int quality = 85;
};

VipsImage* Resize(VipsImage* in, double s) {
  VipsImage* out = nullptr;
  return vips_resize(in, &out, s, nullptr) == 0 ? out : nullptr;
}
VipsImage* Crop(VipsImage* in, double f) {
  int w = vips_image_get_width(in), h = vips_image_get_height(in);
  VipsImage* out = nullptr;
  int cw = int(w * f), ch = int(h * f);
  return vips_crop(in, &out, (w - cw) / 2, (h - ch) / 2, cw, ch, nullptr) == 0 ? out : nullptr;
}
VipsImage* Rot(VipsImage* in, VipsAngle a) {
  VipsImage* out = nullptr;
  return vips_rot(in, &out, a, nullptr) == 0 ? out : nullptr;
}
VipsImage* Copy(VipsImage* in) {
  VipsImage* out = nullptr;
  return vips_copy(in, &out, nullptr) == 0 ? out : nullptr;
}

const Edit kEdits[] = {
    {"rescale 50%", [](VipsImage* in) { return Resize(in, 0.5); }},
    {"crop 90%", [](VipsImage* in) { return Crop(in, 0.9); }},
    {"crop 75%", [](VipsImage* in) { return Crop(in, 0.75); }},
    {"JPEG q15", [](VipsImage* in) { return Copy(in); }, 15},
    {"rot90", [](VipsImage* in) { return Rot(in, VIPS_ANGLE_D90); }},
    {"rot180", [](VipsImage* in) { return Rot(in, VIPS_ANGLE_D180); }},
    {"rot270", [](VipsImage* in) { return Rot(in, VIPS_ANGLE_D270); }},
    {"mirror", [](VipsImage* in) {
       VipsImage* out = nullptr;
       return vips_flip(in, &out, VIPS_DIRECTION_HORIZONTAL, nullptr) == 0 ? out : nullptr;
     }},
    {"grey", [](VipsImage* in) {
       VipsImage *g = nullptr, *out = nullptr;
       if (vips_colourspace(in, &g, VIPS_INTERPRETATION_B_W, nullptr) != 0) return (VipsImage*)nullptr;
       int ok = vips_colourspace(g, &out, VIPS_INTERPRETATION_sRGB, nullptr);
       g_object_unref(g);
       return ok == 0 ? out : nullptr;
     }},
    {"brightness +10, contrast x1.2", [](VipsImage* in) {
       VipsImage *l = nullptr, *out = nullptr;
       if (vips_linear1(in, &l, 1.2, 10.0, nullptr) != 0) return (VipsImage*)nullptr;
       int ok = vips_cast_uchar(l, &out, nullptr);
       g_object_unref(l);
       return ok == 0 ? out : nullptr;
     }},
    {"blur sigma 2", [](VipsImage* in) {
       VipsImage* out = nullptr;
       return vips_gaussblur(in, &out, 2.0, nullptr) == 0 ? out : nullptr;
     }},
    {"caption bar (12% of the height)", [](VipsImage* in) {
       VipsImage* out = vips_image_copy_memory(in);
       if (!out) return out;
       double ink[3] = {250, 250, 250};
       int h = vips_image_get_height(out);
       vips_draw_rect(out, ink, std::min(3, vips_image_get_bands(out)), 0, h - h * 12 / 100, vips_image_get_width(out),
                      h * 12 / 100, "fill", TRUE, nullptr);
       return out;
     }},
    {"text overlay (a white line of text)", [](VipsImage* in) {
       VipsImage* out = vips_image_copy_memory(in);
       if (!out) return out;
       const int w = vips_image_get_width(out), h = vips_image_get_height(out);
       VipsImage* text = nullptr;
       const int dpi = std::max(24, 72 * w / 640);  // about a twelfth of the width per letter
       if (vips_text(&text, "doppel (c) 2026 all rights reserved", "font", "DejaVu Sans Bold 24", "dpi", dpi,
                     nullptr) == 0) {
         double ink[3] = {255, 255, 255};
         vips_draw_mask(out, ink, std::min(3, vips_image_get_bands(out)), text,
                        std::max(0, (w - vips_image_get_width(text)) / 2), h * 2 / 3, nullptr);
         g_object_unref(text);
       }
       return out;
     }},
    {"rotate 3 degrees", [](VipsImage* in) {
       VipsImage* out = nullptr;
       return vips_rotate(in, &out, 3.0, nullptr) == 0 ? out : nullptr;
     }},
};

// Pairs of different photos of the same scene (hard negatives), by file stem.
bool SameScene(std::string a, std::string b) {
  auto stem = [](std::string s) {
    // Wallpapers in a light and a dark version: "wood-l", "wood-d".
    if (s.size() > 2 && s[s.size() - 2] == '-' && (s.back() == 'l' || s.back() == 'd')) s.resize(s.size() - 2);
    for (const char* p : {"left", "right"})
      if (s.rfind(p, 0) == 0) return std::string("stereo") + s.substr(std::string(p).size());
    while (!s.empty() && (std::isdigit(static_cast<unsigned char>(s.back())) || s.back() == 'A' || s.back() == 'B' ||
                          s.back() == 'L' || s.back() == 'R'))
      s.pop_back();
    return s;
  };
  return stem(a) == stem(b);
}

struct Hashed {
  std::string path, stem;
  std::array<PerceptualHash, 8> v;
};

// The near-copy record of a file, by the rule index jobs use (picture_hash.h).
Result<Hashed> HashOf(const std::string& path) {
  const DecodeOptions d;
  DOPPEL_ASSIGN_OR_RETURN(PictureHashes r, HashPictureFile(path, d.max_file_bytes, d.max_pixels));
  Hashed h;
  h.path = path;
  h.stem = fs::path(path).stem().string();
  h.v = r.variants;
  return h;
}

int NearCopyDistance(const Hashed& a, const Hashed& b) {
  int best = 257;
  for (const auto& x : a.v) best = std::min(best, HammingDistance(x, b.v[0]));
  return best;
}

int Main(int argc, char** argv) {
  std::string out = "BENCHMARKS.md";
  std::string model = kBuiltinDefaultModel;
  std::string photos = "/usr/share/doc/opencv-doc/examples/data";
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--out" && i + 1 < argc) out = argv[++i];
    else if (k == "--model" && i + 1 < argc) model = argv[++i];
    else if (k == "--photos" && i + 1 < argc) photos = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_dedup_calibration [--model BUILTIN] [--photos DIR] [--out FILE]\n");
      return 2;
    }
  }
  if (VIPS_INIT("bench_dedup_calibration")) return 1;
  fs::path tmp = fs::temp_directory_path() / "doppel-bench-dedup";
  fs::remove_all(tmp);
  fs::create_directories(tmp / "set");
  std::vector<std::string> originals;
  const bool opencv = photos == "/usr/share/doc/opencv-doc/examples/data";
  for (const auto& e : fs::directory_iterator(photos)) {
    const std::string x = e.path().extension().string();
    if ((x == ".jpg" || (!opencv && (x == ".png" || x == ".webp" || x == ".jpeg"))) && fs::file_size(e.path()) > 20000)
      originals.push_back(e.path().string());
  }
  std::sort(originals.begin(), originals.end());
  // The set: each original (re-encoded at q95, the "camera" copy) and its edits.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> copies;  // original -> (edit, path)
  std::vector<std::string> bases;
  for (const auto& o : originals) {
    VipsImage* in = vips_image_new_from_file(o.c_str(), "access", VIPS_ACCESS_RANDOM, nullptr);
    if (!in) continue;
    const std::string stem = fs::path(o).stem().string();
    const std::string base = (tmp / "set" / (stem + ".jpg")).string();
    vips_jpegsave(in, base.c_str(), "Q", 95, nullptr);
    bases.push_back(base);
    for (const auto& e : kEdits) {
      VipsImage* x = e.make(in);
      if (!x) continue;
      std::string name = e.name;
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      const std::string p = (tmp / "set" / (stem + "--" + name + ".jpg")).string();
      if (vips_jpegsave(x, p.c_str(), "Q", e.quality, nullptr) == 0) copies[base].emplace_back(e.name, p);
      g_object_unref(x);
    }
    g_object_unref(in);
  }
  std::map<std::string, Hashed> hashes;
  for (const auto& b : bases) {
    auto h = HashOf(b);
    if (h.ok()) hashes[b] = *h;
    for (const auto& [edit, p] : copies[b]) {
      auto c = HashOf(p);
      if (c.ok()) hashes[p] = *c;
    }
  }
  // The similar tier: the chosen built-in model over the whole set.
  EngineOptions eo;
  eo.data_dir = (tmp / "data").string();
  auto engine = Engine::Open(eo);
  if (!engine.ok() || !AddBuiltinModel(**engine, model).ok()) return 1;
  if (!(*engine)->Index({(tmp / "set").string()}, IndexOptions()).ok()) return 1;
  const int total = int(hashes.size());
  std::map<std::string, std::map<std::string, float>> cnn;  // base -> path -> distance
  for (const auto& b : bases) {
    SearchQuery q;
    q.indexed_path = b;
    SearchOptions so;
    so.k = total;
    so.collapse_duplicates = false;
    auto hits = (*engine)->Search(q, model, so);
    if (!hits.ok()) continue;
    for (const auto& h : *hits) cnn[b][h.path] = h.distance;
  }

  const int radius = kNearCopyRadius;
  bool calibrated = false;
  auto stored = (*engine)->SimilarThreshold(model, &calibrated);
  const float threshold = stored.ok() ? *stored : kSimilarThreshold;
  const bool is_default = model == kBuiltinDefaultModel;
  Section report;
  const std::string set_name = opencv ? "" : fs::path(photos).filename().string();
  report.Say(is_default && opencv ? "## Duplicate tiers: calibration on a labelled set (issue 14)"
             : opencv             ? "### The similar tier with " + model
                                  : "### A second set: " + photos + (is_default ? "" : ", " + model));
  report.Say("");
  report.Say("Command: `build/bin/bench_dedup_calibration" + (is_default ? std::string() : " --model " + model) +
             (opencv ? std::string() : " --photos " + photos) +
             "`, " + Today() + ", " + MachineDescription() + ". " +
             std::to_string(bases.size()) + (opencv ? " opencv-doc photos" : " pictures of " + photos) + ", each with " +
             std::to_string(std::size(kEdits)) +
             " edited copies (JPEG q85 unless stated); negatives: every pair of different photos, the pairs of one "
             "scene counted apart. Near-copy distance: Hamming bits of 256, best of the 8 rotations/flips; similar "
             "distance: the built-in model " + model + ", squared L2 of unit vectors. Recall at the "
             "defaults: near-copy <= " + std::to_string(radius) + " bits, similar <= " +
             std::to_string(threshold).substr(0, 6) +
             (calibrated ? " (the threshold stored with this model, calibrated as below)."
                         : " (the built-in default model's: this model has none stored yet; see below)."));
  report.Say("");
  report.Say("| edit | copies | near-copy bits: median / max | near-copy recall | similar: median / max | similar recall | "
             "either tier |");
  report.Say("|---|---|---|---|---|---|---|");
  for (const auto& e : kEdits) {
    std::vector<double> bits, dist;
    int either = 0, pairs = 0;
    for (const auto& b : bases)
      for (const auto& [edit, p] : copies[b]) {
        if (edit != std::string(e.name) || !hashes.count(p) || !hashes.count(b)) continue;
        const int nb = NearCopyDistance(hashes[b], hashes[p]);
        bits.push_back(nb);
        auto it = cnn[b].find(p);
        if (it != cnn[b].end()) dist.push_back(it->second);
        ++pairs;
        if (nb <= radius || (it != cnn[b].end() && it->second <= threshold)) ++either;
      }
    auto recall = [](const std::vector<double>& v, double t) {
      return v.empty() ? 0.0 : double(std::count_if(v.begin(), v.end(), [&](double x) { return x <= t; })) / v.size();
    };
    auto mx = [](const std::vector<double>& v) { return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()); };
    report.Sayf("| %s | %zu | %.0f / %.0f | %.2f | %.4f / %.4f | %.2f | %.2f |", e.name, bits.size(),
                Quantile(bits, 0.5), mx(bits), recall(bits, radius), Quantile(dist, 0.5), mx(dist),
                recall(dist, threshold), pairs ? double(either) / pairs : 0.0);
  }
  // Negatives.
  std::vector<double> diff_bits, diff_cnn, scene_bits, scene_cnn;
  for (size_t i = 0; i < bases.size(); ++i)
    for (size_t j = i + 1; j < bases.size(); ++j) {
      const bool scene = SameScene(hashes[bases[i]].stem, hashes[bases[j]].stem);
      (scene ? scene_bits : diff_bits).push_back(NearCopyDistance(hashes[bases[i]], hashes[bases[j]]));
      auto it = cnn[bases[i]].find(bases[j]);
      if (it != cnn[bases[i]].end()) (scene ? scene_cnn : diff_cnn).push_back(it->second);
    }
  auto rate = [](const std::vector<double>& v, double t) {
    return v.empty() ? 0.0 : double(std::count_if(v.begin(), v.end(), [&](double x) { return x <= t; })) / v.size();
  };
  auto mn = [](const std::vector<double>& v) { return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()); };
  report.Say("");
  report.Say("| negative pairs | pairs | near-copy bits: min / median | near-copy false merges | similar: min / median | similar false merges |");
  report.Say("|---|---|---|---|---|---|");
  report.Sayf("| different photos | %zu | %.0f / %.0f | %.4f | %.4f / %.4f | %.4f |", diff_bits.size(), mn(diff_bits),
              Quantile(diff_bits, 0.5), rate(diff_bits, radius), mn(diff_cnn), Quantile(diff_cnn, 0.5),
              rate(diff_cnn, threshold));
  report.Sayf("| same scene, other shot | %zu | %.0f / %.0f | %.4f | %.4f / %.4f | %.4f |", scene_bits.size(),
              mn(scene_bits), Quantile(scene_bits, 0.5), rate(scene_bits, radius), mn(scene_cnn),
              Quantile(scene_cnn, 0.5), rate(scene_cnn, threshold));
  // The similar threshold at a false-merge rate of 1% (and 0.2%) of different-photo pairs, and the recall of all
  // copies there.
  std::vector<double> all_copies;
  for (const auto& b : bases)
    for (const auto& [edit, p] : copies[b]) {
      auto it = cnn[b].find(p);
      if (it != cnn[b].end()) all_copies.push_back(it->second);
    }
  report.Say("");
  for (double fmr : {0.01, 0.002}) {
    const double t = Quantile(diff_cnn, fmr);
    report.Sayf("Similar tier at %.1f%% false merges of different photos: threshold %.4f, recall of all copies %.2f.",
                fmr * 100, t, rate(all_copies, t));
  }
  report.Say("");
  report.Sayf("Margins: the closest different photos are %.0f bits apart (the radius is %d); the closest different "
              "photos by the model are at %.4f (the similar threshold is %.4f).",
              mn(diff_bits), radius, mn(diff_cnn), threshold);
  std::string section = "dedup_calibration";
  if (!is_default) section += "_" + model;
  if (!opencv) section += "_" + set_name;
  return report.Write(out, section) ? 0 : 1;
}

}  // namespace
}  // namespace doppel::bench

int main(int argc, char** argv) { return doppel::bench::Main(argc, argv); }
