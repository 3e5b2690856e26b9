#include "sqlite/db.h"

#include <memory>

namespace doppel::sqlite {

Stmt::~Stmt() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
  }
  return *this;
}

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error("step");
}

Status Stmt::Run() {
  while (true) {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) continue;
    if (rc == SQLITE_DONE) break;
    Status s = db_->Error("step");
    Reset();
    return s;
  }
  Reset();
  return Status::OK();
}

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, const DbOptions& o) {
  std::unique_ptr<Db> db(new Db());
  db->path_ = path;
  int flags = SQLITE_OPEN_NOMUTEX | (o.read_only ? SQLITE_OPEN_READONLY
                                                 : (SQLITE_OPEN_READWRITE | (o.create ? SQLITE_OPEN_CREATE : 0)));
  int rc = sqlite3_open_v2(path.c_str(), &db->db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_CANTOPEN && !o.create) return Status::NotFound("database " + path + " does not exist");
    return db->Error("open");
  }
  sqlite3_extended_result_codes(db->db_, 1);
  sqlite3_busy_timeout(db->db_, o.busy_timeout_ms);
  if (!o.read_only) {
    // The page size only takes effect on a new database, and must be set before WAL.
    if (o.create && o.page_size > 0)
      DOPPEL_RETURN_IF_ERROR(db->Exec("PRAGMA page_size=" + std::to_string(o.page_size)));
    DOPPEL_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  }
  DOPPEL_RETURN_IF_ERROR(db->Exec(o.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  // Catch damage at open rather than midway: a damaged header or schema fails here.
  DOPPEL_RETURN_IF_ERROR(db->Exec("SELECT count(*) FROM sqlite_master"));
  return db;
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

Status Db::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    std::string what = "database " + path_ + ": " + msg + " (in '" + sql.substr(0, 60) + "')";
    int prim = rc & 0xff;
    if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB) return Status::Corruption(what);
    return Status::IOError(what);
  }
  return Status::OK();
}

Result<Stmt> Db::Prepare(const std::string& sql) {
  Stmt st;
  st.db_ = this;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &st.stmt_, nullptr);
  if (rc != SQLITE_OK) return Error("prepare '" + sql.substr(0, 60) + "'");
  return st;
}

Status Db::Error(const std::string& what) const {
  int rc = db_ ? sqlite3_extended_errcode(db_) : SQLITE_CANTOPEN;
  std::string msg = "database " + path_ + ": " + what + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
  int prim = rc & 0xff;
  if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB) return Status::Corruption(msg);
  if (prim == SQLITE_CONSTRAINT) return Status::AlreadyExists(msg);
  return Status::IOError(msg);
}

Transaction::~Transaction() {
  if (open_) (void)db_->Exec("ROLLBACK");  // nothing to report from a destructor: the transaction is void anyway
}

Status Transaction::Commit() {
  Status s = db_->Exec("COMMIT");
  if (s.ok()) open_ = false;
  return s;
}

}  // namespace doppel::sqlite
