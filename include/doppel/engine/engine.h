// Engine: the image search engine that joins the embedding models and the vector store over one data directory.
// One collection per registered model; every image is an entity whose id comes from its content (so re-indexing is
// idempotent and one picture under two paths is one entity), with its path, size, mtime, width, height, content
// hash and format as scalar fields.
//
// Data directory layout (created on first use):
//   LOCK                 flock'd by the one process that has the directory open for writing (its pid inside)
//   models.json          the model registry and the default model (written atomically)
//   models/NAME.onnx     a copy of each registered model, with NAME.doppel.json (its preprocessing spec)
//   catalog.db           SQLite (WAL): which file paths were indexed with what content, into which models
//   store/               the vector store (one collection per model)
//   duplicate-decisions.json  the user's decisions about duplicates, by content id (written atomically)
//   trash/NAME/          files moved away by ApplyDuplicateDecisions (files/ + journal.json); never walked
//
// Concurrency (every method may be called from many threads at once; an HTTP server does):
// - Searches never wait for indexing: a batch is made durable first and then published to readers under a short
//   lock; the catalog is read through its own read connections.
// - Indexing runs as a job (StartIndex) that holds no engine-wide lock for the run: removals, model changes and
//   other searches interleave between its batches. One index job at a time.
// - Processes: one process opens a data directory for writing (a second one gets FailedPrecondition naming the
//   process that holds it); any number open it read-only (EngineOptions::read_only) beside it and see what was
//   committed when they opened it.
#pragma once

#include <atomic>
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
  // Index jobs run their threads (reading, decoding, inference) at this nice value, so that on a busy machine
  // searches, which run at the caller's priority, keep their latency. 0 = the caller's priority.
  int index_nice = 10;
  // The store backend; null = the embedded store in data_dir/store. A store given here (Milvus) may be shared with
  // other hosts: RemoveModel then unregisters the model without dropping its collection, and AddModel adopts an
  // existing collection whose recorded fingerprint is the model's.
  std::shared_ptr<VectorStore> store;
  // Open for reading only (search, status, model list), beside a writer in another process. Nothing is created or
  // written; write methods fail with FailedPrecondition. NotFound when the data directory does not exist.
  bool read_only = false;
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
  // The duplicates' similar tier's distance for this model, calibrated on a labelled set (bench_dedup_calibration);
  // 0 = not calibrated (the tier then uses kSimilarThreshold, which was calibrated for the built-in default model).
  float similar_threshold = 0;
};

struct AddModelOptions {
  std::string metric = "L2";  // vectors are unit length: L2 and COSINE rank alike; L2 as the seed system used
  std::string index = "HNSW";
  float similar_threshold = 0;  // see ModelEntry
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
  std::vector<std::pair<std::string, std::string>> ignored_files;  // path, why it is not an image
  std::vector<std::pair<std::string, std::string>> failures;       // path, error
  double images_per_second = 0;  // indexed images / seconds spent reading, embedding and committing them
  // Decodes made for the models (a picture's decode serves every model of the run that decodes it alike, and those
  // whose shrink-on-load picks the same scale for it: often one per picture).
  int64_t decodes = 0;
  // Near-copy records (duplicates): made by the pipeline for the pictures it embedded (`hash_decodes` of them needed
  // a decode of their own: no model of the run decodes by the record's rule), and after the last commit for
  // pictures that lacked one (indexed before, or by an older rule), which took `hash_seconds` of counts.seconds.
  int64_t hashed = 0;
  int64_t hash_decodes = 0;
  int64_t hashed_after = 0;
  double hash_seconds = 0;
  // Per model of the run: pictures it embedded. A picture is embedded only with the models that lack it, so after
  // `model add` a re-index runs just the new model.
  std::map<std::string, int64_t> embedded;
  bool cancelled = false;        // the job was cancelled before the end; what it committed stays
};

using ProgressFn = std::function<void(const IndexProgress&)>;

