// Internal: the embedded Collection. Layout of its folder:
//   data.db           SQLite (WAL, synchronous=FULL): the source of truth. Tables: meta (schema, next auto id),
//                     user_meta (GetMetadata/SetMetadata), entities (seq AUTOINCREMENT, id UNIQUE, vector BLOB,
//                     one "f_<field>" column per scalar field).
//   index.meta        the current index snapshot's header: watermark (last entities.seq it contains), slot table
//                     (slot -> id), the name, size and checksum of the index file. Written last, atomically.
//   index-<gen>.bin   the index engine's own file for that snapshot.
//
// In memory: slot table, live bitmap, scalar columns and the index. Every write is committed to SQLite first (one
// transaction per batch, fsync'd, while readers keep searching) and then applied to memory under a short exclusive
// lock, so readers (shared lock) see a batch entirely or not at all, never wait for an fsync, and never see data
// that is not durable. A crash between COMMIT and the memory update loses nothing: the next open replays it.
//
// Read-only mode (another process may be writing the collection): the collection is opened on SQLite read
// connections and shows the state committed when it was opened. The snapshot index is loaded as is; the rows
// committed after its watermark (or every row, when there is no usable snapshot) go into an exact "delta" index
// instead of being inserted into the approximate one, so opening stays as cheap as reading the rows. Searches
// merge both. Nothing is ever written: no snapshot, no WAL checkpoint that changes data.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "doppel/store/store.h"
#include "store/columns.h"
#include "store/rw_lock.h"
#include "sqlite/db.h"
#include "store/vector_index.h"

namespace doppel {

class LocalCollection final : public Collection {
 public:
  // Creates the database of a new collection in `dir` (which must exist and be empty).
  static Status Create(const std::string& dir, const CollectionSchema& schema);
  // Opens an existing collection, loading or rebuilding its index (crash recovery).
  static Result<std::shared_ptr<LocalCollection>> Open(const std::string& dir, const LocalStoreOptions& options);
  ~LocalCollection() override;

  const CollectionSchema& schema() const override { return schema_; }
  Result<CollectionInfo> Describe() override;
  Result<std::vector<int64_t>> Insert(const std::vector<Entity>& entities) override;
  Result<std::vector<int64_t>> Upsert(const std::vector<Entity>& entities) override;
  Result<int64_t> Delete(const std::vector<int64_t>& ids) override;
  Result<int64_t> DeleteByFilter(const std::string& filter) override;
  Result<std::vector<Entity>> Get(const std::vector<int64_t>& ids,
                                  const std::vector<std::string>& output_fields) override;
  Result<std::vector<Entity>> Query(const QueryRequest& request) override;
  Result<int64_t> Count(const std::string& filter) override;
  Result<SearchResults> Search(const SearchRequest& request) override;
  Result<std::string> GetMetadata(const std::string& key) override;
  Status SetMetadata(const std::string& key, const std::string& value) override;
  Status Flush() override;
  Status Compact() override;

  // Called by the store before it deletes the folder: later calls fail with NotFound. Saves nothing.
  void MarkDropped();

 private:
  LocalCollection() = default;
  Status Load();
  Status LoadSnapshot(int64_t* watermark);
  Status SaveSnapshotLocked();  // writer_mu_ held
  Result<std::vector<int64_t>> Write(const std::vector<Entity>& entities, bool upsert);
  Result<int64_t> DeleteIds(const std::vector<int64_t>& ids);
  Status CheckOpen() const;
  Status CheckWritable() const;  // CheckOpen, and FailedPrecondition in read-only mode
  // Read-only mode: search the snapshot index and the delta index and merge. Shared lock held.
  Status SearchWithDelta(const uint8_t* codes, size_t nq, const IndexSearchParams& p, bool blank,
                         const Bitmap* filtered, std::vector<SlotHits>* hits) const;
  // Validates an entity and returns its vector in index form (normalised for COSINE). `i` is its batch position.
  Status ValidateEntity(const Entity& e, size_t i, std::vector<uint8_t>* code) const;
  Status ValidateQueries(const SearchRequest& r, std::vector<uint8_t>* codes, size_t* nq) const;
  // The live slots matching `filter` (all live slots when empty). Shared lock held.
  Result<Bitmap> Match(const std::string& filter) const;
  Status CheckOutputFields(const std::vector<std::string>& names, bool* want_vector) const;
  Status FillEntity(uint32_t slot, const std::vector<std::string>& names, bool all_fields, bool want_vector,
                    Entity* e) const;
  Status ReadVector(int64_t id, Entity* e) const;
  uint32_t SlotFor(int64_t id);  // exclusive lock held; assigns a new slot if needed
  Status MaybeSnapshot();
  void Warn(const std::string& msg) const;
  std::string Where() const { return "collection '" + schema_.name + "'"; }

  std::string dir_;
  LocalStoreOptions options_;
  CollectionSchema schema_;
  size_t code_bytes_ = 0;
  std::atomic<bool> dropped_{false};

  // Writers: one at a time. Order: writer_mu_ before mu_.
  std::mutex writer_mu_;
  std::unique_ptr<sqlite::Db> db_;  // write connection; writer_mu_
  int64_t next_auto_id_ = 1;        // writer_mu_
  int64_t snapshot_watermark_ = 0;  // writer_mu_ (read under mu_ by Describe)
  int64_t snapshot_gen_ = 0;        // writer_mu_
  int64_t changes_since_snapshot_ = 0;  // writer_mu_

  // Read connection for vectors and metadata (SQLite connections are single-threaded).
  mutable std::mutex read_mu_;
  std::unique_ptr<sqlite::Db> read_db_;

  // In-memory state: shared for reads, exclusive to apply a committed batch.
  mutable RwLock mu_;
  std::vector<int64_t> slot_ids_;                 // slot -> id (ids of dead slots kept for reuse)
  std::unordered_map<int64_t, uint32_t> id_slot_;  // id -> slot, for every slot
  Bitmap alive_;                                  // slot holds a live entity
  int64_t live_count_ = 0;
  std::vector<Column> columns_;                   // schema_.fields order, each slot_ids_.size() long
  std::unique_ptr<VectorIndex> index_;
  int64_t last_seq_ = 0;                          // highest entities.seq applied to memory

  // Read-only mode only (fixed after Load): the exact index of rows newer than the snapshot, which slots it holds,
  // and the live slots each index answers for (a slot in the delta is never taken from the snapshot index, whose
  // vector for it may be older).
  bool read_only_ = false;
  std::unique_ptr<VectorIndex> delta_;
  Bitmap in_delta_;
  Bitmap main_alive_, delta_alive_;
  size_t main_alive_count_ = 0, delta_alive_count_ = 0;
};

}  // namespace doppel
