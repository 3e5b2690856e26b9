// bench_serve_scale: doppel serve on a large collection (issue 12): search-by-id QPS and p50/p99 at 1, 8 and 32
// clients over loopback on N pictures (100k by default), against the in-process engine in the same run, and the
// latency while an index job adds more pictures through the same server.
//
//   build/bin/bench_serve_scale [--pictures N] [--job M] [--seconds S] [--out BENCHMARKS.md]
//
// The pictures are 64x64 JPEG tiles cut from Debian's opencv-doc sample photos (written once, reused), embedded by
// a small ResNet50-shaped model with RANDOM weights (width 0.1875, 32x32 input, 384-d like the default model):
// a search by id never runs the model, so what it measures is the store (HNSW, 384-d), the catalog and the HTTP
// layer at this size, while indexing 100k pictures stays within minutes on 2 cores. The data directory is kept
// between runs (tmp/doppel-bench-serve-scale) and reused when it already holds N pictures.
#include <httplib.h>
#include <vips/vips.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "doppel/engine/engine.h"
#include "doppel/modelgen/modelgen.h"
#include "doppel/server/server.h"
#include "doppel/util/hash.h"
#include "load.h"
#include "tiles.h"
#include "report.h"

namespace doppel::bench {
namespace {
namespace fs = std::filesystem;

Result<int64_t> IdOf(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ContentId(Sha256Hex(ss.str()));
}

int Main(int argc, char** argv) {
  int pictures = 100000, job = 5000;
  double seconds = 5;
  std::string out = "BENCHMARKS.md";
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--pictures" && i + 1 < argc) pictures = std::stoi(argv[++i]);
    else if (k == "--job" && i + 1 < argc) job = std::stoi(argv[++i]);
    else if (k == "--seconds" && i + 1 < argc) seconds = std::stod(argv[++i]);
    else if (k == "--out" && i + 1 < argc) out = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_serve_scale [--pictures N] [--job M] [--seconds S] [--out FILE]\n");
      return 2;
    }
  }
  if (VIPS_INIT("bench_serve_scale")) return 1;
  fs::path tmp = fs::temp_directory_path() / "doppel-bench-serve-scale";
  Stopwatch tiles_sw;
  auto base = MakeTiles((tmp / "tiles").string(), 0, pictures);
  auto more = MakeTiles((tmp / "more").string(), pictures, job);
  std::printf("tiles: %d + %d in %.1f s\n", pictures, job, tiles_sw.Seconds());