// An indexing run in the background (Engine::StartIndex). Thread-safe; the engine must outlive it.
class IndexJob {
 public:
  virtual ~IndexJob() = default;
  virtual IndexProgress Progress() const = 0;
  // Asks the job to stop after the batch in progress (committed batches stay). Returns at once.
  virtual void Cancel() = 0;
  virtual bool Done() const = 0;
  // Blocks until the job ends; its summary, or the error that stopped it (the store or catalog failed).
  virtual Result<IndexSummary> Wait() = 0;
};

// What to search with: exactly one of an image file on this machine, uploaded image bytes, an indexed picture (by id
// or by its indexed path) or a vector.
struct SearchQuery {
  // A file the engine opens. Front ends that take requests from others (a server) never set it: they use `upload`.
  std::string image_file;
  // Image bytes sent by a client, and the name they are shown under in messages. The engine never opens a path
  // for an upload (upload_name is only a label).
  std::string upload;
  std::string upload_name;
  int64_t id = 0;
  std::string indexed_path;  // looked up in the catalog, never opened
  std::vector<float> vector;
  std::string vector_fingerprint;  // with `vector`: refused unless it matches the model's
};

struct SearchOptions {
  int k = 10;
  std::string filter;
  bool collapse_duplicates = true;  // one row per picture; its other paths listed in Hit::other_paths
  int ef = 0;                       // HNSW beam for this call (0 = the index default)
  bool exclude_query = false;       // by id/path: leave the query entity out
  // Query expansion (alpha-QE): the query plus its `expand` nearest pictures (the query picture itself excepted),
  // each weighted by its similarity^3, normalised, searched again. 0 = off. A second search; what it does to quality
  // is measured in BENCHMARKS.md ("Retrieval refinements": it helps category retrieval a little on some sets and
  // costs copy recall).
  int expand = 0;
  // Re-rank by PCA-whitened similarity (whitening.h): the plain search's best max(100, 4 k) pictures are ordered
  // again by the inner product s of their whitened, unit-length vectors with the whitened query; `distance` is s
  // for IP and COSINE collections and 2 - 2 s (squared L2 of unit vectors) for L2 ones. The whitening is learned
  // from the collection itself (its first 20,000 vectors by id), kept in memory and in DATA/whitening (with the
  // model fingerprint; any process that learned it writes it, so the next one, a CLI search, reads it) and learned again once the collection has grown or shrunk
  // by a quarter. One-model searches only. Measured in BENCHMARKS.md ("Retrieval
  // refinements", whiten25): it helps some sets and not others, so it is off by default.
  bool whiten = false;
  // Re-rank by database-side augmentation (DBA): the plain search's best max(100, 4 k) pictures are ordered again
  // by their similarity s with the query once each is replaced by the normalised sum of its vector and its 3
  // nearest other pictures' (weights similarity^3), as if the collection had been augmented at index time; a query
  // that is an indexed picture (by id or path) is augmented too, an image query is not. `distance` as for whiten.
  // The stored vectors do not change. One-model searches, not with whiten or expand. Costs one batched search of
  // the shortlist; measured in BENCHMARKS.md ("Retrieval refinements", dba+rerank): category retrieval up on some
  // sets, copy recall down on all, so it is off by default.
  bool dba = false;
};

// Candidates per model of a fused search (Engine::SearchFused), at least.
inline constexpr int kFusedPool = 100;

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

// An indexed picture: its id, every path it was indexed under and its scalar fields.
struct Picture {
  int64_t id = 0;
  std::vector<std::string> paths;  // sorted
  std::map<std::string, FieldValue> fields;
};

// Duplicate tiers, strongest first. exact: the same bytes (one picture under several paths) or the same decoded
// pixels; near-copy: 256-bit perceptual hashes within a Hamming radius, in any of the 8 rotations/flips; similar: the
// model's embeddings within a distance threshold.
enum class DuplicateTier { kExact = 0, kNearCopy = 1, kSimilar = 2 };
const char* DuplicateTierName(DuplicateTier t);  // "exact", "near-copy", "similar"
Result<DuplicateTier> ParseDuplicateTier(const std::string& s);

