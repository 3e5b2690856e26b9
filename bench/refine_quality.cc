// bench_refine_quality: retrieval refinements (issue 16) on three labelled sets from different sources, measured with
// the same code as `doppel eval --refine` (EvaluateRefinements): flip pooling, PCA whitening learned from the set,
// DBA, alpha-QE and combinations, for the built-in default model. Per set and refinement: P@5, P@10, mAP and copy
// R@1 with 95% bootstrap intervals over the queries, and the change of mAP against no refinement.
//
//   build/bin/bench_refine_quality [--per-class N] [--model BUILTIN] [--out BENCHMARKS.md]
//
// The sets: Debian's openclipart-png (clip art by category; `apt-get install openclipart-png`, skipped with a note
// when missing), Debian's Adwaita icon theme (48x48 PNG icons by context: actions, devices, places, status, ...) and
// glyph renders made here (one class per letter, each drawn in every font of fonts-dejavu and MathJax found, in a
// random colour, slightly turned).
#include <vips/vips.h>

#include <filesystem>
#include <map>
#include <random>

#include "doppel/engine/builtin.h"
#include "doppel/eval/eval.h"
#include "doppel/keras/import.h"
#include "doppel/model/onnx_model.h"
#include "doppel/model/spec.h"
#include "report.h"

