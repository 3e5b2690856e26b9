// bench_store_search: the embedded vector store against raw FAISS and raw hnswlib on the same data and parameters.
//   - insert throughput (durable batches into SQLite + index build) vs building the raw indexes
//   - HNSW search QPS and recall@10 at several ef, doppel vs raw hnswlib (single thread, one query per call)
//   - IVF_FLAT search QPS and recall@10 at several nprobe, doppel vs raw FAISS IndexIVFFlat
//   - exact search: single query (SIMD scan) vs raw FAISS IndexFlat and vs the memory-bandwidth bound of a full
//     scan; a batch of queries (BLAS) vs raw FAISS
//   - open/recovery time and memory per vector
// Data: clustered, ReLU'd, L2-normalised vectors (like image embeddings), metric COSINE (= IP after normalising).
// Usage: bench_store_search [--n 100000] [--dim 512] [--nq 1000] [--dir DIR] [--no-ivf] [--faiss-hnsw]
//        [--report BENCHMARKS.md]
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <dlfcn.h>
#include <omp.h>
#include <sys/resource.h>

#include "raw_hnswlib.h"

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "doppel/store/store.h"
#include "report.h"

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<float> Clustered(size_t n, size_t dim, size_t clusters, uint32_t seed) {
  const size_t latent = 12;
  std::mt19937 crng(1234);
  std::normal_distribution<float> g;
  std::vector<float> centres(clusters * dim), basis(clusters * latent * dim);
  for (auto& x : centres) x = g(crng);
  for (auto& x : basis) x = 0.5f * g(crng);
  std::mt19937 rng(seed);
  std::vector<float> v(n * dim), z(latent);
  for (size_t i = 0; i < n; ++i) {
    size_t c = rng() % clusters;
    for (auto& x : z) x = g(rng);
    double norm = 0;
    for (size_t j = 0; j < dim; ++j) {
      float x = centres[c * dim + j] + 0.1f * g(rng);
      for (size_t l = 0; l < latent; ++l) x += z[l] * basis[(c * latent + l) * dim + j];
      x = std::max(0.0f, x);
      v[i * dim + j] = x;
      norm += x * x;
    }
    float inv = static_cast<float>(1 / std::sqrt(std::max(norm, 1e-30)));
    for (size_t j = 0; j < dim; ++j) v[i * dim + j] *= inv;
  }
  return v;
}

double Recall(const std::vector<std::vector<int64_t>>& got, const std::vector<int64_t>& truth, size_t k) {
  size_t found = 0;
  for (size_t q = 0; q < got.size(); ++q) {
    std::set<int64_t> t(truth.begin() + q * k, truth.begin() + (q + 1) * k);
    for (int64_t id : got[q]) found += t.count(id);
  }
  return static_cast<double>(found) / (got.size() * k);
}

long PeakRssMb() {
  rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_maxrss / 1024;
}

