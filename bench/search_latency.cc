// bench_search_latency: search latency of the default model idle and while an index job runs in the same engine
// (issue 11: searches never wait on indexing; goal p99 while indexing within 3x of idle).
//
//   build/bin/bench_search_latency [--images N] [--queries Q] [--out BENCHMARKS.md]
//
// The collection holds N/2 photos; the job indexes N/2 more (640x480 JPEGs from bench/photos.h) with the engine's
// defaults. Two kinds of query, one at a time from one client thread: by id (the stored vector, HNSW top 10: the
// store's and catalog's locks are all it can wait on) and by image (decode + embed + search: it also shares the
// CPU with the job's decoding and inference). Then, idle, the quality profile (both built-ins fused:
// Engine::SearchFused) against the default model alone.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

#include "doppel/engine/builtin.h"
#include "doppel/engine/engine.h"
#include "photos.h"
#include "report.h"

namespace doppel::bench {
namespace {
namespace fs = std::filesystem;

struct Latencies {
  std::vector<double> ms;
  double P(double q) { return Quantile(ms, q); }
};

int Main(int argc, char** argv) {
  int images = 2000, queries = 300;
  std::string out = "BENCHMARKS.md";
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--images" && i + 1 < argc) images = std::stoi(argv[++i]);
    else if (k == "--queries" && i + 1 < argc) queries = std::stoi(argv[++i]);
    else if (k == "--out" && i + 1 < argc) out = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_search_latency [--images N] [--queries Q] [--out FILE]\n");
      return 2;
    }
  }
  if (VIPS_INIT("bench_search_latency")) return 1;
  fs::path tmp = fs::temp_directory_path() / "doppel-bench-latency";
  fs::create_directories(tmp / "a");
  fs::create_directories(tmp / "b");
  // Both halves from one photo set, linked into two folders.
  fs::path photos_dir = fs::temp_directory_path() / "doppel-bench-index" / "photos";
  fs::create_directories(photos_dir);
  auto photos = MakePhotos(photos_dir.string(), images);
  std::vector<std::string> first, second;
  for (size_t i = 0; i < photos.size(); ++i) {
    fs::path dst = tmp / (i % 2 ? "b" : "a") / fs::path(photos[i]).filename();
    std::error_code ec;
    if (!fs::exists(dst)) fs::create_hard_link(photos[i], dst, ec);
    (i % 2 ? second : first).push_back(dst.string());
  }
  fs::remove_all(tmp / "data");
  EngineOptions o;
  o.data_dir = (tmp / "data").string();
  auto engine = Engine::Open(o);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().ToString().c_str());
    return 1;
  }
  Engine& e = **engine;
  auto m = AddBuiltinModel(e, kBuiltinDefaultModel);
  if (!m.ok()) {
    std::fprintf(stderr, "%s\n", m.status().ToString().c_str());
    return 1;
  }
  auto base = e.Index({(tmp / "a").string()}, IndexOptions());
  if (!base.ok()) {
    std::fprintf(stderr, "%s\n", base.status().ToString().c_str());
    return 1;
  }
  std::vector<int64_t> ids;
  for (const auto& p : first) {
    SearchQuery q;
    q.indexed_path = p;
    SearchOptions so;
    so.k = 1;
    auto h = e.Search(q, "", so);
    if (h.ok() && !h->empty()) ids.push_back((*h)[0].id);
  }

  // One client issuing queries back to back until `n` are done or `until` says stop.
  // `models`: empty = the default model; two or more = a fused search (the quality profile).
  auto run = [&](bool by_image, int n, const std::function<bool()>& until, Latencies* lat,
                 const std::vector<std::string>& models = {}) {
    std::mt19937 rng(by_image ? 7 : 3);
    SearchOptions so;
    so.k = 10;
    for (int i = 0; i < n && !until(); ++i) {
      SearchQuery q;
      if (by_image) q.image_file = first[rng() % first.size()];
      else q.id = ids[rng() % ids.size()];
      Stopwatch sw;
      auto h = models.empty() ? e.Search(q, "", so) : e.SearchFused(q, models, so);
      lat->ms.push_back(sw.Seconds() * 1000);
      if (!h.ok() || h->size() != 10u) {
        std::fprintf(stderr, "search failed: %s\n", h.ok() ? "short" : h.status().ToString().c_str());
        std::exit(1);
      }
    }
  };
  auto never = [] { return false; };
  Latencies idle_id, idle_img, busy_id, busy_img;
  run(false, queries * 10, never, &idle_id);
  run(true, queries, never, &idle_img);

  // The same queries while a job indexes the second half; alternate kinds so both see the whole job.
  IndexOptions io;
  auto job = e.StartIndex({(tmp / "b").string()}, io);
  if (!job.ok()) {
    std::fprintf(stderr, "%s\n", job.status().ToString().c_str());
    return 1;
  }
  Stopwatch job_time;
  auto done = [&] { return (*job)->Done(); };
  while (!done()) {
    run(false, 20, done, &busy_id);
    run(true, 2, done, &busy_img);
  }
  auto sum = (*job)->Wait();
  double job_secs = job_time.Seconds();
  if (!sum.ok()) {
    std::fprintf(stderr, "%s\n", sum.status().ToString().c_str());
    return 1;
  }

  // The quality profile (issue 16): both built-ins fused, idle, against the default alone measured again now.
  auto second_model = AddBuiltinModel(e, "inception_v3");
  if (!second_model.ok()) {
    std::fprintf(stderr, "%s\n", second_model.status().ToString().c_str());
    return 1;
  }
  if (auto both = e.Index({(tmp / "a").string(), (tmp / "b").string()}, IndexOptions()); !both.ok()) {
    std::fprintf(stderr, "%s\n", both.status().ToString().c_str());
    return 1;
  }
  const std::vector<std::string> fused = {kBuiltinDefaultModel, "inception_v3"};
  Latencies one_id, one_img, fused_id, fused_img;
  run(false, queries * 3, never, &one_id);
  run(false, queries * 3, never, &fused_id, fused);
  run(true, queries / 3, never, &one_img);
  run(true, queries / 3, never, &fused_img, fused);

  Section report;
  auto say = [&](const std::string& s) { report.Say(s); };
  say("## Search latency while indexing (issue 11)");
  say("");
  say("Command: `build/bin/bench_search_latency --images " + std::to_string(images) + " --queries " +
      std::to_string(queries) + "`, " + Today() + ", " + MachineDescription() + ". Model " +
      kBuiltinDefaultModel + " (HNSW); " + std::to_string(first.size()) + " photos indexed, then a job indexes " +
      std::to_string(second.size()) + " more (engine defaults: 2 inference threads, commits every 32) while one "
      "client searches back to back (top 10). Idle and busy numbers come from the same run.");
  say("");
  say("| query | idle p50 ms | idle p99 ms | while indexing p50 ms | while indexing p99 ms | p99 ratio | queries while indexing |");
  say("|---|---|---|---|---|---|---|");
  struct Row {
    const char* name;
    Latencies* idle;
    Latencies* busy;
  } rows[] = {{"by id (vector search)", &idle_id, &busy_id}, {"by image (decode + embed + search)", &idle_img, &busy_img}};
  for (auto& r : rows) {
    double ip99 = r.idle->P(0.99), bp99 = r.busy->P(0.99);
    report.Sayf("| %s | %.2f | %.2f | %.2f | %.2f | %.1fx | %zu |", r.name, r.idle->P(0.5), ip99, r.busy->P(0.5), bp99,
                ip99 > 0 ? bp99 / ip99 : 0.0, r.busy->ms.size());
  }
  say("");
  report.Sayf("The job indexed %lld photos in %.1f s (%.1f img/s) while the client searched.",
              (long long)sum->counts.indexed, job_secs, sum->counts.indexed / job_secs);
  say("");
  report.Sayf("The quality profile (`doppel search --profile quality`: %s and inception_v3 fused, issue 16) on all %zu "
              "photos, idle, against %s alone measured just before it:",
              kBuiltinDefaultModel, photos.size(), kBuiltinDefaultModel);
  say("");
  say("| query | default p50 ms | default p99 ms | quality p50 ms | quality p99 ms | p50 ratio |");
  say("|---|---|---|---|---|---|");
  struct Pair {
    const char* name;
    Latencies* one;
    Latencies* fused;
  } pairs[] = {{"by id", &one_id, &fused_id}, {"by image", &one_img, &fused_img}};
  for (auto& r : pairs)
    report.Sayf("| %s | %.2f | %.2f | %.2f | %.2f | %.1fx |", r.name, r.one->P(0.5), r.one->P(0.99), r.fused->P(0.5),
                r.fused->P(0.99), r.one->P(0.5) > 0 ? r.fused->P(0.5) / r.one->P(0.5) : 0.0);
  return report.Write(out, "search_latency") ? 0 : 1;
}

}  // namespace
}  // namespace doppel::bench

int main(int argc, char** argv) { return doppel::bench::Main(argc, argv); }