namespace doppel::bench {
namespace {
namespace fs = std::filesystem;

// A labelled folder of symbolic links: DIR/<class>/<n>.png -> the files of each class (at most `per` by path).
bool LinkClasses(const std::map<std::string, std::vector<fs::path>>& classes, const fs::path& dir, int per) {
  fs::remove_all(dir);
  for (const auto& [name, files] : classes) {
    if (files.size() < 2) continue;
    fs::create_directories(dir / name);
    std::vector<fs::path> sorted = files;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size() && int(i) < per; ++i)
      fs::create_symlink(sorted[i], dir / name / (std::to_string(i) + sorted[i].extension().string()));
  }
  return true;
}

// Adwaita's 48x48 PNG icons by context (the folder above each icon).
bool MakeIcons(const fs::path& dir, int per) {
  const fs::path root = "/usr/share/icons/Adwaita/48x48";
  std::map<std::string, std::vector<fs::path>> classes;
  std::error_code ec;
  for (const auto& ctx : fs::directory_iterator(root, ec)) {
    if (!ctx.is_directory() || ctx.path().filename() == "legacy") continue;
    for (const auto& f : fs::directory_iterator(ctx.path(), ec))
      if (f.path().extension() == ".png") classes[ctx.path().filename().string()].push_back(f.path());
  }
  return !classes.empty() && LinkClasses(classes, dir, per);
}

// One class per letter A..T, drawn in each of these fonts (fonts-dejavu and MathJax, as fontconfig names them), a
// random ink on white, turned by up to 10 degrees.
int MakeGlyphs(const fs::path& dir) {
  const char* fonts[] = {"DejaVu Sans",         "DejaVu Sans Bold",       "DejaVu Sans Oblique",
                         "DejaVu Sans Condensed", "DejaVu Sans Light",    "DejaVu Sans Mono",
                         "DejaVu Sans Mono Bold", "DejaVu Serif",         "DejaVu Serif Bold",
                         "DejaVu Serif Italic",   "DejaVu Serif Condensed", "DejaVu Math TeX Gyre",
                         "MathJax_Main",          "MathJax_Main Bold",    "MathJax_Math Italic",
                         "MathJax_SansSerif",     "MathJax_Typewriter",   "MathJax_Caligraphic",
                         "MathJax_Fraktur",       "MathJax_Script"};
  fs::remove_all(dir);
  std::mt19937 rng(11);
  int made = 0;
  for (char c = 'A'; c <= 'T'; ++c) {
    fs::create_directories(dir / std::string(1, c));
    for (size_t f = 0; f < std::size(fonts); ++f) {
      const std::string glyph(1, c), font = std::string(fonts[f]) + " 120";
      VipsImage *text = nullptr, *mask3 = nullptr, *colour = nullptr, *turned = nullptr, *framed = nullptr;
      // text: a one-band ink mask (0..255); colour = white where it is 0, the ink where it is 255.
      bool ok = vips_text(&text, glyph.c_str(), "font", font.c_str(), "dpi", 72, nullptr) == 0 &&
                vips_image_get_width(text) >= 8;
      if (ok) {
        VipsImage* m[3] = {text, text, text};
        ok = vips_bandjoin(m, &mask3, 3, nullptr) == 0;
      }
      double a[3], b[3];
      for (int k = 0; k < 3; ++k) a[k] = (double(rng() % 160) - 255) / 255.0, b[k] = 255;
      if (ok) ok = vips_linear(mask3, &colour, a, b, 3, "uchar", TRUE, nullptr) == 0;
      if (ok)
        ok = vips_rotate(colour, &turned, double(int(rng() % 21) - 10), "background",
                         vips_array_double_newv(3, 255.0, 255.0, 255.0), nullptr) == 0;
      if (ok) {
        const int w = vips_image_get_width(turned), h = vips_image_get_height(turned), side = std::max(w, h) + 24;
        ok = vips_embed(turned, &framed, (side - w) / 2, (side - h) / 2, side, side, "extend", VIPS_EXTEND_WHITE,
                        nullptr) == 0;
      }
      if (ok && vips_pngsave(framed, (dir / std::string(1, c) / (std::to_string(f) + ".png")).c_str(), nullptr) == 0)
        ++made;
      for (VipsImage* x : {text, mask3, colour, turned, framed})
        if (x) g_object_unref(x);
    }
  }
  return made;
}

int Main(int argc, char** argv) {
  int per = 30;
  std::string model_name = kBuiltinDefaultModel, out = "BENCHMARKS.md";
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--per-class" && i + 1 < argc) per = std::stoi(argv[++i]);
    else if (k == "--model" && i + 1 < argc) model_name = argv[++i];
    else if (k == "--out" && i + 1 < argc) out = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_refine_quality [--per-class N] [--model BUILTIN] [--out FILE]\n");
      return 2;
    }
  }
  if (VIPS_INIT("bench_refine_quality")) return 1;
  const fs::path tmp = fs::temp_directory_path() / "doppel-bench-refine";
  fs::create_directories(tmp);
  // The model, built from the nsfwjs weights as `doppel eval --builtin` does.
  auto b = keras::BuiltinKeras(model_name);
  if (!b.ok()) return 1;
  const std::string onnx = (tmp / (model_name + ".onnx")).string();
  if (!keras::ImportKeras((fs::path(NsfwjsDir()) / b->subfolder).string(), onnx, b->options).ok()) return 1;
  auto spec = LoadSidecar(onnx);
  if (!spec.ok()) return 1;
  auto model = OnnxModel::Load(onnx, *spec);
  if (!model.ok()) return 1;
  std::shared_ptr<const OnnxModel> m = *model;
  const EmbedFn embed = [m](const ImageU8& img) { return m->Embed(img); };

  std::vector<std::pair<std::string, fs::path>> sets;
  std::vector<std::string> notes;
  if (fs::is_directory("/usr/share/openclipart/png")) {
    std::map<std::string, std::vector<fs::path>> classes;
    for (const auto& c : fs::directory_iterator("/usr/share/openclipart/png")) {
      if (!c.is_directory()) continue;
      for (const auto& f : fs::recursive_directory_iterator(c.path()))
        if (f.path().extension() == ".png") classes[c.path().filename().string()].push_back(f.path());
    }
    LinkClasses(classes, tmp / "clipart", per);
    sets.emplace_back("clip art (openclipart-png)", tmp / "clipart");
  } else {
    notes.push_back("openclipart-png is not installed (`apt-get install openclipart-png`): its set was skipped.");
  }
  if (MakeIcons(tmp / "icons", per)) sets.emplace_back("icons (Adwaita 48x48, by context)", tmp / "icons");
  if (MakeGlyphs(tmp / "glyphs") > 0) sets.emplace_back("glyph renders (20 letters x fonts)", tmp / "glyphs");

  const std::vector<std::string> names = {"none", "flip", "whiten", "whiten25", "dba", "qe", "dba+qe", "whiten+qe",
                                          "flip+whiten+dba+qe"};
  EvalOptions o;
  o.copy_queries = 100;
  for (const auto& n : names) o.refinements.push_back(*ParseRefinement(n));

  Section report;
  report.Say("## Retrieval refinements on three labelled sets (issue 16)");
  report.Say("");
  report.Say("Command: `build/bin/bench_refine_quality --per-class " + std::to_string(per) + "`, " + Today() + ", " +
             MachineDescription() + ". Model: built-in " + model_name + ". Each set: at most " + std::to_string(per) +
             " images a category (by sorted path); every image queries all others (exact inner product); copy "
             "detection as `doppel eval` (100 originals x crop / rescale / JPEG q15 / colour shift). Brackets: 95% "
             "bootstrap intervals over the queries. The refinements are scored on the same embeddings (refine.h): "
             "flip = mean with the mirror image's vector (2x embedding at index and query time); whiten = PCA "
             "whitening learned on the set, power -0.5 (whiten25: -0.25), shrunk; dba = each vector + its 3 nearest "
             "(weights similarity^3); qe = alpha-QE over the top 3 (a second search).");
  std::map<std::string, std::vector<double>> gain;  // refinement -> relative mAP change per set
  std::map<std::string, std::vector<double>> copy_change;
  for (const auto& [label, dir] : sets) {
    auto set = LoadLabelledSet(dir.string(), per);
    if (!set.ok()) {
      notes.push_back(label + ": " + set.status().ToString());
      continue;
    }
    auto rs = EvaluateRefinements(*set, embed, model_name, o);
    if (!rs.ok()) {
      notes.push_back(label + ": " + rs.status().ToString());
      continue;
    }
    report.Say("");
    report.Sayf("**%s**: %d images, %d categories; embedding %.0f s for all (with mirror images).", label.c_str(),
                (*rs)[0].images, (*rs)[0].classes, (*rs)[0].seconds - (*rs)[0].score_seconds);
    report.Say("");
    report.Say("| refinement | P@5 | P@10 | mAP [95% CI] | mAP change | copy R@1 [95% CI] | scoring s |");
    report.Say("|---|---|---|---|---|---|---|");
    const EvalResult& base = (*rs)[0];
    for (const auto& r : *rs) {
      const double rel = base.map > 0 ? r.map / base.map - 1 : 0;
      gain[r.refinement].push_back(rel);
      copy_change[r.refinement].push_back(r.copy_recall_at_1 - base.copy_recall_at_1);
      report.Sayf("| %s | %.3f | %.3f | %.3f [%.3f, %.3f] | %+.1f%% | %.3f [%.2f, %.2f] | %.1f |", r.refinement.c_str(),
                  r.p_at_5, r.p_at_10, r.map, r.map_ci.first, r.map_ci.second, rel * 100, r.copy_recall_at_1,
                  r.copy_ci.first, r.copy_ci.second, r.score_seconds);
    }
  }
  report.Say("");
  report.Say("Verdict by the issue's rule (a default only if mAP improves on every set, copy R@1 does not drop, index "
             "cost <= 1.5x, search latency <= 2x):");
  report.Say("");
  for (const auto& n : names) {
    if (n == "none" || !gain.count(n)) continue;
    const auto& g = gain[n];
    const auto& c = copy_change[n];
    const bool better = std::all_of(g.begin(), g.end(), [](double x) { return x > 0; });
    const bool copies_hold = std::all_of(c.begin(), c.end(), [](double x) { return x >= -0.005; });
    const bool flips = n.find("flip") != std::string::npos;  // 2x embedding: index cost 2x
    std::string changes;
    for (double x : g) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%+.1f%%", x * 100);
      changes += (changes.empty() ? "" : ", ") + std::string(buf);
    }
    report.Sayf("- %s: mAP %s; %s.", n.c_str(), changes.c_str(),
                !better ? "not better on every set: an option, not a default"
                : !copies_hold ? "copy R@1 drops: an option, not a default"
                : flips ? "better, but doubles the embedding cost (index 2x > 1.5x): an option"
                        : "better on every set with copy R@1 held: a candidate default");
  }
  for (const auto& n : notes) report.Say("\nNote: " + n);
  return report.Write(out, "refine_quality") ? 0 : 1;
}

}  // namespace
}  // namespace doppel::bench

int main(int argc, char** argv) { return doppel::bench::Main(argc, argv); }