// The near-copy tier's defaults (docs and BENCHMARKS say how they were chosen).
inline constexpr int kNearCopyRadius = 40;     // Hamming bits of 256
inline constexpr int kMinHashQuality = 50;     // flatter images' hashes are not trusted (PerceptualHash::quality)
// The similar tier's default distance (squared L2 of unit vectors): 1% false merges of different photos for the
// built-in default model on bench_dedup_calibration's set. Other models: measure with that benchmark.
inline constexpr float kSimilarThreshold = 0.009f;

struct DuplicateOptions {
  std::string model;                             // the similar tier's model ("" = default)
  DuplicateTier min_tier = DuplicateTier::kSimilar;  // the weakest tier reported
  float similar_threshold = 0;                   // 0 = the model's calibrated one (see SimilarThreshold)
  int near_copy_radius = kNearCopyRadius;
  int min_quality = kMinHashQuality;
  int max_group = 50;                            // members of a group, representative included
  // Keeper rules, in order, until one prefers a copy: "largest" (resolution), "biggest" (file size), "oldest" /
  // "newest" (mtime), "prefer:TEXT" / "avoid:TEXT" (a path containing TEXT). The path decides last. The rules only
  // choose each group's representative (shown as the copy to keep); nothing is ever applied by them.
  std::vector<std::string> keep_rules = {"largest", "biggest"};
  bool show_decided = false;  // also groups the user decided already (see DecideDuplicates), marked
};

// A user's decision about pictures found as duplicates, stored against their content ids (so it survives
// re-indexing, moves and renames): kKeepAll = they are not duplicates of each other (never grouped again);
// kKeep = keep this one (the group is resolved and shown only on request, this one as its representative).
enum class DuplicateDecision { kKeepAll, kKeep };

// A resolution of duplicates, stored against content ids: of the pictures `ids`, keep `keep` (at least one; all of
// them = they are not duplicates of each other, never grouped again). The others are duplicates of what is kept:
// ApplyDuplicateDecisions moves their files into the trash. `keep_paths`: for a kept picture stored under several
// paths (the same bytes twice), the paths to keep; its other paths are trashed too. Empty: every path is kept. A
// picture stored under several paths may be resolved alone (ids = keep = {id}) when keep_paths says which path stays;
// `keep` may be left empty when keep_paths are given (the pictures they show are kept).
struct DuplicateResolution {
  std::vector<int64_t> ids;
  std::vector<int64_t> keep;
  std::vector<std::string> keep_paths;
};

// One file moved into the trash (or back), or that would be (a dry run), or that was left where it is (`note` says
// why: changed since it was indexed, gone, the last copy of a kept picture, ...).
struct TrashMove {
  int64_t id = 0;
  std::string from;   // where the file was (an indexed path)
  std::string to;     // where it is in the trash: DATA/trash/BATCH/files/<from without its leading '/'>
  int64_t bytes = 0;
  std::string note;   // skipped: why
};

// One application of the decisions: the files it moved into DATA/trash/NAME/ and its journal (journal.json there).
struct TrashBatch {
  std::string name;      // e.g. "20261130T093012Z" ("" for a dry run)
  std::string state;     // "dry-run", "applying" (interrupted), "applied", "undone"
  std::string created;   // ISO 8601 time
  std::vector<TrashMove> moves;    // moved (or, for a dry run, to move; for an undo, moved back)
  std::vector<TrashMove> skipped;  // left where they are, with the reason
  int64_t bytes = 0;               // of `moves`
  int64_t reindexed = 0;           // an undo: pictures indexed again
};

struct DuplicateMember {
  Hit hit;                         // the picture; hit.distance is the distance to the representative in `tier`
  DuplicateTier tier = DuplicateTier::kExact;
  std::string transform;           // near-copy: how the representative turns into this one ("rot90", "mirror", ...)
};

