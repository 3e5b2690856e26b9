// doppel search / compare.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "compare_report.h"
#include "doppel/engine/walk.h"
#include "doppel/api/api.h"
#include "doppel/api/json.h"
#include "engine_flags.h"

namespace doppel::cli {
namespace {

std::string Shorten(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return "..." + s.substr(s.size() - (n - 3));
}

}  // namespace

void PrintComparison(const Comparison& c, const std::string& query, int k) {
  std::printf("query: %s\n", query.c_str());
  // Paths in the query's folder are shown by their file name.
  std::string base = query.substr(0, query.rfind('/') + 1);
  auto show = [&](const std::string& p) {
    return !base.empty() && p.compare(0, base.size(), base) == 0 ? p.substr(base.size()) : p;
  };
  const int w = 44;
  std::printf("%-4s", "rank");
  for (const auto& m : c.models) std::printf(" | %-*s", w, (m + ": distance  path").c_str());
  std::printf("\n");
  for (int r = 0; r < k; ++r) {
    bool any = false;
    for (const auto& hs : c.hits) any = any || r < int(hs.size());
    if (!any) break;
    std::printf("%-4d", r + 1);
    for (size_t m = 0; m < c.hits.size(); ++m) {
      if (r < int(c.hits[m].size())) {
        const Hit& h = c.hits[m][r];
        // Mark hits the other model also returned.
        bool shared = false;
        for (size_t o = 0; o < c.hits.size(); ++o)
          if (o != m)
            for (const auto& x : c.hits[o]) shared = shared || x.id == h.id;
        char cell[256];
        std::snprintf(cell, sizeof cell, "%s%8.4f  %s", shared ? "*" : " ", h.distance,
                      Shorten(show(h.path), w - 12).c_str());
        std::printf(" | %-*s", w, cell);
      } else {
        std::printf(" | %-*s", w, "");
      }
    }
    std::printf("\n");
  }
  std::printf("* = returned by both models\n");
  std::printf("overlap@%d: %.2f   rank correlation on shared hits (Spearman): %s\n", k, c.overlap,
              std::isnan(c.rank_correlation) ? "n/a (fewer than 2 shared)"
                                             : std::to_string(c.rank_correlation).substr(0, 5).c_str());
  for (size_t m = 0; m < c.models.size(); ++m)
    std::printf("distance scale %-12s min %.4f  mean %.4f  max %.4f\n", c.models[m].c_str(),
                c.distance_scales[m].min, c.distance_scales[m].mean, c.distance_scales[m].max);
  std::printf("(distances of different models are not comparable; rankings are)\n");
  if (!c.fused.empty()) {
    std::printf("fused (reciprocal rank fusion):\n");
    for (const auto& h : c.fused) std::printf("  %-3d score %.4f  %s\n", h.rank, h.distance, h.path.c_str());
  }
}

namespace {

struct SearchArgs {
  EngineFlags engine;
  QueryFlags query;
  std::string tier = "similar";
  int radius = kNearCopyRadius;
  std::string model;
  std::string models;   // fused
  std::string profile;  // fast | quality
  int k = 10;
  std::string filter;
  bool no_collapse = false;
  bool json = false;
  int ef = 0;
  int expand = 0;
  bool whiten = false;
  bool dba = false;
};

int RunSearch(const SearchArgs& a) {
  auto engine = a.engine.Open(EngineFlags::Mode::kRead);
  if (!engine.ok()) return Fail("search", engine.status());
  auto q = a.query.Build();
  if (!q.ok()) return Fail("search", q.status());
  auto tier = ParseDuplicateTier(a.tier);
  if (!tier.ok()) return Fail("search", tier.status());
  if (*tier != DuplicateTier::kSimilar) {  // copies of the image, by pixels or perceptual hash
    auto copies = (*engine)->FindCopies(*q, *tier, a.radius, a.k);
    if (!copies.ok()) return Fail("search", copies.status());
    if (a.json) {
      nlohmann::json hits = nlohmann::json::array();
      for (const auto& m : *copies) {
        nlohmann::json j = api::ToJson(m.hit);
        j["tier"] = DuplicateTierName(m.tier);
        j["transform"] = m.transform;
        hits.push_back(j);
      }
      std::cout << nlohmann::json{{"tier", a.tier}, {"hits", hits}}.dump(2) << "\n";
      return 0;
    }
    std::printf("%zu %s cop%s\n", copies->size(), a.tier.c_str(), copies->size() == 1 ? "y" : "ies");
    for (const auto& m : *copies)
      std::printf("%-4d %3d bits  %-14s %s\n", m.hit.rank, int(m.hit.distance), m.transform.c_str(),
                  m.hit.path.c_str());
    return 0;
  }
  auto names = api::SearchModels(**engine, a.model, a.models, a.profile);
  if (!names.ok()) return Fail("search", names.status());
  const std::string label = api::ModelsLabel(*names);
  SearchOptions o;
  o.k = a.k;
  o.filter = a.filter;
  o.collapse_duplicates = !a.no_collapse;
  o.ef = a.ef;
  o.expand = a.expand;
  o.whiten = a.whiten;
  o.dba = a.dba;
  o.exclude_query = false;
  auto hits = api::SearchWith(**engine, *q, *names, o);
  if (!hits.ok()) return Fail("search", hits.status());
  if (a.json) {
    std::cout << api::SearchJson(label, *hits).dump(2) << "\n";
    return 0;
  }
  std::printf("%-4s %-10s %-20s %s   (model %s%s)\n", "rank", "distance", "id", "path", label.c_str(),
              names->size() > 1 ? ", fused: squared L2 of the concatenated unit vectors" : "");
  for (const auto& h : *hits) {
    std::printf("%-4d %-10.4f %-20lld %s", h.rank, h.distance, (long long)h.id, h.path.c_str());
    if (!h.other_paths.empty()) std::printf("  (+%zu other path%s)", h.other_paths.size(), h.other_paths.size() > 1 ? "s" : "");
    std::printf("\n");
  }
  return 0;
}

struct CompareArgs {
  EngineFlags engine;
  QueryFlags query;
  std::string models;
  int k = 10;
  std::string filter;
  bool fuse = false;
  bool json = false;
  std::string queries;  // a folder of query images: write a report
  std::string report = "compare-report.html";
};

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

int RunCompareSet(const CompareArgs& a, Engine& engine, const std::vector<std::string>& models) {
  WalkResult w = FindImages({a.queries});
  if (w.images.empty()) return Fail("compare", Status::InvalidArgument(a.queries + ": no images"));
  SearchOptions o;
  o.k = a.k;
  o.filter = a.filter;
  std::vector<QueryComparison> results;
  for (const auto& f : w.images) {
    SearchQuery q;
    q.image_file = f.path;
    auto c = engine.Compare(q, models, o, a.fuse);
    if (!c.ok()) {
      std::fprintf(stderr, "doppel compare: skipped %s\n", c.status().ToString().c_str());
      continue;
    }
    results.push_back({f.path, std::move(c).value()});
  }
  std::string json_path = a.report;
  if (json_path.size() > 5 && json_path.substr(json_path.size() - 5) == ".html") json_path.resize(json_path.size() - 5);
  json_path += ".json";
  Status st = WriteCompareReport(results, a.k, a.report, json_path);
  if (!st.ok()) return Fail("compare", st);
  double mean = 0;
  for (const auto& r : results) mean += r.comparison.overlap;
  std::printf("%zu queries, mean overlap@%d %.3f; wrote %s and %s\n", results.size(), a.k,
              results.empty() ? 0.0 : mean / results.size(), a.report.c_str(), json_path.c_str());
  return 0;
}

int RunCompare(const CompareArgs& a) {
  auto engine = a.engine.Open(EngineFlags::Mode::kRead);
  if (!engine.ok()) return Fail("compare", engine.status());
  if (!a.queries.empty()) {
    std::vector<std::string> models = SplitComma(a.models);
    if (models.empty())
      for (const auto& m : (*engine)->ListModels()) models.push_back(m.name);
    return RunCompareSet(a, **engine, models);
  }
  auto q = a.query.Build();
  if (!q.ok()) return Fail("compare", q.status());
  std::vector<std::string> models = SplitComma(a.models);
  if (models.empty())
    for (const auto& m : (*engine)->ListModels()) models.push_back(m.name);
  SearchOptions o;
  o.k = a.k;
  o.filter = a.filter;
  auto c = (*engine)->Compare(*q, models, o, a.fuse);
  if (!c.ok()) return Fail("compare", c.status());
  if (a.json) {
    std::cout << api::ToJson(*c).dump(2) << "\n";
    return 0;
  }
  PrintComparison(*c, !a.query.image.empty() ? a.query.image : !a.query.path.empty() ? a.query.path : std::to_string(a.query.id), a.k);
  return 0;
}

}  // namespace

void RegisterSearch(CLI::App& app, Action* action) {
  auto sa = std::make_shared<SearchArgs>();
  CLI::App* search = app.add_subcommand("search", "Find the images most similar to a query");
  sa->engine.Add(search);
  sa->query.Add(search);
  search->add_option("--model,-m", sa->model, "model (default: the data directory's default model)");
  search->add_option("--models", sa->models,
                     "comma-separated models searched as one (their normalised vectors concatenated)");
  search->add_option("--profile", sa->profile,
                     "fast (one model, the default) or quality (the built-in models fused: better rankings, one "
                     "embedding and search per model)");
  search->add_option("--tier", sa->tier,
                     "similar (the model, default), near-copy (rotated, mirrored, recompressed copies by perceptual "
                     "hash) or exact (the same pixels)");
  search->add_option("--radius", sa->radius, "near-copy: largest Hamming distance in bits (default " +
                                                 std::to_string(kNearCopyRadius) + ")");
  search->add_option("-k", sa->k, "number of results (default 10)");
  search->add_option("--filter", sa->filter, "filter over fields, e.g. \"width >= 640 AND format == 'jpeg'\"");
  search->add_flag("--no-collapse", sa->no_collapse, "one row per path when a picture is stored under several");
  search->add_option("--ef", sa->ef, "HNSW search beam for this query");
  search->add_option("--expand", sa->expand,
                     "query expansion: also search with the top N hits blended in (alpha-QE; a second search; see "
                     "BENCHMARKS.md for what it does to quality)");
  search->add_flag("--whiten", sa->whiten,
                   "re-rank the best 100 hits by PCA-whitened similarity learned from the collection (one model; "
                   "see BENCHMARKS.md for what it does to quality)");
  search->add_flag("--dba", sa->dba,
                   "re-rank the best 100 hits as if each were blended with its 3 nearest pictures (database-side "
                   "augmentation; one model; see BENCHMARKS.md for what it does to quality)");
  search->add_flag("--json", sa->json, "print JSON");
  search->callback([sa, action] { *action = [sa] { return RunSearch(*sa); }; });

  auto ca = std::make_shared<CompareArgs>();
  CLI::App* compare = app.add_subcommand("compare", "Search with several models side by side: overlap, ranks, scales");
  ca->engine.Add(compare);
  ca->query.Add(compare);
  compare->add_option("--models", ca->models, "comma-separated models (default: all registered)");
  compare->add_option("-k", ca->k, "number of results (default 10)");
  compare->add_option("--filter", ca->filter, "filter over fields");
  compare->add_flag("--fuse", ca->fuse, "also merge the lists by reciprocal rank fusion");
  compare->add_flag("--json", ca->json, "print JSON");
  compare->add_option("--queries", ca->queries, "a folder of query images: write an HTML report and a JSON file");
  compare->add_option("--report", ca->report, "report file for --queries (default compare-report.html)");
  compare->callback([ca, action] { *action = [ca] { return RunCompare(*ca); }; });
}

}  // namespace doppel::cli
