// Engine: the image search engine that joins the embedding models and the vector store over one data directory.
// One collection per registered model; every image is an entity whose id comes from its content (so re-indexing is
// idempotent and one picture under two paths is one entity), with its path, size, mtime, width, height, content
// hash and format as scalar fields.
//
// Data directory layout (created on first use):
//   models.json          the model registry (written atomically)
//   models/NAME.onnx     a copy of each registered model, with NAME.doppel.json (its preprocessing spec)
//   catalog.db           SQLite (WAL): which file paths were indexed with what content, into which models
//   store/               the vector store (one collection per model)
//
// Thread safety: every method may be called from many threads at once (an HTTP server does); indexing and model
// changes are serialised with each other, searches run concurrently with everything.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "doppel/model/embedder.h"
#include "doppel/model/onnx_model.h"
#include "doppel/store/store.h"
#include "doppel/util/status.h"

namespace doppel {

struct EngineOptions {
  std::string data_dir = "doppel-data";
  SessionConfig session;  // for every model's ONNX Runtime session
  EmbedOptions embed;     // batch size and threads for indexing
  // The store backend; null = the embedded store in data_dir/store. (A remote backend plugs in here.)
  std::shared_ptr<VectorStore> store;
};

struct ModelEntry {
  std::string name;         // also the collection name
  std::string file;         // the model's copy in the data directory
  std::string source;       // where it was added from
  ModelSpec spec;
  std::string fingerprint;  // of the model file + canonical spec; the collection records it
  int dim = 0;
  std::string metric;       // "L2", "IP", "COSINE"
  std::string index;        // the index factory description, e.g. "HNSW,M=16,efConstruction=200,ef=64"
  std::string added;        // ISO 8601 time
};

struct AddModelOptions {
  std::string metric = "L2";  // vectors are unit length: L2 and COSINE rank alike; L2 as the seed system used
  std::string index = "HNSW";
};

struct IndexOptions {
  std::vector<std::string> models;  // empty = all registered models
  bool prune = false;               // remove entries whose files are gone (under the given roots)
  int commit_every = 32;            // images per durable commit
};

struct IndexProgress {
  int64_t total = 0;      // image candidates found
  int64_t done = 0;       // processed so far (indexed + skipped + failed)
  int64_t indexed = 0;
  int64_t skipped = 0;
  int64_t failed = 0;
  double seconds = 0;
};

struct IndexSummary {
  IndexProgress counts;
  int64_t duplicates = 0;  // files whose content was already indexed under another path
  int64_t pruned = 0;
  int64_t ignored = 0;     // files that are not images
  std::vector<std::pair<std::string, std::string>> failures;  // path, error
  double images_per_second = 0;  // indexed images / seconds spent
};

using ProgressFn = std::function<void(const IndexProgress&)>;

// What to search with: an image (file or bytes), an indexed entity (id or path), or a vector.
struct SearchQuery {
  std::string image_path;
  std::string image_bytes;  // with image_path as its name
  int64_t id = 0;
  std::string indexed_path;
  std::vector<float> vector;
  std::string vector_fingerprint;  // with `vector`: refused unless it matches the model's
};

struct SearchOptions {
  int k = 10;
  std::string filter;
  bool collapse_duplicates = true;  // one row per picture; its other paths listed in Hit::other_paths
  int ef = 0;                       // HNSW beam for this call (0 = the index default)
  bool exclude_query = false;       // by id/path: leave the query entity out
};

struct Hit {
  int rank = 0;  // from 1
  int64_t id = 0;
  float distance = 0;
  std::string path;
  std::vector<std::string> other_paths;  // the same picture elsewhere
  std::map<std::string, FieldValue> fields;
};

struct Comparison {
  std::vector<std::string> models;
  std::vector<std::vector<Hit>> hits;  // per model
  double overlap = 0;                  // overlap@k of the first two models
  double rank_correlation = 0;         // Spearman on shared items (NaN when < 2 shared)
  struct Scale {
    float min = 0, max = 0, mean = 0;
  };
  std::vector<Scale> distance_scales;  // per model
  std::vector<Hit> fused;              // reciprocal rank fusion (distance = fused score), when asked
};

struct DuplicateGroup {
  std::vector<Hit> members;  // distance = to the first member
};

struct EngineStatus {
  std::string data_dir;
  struct ModelStatus {
    ModelEntry model;
    int64_t count = 0;
  };
  std::vector<ModelStatus> models;
  int64_t files = 0;          // indexed paths
  int64_t disk_bytes = 0;     // the data directory's size
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  ~Engine();

  const std::string& data_dir() const { return options_.data_dir; }

  // Models. Adding loads the model (it must work), copies it into the data directory, writes its spec and
  // creates its collection recording the fingerprint. NAME: [A-Za-z_][A-Za-z0-9_]*.
  Result<ModelEntry> AddModel(const std::string& name, const std::string& onnx_path, const ModelSpec& spec,
                              const AddModelOptions& options = {});
  Status RemoveModel(const std::string& name);
  std::vector<ModelEntry> ListModels() const;
  Result<ModelEntry> GetModel(const std::string& name) const;
  // The loaded model (cached); FailedPrecondition when its fingerprint no longer matches its collection's.
  Result<std::shared_ptr<const OnnxModel>> LoadModel(const std::string& name);

  // Indexing: see IndexOptions. Never aborts on a bad file; an error return means the store or catalog failed.
  Result<IndexSummary> Index(const std::vector<std::string>& roots, const IndexOptions& options,
                             const ProgressFn& progress = nullptr);
  // Removes images (by path or id) from every collection. Returns how many pictures were removed.
  Result<int64_t> RemovePaths(const std::vector<std::string>& paths);
  Result<int64_t> RemoveIds(const std::vector<int64_t>& ids);

  // Search one model. Never silently fewer than k hits when k entities match.
  Result<std::vector<Hit>> Search(const SearchQuery& query, const std::string& model, const SearchOptions& options);
  // The same query through several models side by side, with overlap, rank correlation and distance scales.
  Result<Comparison> Compare(const SearchQuery& query, const std::vector<std::string>& models,
                             const SearchOptions& options, bool fuse);
  // Groups of near-duplicates: pictures within `threshold` distance of each other (single linkage).
  Result<std::vector<DuplicateGroup>> Duplicates(const std::string& model, float threshold, int max_neighbors = 10);

  Result<EngineStatus> GetStatus();

  // The vector for `query` in `model`'s space (embedding an image, or reading an indexed entity's vector).
  Result<std::vector<float>> QueryVector(const SearchQuery& query, const std::string& model);

 private:
  struct Impl;
  explicit Engine(EngineOptions options);
  EngineOptions options_;
  std::unique_ptr<Impl> impl_;
};

// The id of a picture: the first 63 bits of the SHA-256 of its bytes (as a positive int64).
int64_t ContentId(const std::string& sha256_hex);

}  // namespace doppel