// members[0] is the representative (the copy a keeper would choose: the largest resolution, then the largest file,
// then the path); every other member is within its tier's threshold of the representative itself, never only of
// another member, so groups do not chain.
struct DuplicateGroup {
  std::vector<DuplicateMember> members;
  std::string keep_rule;  // the keeper rule that chose members[0] over members[1] ("path" when no rule did)
  std::string decision;   // "" (undecided), or "keep <id>[,<id>...]" for a group the user resolved (show_decided)
};

struct EngineStatus {
  std::string data_dir;
  bool read_only = false;
  std::string default_model;  // "" when no model is registered
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
  ~Engine();  // cancels a running index job and waits for it

  const std::string& data_dir() const { return options_.data_dir; }
  const EngineOptions& options() const { return options_; }

  // Models. Adding loads the model (it must work), copies it into the data directory, writes its spec and
  // creates its collection recording the fingerprint. NAME: [A-Za-z_][A-Za-z0-9_]*.
  Result<ModelEntry> AddModel(const std::string& name, const std::string& onnx_path, const ModelSpec& spec,
                              const AddModelOptions& options = {});
  Status RemoveModel(const std::string& name);
  std::vector<ModelEntry> ListModels() const;
  // `name` "" means the default model. NotFound lists the registered models.
  Result<ModelEntry> GetModel(const std::string& name) const;
  // The default model: a stored property of the data directory. The first model added becomes the default; when
  // the default is removed, the built-in default (mobilenet_v2) if registered, else the first remaining model by
  // name. "" when no model is registered.
  std::string DefaultModel() const;
  Status SetDefaultModel(const std::string& name);
  // The similar tier's threshold for `model` ("" = the default model): its calibrated one, else kSimilarThreshold
  // (`calibrated` says which). SetSimilarThreshold stores a calibrated one with the model (0 forgets it).
  Result<float> SimilarThreshold(const std::string& model, bool* calibrated = nullptr) const;
  Status SetSimilarThreshold(const std::string& model, float threshold);
  // The loaded model (cached); FailedPrecondition when its fingerprint no longer matches its collection's.
  Result<std::shared_ptr<const OnnxModel>> LoadModel(const std::string& name);

  // Indexing: see IndexOptions. Never aborts on a bad file; an error return means the store or catalog failed.
  // StartIndex runs it in the background (FailedPrecondition while another index job runs); `progress` is called
  // from the job's thread. Index = StartIndex + Wait.
  Result<std::shared_ptr<IndexJob>> StartIndex(const std::vector<std::string>& roots, const IndexOptions& options,
                                               ProgressFn progress = nullptr);
  Result<IndexSummary> Index(const std::vector<std::string>& roots, const IndexOptions& options,
                             const ProgressFn& progress = nullptr);
  // The index job that is running, or null.
  std::shared_ptr<IndexJob> RunningIndexJob() const;
  // Removes images (by path or id) from every collection. Returns how many pictures were removed.
  Result<int64_t> RemovePaths(const std::vector<std::string>& paths);
  Result<int64_t> RemoveIds(const std::vector<int64_t>& ids);

