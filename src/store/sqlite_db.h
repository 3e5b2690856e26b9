// Internal: a thin RAII layer over the SQLite C API. Errors become Status values naming the database file.
// A Db is used by one thread at a time (the collection serialises access); statements belong to their Db.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "doppel/util/status.h"

namespace doppel::sqlite {

class Db;

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
  // Opens or creates `path` in WAL mode with synchronous=FULL (every committed transaction is fsync'd before
  // COMMIT returns). `create` false: NotFound when absent.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, bool create);
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