void Die(const doppel::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

std::ostringstream report;
void Line(const std::string& s) {
  std::printf("%s\n", s.c_str());
  std::fflush(stdout);
  report << s << "\n";
}
std::string Fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string Fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = 100000, dim = 512, nq = 1000, k = 10;
  std::string dir = (std::filesystem::temp_directory_path() / "doppel-store-bench").string(), report_path = "BENCHMARKS.md";
  bool ivf = true, faiss_hnsw = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--n") n = std::stoul(next());
    else if (a == "--dim") dim = std::stoul(next());
    else if (a == "--nq") nq = std::stoul(next());
    else if (a == "--dir") dir = next();
    else if (a == "--no-ivf") ivf = false;
    else if (a == "--faiss-hnsw") faiss_hnsw = true;
    else if (a == "--report") report_path = next();
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  const int threads = static_cast<int>(std::thread::hardware_concurrency());
  std::filesystem::remove_all(dir);
  Line("Machine: " + doppel::bench::MachineDescription() + ", " + doppel::bench::Today());
  std::string cmd = "bench_store_search";
  for (int i = 1; i < argc; ++i) cmd += std::string(" ") + argv[i];
  Line("Command: `" + cmd + "`");
  Line(Fmt("Data: %zu x %zu clustered L2-normalised float vectors, %zu queries, k = %zu, metric COSINE/IP; "
           "single-query numbers on 1 thread, builds on %d threads.\n", n, dim, nq, k, threads));

  auto t0 = Clock::now();
  auto data = Clustered(n, dim, 200, 1);
  auto queries = Clustered(nq, dim, 200, 2);
  std::printf("(data generated in %.1f s)\n", Since(t0));

  // Ground truth: raw FAISS exact, batched (BLAS).
  std::vector<int64_t> truth(nq * k);
  double faiss_flat_batch_qps, faiss_flat_single_qps;
  {
    faiss::IndexFlatIP flat(dim);
    flat.add(n, data.data());
    std::vector<float> d(nq * k);
    t0 = Clock::now();
    flat.search(nq, queries.data(), k, d.data(), truth.data());
    faiss_flat_batch_qps = nq / Since(t0);
    omp_set_num_threads(1);
    size_t m = std::min<size_t>(nq, 100);
    std::vector<int64_t> l(k);
    t0 = Clock::now();
    for (size_t q = 0; q < m; ++q) flat.search(1, &queries[q * dim], k, d.data(), l.data());
    faiss_flat_single_qps = m / Since(t0);
    omp_set_num_threads(threads);
  }

  auto store = std::move(doppel::OpenLocalStore(dir).value());
  auto make = [&](const std::string& name, const std::string& index) {
    doppel::CollectionSchema s;
    s.name = name;
    s.dim = static_cast<int>(dim);
    s.metric = doppel::Metric::kCosine;
    s.index = doppel::IndexSpec::Parse(index).value();
    s.fields = {{"path", doppel::FieldType::kString}, {"size", doppel::FieldType::kInt64}};
    Die(store->CreateCollection(s), "create");
    return store->GetCollection(name).value();
  };
  auto insert_all = [&](doppel::Collection& c) {
    const size_t batch = 1000;
    auto t = Clock::now();
    for (size_t b = 0; b < n; b += batch) {
      std::vector<doppel::Entity> es;
      for (size_t i = b; i < std::min(n, b + batch); ++i) {
        doppel::Entity e;
        e.id = static_cast<int64_t>(i);
        e.vector.assign(&data[i * dim], &data[(i + 1) * dim]);
        e.fields["path"] = "/photos/" + std::to_string(i) + ".jpg";
        e.fields["size"] = static_cast<int64_t>(i % 1000);
        es.push_back(std::move(e));
      }
      auto r = c.Insert(es);
      Die(r.status(), "insert");
    }
    return Since(t);
  };
  auto doppel_search = [&](doppel::Collection& c, int ef, int nprobe, double* qps) {
    std::vector<std::vector<int64_t>> got(nq);
    doppel::SearchRequest r;
    r.k = static_cast<int>(k);
    r.ef = ef;
    r.nprobe = nprobe;
    auto t = Clock::now();
    for (size_t q = 0; q < nq; ++q) {
      r.queries.assign(&queries[q * dim], &queries[(q + 1) * dim]);
      auto res = c.Search(r);
      Die(res.status(), "search");
      for (const auto& h : (*res)[0]) got[q].push_back(h.id);
    }
    *qps = nq / Since(t);
    return Recall(got, truth, k);
  };

  // ---------------- HNSW
  Line("### HNSW (M=16, efConstruction=200), doppel (hnswlib inside) vs raw hnswlib\n");
  auto hnsw = make("hnsw", "HNSW,M=16,efConstruction=200,ef=64");
  double doppel_hnsw_insert = insert_all(*hnsw);
  double raw_build;
  hnswlib_raw::InnerProductSpace space(dim);
  hnswlib_raw::HierarchicalNSW<float> raw(&space, n, 16, 200);
  {
    t0 = Clock::now();
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next++) < n;) raw.addPoint(&data[i * dim], i);
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    raw_build = Since(t0);
  }
  Line(Fmt("Insert/build, %zu vectors: doppel %.1f s (%.0f vectors/s, batches of 1000, each one SQLite "
           "transaction + graph insert), raw hnswlib %.1f s (%.0f vectors/s): ratio %.2f\n",
           n, doppel_hnsw_insert, n / doppel_hnsw_insert, raw_build, n / raw_build, raw_build / doppel_hnsw_insert));
  // The same graph in raw hnswlib: doppel's snapshot file is hnswlib's own format.
  Die(hnsw->Flush(), "flush");
  std::string snap;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/collections/hnsw"))
    if (e.path().extension() == ".bin") snap = e.path().string();
  hnswlib_raw::HierarchicalNSW<float> same(&space, snap);
  Line("| ef | doppel recall@10 | doppel QPS | raw hnswlib recall@10 | raw QPS | QPS ratio | raw on doppel's graph: QPS | ratio |");
  Line("|---|---|---|---|---|---|---|---|");
  for (int ef : {16, 32, 64, 128}) {
    // The machine is shared: alternate doppel and raw three times and keep each one's best.
    double dq = 0, rq = 0, dr = 0, rr = 0, sq = 0;
    for (int rep = 0; rep < 3; ++rep) {
      double q1;
      dr = doppel_search(*hnsw, ef, 0, &q1);
      dq = std::max(dq, q1);
      raw.setEf(ef);
      std::vector<std::vector<int64_t>> got(nq);
      t0 = Clock::now();
      for (size_t q = 0; q < nq; ++q) {
        auto pq = raw.searchKnn(&queries[q * dim], k);
        while (!pq.empty()) {
          got[q].push_back(static_cast<int64_t>(pq.top().second));
          pq.pop();
        }
      }
      rq = std::max(rq, nq / Since(t0));
      rr = Recall(got, truth, k);
      same.setEf(ef);
      t0 = Clock::now();
      for (size_t q = 0; q < nq; ++q) {
        auto pq = same.searchKnn(&queries[q * dim], k);
        if (pq.empty()) std::abort();
      }
      sq = std::max(sq, nq / Since(t0));
    }
    Line(Fmt("| %d | %.4f | %.0f | %.4f | %.0f | %.2f | %.0f | %.2f |", ef, dr, dq, rr, rq, dq / rq, sq, dq / sq));
  }
  Line("");
  if (faiss_hnsw) {
    faiss::IndexHNSWFlat fh(dim, 16, faiss::METRIC_INNER_PRODUCT);
    fh.hnsw.efConstruction = 200;
    t0 = Clock::now();
    fh.add(n, data.data());
    double fb = Since(t0);
    omp_set_num_threads(1);
    Line(Fmt("Raw FAISS IndexHNSWFlat build: %.1f s (hnswlib is %.1fx faster)\n", fb, fb / raw_build));
    Line("| ef | FAISS HNSW recall@10 | QPS |");
    Line("|---|---|---|");
    for (int ef : {16, 32, 64, 128}) {
      fh.hnsw.efSearch = ef;
      std::vector<std::vector<int64_t>> got(nq, std::vector<int64_t>(k));
      std::vector<float> d(k);
      t0 = Clock::now();
      for (size_t q = 0; q < nq; ++q) fh.search(1, &queries[q * dim], k, d.data(), got[q].data());
      double fq = nq / Since(t0);
      Line(Fmt("| %d | %.4f | %.0f |", ef, Recall(got, truth, k), fq));
    }
    omp_set_num_threads(threads);
    Line("");
  }
  size_t hnsw_mem = hnsw->Describe()->memory_bytes;
  hnsw.reset();

  // ---------------- exact
  Line("### Exact search (FLAT)\n");
  auto flat = make("flat", "FLAT");
  double flat_insert = insert_all(*flat);
  double dq;
  omp_set_num_threads(1);
  size_t saved_nq = nq;
  double flat_recall = doppel_search(*flat, 0, 0, &dq);
  {
    double dq2;
    doppel_search(*flat, 0, 0, &dq2);
    dq = std::max(dq, dq2);
  }
  double scan_gb = n * dim * 4.0 / 1e9;
  Line(Fmt("Single query, 1 thread: doppel %.1f QPS = %.1f GB/s scanned (recall %.4f); raw FAISS IndexFlatIP "
           "%.1f QPS = %.1f GB/s: ratio %.2f. Bandwidth bound of a full scan (%.0f MB) at ~25 GB/s (1 thread, "
           "measured): %.0f QPS, so doppel runs at %.0f%% of it.\n",
           dq, dq * scan_gb, flat_recall, faiss_flat_single_qps, faiss_flat_single_qps * scan_gb,
           dq / faiss_flat_single_qps, scan_gb * 1000, 25 / scan_gb, 100 * dq / (25 / scan_gb)));
  omp_set_num_threads(threads);
  {
    doppel::SearchRequest r;
    r.k = static_cast<int>(k);
    r.queries = queries;
    t0 = Clock::now();
    auto res = flat->Search(r);
    Die(res.status(), "batch search");
    double bq = nq / Since(t0);
    std::vector<std::vector<int64_t>> got(nq);
    for (size_t q = 0; q < nq; ++q)
      for (const auto& h : (*res)[q]) got[q].push_back(h.id);
    bool fast_blas = dlsym(RTLD_DEFAULT, "openblas_get_num_threads") != nullptr;
    Line(Fmt("Batch of %zu queries, %d threads: doppel %.0f QPS (recall %.4f; %s), raw FAISS (BLAS: %s) %.0f QPS: "
             "ratio %.2f\n", saved_nq, threads, bq, Recall(got, truth, k),
             fast_blas ? "FAISS BLAS path" : "SIMD scans, since the BLAS is not an optimised one",
             fast_blas ? "OpenBLAS" : "Debian's reference libblas3", faiss_flat_batch_qps, bq / faiss_flat_batch_qps));
  }
  Line(Fmt("FLAT insert: %.1f s (%.0f vectors/s, durable, batches of 1000)\n", flat_insert, n / flat_insert));
  size_t flat_mem = flat->Describe()->memory_bytes;
  flat.reset();

  // ---------------- IVF
  size_t ivf_mem = 0;
  if (ivf) {
    size_t nlist = 256;
    Line(Fmt("### IVF_FLAT (nlist=%zu), doppel vs raw FAISS IndexIVFFlat\n", nlist));
    auto iv = make("ivf", "IVF_FLAT,nlist=256,nprobe=16");
    double ivf_insert = insert_all(*iv);
    faiss::IndexFlatIP q(dim);
    faiss::IndexIVFFlat rawivf(&q, dim, nlist, faiss::METRIC_INNER_PRODUCT);
    t0 = Clock::now();
    rawivf.train(n, data.data());
    rawivf.add(n, data.data());
    double raw_ivf_build = Since(t0);
    Line(Fmt("Insert/build: doppel %.1f s (trains once %zu vectors are in), raw FAISS train+add %.1f s\n",
             ivf_insert, static_cast<size_t>(39 * nlist), raw_ivf_build));
    Line("| nprobe | doppel recall@10 | doppel QPS | raw FAISS recall@10 | raw QPS | QPS ratio |");
    Line("|---|---|---|---|---|---|");
    omp_set_num_threads(1);
    for (int np : {8, 16, 32, 64}) {
      double dqq = 0, rq = 0, dr = 0;
      std::vector<std::vector<int64_t>> got(nq, std::vector<int64_t>(k));
      for (int rep = 0; rep < 2; ++rep) {
        double q1;
        dr = doppel_search(*iv, 0, np, &q1);
        dqq = std::max(dqq, q1);
        rawivf.nprobe = np;
        std::vector<float> d(k);
        t0 = Clock::now();
        for (size_t qq = 0; qq < nq; ++qq) rawivf.search(1, &queries[qq * dim], k, d.data(), got[qq].data());
        rq = std::max(rq, nq / Since(t0));
      }
      Line(Fmt("| %d | %.4f | %.0f | %.4f | %.0f | %.2f |", np, dr, dqq, Recall(got, truth, k), rq, dqq / rq));
    }
    omp_set_num_threads(threads);
    Line("");
    ivf_mem = iv->Describe()->memory_bytes;
  }

  // ---------------- open / recovery, memory
  store.reset();
  Line("### Open, recovery, memory\n");
  auto open_one = [&](const std::string& name) {
    auto t = Clock::now();
    auto s = std::move(doppel::OpenLocalStore(dir).value());
    auto c = s->GetCollection(name);
    Die(c.status(), "open");
    return Since(t);
  };
  double open_hnsw = open_one("hnsw");
  double open_flat = open_one("flat");
  // A crash that lost the snapshot: the FLAT index is rebuilt from SQLite.
  std::filesystem::remove(dir + "/collections/flat/index.meta");
  double rebuild_flat = open_one("flat");
  auto db_bytes = [&](const std::string& name) {
    return std::filesystem::file_size(dir + "/collections/" + name + "/data.db");
  };
  Line(Fmt("Open with snapshot: HNSW %.2f s, FLAT %.2f s. FLAT after losing its snapshot (rebuilt from SQLite): "
           "%.2f s. HNSW without a snapshot is rebuilt at the insert speed above.\n", open_hnsw, open_flat, rebuild_flat));
  Line("| index | memory per vector (index + scalar columns) | SQLite bytes per vector on disk |");
  Line("|---|---|---|");
  Line(Fmt("| HNSW M=16 | %.0f B | %.0f B |", hnsw_mem / double(n), db_bytes("hnsw") / double(n)));
  Line(Fmt("| FLAT | %.0f B | %.0f B |", flat_mem / double(n), db_bytes("flat") / double(n)));
  if (ivf) Line(Fmt("| IVF_FLAT | %.0f B | %.0f B |", ivf_mem / double(n), db_bytes("ivf") / double(n)));
  Line(Fmt("\n(raw float32 vector: %zu B; peak RSS of this run: %ld MB)", dim * 4, PeakRssMb()));
  std::filesystem::remove_all(dir);
  if (!report_path.empty()) doppel::bench::UpdateSection(report_path, "store_search", report.str());
  return 0;
}
