// doppel eval: retrieval quality of models (and the colour-histogram baseline) on a labelled folder.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "doppel/api/api.h"
#include "doppel/engine/builtin.h"
#include "doppel/eval/eval.h"
#include "engine_flags.h"
#include "model_flags.h"

namespace doppel::cli {
namespace {

struct EvalArgs {
  EngineFlags engine;
  std::string dir;
  std::vector<std::string> models;    // registered model names
  std::vector<std::string> builtins;  // built-in models, imported on the fly
  std::vector<std::string> onnx;      // ONNX files (with their sidecars / --preset)
  std::string preset;
  bool histogram = false;
  int max_per_class = 0;
  int copies = 100;
  std::string refine;  // comma list of refinements (refine.h)
  bool fuse = false;         // also the models given, fused (the quality profile)
  bool multi_scale = false;  // also each built-in at 0.71x, 1x and 1.41x its input side, averaged
  bool json = false;
};

int RunEval(const EvalArgs& a) {
  auto set = LoadLabelledSet(a.dir, a.max_per_class);
  if (!set.ok()) return Fail("eval", set.status());
  std::fprintf(stderr, "doppel eval: %zu images in %zu categories\n", set->images.size(), set->classes.size());
  EvalOptions o;
  o.copy_queries = a.copies;
  for (const auto& t : api::SplitList(a.refine)) {
    auto r = ParseRefinement(t);
    if (!r.ok()) return Fail("eval", r.status());
    o.refinements.push_back(*r);
  }
  std::vector<EvalResult> results;
  auto run = [&](const std::string& name, const EmbedFn& fn) -> int {
    auto rs = EvaluateRefinements(*set, fn, name, o);
    if (!rs.ok()) return Fail("eval", rs.status());
    std::fprintf(stderr, "doppel eval: %s done in %.0f s\n", name.c_str(), rs->back().seconds);
    results.insert(results.end(), rs->begin(), rs->end());
    return 0;
  };
  // Each model's pictures are decoded as the indexer decodes them for it (alpha, EXIF, shrink-on-load); several
  // networks measured as one embedding decode once, as the one that needs the most pixels does (WidestDecode).
  auto run_models = [&](const std::string& name, const std::vector<std::shared_ptr<const OnnxModel>>& ms,
                        const EmbedFn& fn) {
    const DecodeOptions plain = o.decode;
    std::vector<DecodeOptions> each;
    for (const auto& m : ms) each.push_back(DecodeOptionsFor(m->spec().preprocess, plain));
    o.decode = WidestDecode(each);
    int rc = run(name, fn);
    o.decode = plain;
    return rc;
  };
  auto embed_fn = [](std::shared_ptr<const OnnxModel> m) -> EmbedFn {
    return [m](const ImageU8& img) { return m->Embed(img); };
  };
  std::vector<std::pair<std::string, std::shared_ptr<const OnnxModel>>> loaded;
  auto run_model = [&](const std::string& name, std::shared_ptr<const OnnxModel> m) {
    loaded.emplace_back(name, m);
    return run_models(name, {m}, embed_fn(m));
  };
  if (a.histogram)
    if (int rc = run("colour histogram 8x8x8", [](const ImageU8& img) -> Result<std::vector<float>> {
          return ColourHistogram(img);
        }))
      return rc;
  if (!a.models.empty()) {
    auto engine = a.engine.Open(EngineFlags::Mode::kRead);
    if (!engine.ok()) return Fail("eval", engine.status());
    for (const auto& n : a.models) {
      auto m = (*engine)->LoadModel(n);
      if (!m.ok()) return Fail("eval", m.status());
      if (int rc = run_model(n, *m)) return rc;
    }
  }
  const std::filesystem::path tmp = std::filesystem::temp_directory_path();
  for (const auto& n : a.builtins) {
    auto m = ImportBuiltinModel(n, (tmp / ("doppel-eval-" + n + ".onnx")).string());
    if (!m.ok()) return Fail("eval", m.status());
    if (int rc = run_model(n, *m)) return rc;
    if (!a.multi_scale) continue;
    // The same network at 1/sqrt(2) and sqrt(2) times its input side; the three normalised vectors averaged.
    const int side = (*m)->spec().preprocess.width;
    std::vector<std::shared_ptr<const OnnxModel>> scales = {*m};
    for (int s : {int(side / 1.4142 + 0.5), int(side * 1.4142 + 0.5)}) {
      auto other = ImportBuiltinModel(n, (tmp / ("doppel-eval-" + n + "-" + std::to_string(s) + ".onnx")).string(), s);
      if (!other.ok()) return Fail("eval", other.status());
      scales.push_back(*other);
    }
    std::vector<EmbedFn> parts;
    for (const auto& x : scales) parts.push_back(embed_fn(x));
    if (int rc = run_models(n + " multi-scale x0.71,x1,x1.41", scales, AveragedEmbedding(parts))) return rc;
  }
  for (const auto& f : a.onnx) {
    ModelFlags mf;
    mf.model = f;
    mf.spec.preset = a.preset;
    auto m = mf.Load();
    if (!m.ok()) return Fail("eval", m.status());
    if (int rc = run_model(std::filesystem::path(f).filename().string(), *m)) return rc;
  }
  if (a.fuse) {
    // As `doppel search --models A,B` ranks: the models' normalised vectors concatenated.
    if (loaded.size() < 2)
      return Fail("eval", Status::InvalidArgument("--fuse needs at least two models (--model, --builtin, --onnx)"));
    std::string name = "fused";
    std::vector<std::shared_ptr<const OnnxModel>> ms;
    std::vector<EmbedFn> parts;
    for (const auto& [n, m] : loaded) {
      name += (ms.empty() ? " " : "+") + n;
      ms.push_back(m);
      parts.push_back(embed_fn(m));
    }
    if (int rc = run_models(name, ms, ConcatenatedEmbedding(parts))) return rc;
  }
  if (results.empty()) return Fail("eval", Status::InvalidArgument("nothing to evaluate: give --model, --builtin, --onnx or --histogram"));
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : results)
      j.push_back({{"name", r.name}, {"refinement", r.refinement}, {"images", r.images}, {"classes", r.classes},
                   {"p_at_5", r.p_at_5}, {"p_at_10", r.p_at_10}, {"map", r.map},
                   {"map_ci", {r.map_ci.first, r.map_ci.second}}, {"copy_queries", r.copy_queries},
                   {"copy_recall_at_1", r.copy_recall_at_1}, {"copy_ci", {r.copy_ci.first, r.copy_ci.second}},
                   {"copy_recall", r.copy_recall}, {"failed", r.failed}, {"seconds", r.seconds},
                   {"score_seconds", r.score_seconds}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  // mAP and copy R@1 with their 95% bootstrap intervals over the queries.
  std::printf("| embedding | refinement | images | P@5 | P@10 | mAP [95%% CI] | copy R@1 [95%% CI] | crop | rescale | "
              "jpeg | colour |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : results) {
    std::printf("| %s | %s | %d | %.3f | %.3f | %.3f [%.3f, %.3f] | %.3f [%.2f, %.2f] |", r.name.c_str(),
                r.refinement.c_str(), r.images, r.p_at_5, r.p_at_10, r.map, r.map_ci.first, r.map_ci.second,
                r.copy_recall_at_1, r.copy_ci.first, r.copy_ci.second);
    for (const auto& e : CopyEditNames()) std::printf(" %.2f |", r.copy_recall.count(e) ? r.copy_recall.at(e) : 0.0);
    std::printf("\n");
  }
  return 0;
}

}  // namespace

void RegisterEval(CLI::App& app, Action* action) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Retrieval quality on a labelled folder (one subfolder per category): P@5, P@10, mAP, copy recall@1");
  a->engine.Add(cmd);
  cmd->add_option("dir", a->dir, "labelled folder")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--model,-m", a->models, "registered model (repeatable)");
  cmd->add_option("--builtin", a->builtins, "built-in model, built on the fly (repeatable)");
  cmd->add_option("--onnx", a->onnx, "ONNX file with its sidecar (repeatable)");
  cmd->add_option("--preset", a->preset, "preset for --onnx files without a sidecar");
  cmd->add_flag("--histogram", a->histogram, "also the 8x8x8 colour-histogram baseline");
  cmd->add_option("--max-per-class", a->max_per_class, "at most this many images per category (0 = all)");
  cmd->add_option("--copies", a->copies, "originals edited for copy detection (default 100)");
  cmd->add_option("--refine", a->refine,
                  "refinements to measure on the same embeddings, comma-separated: none, flip, whiten, whiten25, dba, "
                  "qe, or parts joined by '+' (e.g. none,whiten+qe); whiten25+rerank is what search --whiten does, "
                  "dba+rerank what search --dba does");
  cmd->add_flag("--fuse", a->fuse,
                "also all the models given as one: their vectors concatenated, as search --profile quality / --models "
                "ranks");
  cmd->add_flag("--multi-scale", a->multi_scale,
                "also each --builtin at 0.71x, 1x and 1.41x its input side, the three vectors averaged");
  cmd->add_flag("--json", a->json, "print JSON");
  cmd->callback([a, action] { *action = [a] { return RunEval(*a); }; });
}

}  // namespace doppel::cli
