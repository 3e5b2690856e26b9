// bench_index: the engine's indexing throughput (issue 4) against pure inference of the same models in the same
// run, re-indexing an unchanged folder, and search latency by image.
//
//   build/bin/bench_index [--images N] [--out BENCHMARKS.md]
//
// Images: N "COCO-like" 640x480 JPEGs (quality 90) cut from Debian's opencv-doc sample photos at different offsets
// and scales. Models: the built-in pretrained ones (mobilenet_v2, inception_v3).
#include <vips/vips.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <sstream>
#include <thread>

#include "doppel/engine/builtin.h"
#include "doppel/engine/engine.h"
#include "photos.h"
#include "report.h"

namespace doppel::bench {
namespace {
namespace fs = std::filesystem;

int Main(int argc, char** argv) {
  int images = 1000;
  std::string out = "BENCHMARKS.md";
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--images" && i + 1 < argc) images = std::stoi(argv[++i]);
    else if (k == "--out" && i + 1 < argc) out = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_index [--images N] [--out FILE]\n");
      return 2;
    }
  }
  if (VIPS_INIT("bench_index")) return 1;
  fs::path tmp = fs::temp_directory_path() / "doppel-bench-index";
  fs::create_directories(tmp / "photos");
  auto photos = MakePhotos((tmp / "photos").string(), images);
  Section report;
  char buf[512];
  auto say = [&](const std::string& s) { report.Say(s); };
  say("## Indexing and search (issue 4)");
  say("");
  say("Command: `build/bin/bench_index --images " + std::to_string(images) + "`, " + Today() + ", " +
      MachineDescription() + ". " + std::to_string(images) +
      " 640x480 JPEGs (q90) cut from the opencv-doc photos; built-in models; engine defaults (2 inference "
      "threads with intra-op 1, batch 8, 1 decode thread, HNSW index, commits every 32 images).");
  say("");

  auto open = [&](const std::string& name) {
    fs::remove_all(tmp / name);
    EngineOptions o;
    o.data_dir = (tmp / name).string();
    return Engine::Open(o);
  };
  // Pure inference of each model in this run (2 callers, intra-op 1, batch 8: the engine's configuration).
  auto models_engine = open("models");
  if (!models_engine.ok()) {
    std::fprintf(stderr, "%s\n", models_engine.status().ToString().c_str());
    return 1;
  }
  std::map<std::string, double> pure;
  for (const auto& n : BuiltinModelNames()) {
    auto e = AddBuiltinModel(**models_engine, n);
    if (!e.ok()) {
      std::fprintf(stderr, "%s\n", e.status().ToString().c_str());
      return 1;
    }
    auto m = (*models_engine)->LoadModel(n);
    pure[n] = InferenceRate(**m, 8, 2, 8.0);
  }

  say("| run | images | seconds | img/s | pure inference img/s (same run) | ratio |");
  say("|---|---|---|---|---|---|");
  std::vector<std::vector<std::string>> runs = {{"mobilenet_v2"}, {"mobilenet_v2", "inception_v3"}};
  std::unique_ptr<Engine> both;
  for (const auto& set : runs) {
    auto engine = open("idx" + std::to_string(set.size()));
    for (const auto& n : set)
      if (auto added = AddBuiltinModel(**engine, n); !added.ok()) {
        std::fprintf(stderr, "%s\n", added.status().ToString().c_str());
        return 1;
      }
    Stopwatch sw;
    auto sum = (*engine)->Index({(tmp / "photos").string()}, IndexOptions{});
    double secs = sw.Seconds();
    if (!sum.ok()) {
      std::fprintf(stderr, "%s\n", sum.status().ToString().c_str());
      return 1;
    }
    double inv = 0;
    std::string label;
    for (const auto& n : set) {
      inv += 1.0 / pure[n];
      label += (label.empty() ? "" : " + ") + n;
    }
    double rate = sum->counts.indexed / secs;
    std::snprintf(buf, sizeof buf, "| index, %s | %lld | %.1f | %.1f | %.1f | %.0f%% |", label.c_str(),
                  (long long)sum->counts.indexed, secs, rate, 1.0 / inv, 100 * rate * inv);
    say(buf);
    if (set.size() == 2) both = std::move(engine).value();
  }

  // Re-index of an unchanged folder: the 1000 files, and 10x as many paths (hard links) after a first pass.
  Stopwatch sw1;
  auto again = both->Index({(tmp / "photos").string()}, IndexOptions{});
  double t1 = sw1.Seconds();
  std::snprintf(buf, sizeof buf, "| re-index unchanged, 2 models | %lld files | %.2f | | | |",
                (long long)again->counts.skipped, t1);
  say(buf);
  fs::path links = tmp / "links";
  fs::remove_all(links);
  {
    for (int c = 0; c < 10; ++c) {
      fs::create_directories(links / std::to_string(c));
      for (size_t i = 0; i < photos.size(); ++i) {
        std::error_code ec;
        fs::create_hard_link(photos[i], links / std::to_string(c) / ("p" + std::to_string(i) + ".jpg"), ec);
      }
    }
  }
  if (!both->Index({links.string()}, IndexOptions{}).ok()) return 1;  // first pass: known content, no embedding
  Stopwatch sw2;
  auto again10 = both->Index({links.string()}, IndexOptions{});
  double t2 = sw2.Seconds();
  std::snprintf(buf, sizeof buf, "| re-index unchanged, 2 models | %lld files | %.2f | %.0f files/s | | |",
                (long long)again10->counts.skipped, t2, again10->counts.skipped / t2);
  say(buf);

  // Search latency by image: decode + embed + HNSW search, one query at a time.
  say("");
  say("Search by image (decode + embed + search, top 10, one query at a time, 640x480 JPEG queries):");
  say("");
  say("| model | collection size | p50 ms | p99 ms |");
  say("|---|---|---|---|");
  for (const auto& n : BuiltinModelNames()) {
    std::vector<double> ms;
    SearchOptions so;
    for (int q = 0; q < 100; ++q) {
      SearchQuery query;
      query.image_file = photos[(q * 7919) % photos.size()];
      Stopwatch s;
      auto r = both->Search(query, n, so);
      ms.push_back(s.Seconds() * 1000);
      if (!r.ok()) {
        std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
        return 1;
      }
    }
    report.Sayf("| %s | %zu | %.1f | %.1f |", n.c_str(), photos.size(), Quantile(ms, 0.5), Quantile(ms, 0.99));
  }
  return report.Write(out, "index") ? 0 : 1;
}

}  // namespace
}  // namespace doppel::bench

int main(int argc, char** argv) { return doppel::bench::Main(argc, argv); }