  // Data directory: reused when it holds exactly the N base pictures (the job's pictures are removed after a run).
  fs::path data = tmp / "data";
  EngineOptions eo;
  eo.data_dir = data.string();
  auto engine = Engine::Open(eo);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().ToString().c_str());
    return 1;
  }
  Engine& e = **engine;
  if (Status st = AddTileModel(e, tmp); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  auto count = [&]() -> int64_t {
    auto st = e.GetStatus();
    return st.ok() && !st->models.empty() ? st->models[0].count : -1;
  };
  double index_seconds = 0, index_rate = 0;
  if (count() != pictures) {
    Stopwatch sw;
    auto sum = e.Index({(tmp / "tiles").string()}, IndexOptions());
    if (!sum.ok()) {
      std::fprintf(stderr, "%s\n", sum.status().ToString().c_str());
      return 1;
    }
    index_seconds = sw.Seconds();
    index_rate = sum->images_per_second;
    std::printf("indexed %lld pictures in %.1f s (%.0f img/s)\n", (long long)sum->counts.indexed, index_seconds,
                index_rate);
  }
  const int64_t n = count();
  std::vector<int64_t> ids;
  for (size_t i = 0; i < base.size() && ids.size() < 2000; i += base.size() / 2000 + 1) {
    auto id = IdOf(base[i]);
    if (id.ok()) ids.push_back(*id);
  }

  ServerOptions so;
  so.port = 0;
  so.allow_writes = true;
  so.token = "bench-token-0123456789";
  so.roots["more"] = (tmp / "more").string();
  auto server = HttpServer::Create(&e, so);
  if (!server.ok()) return 1;
  std::thread serving([&] { (void)(*server)->Run(); });
  const int port = (*server)->port();
  auto by_id = [&](std::vector<std::unique_ptr<httplib::Client>>& cs) {
    return [&](int c, int i) {
      std::string body = "{\"id\": " + std::to_string(ids[(c * 7919 + i * 13) % ids.size()]) + "}";
      httplib::Result r = cs[c]->Post("/api/v1/search", body, "application/json");
      return r ? r->status : -1;
    };
  };
  auto clients_of = [&](int k) {
    std::vector<std::unique_ptr<httplib::Client>> cs;
    for (int c = 0; c < k; ++c) {
      cs.push_back(std::make_unique<httplib::Client>("127.0.0.1", port));
      cs.back()->set_read_timeout(60, 0);
    }
    return cs;
  };

  Section report;
  report.Say("## HTTP server on a large collection (issue 12)");
  report.Say("");
  report.Say("Command: `build/bin/bench_serve_scale --pictures " + std::to_string(pictures) + " --job " +
             std::to_string(job) + " --seconds " + std::to_string(int(seconds)) + "`, " + Today() + ", " +
             MachineDescription() + ". " + std::to_string(n) +
             " pictures (distinct 64x64 JPEG tiles of the opencv-doc photos), one 384-d collection (HNSW M=16, ef=64) filled "
             "by a RANDOM-weights ResNet50-shaped model (a search by id never runs the model: this measures the "
             "store, the catalog and the HTTP layer at this size). Server defaults; clients on loopback in the same "
             "process, each sending its next request when the last was answered; top 10. In-process = "
             "Engine::Search from the same number of threads, same run." +
             (index_seconds > 0 ? " Building the collection: " + std::to_string(int(index_seconds)) + " s (" +
                                      std::to_string(int(index_rate)) + " img/s)."
                                : ""));
  report.Say("");
  report.Say("| search by id | clients | HTTP req/s | p50 ms | p99 ms | errors | in-process req/s | HTTP / in-process |");
  report.Say("|---|---|---|---|---|---|---|---|");
  Load idle8;
  for (int clients : {1, 8, 32}) {
    auto cs = clients_of(clients);
    Load http = RunLoad(clients, seconds, by_id(cs));
    if (clients == 8) idle8 = http;
    Load direct = RunLoad(clients, seconds, [&](int c, int i) {
      SearchQuery q;
      q.id = ids[(c * 7919 + i * 13) % ids.size()];
      return e.Search(q, "", SearchOptions()).ok() ? 200 : 500;
    });
    report.Sayf("| idle | %d | %.1f | %.2f | %.2f | %lld | %.1f | %.2f |", clients, http.qps, http.p50, http.p99,
                (long long)http.errors, direct.qps, direct.qps > 0 ? http.qps / direct.qps : 0.0);
  }
  // The same 8 clients while an index job (started through the API, as the page does) adds M pictures.
  {
    httplib::Client admin("127.0.0.1", port);
    auto started = admin.Post("/api/v1/jobs", httplib::Headers{{"Authorization", "Bearer " + so.token}},
                              "{\"root\": \"more\"}", "application/json");
    if (!started || started->status != 202) {
      std::fprintf(stderr, "cannot start the index job\n");
      return 1;
    }
    Stopwatch sw;
    auto cs = clients_of(8);
    Load during = RunLoad(8, [&] { return e.RunningIndexJob() == nullptr; }, by_id(cs));
    double job_seconds = sw.Seconds();
    report.Sayf("| while indexing %d more | 8 | %.1f | %.2f | %.2f | %lld | | p99 %.2fx idle |", job, during.qps,
                during.p50, during.p99, (long long)during.errors, idle8.p99 > 0 ? during.p99 / idle8.p99 : 0.0);
    report.Say("");
    report.Sayf("The index job took %.1f s (%.0f img/s) with the 8 clients searching.", job_seconds,
                job / std::max(job_seconds, 1e-9));
  }
  (*server)->Stop();
  serving.join();
  // Leave the collection at N pictures for the next run.
  std::vector<int64_t> added;
  for (const auto& p : more) {
    auto id = IdOf(p);
    if (id.ok()) added.push_back(*id);
  }
  (void)e.RemoveIds(added);
  return report.Write(out, "serve_scale") ? 0 : 1;
}

}  // namespace
}  // namespace doppel::bench

int main(int argc, char** argv) { return doppel::bench::Main(argc, argv); }
