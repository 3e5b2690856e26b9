// Internal: the state behind Engine, shared by engine.cc (models, status, removal), indexer.cc and search.cc.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "doppel/engine/builtin.h"
#include "doppel/engine/engine.h"
#include "doppel/engine/whitening.h"
#include "doppel/image/picture_hash.h"
#include "file_catalog.h"

namespace doppel {

// Scalar fields of every image collection, in schema order.
inline constexpr const char* kImageFields[] = {"path", "size", "mtime", "width", "height", "hash", "format"};
// The near-copy records (image/picture_hash.h): a binary collection (256 bits, Hamming) with each picture's hash
// quality, pixel hash and the hashes of its 8 rotations/flips. Named after the record's rule: records of another
// rule never mix with these (a writer drops the older collections, and pictures are hashed again).
static_assert(kPictureHashRule == 2, "a new picture hash rule needs a new collection name");
inline constexpr char kHashCollection[] = "doppel_phash2";
inline constexpr const char* kOldHashCollections[] = {"doppel_phash"};
// Collection metadata key holding the model fingerprint.
inline constexpr char kFingerprintKey[] = "model_fingerprint";

class IndexJobImpl;

// The near-copy records' collection (duplicates.cc); created when `create` (a writer: collections of older rules are
// dropped then), else NotFound when there is none yet.
Result<std::shared_ptr<Collection>> HashCollection(VectorStore* store, bool create);
// A picture's record as an entity of that collection.
Entity HashEntity(int64_t id, const PictureHashes& h);

// Lock order: write_mu before models_mu. The catalog and the store are thread-safe themselves.
struct Engine::Impl {
  std::shared_ptr<VectorStore> store;
  std::unique_ptr<FileCatalog> catalog;  // thread-safe (one writer connection, pooled readers)
  int lock_fd = -1;                      // the data directory's LOCK, held while open for writing

  mutable std::shared_mutex models_mu;  // guards models (the registry), default_model and loaded
  std::map<std::string, ModelEntry> models;
  std::string default_model;
  std::map<std::string, std::shared_ptr<const OnnxModel>> loaded;
  // Which registration of a name is current: a model removed and added again under the same name (even the same
  // file) is another collection, which an index job that started before must leave alone.
  std::map<std::string, uint64_t> generation;
  uint64_t next_generation = 1;

  // Serialises writes to the store + catalog pair: one index batch commit, one removal, one model change at a
  // time. Held for one step, never for a whole index run.
  std::mutex write_mu;

  // Counts RemovePaths/RemoveIds/RemoveModel calls, so that a running index job knows to reload the catalog.
  std::atomic<uint64_t> removals{0};

  std::mutex trash_mu;                  // one trash batch (apply or undo) at a time

  std::mutex job_mu;                    // guards job
  std::shared_ptr<IndexJobImpl> job;    // the running (or last) index job

  ~Impl();
  Status SaveRegistry(const std::string& data_dir) const;  // caller holds models_mu (shared or unique)
  // Removes a picture from every collection and from the catalog. Caller holds write_mu.
  Status RemovePicture(int64_t id);
  // The default after the default model went away (caller holds models_mu): the built-in default if registered,
  // else the first model by name, else "".
  std::string FallbackDefault() const;
  // Search of one collection with a query vector already made (and expanded): k hits (never silently fewer when k
  // entities match), `self` left out, the catalog's paths of each picture (search.cc).
  Result<std::vector<Hit>> SearchVector(Collection* coll, const std::vector<float>& v, int64_t self,
                                        const SearchOptions& o);
  int64_t SelfId(const SearchQuery& q, const SearchOptions& o) const;
  // The plain search's shortlist (its best max(4 k, 100) pictures) ordered again by `score`: one similarity per
  // picture, given their ids and vectors (row-major), best first; `distance` is what the collection's metric gives
  // unit vectors with that similarity (search.cc).
  using ShortlistScore =
      std::function<Result<std::vector<float>>(const std::vector<int64_t>& ids, const std::vector<float>& x)>;
  Result<std::vector<Hit>> Rerank(const std::shared_ptr<Collection>& coll, const std::vector<float>& v,
                                  int64_t self, const SearchOptions& o, const ShortlistScore& score);
  // SearchOptions::whiten: the shortlist re-ranked by whitened similarity.
  Result<std::vector<Hit>> SearchWhitened(const std::shared_ptr<Collection>& coll, const std::vector<float>& v,
                                          int64_t self, const SearchOptions& o);
  // SearchOptions::dba: the shortlist re-ranked by similarity to its augmented vectors; `query_id` (0: none) the
  // query's own picture when it is in the collection (augmented too).
  Result<std::vector<Hit>> SearchAugmented(const std::shared_ptr<Collection>& coll, const std::vector<float>& v,
                                           int64_t query_id, int64_t self, const SearchOptions& o);
  // The collection's whitening: learned on first use and again once its size moved by a quarter; kept in memory
  // and in whiten_dir (one file per collection, with the model fingerprint and the size it was learned at, written
  // by any process that learned it, read-only ones included), so that another process (the next CLI search) reads it
  // instead of learning it again.
  Result<std::shared_ptr<const Whitening>> WhiteningFor(const std::shared_ptr<Collection>& coll);
  std::string WhiteningPath(const std::string& collection) const { return whiten_dir + "/" + collection + ".bin"; }
  std::string whiten_dir;  // DATA/whitening
  struct FittedWhitening {
    std::weak_ptr<Collection> collection;  // expired or another object: the collection was dropped
    std::shared_ptr<const Whitening> whitening;
    int64_t count = 0;                     // the collection's size when it was learned
  };
  std::mutex whiten_mu;  // guards whitenings; held while one is learned
  std::map<std::string, FittedWhitening> whitenings;  // by collection name
  // The registered models' names (a snapshot).
  std::vector<std::string> ModelNames() const;
  // Stores the near-copy record of every catalogued picture that lacks one and drops those of pictures gone
  // (duplicates.cc). Caller: an index job, after its last commit (its pipeline made the records of the pictures it
  // embedded: this catches the rest); `cancelled` is polled between pictures.
  // Returns how many it made.
  Result<int64_t> UpdateHashes(const std::function<bool()>& cancelled);
};

}  // namespace doppel