  // Search one model ("" = the default model). Never silently fewer than k hits when k entities match.
  Result<std::vector<Hit>> Search(const SearchQuery& query, const std::string& model, const SearchOptions& options);
  // The same query through several models side by side, with overlap, rank correlation and distance scales.
  // Search several models as one: the "quality" profile. The ranking is that of the models' L2-normalised vectors
  // concatenated (one embedding space of its own: its inner product is the mean of the models' cosine
  // similarities); Hit::distance = 2 - 2 x that mean, the squared L2 distance of the concatenations scaled to unit
  // length (as a single normalised model's L2 distance), in [0, 4]. Exact over the candidates, each model's nearest
  // max(4k, kFusedPool) pictures; a picture not embedded by every model is left out. Costs one embedding and one
  // search per model. Measured (BENCHMARKS.md, "Retrieval refinements"): the two built-ins fused beat either alone
  // on every labelled set. Needs at least two distinct models whose specs normalise.
  Result<std::vector<Hit>> SearchFused(const SearchQuery& query, const std::vector<std::string>& models,
                                       const SearchOptions& options);
  Result<Comparison> Compare(const SearchQuery& query, const std::vector<std::string>& models,
                             const SearchOptions& options, bool fuse);
  // Groups of duplicates in tiers (see DuplicateTier), largest groups first. Needs the near-copy hashes that index
  // jobs store; pictures without one (a read-only open of a directory indexed before hashes existed) are hashed in
  // memory.
  Result<std::vector<DuplicateGroup>> FindDuplicates(const DuplicateOptions& options);
  // Indexed copies of one image (an outside file, an upload or an indexed picture): `tier` kExact (the same decoded
  // pixels) or kNearCopy (perceptual hashes within `radius` bits in any rotation/flip; member.transform says how the
  // query turns into the copy), closest first, at most `k`. A query image too flat to hash reliably is refused.
  // Records a decision about `ids` (at least two; `keep` one of them for kKeep) in DATA/duplicate-decisions.json,
  // durably. A new decision about the same ids replaces the old one. Forget removes every decision naming an id.
  Status DecideDuplicates(const std::vector<int64_t>& ids, DuplicateDecision decision, int64_t keep = 0);
  // The general form (see DuplicateResolution); DecideDuplicates is ResolveDuplicates with keep = {keep} or all ids.
  Status ResolveDuplicates(const DuplicateResolution& resolution);
  Status ForgetDuplicateDecisions(const std::vector<int64_t>& ids);
  // Carries out the decisions: every path of a picture a decision does not keep (and a kept picture's paths outside
  // its keep_paths) is moved into DATA/trash/NAME/files/ (never deleted), the journal DATA/trash/NAME/journal.json
  // written before the first move, and the catalog and every collection forget the moved paths. A file is only
  // moved if its bytes are still the picture's (re-read and hashed); a picture some decision keeps is never moved,
  // and nothing is moved for a decision whose kept pictures are all gone. `dry_run` (the default) moves nothing and
  // returns the plan. FailedPrecondition while an index job runs.
  Result<TrashBatch> ApplyDuplicateDecisions(bool dry_run = true);
  // Moves a batch's files back (a file in the way is left and reported) and indexes them again, so the catalog and
  // collections follow. `name` "" = the latest batch that was applied and not undone.
  Result<TrashBatch> UndoTrash(const std::string& name = "");
  // The trash's batches, newest first (moves listed; skipped as recorded).
  Result<std::vector<TrashBatch>> ListTrash();
  Result<std::vector<DuplicateMember>> FindCopies(const SearchQuery& query, DuplicateTier tier, int radius, int k);
  // An indexed picture by id (NotFound when no path shows it any more).
  Result<Picture> GetPicture(int64_t id);
  // `name`, or the default model's name for ""; NotFound when there is no such model (or no model at all).
  Result<std::string> ResolveModelName(const std::string& name) const;

  Result<EngineStatus> GetStatus();

  // The vector for `query` in `model`'s space ("" = the default; embedding an image, or reading an indexed entity's
  // vector).
  Result<std::vector<float>> QueryVector(const SearchQuery& query, const std::string& model);

  struct Impl;  // opaque: the engine's state, shared with its internal parts (src/engine)

 private:
  explicit Engine(EngineOptions options);
  Status CheckWritable() const;
  // QueryVector and Search keeping the query picture's decodes in `decodes` (may be null), so that the models of
  // one fused search or comparison decode it once when their settings give the same pixels (search.cc).
  struct QueryDecodes;
  Result<std::vector<float>> QueryVector(const SearchQuery& query, const std::string& model, QueryDecodes* decodes);
  Result<std::vector<Hit>> Search(const SearchQuery& query, const std::string& model, const SearchOptions& options,
                                  QueryDecodes* decodes);
  EngineOptions options_;
  std::unique_ptr<Impl> impl_;
};

// The id of a picture: the first 63 bits of the SHA-256 of its bytes (as a positive int64).
int64_t ContentId(const std::string& sha256_hex);

}  // namespace doppel
