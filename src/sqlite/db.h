// Internal: a thin RAII layer over the SQLite C API, shared by the store (collections' data.db) and the engine's file
// catalog. Errors become Status values naming the database file. A Db (a connection) is used by one thread at a
// time (its owner serialises access, or keeps one connection per reader); statements belong to their Db.
//
// Every database is in WAL mode: any number of reader connections, in this process or others, read the last
// committed state without blocking the one writer and without waiting for its fsyncs.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "doppel/util/status.h"

namespace doppel::sqlite {

class Db;

// How a connection is opened; each user states its own pragmas.
struct DbOptions {
  bool create = false;     // create the file when absent (else NotFound)
  bool read_only = false;  // SQLITE_OPEN_READONLY: never writes, never changes the journal mode
  // Page size of a new database (0 = SQLite's default, 4 KiB). The store uses 64 KiB: a row holds a whole vector.
  int page_size = 0;
  // synchronous=FULL: COMMIT returns only after the WAL is fsync'd, so an acknowledged write survives power loss.
  bool synchronous_full = true;
  int busy_timeout_ms = 10000;  // how long a statement waits for another connection's lock
};

// A prepared statement. Bind indexes are 1-based, column indexes 0-based (as in SQLite).
class Stmt {
 public:
  Stmt() = default;
  ~Stmt();
  Stmt(Stmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  void BindInt(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void BindDouble(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  void BindText(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindBlob(int i, const void* p, size_t n) {
    sqlite3_bind_blob(stmt_, i, p, static_cast<int>(n), SQLITE_TRANSIENT);
  }
  void BindNull(int i) { sqlite3_bind_null(stmt_, i); }
  // Steps once: true when a row is available, false when done; an error status otherwise.
  Result<bool> Step();
  // Steps to completion, then resets for reuse.
  Status Run();
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  int ColumnType(int i) const { return sqlite3_column_type(stmt_, i); }
  int64_t ColumnInt(int i) const { return sqlite3_column_int64(stmt_, i); }
  double ColumnDouble(int i) const { return sqlite3_column_double(stmt_, i); }
  std::string_view ColumnText(int i) const {
    const unsigned char* p = sqlite3_column_text(stmt_, i);
    return p ? std::string_view(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, i))
             : std::string_view();
  }
  const void* ColumnBlob(int i) const { return sqlite3_column_blob(stmt_, i); }
  size_t ColumnBytes(int i) const { return static_cast<size_t>(sqlite3_column_bytes(stmt_, i)); }

 private:
  friend class Db;
  Db* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;  // owned
};

class Db {
 public:
  // Opens `path` as `options` say. NotFound when absent and not `create`.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, const DbOptions& options);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  Status Exec(const std::string& sql);
  Result<Stmt> Prepare(const std::string& sql);
  // An error status naming the file and SQLite's message, with `what` as context.
  Status Error(const std::string& what) const;
  const std::string& path() const { return path_; }
  sqlite3* handle() { return db_; }

 private:
  Db() = default;
  sqlite3* db_ = nullptr;  // owned
  std::string path_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back on destruction unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Db* db) : db_(db) {}
  ~Transaction();
  Status Begin() {
    Status s = db_->Exec("BEGIN IMMEDIATE");
    open_ = s.ok();
    return s;
  }
  Status Commit();

 private:
  Db* db_;
  bool open_ = false;
};

}  // namespace doppel::sqlite
