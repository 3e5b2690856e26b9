// doppel eval: retrieval quality of models (and the colour-histogram baseline) on a labelled folder.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "doppel/api/api.h"
#include "doppel/engine/builtin.h"
#include "doppel/eval/eval.h"
#include "doppel/keras/import.h"
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
  // Each model's pictures are decoded as the indexer decodes them for it (alpha, EXIF, shrink-on-load).
  auto run_model = [&](const std::string& name, std::shared_ptr<const OnnxModel> m) {
    const DecodeOptions plain = o.decode;
    o.decode = DecodeOptionsFor(m->spec().preprocess, plain);
    int rc = run(name, [m](const ImageU8& img) { return m->Embed(img); });
    o.decode = plain;
    return rc;
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
  for (const auto& n : a.builtins) {
    auto b = keras::BuiltinKeras(n);
    if (!b.ok()) return Fail("eval", b.status());
    std::string tmp = (std::filesystem::temp_directory_path() / ("doppel-eval-" + n + ".onnx")).string();
    Status st = keras::ImportKeras((std::filesystem::path(NsfwjsDir()) / b->subfolder).string(), tmp, b->options);
    if (!st.ok()) return Fail("eval", st);
    auto spec = LoadSidecar(tmp);
    if (!spec.ok()) return Fail("eval", spec.status());
    auto m = OnnxModel::Load(tmp, *spec);
    if (!m.ok()) return Fail("eval", m.status());
    if (int rc = run_model(n, *m)) return rc;
  }
  for (const auto& f : a.onnx) {
    ModelFlags mf;
    mf.model = f;
    mf.spec.preset = a.preset;
    auto m = mf.Load();
    if (!m.ok()) return Fail("eval", m.status());
    if (int rc = run_model(std::filesystem::path(f).filename().string(), *m)) return rc;
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
                  "qe, or parts joined by '+' (e.g. none,whiten+qe); whiten25+rerank is what search --whiten does");
  cmd->add_flag("--json", a->json, "print JSON");
  cmd->callback([a, action] { *action = [a] { return RunEval(*a); }; });
}

}  // namespace doppel::cli
