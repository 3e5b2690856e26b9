// bench_serve_load: the HTTP server under a bounded load on loopback (issue 12): search by id and by upload at 1, 8
// and 32 concurrent clients (each sends its next request when the last one was answered), against the in-process
// engine doing the same searches in the same run.
//
//   build/bin/bench_serve_load [--images N] [--seconds S] [--out BENCHMARKS.md]
//
// The collection: N 640x480 photos (bench/photos.h) indexed with the built-in default model. The server runs in
// this process (doppel_server), the clients are cpp-httplib clients on their own threads.
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <filesystem>
#include <mutex>
#include <thread>

#include "doppel/engine/builtin.h"
#include "doppel/engine/engine.h"
#include "doppel/server/server.h"
#include "photos.h"
#include "load.h"
#include "report.h"

namespace doppel::bench {
namespace {
namespace fs = std::filesystem;

int Main(int argc, char** argv) {
  int images = 1000;
  double seconds = 5;
  std::string out = "BENCHMARKS.md";
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--images" && i + 1 < argc) images = std::stoi(argv[++i]);
    else if (k == "--seconds" && i + 1 < argc) seconds = std::stod(argv[++i]);
    else if (k == "--out" && i + 1 < argc) out = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_serve_load [--images N] [--seconds S] [--out FILE]\n");
      return 2;
    }
  }
  if (VIPS_INIT("bench_serve_load")) return 1;
  fs::path photos_dir = fs::temp_directory_path() / "doppel-bench-index" / "photos";
  fs::create_directories(photos_dir);
  auto photos = MakePhotos(photos_dir.string(), images);
  fs::path data = fs::temp_directory_path() / "doppel-bench-serve";
  fs::remove_all(data);
  EngineOptions eo;
  eo.data_dir = data.string();
  auto engine = Engine::Open(eo);
  if (!engine.ok() || !AddBuiltinModel(**engine, kBuiltinDefaultModel).ok()) return 1;
  auto sum = (*engine)->Index(photos, IndexOptions());
  if (!sum.ok()) return 1;
  std::vector<int64_t> ids;
  for (size_t i = 0; i < photos.size() && ids.size() < 200; i += 3) {
    SearchQuery q;
    q.indexed_path = photos[i];
    SearchOptions so;
    so.k = 1;
    auto h = (*engine)->Search(q, "", so);
    if (h.ok() && !h->empty()) ids.push_back((*h)[0].id);
  }
  std::vector<std::string> uploads;
  for (size_t i = 0; i < 16 && i < photos.size(); ++i) {
    std::ifstream f(photos[i * 7 % photos.size()], std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    uploads.push_back(ss.str());
  }
  ServerOptions so;
  so.port = 0;
  auto server = HttpServer::Create(engine->get(), so);
  if (!server.ok()) return 1;
  std::thread serving([&] { (void)(*server)->Run(); });
  const int port = (*server)->port();

  Section report;
  report.Say("## HTTP server under load (issue 12)");
  report.Say("");
  report.Say("Command: `build/bin/bench_serve_load --images " + std::to_string(images) + " --seconds " +
             std::to_string(int(seconds)) + "`, " + Today() + ", " + MachineDescription() + ". " +
             std::to_string(sum->counts.indexed) + " pictures, model " + kBuiltinDefaultModel +
             " (HNSW), server defaults (workers 2 x cores, embedding slots = cores), clients on loopback in the same "
             "process, each sending its next request when the last was answered; top 10. The in-process rows call "
             "Engine::Search directly from the same number of threads, in the same run.");
  report.Say("");
  report.Say("| query | clients | HTTP req/s | p50 ms | p99 ms | 503 | errors | in-process req/s | HTTP / in-process |");
  report.Say("|---|---|---|---|---|---|---|---|---|");
  for (bool by_upload : {false, true}) {
    for (int clients : {1, 8, 32}) {
      std::vector<std::unique_ptr<httplib::Client>> cs;
      for (int c = 0; c < clients; ++c) {
        cs.push_back(std::make_unique<httplib::Client>("127.0.0.1", port));
        cs.back()->set_read_timeout(60, 0);
      }
      Load http = RunLoad(clients, seconds, [&](int c, int i) {
        std::string body = by_upload ? uploads[(c * 31 + i) % uploads.size()]
                                     : "{\"id\": " + std::to_string(ids[(c * 131 + i) % ids.size()]) + "}";
        httplib::Result r = cs[c]->Post("/api/v1/search", body, by_upload ? "image/jpeg" : "application/json");
        return r ? r->status : -1;
      });
      Load direct = RunLoad(clients, seconds, [&](int c, int i) {
        SearchQuery q;
        if (by_upload) {
          q.upload = uploads[(c * 31 + i) % uploads.size()];
          q.upload_name = "upload";
        } else {
          q.id = ids[(c * 131 + i) % ids.size()];
        }
        return (*engine)->Search(q, "", SearchOptions()).ok() ? 200 : 500;
      });
      report.Sayf("| %s | %d | %.1f | %.2f | %.2f | %lld | %lld | %.1f | %.2f |", by_upload ? "by upload" : "by id",
                  clients, http.qps, http.p50, http.p99, (long long)http.busy, (long long)http.errors, direct.qps,
                  direct.qps > 0 ? http.qps / direct.qps : 0.0);
    }
  }
  (*server)->Stop();
  serving.join();
  return report.Write(out, "serve_load") ? 0 : 1;
}

}  // namespace
}  // namespace doppel::bench

int main(int argc, char** argv) { return doppel::bench::Main(argc, argv); }
