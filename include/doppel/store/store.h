// The vector store interface: a set of named collections of (id, vector, scalar fields) entities with exact and
// approximate nearest-neighbour search, filtered by expressions over the scalar fields.
//
// Two implementations are meant to sit behind it: the embedded one (OpenLocalStore, one process, one data
// directory, durable like SQLite) and, later, a remote Milvus one. Callers hold VectorStore/Collection pointers and
// never learn which they got.
//
// Thread safety: every method of both classes may be called from any number of threads at once. Reads (Get, Query,
// Count, Search, Describe, GetMetadata) run concurrently; writes are serialised. A write is atomic: readers see all
// of a batch or none of it. A write that returned OK is durable (it survives kill -9 and power loss).
// No method throws.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "doppel/store/schema.h"
#include "doppel/util/status.h"

namespace doppel {

class Collection {
 public:
  virtual ~Collection() = default;

  virtual const CollectionSchema& schema() const = 0;
  virtual Result<CollectionInfo> Describe() = 0;

  // Adds new entities atomically; fails (adding none) if any id already exists or repeats within the batch, or if
  // any entity is invalid. Returns the ids in input order (assigned ones for auto_id collections).
  virtual Result<std::vector<int64_t>> Insert(const std::vector<Entity>& entities) = 0;
  // Inserts or replaces entities by id, atomically. Every entity must carry its id, also in auto_id collections.
  virtual Result<std::vector<int64_t>> Upsert(const std::vector<Entity>& entities) = 0;
  // Deletes the given ids (absent ones are ignored). Returns how many entities were deleted.
  virtual Result<int64_t> Delete(const std::vector<int64_t>& ids) = 0;
  // Deletes the entities matching a non-empty filter (an empty one is InvalidArgument).
  virtual Result<int64_t> DeleteByFilter(const std::string& filter) = 0;

  // The entities with these ids, in the order asked, skipping absent ids. output_fields as in QueryRequest; empty
  // means all scalar fields (not the vector).
  virtual Result<std::vector<Entity>> Get(const std::vector<int64_t>& ids,
                                          const std::vector<std::string>& output_fields = {}) = 0;
  // Entities matching a filter, in ascending id order, paged by limit/offset.
  virtual Result<std::vector<Entity>> Query(const QueryRequest& request) = 0;
  virtual Result<int64_t> Count(const std::string& filter = "") = 0;

  // Top-k for each query vector among the entities matching the filter. The filter applies before the top-k cut:
  // with an exact index, each list has min(k, matching) hits.
  virtual Result<SearchResults> Search(const SearchRequest& request) = 0;

  // Small opaque per-collection strings (e.g. the embedding model's fingerprint), stored durably.
  virtual Result<std::string> GetMetadata(const std::string& key) = 0;  // NotFound when unset
  virtual Status SetMetadata(const std::string& key, const std::string& value) = 0;

  // Makes the derived index durable now (an embedded store also does this on close and every so many changes),
  // so the next open does not replay or rebuild. A remote backend may treat it as a flush.
  virtual Status Flush() = 0;
  // Rebuilds the index without deleted entities.
  virtual Status Compact() = 0;
};

class VectorStore {
 public:
  virtual ~VectorStore() = default;

  virtual Status CreateCollection(const CollectionSchema& schema) = 0;  // AlreadyExists when the name is taken
  // Removes the collection and its data. Collection handles still held by callers then fail with NotFound.
  virtual Status DropCollection(const std::string& name) = 0;
  virtual Result<std::vector<std::string>> ListCollections() = 0;  // sorted by name
  virtual Result<bool> HasCollection(const std::string& name) = 0;
  virtual Result<CollectionInfo> DescribeCollection(const std::string& name) = 0;
  // The handle is shared: every caller that asks for the same name gets the same object. NotFound names the
  // collection.
  virtual Result<std::shared_ptr<Collection>> GetCollection(const std::string& name) = 0;
};

struct LocalStoreOptions {
  // Snapshot an ANN index after this many changes since the last snapshot (also done on close and Flush()).
  int64_t snapshot_every = 200000;
  // Where warnings (e.g. "index snapshot damaged, rebuilding") go; defaults to stderr.
  void (*warn)(const std::string& message) = nullptr;
  // Open for reading only, alongside a writer in another process (or none): no lock is taken, nothing is written,
  // every write fails with FailedPrecondition. Each collection shows what was committed when it was first opened
  // (GetCollection); open the store again to see newer data.
  bool read_only = false;
};

// Opens (creating if needed) the embedded store in `dir`. One process at a time may hold a data directory open for
// writing: a second writer fails with FailedPrecondition naming the process that holds it (its pid and command
// line are written into <dir>/LOCK). Read-only opens (options.read_only) take no lock and may run in any number of
// processes beside the writer; they fail with NotFound when there is no store in `dir`. A collection is opened on its first GetCollection
// (or DescribeCollection): that is where recovery after a crash happens (loading the index snapshot and replaying
// the changes after its watermark, or rebuilding a missing/damaged index from the durable data).
Result<std::unique_ptr<VectorStore>> OpenLocalStore(const std::string& dir, const LocalStoreOptions& options = {});

}  // namespace doppel
