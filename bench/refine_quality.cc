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
#include "doppel/model/onnx_model.h"
#include "doppel/model/spec.h"
#include "labelled_sets.h"
#include "report.h"

namespace doppel::bench {
namespace {
namespace fs = std::filesystem;

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
  // The models, built from the nsfwjs weights as `doppel eval --builtin` does (input_size 0: the built-in's own).
  auto load = [&](const std::string& name, int input_size) -> std::shared_ptr<const OnnxModel> {
    const std::string onnx = (tmp / (name + "-" + std::to_string(input_size) + ".onnx")).string();
    auto model = ImportBuiltinModel(name, onnx, input_size);
    if (!model.ok()) std::fprintf(stderr, "%s at %d: %s\n", name.c_str(), input_size, model.status().ToString().c_str());
    return model.ok() ? *model : nullptr;
  };
  auto fn = [](std::shared_ptr<const OnnxModel> m) -> EmbedFn { return [m](const ImageU8& img) { return m->Embed(img); }; };
  std::shared_ptr<const OnnxModel> m = load(model_name, 0);
  if (!m) return 1;
  const EmbedFn embed = fn(m);
  // Other embeddings measured beside it, as `doppel eval --multi-scale` and `--fuse` measure them: multi-scale (the
  // same network at 0.71x and 1.41x the input side, the three normalised vectors averaged) and the fusion of the two
  // built-ins (normalised vectors concatenated).
  const int side = m->spec().preprocess.width;
  std::vector<std::pair<std::string, EmbedFn>> others;
  auto small = load(model_name, int(side / 1.4142 + 0.5)), large = load(model_name, int(side * 1.4142 + 0.5));
  if (small && large) others.emplace_back("multi-scale x0.71, x1, x1.41", AveragedEmbedding({embed, fn(small), fn(large)}));
  const std::string second = model_name == "inception_v3" ? "mobilenet_v2" : "inception_v3";
  if (auto m2 = load(second, 0)) others.emplace_back("fusion with " + second, ConcatenatedEmbedding({embed, fn(m2)}));

  std::vector<std::pair<std::string, fs::path>> sets;
  std::vector<std::string> notes;
  if (auto classes = ClipartClasses(); !classes.empty()) {
    LinkClasses(classes, tmp / "clipart", per);
    sets.emplace_back("clip art (openclipart-png)", tmp / "clipart");
  } else {
    notes.push_back("openclipart-png is not installed (`apt-get install openclipart-png`): its set was skipped.");
  }
  if (MakeIcons(tmp / "icons", per)) sets.emplace_back("icons (Adwaita 48x48, by context)", tmp / "icons");
  if (MakeGlyphs(tmp / "glyphs") > 0) sets.emplace_back("glyph renders (20 letters x fonts)", tmp / "glyphs");

  const std::vector<std::string> names = {"none", "flip", "whiten", "whiten25", "whiten25+rerank", "dba", "dba+rerank", "qe",
                                          "dba+qe", "whiten+qe", "flip+whiten+dba+qe"};
  EvalOptions o;
  o.copy_queries = 100;
  for (const auto& n : names) o.refinements.push_back(*ParseRefinement(n));
  o.decode = DecodeOptionsFor(m->spec().preprocess, o.decode);  // as the indexer decodes for the model

