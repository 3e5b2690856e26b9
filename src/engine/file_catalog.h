// Internal: the file catalog (catalog.db, SQLite in WAL mode, synchronous=FULL): which paths were indexed with
// which content, and which pictures (content ids) are in which model's collection. It is what makes re-indexing
// cheap (path + size + mtime) and resumable: the engine writes a batch's vectors to the store first and records it
// here after, so a crash in between only means that batch is embedded again (upserts by content id are idempotent).
// Thread-safe: writes go through one writer connection (serialised by a mutex; each is one transaction), reads
// through a small pool of read connections, so a read never queues behind a writer's transaction or its fsync (WAL).
// A catalog opened read-only (another process writes it) has no writer connection; writes fail with
// FailedPrecondition.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "doppel/util/status.h"

namespace doppel::sqlite {
class Db;
}

namespace doppel {

struct FileRecord {
  std::string path;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t id = 0;  // content id
  std::string hash;
  std::string format;
  int width = 0;
  int height = 0;
};

// A file that failed to decode, remembered with its size and mtime so an unchanged bad file is not retried.
struct FailedRecord {
  std::string path;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  std::string error;
};

class FileCatalog {
 public:
  // Opens (creating if needed, unless read_only) the catalog database at `path`.
  static Result<std::unique_ptr<FileCatalog>> Open(const std::string& path, bool read_only = false);
  ~FileCatalog();

  Result<std::unordered_map<std::string, FileRecord>> LoadFiles();
  Result<std::unordered_map<std::string, FailedRecord>> LoadFailed();
  // Content ids already stored in the collection of the model with this fingerprint.
  Result<std::unordered_set<int64_t>> DoneIds(const std::string& fingerprint);

  struct Batch {
    std::vector<FileRecord> files;                        // insert or replace by path
    std::vector<std::pair<int64_t, std::string>> done;    // (id, fingerprint)
    std::vector<FailedRecord> failed;                     // insert or replace by path
    std::vector<std::string> clear_failed;                // paths that now succeeded
  };
  // One transaction: all of it or nothing.
  Status Commit(const Batch& batch);

  Result<std::optional<FileRecord>> Find(const std::string& path);
  Result<std::vector<std::string>> PathsOf(int64_t id);
  Result<std::unordered_map<int64_t, std::vector<std::string>>> PathsOfMany(const std::vector<int64_t>& ids);
  // Removes a path (files and failed); returns its id or 0.
  Result<int64_t> RemovePath(const std::string& path);
  // Forgets a picture entirely: its paths and done rows.
  Status RemoveId(int64_t id);
  Status RemoveModel(const std::string& fingerprint);
  Result<int64_t> CountFiles();

 private:
  FileCatalog() = default;
  // A read connection from the pool (opened on demand), returned by the lease's destructor.
  class ReadLease;
  Result<ReadLease> Read();
  Status CheckWritable() const;

  std::string path_;
  bool read_only_ = false;
  std::mutex write_mu_;
  std::unique_ptr<sqlite::Db> db_;  // the writer connection (write_mu_); null when read-only
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<sqlite::Db>> idle_;  // read connections not in use (pool_mu_)
};

}  // namespace doppel
