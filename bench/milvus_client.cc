// bench_milvus_client: what the Milvus backend costs on the client side (issue 13), measured against FakeMilvus,
// the IN-PROCESS STAND-IN for a Milvus server (tests/milvus/fake_milvus.h: brute-force search, no Milvus), so the
// numbers are the client's JSON encoding and decoding plus a loopback HTTP round trip plus the fake's own work --
// an upper bound of the client's overhead, not Milvus's speed. The embedded store doing the same operations in the
// same run is the peer. Also: requests per indexed picture when the engine indexes into Milvus.
//
//   build/bin/bench_milvus_client [--rows N] [--images M] [--out BENCHMARKS.md]
#include <vips/vips.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "doppel/engine/engine.h"
#include "doppel/milvus/milvus_store.h"
#include "doppel/modelgen/modelgen.h"
#include "milvus/fake_milvus.h"
#include "photos.h"
#include "report.h"

namespace doppel::bench {
namespace {
namespace fs = std::filesystem;

constexpr int kDim = 384;

CollectionSchema Schema() {
  CollectionSchema s;
  s.name = "images";
  s.dim = kDim;
  s.index = IndexSpec::Parse("FLAT").value();
  s.fields = {{"path", FieldType::kString}, {"size", FieldType::kInt64}, {"mtime", FieldType::kInt64},
              {"width", FieldType::kInt64}, {"height", FieldType::kInt64}, {"hash", FieldType::kString},
              {"format", FieldType::kString}};
  return s;
}

std::vector<Entity> Entities(int64_t first, int n, std::mt19937* rng) {
  std::normal_distribution<float> g;
  std::vector<Entity> out;
  for (int64_t i = first; i < first + n; ++i) {
    Entity e;
    e.id = i;
    e.vector.resize(kDim);
    double norm = 0;
    for (float& x : e.vector) {
      x = g(*rng);
      norm += x * x;
    }
    for (float& x : e.vector) x = static_cast<float>(x / std::sqrt(norm));
    e.fields = {{"path", "/photos/2024/holiday/IMG_" + std::to_string(i) + ".jpg"}, {"size", int64_t(3000000)},
                {"mtime", int64_t(1700000000)}, {"width", int64_t(4032)}, {"height", int64_t(3024)},
                {"hash", std::string(64, 'a')}, {"format", std::string("jpeg")}};
    out.push_back(std::move(e));
  }
  return out;
}

struct Timing {
  double p50 = 0, mean = 0;
};

template <typename Fn>
Timing Time(int reps, Fn fn) {
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    Stopwatch sw;
    fn(i);
    ms.push_back(sw.Seconds() * 1000);
  }
  Timing t;
  t.p50 = Quantile(ms, 0.5);
  for (double x : ms) t.mean += x / reps;
  return t;
}

int Main(int argc, char** argv) {
  int rows = 10000, images = 200;
  std::string out = "BENCHMARKS.md";
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--rows" && i + 1 < argc) rows = std::stoi(argv[++i]);
    else if (k == "--images" && i + 1 < argc) images = std::stoi(argv[++i]);
    else if (k == "--out" && i + 1 < argc) out = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_milvus_client [--rows N] [--images M] [--out FILE]\n");
      return 2;
    }
  }
  if (VIPS_INIT("bench_milvus_client")) return 1;
  fs::path tmp = fs::temp_directory_path() / "doppel-bench-milvus";
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  testing::FakeMilvus fake;
  MilvusOptions mo;
  mo.endpoint = fake.uri();
  auto milvus = OpenMilvusStore(mo);
  auto local = OpenLocalStore((tmp / "store").string());
  if (!milvus.ok() || !local.ok()) {
    std::fprintf(stderr, "cannot open the stores\n");
    return 1;
  }
  struct Backend {
    const char* name;
    VectorStore* store;
    std::shared_ptr<Collection> coll;
  };
  std::vector<Backend> backends = {{"Milvus backend -> in-process fake", milvus->get(), nullptr},
                                   {"embedded store", local->get(), nullptr}};
  for (auto& b : backends) {
    if (!b.store->CreateCollection(Schema()).ok()) return 1;
    b.coll = *b.store->GetCollection("images");
  }

  Section report;
  report.Say("## Milvus backend: client overhead against an in-process fake (issue 13)");
  report.Say("");
  report.Say("Command: `build/bin/bench_milvus_client --rows " + std::to_string(rows) + " --images " +
             std::to_string(images) + "`, " + Today() + ", " + MachineDescription() +
             ". **The Milvus rows run against FakeMilvus, the in-process stand-in for a Milvus server used by the "
             "tests (brute-force search; not Milvus)**: they measure the client's JSON encoding and decoding, a "
             "loopback HTTP round trip and the fake's own work, so they bound the client's overhead from above and "
             "say nothing of Milvus's own speed. The embedded store does the same operations in the same run. "
             "384-d float vectors with the catalog's 7 scalar fields; FLAT index; median of the repetitions.");
  report.Say("");
  report.Say("| operation | Milvus client + loopback HTTP (canned answers), ms | same with the fake's work, ms | "
             "embedded store, ms |");
  report.Say("|---|---|---|---|");
  std::mt19937 rng(1);
  // Fill both with the same rows.
  for (int64_t at = 1; at <= rows; at += 1000) {
    auto batch = Entities(at, 1000, &rng);
    for (auto& b : backends)
      if (!b.coll->Upsert(batch).ok()) return 1;
  }
  // `canned`: the client alone (encode, loopback round trip, decode), the fake answering a prepared body without
  // doing the work; then with the fake's work; then the embedded store.
  auto row = [&](const std::string& what, const Timing* canned, const Timing& m, const Timing& l) {
    std::string c = canned ? std::to_string(canned->p50).substr(0, 5) : "-";
    report.Sayf("| %s | %s | %.2f | %.3f |", what.c_str(), c.c_str(), m.p50, l.p50);
  };
  Collection* client = backends[0].coll.get();
  for (int batch : {32, 256}) {
    std::vector<Timing> t;
    for (auto& b : backends) {
      std::mt19937 r(7);
      t.push_back(Time(20, [&](int i) { (void)b.coll->Upsert(Entities(rows + 1 + i * batch, batch, &r)); }));
    }
    nlohmann::json ids = nlohmann::json::array();
    for (int i = 1; i <= batch; ++i) ids.push_back(i);
    const std::string answer =
        nlohmann::json{{"code", 0}, {"data", {{"upsertCount", batch}, {"upsertIds", ids}}}}.dump();
    std::mt19937 r(9);
    std::vector<std::vector<Entity>> prepared;
    for (int i = 0; i < 20; ++i) prepared.push_back(Entities(1, batch, &r));
    Timing canned = Time(20, [&](int i) {
      fake.FailNext("entities/upsert", 1, 200, answer);
      (void)client->Upsert(prepared[size_t(i)]);
    });
    row("upsert a batch of " + std::to_string(batch), &canned, t[0], t[1]);
  }
  std::vector<std::vector<float>> queries;
  for (int i = 0; i < 50; ++i) queries.push_back(Entities(1, 1, &rng)[0].vector);
  // A search answer as Milvus gives it: 10 rows with the 7 output fields.
  nlohmann::json hits = nlohmann::json::array();
  for (int i = 0; i < 10; ++i)
    hits.push_back({{"id", i + 1}, {"distance", 0.5 + i * 0.01}, {"path", "/photos/2024/holiday/IMG_1.jpg"},
                    {"size", 3000000}, {"mtime", 1700000000}, {"width", 4032}, {"height", 3024},
                    {"hash", std::string(64, 'a')}, {"format", "jpeg"}});
  const std::string search_answer = nlohmann::json{{"code", 0}, {"data", hits}, {"topks", {10}}}.dump();
  for (const char* filter : {"", "width >= 4000 AND path LIKE '/photos/2024/%'"}) {
    Timing canned = Time(50, [&](int i) {
      fake.FailNext("entities/search", 1, 200, search_answer);
      SearchRequest r;
      r.queries = queries[size_t(i)];
      r.k = 10;
      r.filter = filter;
      r.output_fields = {"path", "size", "mtime", "width", "height", "hash", "format"};
      (void)client->Search(r);
    });
    std::vector<Timing> t;
    for (auto& b : backends)
      t.push_back(Time(50, [&](int i) {
        SearchRequest r;
        r.queries = queries[size_t(i)];
        r.k = 10;
        r.filter = filter;
        r.output_fields = {"path", "size", "mtime", "width", "height", "hash", "format"};
        (void)b.coll->Search(r);
      }));
    row(std::string("search k=10 over ") + std::to_string(rows) + " rows" + (*filter ? ", filtered" : ""), &canned,
        t[0], t[1]);
  }
  {
    std::vector<Timing> t;
    for (auto& b : backends) t.push_back(Time(50, [&](int) { (void)b.coll->Count(""); }));
    const std::string count_answer = R"J({"code": 0, "data": [{"count(*)": 10000}]})J";
    Timing canned = Time(50, [&](int) {
      fake.FailNext("entities/query", 1, 200, count_answer);
      (void)client->Count("");
    });
    row("count", &canned, t[0], t[1]);
  }
  {
    std::vector<Timing> t;
    for (auto& b : backends) {
      t.push_back(Time(3, [&](int) {
        QueryRequest q;
        q.output_fields = {"path"};
        (void)b.coll->Query(q);
      }));
    }
    row("full scan of " + std::to_string(rows) + " rows (paged by id)", nullptr, t[0], t[1]);
  }

  // Requests per indexed picture: the engine indexing M photos with one model into the fake.
  fs::path model = tmp / "random.onnx";
  modelgen::ModelGenOptions g;
  g.width_multiplier = 0.1875;
  g.input_size = 32;
  if (!modelgen::WriteModel(g, model.string()).ok()) return 1;
  fs::path all_photos = fs::temp_directory_path() / "doppel-bench-index" / "photos";
  fs::create_directories(all_photos);
  auto photos = MakePhotos(all_photos.string(), images);
  fs::path photos_dir = tmp / "photos";  // exactly these M
  fs::create_directories(photos_dir);
  for (const auto& p : photos) {
    std::error_code ec;
    fs::create_hard_link(p, photos_dir / fs::path(p).filename(), ec);
  }
  EngineOptions eo;
  eo.data_dir = (tmp / "data").string();
  eo.store = std::shared_ptr<VectorStore>(std::move(*milvus));
  auto engine = Engine::Open(eo);
  if (!engine.ok()) return 1;
  auto spec = SpecFromJson(R"({"preset": "keras-caffe", "size": 32})");
  if (!spec.ok() || !(*engine)->AddModel("random384", model.string(), *spec).ok()) return 1;
  const int64_t before = fake.Requests(), upserts = fake.Requests("entities/upsert"),
                queries_before = fake.Requests("entities/query");
  auto sum = (*engine)->Index({photos_dir.string()}, IndexOptions());
  if (!sum.ok()) return 1;
  const double n = double(std::max<int64_t>(1, sum->counts.indexed));
  report.Say("");
  report.Sayf("Indexing %lld photos with one model into the fake: %.3f requests per picture in all (%.3f upserts, "
              "%.3f queries), i.e. one upsert per commit batch (%d images) and model; a re-run of the unchanged "
              "folder makes no write.",
              (long long)sum->counts.indexed, (fake.Requests() - before) / n,
              (fake.Requests("entities/upsert") - upserts) / n, (fake.Requests("entities/query") - queries_before) / n,
              IndexOptions().commit_every);
  return report.Write(out, "milvus_client") ? 0 : 1;
}

}  // namespace
}  // namespace doppel::bench

int main(int argc, char** argv) { return doppel::bench::Main(argc, argv); }