  Section report;
  report.Say("## Retrieval refinements on three labelled sets (issue 16)");
  report.Say("");
  report.Say("Command: `build/bin/bench_refine_quality --per-class " + std::to_string(per) + "`, " + Today() + ", " +
             MachineDescription() + ". Model: built-in " + model_name + ". Each set: at most " + std::to_string(per) +
             " images a category (by sorted path); every image queries all others (exact inner product); copy "
             "detection as `doppel eval` (100 originals x crop / rescale / JPEG q15 / colour shift). Brackets: 95% "
             "bootstrap intervals over the queries. The refinements are scored on the same embeddings (refine.h): "
             "flip = mean with the mirror image's vector (2x embedding at index and query time); whiten = PCA "
             "whitening learned on the set, power -0.5 (whiten25: -0.25), shrunk; whiten25+rerank = that whitening "
             "re-orders only the plain ranking's best 100, as `doppel search --whiten` does; dba = each vector + its "
             "3 nearest (weights similarity^3; a query from the set is augmented too, a copy is not); dba+rerank = "
             "the augmented vectors re-order only the plain ranking's best 100, as `doppel search --dba` does; qe = "
             "alpha-QE over the top 3 (a second search).");
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
    report.Say("| refinement | P@5 | P@10 | mAP [95% CI] | mAP change | copy R@1 [95% CI] | cost |");
    report.Say("|---|---|---|---|---|---|---|");
    const EvalResult& base = (*rs)[0];
    const double base_embed = base.seconds - base.score_seconds;
    auto row = [&](const std::string& label, const EvalResult& r, const std::string& cost) {
      const double rel = base.map > 0 ? r.map / base.map - 1 : 0;
      gain[label].push_back(rel);
      copy_change[label].push_back(r.copy_recall_at_1 - base.copy_recall_at_1);
      report.Sayf("| %s | %.3f | %.3f | %.3f [%.3f, %.3f] | %+.1f%% | %.3f [%.2f, %.2f] | %s |", label.c_str(),
                  r.p_at_5, r.p_at_10, r.map, r.map_ci.first, r.map_ci.second, rel * 100, r.copy_recall_at_1,
                  r.copy_ci.first, r.copy_ci.second, cost.c_str());
    };
    for (const auto& r : *rs) {
      char cost[64];
      std::snprintf(cost, sizeof cost, "%.1f s scoring", r.score_seconds);
      row(r.refinement, r, cost);
    }
    // The other embeddings, without refinement and with partial whitening; their cost: embedding time against the
    // default model's (which includes its mirror images: halved here).
    EvalOptions plain = o;
    plain.refinements = {*ParseRefinement("none"), *ParseRefinement("whiten25")};
    for (const auto& [label, fn] : others) {
      auto ors = EvaluateRefinements(*set, fn, label, plain);
      if (!ors.ok()) {
        notes.push_back(label + " on " + dir.string() + ": " + ors.status().ToString());
        continue;
      }
      char cost[64];
      std::snprintf(cost, sizeof cost, "embedding %.1fx",
                    ((*ors)[0].seconds - (*ors)[0].score_seconds) / std::max(1e-9, base_embed / 2));
      for (const auto& r : *ors) row(label + (r.refinement == "none" ? "" : " + " + r.refinement), r, cost);
    }
  }
  report.Say("");
  report.Say("Verdict by the issue's rule (a default only if mAP improves on every set, copy R@1 does not drop, index "
             "cost <= 1.5x, search latency <= 2x):");
  report.Say("");
  std::vector<std::string> labels(names.begin(), names.end());
  for (const auto& [label, fn] : others) {
    labels.push_back(label);
    labels.push_back(label + " + whiten25");
  }
  for (const auto& n : labels) {
    if (n == "none" || !gain.count(n)) continue;
    const auto& g = gain[n];
    const auto& c = copy_change[n];
    const bool better = std::all_of(g.begin(), g.end(), [](double x) { return x > 0; });
    const bool copies_hold = std::all_of(c.begin(), c.end(), [](double x) { return x >= -0.005; });
    // 2x embedding or more: index cost over 1.5x.
    const bool flips = n.find("flip") != std::string::npos || n.find("multi-scale") != std::string::npos ||
                       n.find("fusion") != std::string::npos;
    std::string changes;
    for (double x : g) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%+.1f%%", x * 100);
      changes += (changes.empty() ? "" : ", ") + std::string(buf);
    }
    report.Sayf("- %s: mAP %s; %s.", n.c_str(), changes.c_str(),
                !better ? "not better on every set: an option, not a default"
                : !copies_hold ? "copy R@1 drops: an option, not a default"
                : flips ? "better, but at 2x the embedding cost or more (index > 1.5x): an option"
                        : "better on every set with copy R@1 held: a candidate default");
  }
  for (const auto& n : notes) report.Say("\nNote: " + n);
  return report.Write(out, "refine_quality") ? 0 : 1;
}

}  // namespace
}  // namespace doppel::bench

int main(int argc, char** argv) { return doppel::bench::Main(argc, argv); }
