#include "file_catalog.h"

#include "sqlite/db.h"

namespace doppel {
namespace {

constexpr char kFileColumns[] = "path, size, mtime_ns, id, hash, format, width, height";

FileRecord RowToRecord(const sqlite::Stmt& s) {
  FileRecord r;
  r.path = std::string(s.ColumnText(0));
  r.size = s.ColumnInt(1);
  r.mtime_ns = s.ColumnInt(2);
  r.id = s.ColumnInt(3);
  r.hash = std::string(s.ColumnText(4));
  r.format = std::string(s.ColumnText(5));
  r.width = static_cast<int>(s.ColumnInt(6));
  r.height = static_cast<int>(s.ColumnInt(7));
  return r;
}

}  // namespace

class FileCatalog::ReadLease {
 public:
  ReadLease(FileCatalog* c, std::unique_ptr<sqlite::Db> db) : c_(c), db_(std::move(db)) {}
  ReadLease(ReadLease&& o) noexcept = default;
  ~ReadLease() {
    if (!db_) return;
    std::lock_guard<std::mutex> l(c_->pool_mu_);
    if (c_->idle_.size() < 8) c_->idle_.push_back(std::move(db_));
  }
  sqlite::Db* operator->() { return db_.get(); }

 private:
  FileCatalog* c_;
  std::unique_ptr<sqlite::Db> db_;
};

FileCatalog::~FileCatalog() = default;

Result<std::unique_ptr<FileCatalog>> FileCatalog::Open(const std::string& path, bool read_only) {
  std::unique_ptr<FileCatalog> c(new FileCatalog());
  c->path_ = path;
  c->read_only_ = read_only;
  if (read_only) {
    // Check now that it opens; it becomes the first pooled read connection.
    auto lease = c->Read();
    if (!lease.ok()) return lease.status();
    return c;
  }
  // The catalog's rows are small: SQLite's default page size. synchronous=FULL: a recorded batch is durable.
  sqlite::DbOptions o;
  o.create = true;
  DOPPEL_ASSIGN_OR_RETURN(c->db_, sqlite::Db::Open(path, o));
  DOPPEL_RETURN_IF_ERROR(c->db_->Exec(
      "CREATE TABLE IF NOT EXISTS files(path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
      " id INTEGER NOT NULL, hash TEXT NOT NULL, format TEXT, width INTEGER, height INTEGER);"
      "CREATE INDEX IF NOT EXISTS files_by_id ON files(id);"
      "CREATE TABLE IF NOT EXISTS done(id INTEGER NOT NULL, model TEXT NOT NULL, PRIMARY KEY(id, model));"
      "CREATE TABLE IF NOT EXISTS failed(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, error TEXT);"));
  return c;
}

Result<FileCatalog::ReadLease> FileCatalog::Read() {
  {
    std::lock_guard<std::mutex> l(pool_mu_);
    if (!idle_.empty()) {
      std::unique_ptr<sqlite::Db> db = std::move(idle_.back());
      idle_.pop_back();
      return ReadLease(this, std::move(db));
    }
  }
  sqlite::DbOptions o;
  o.read_only = true;
  DOPPEL_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Db> db, sqlite::Db::Open(path_, o));
  return ReadLease(this, std::move(db));
}

Status FileCatalog::CheckWritable() const {
  if (read_only_) return Status::FailedPrecondition("file catalog " + path_ + " is open read-only");
  return Status::OK();
}

Result<std::unordered_map<std::string, FileRecord>> FileCatalog::LoadFiles() {
  DOPPEL_ASSIGN_OR_RETURN(ReadLease db, Read());
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt s, db->Prepare(std::string("SELECT ") + kFileColumns + " FROM files"));
  std::unordered_map<std::string, FileRecord> out;
  for (;;) {
    DOPPEL_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    FileRecord r = RowToRecord(s);
    out.emplace(r.path, std::move(r));
  }
  return out;
}

Result<std::unordered_map<std::string, FailedRecord>> FileCatalog::LoadFailed() {
  DOPPEL_ASSIGN_OR_RETURN(ReadLease db, Read());
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt s, db->Prepare("SELECT path, size, mtime_ns, error FROM failed"));
  std::unordered_map<std::string, FailedRecord> out;
  for (;;) {
    DOPPEL_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    FailedRecord r{std::string(s.ColumnText(0)), s.ColumnInt(1), s.ColumnInt(2), std::string(s.ColumnText(3))};
    out.emplace(r.path, std::move(r));
  }
  return out;
}

Result<std::unordered_set<int64_t>> FileCatalog::DoneIds(const std::string& fingerprint) {
  DOPPEL_ASSIGN_OR_RETURN(ReadLease db, Read());
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt s, db->Prepare("SELECT id FROM done WHERE model = ?"));
  s.BindText(1, fingerprint);
  std::unordered_set<int64_t> out;
  for (;;) {
    DOPPEL_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.insert(s.ColumnInt(0));
  }
  return out;
}

Status FileCatalog::Commit(const Batch& b) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard<std::mutex> w(write_mu_);
  sqlite::Transaction tx(db_.get());
  DOPPEL_RETURN_IF_ERROR(tx.Begin());
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt f, db_->Prepare("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?)"));
  for (const auto& r : b.files) {
    f.BindText(1, r.path);
    f.BindInt(2, r.size);
    f.BindInt(3, r.mtime_ns);
    f.BindInt(4, r.id);
    f.BindText(5, r.hash);
    f.BindText(6, r.format);
    f.BindInt(7, r.width);
    f.BindInt(8, r.height);
    DOPPEL_RETURN_IF_ERROR(f.Run());
  }
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt d, db_->Prepare("INSERT OR IGNORE INTO done VALUES (?,?)"));
  for (const auto& [id, model] : b.done) {
    d.BindInt(1, id);
    d.BindText(2, model);
    DOPPEL_RETURN_IF_ERROR(d.Run());
  }
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt x, db_->Prepare("INSERT OR REPLACE INTO failed VALUES (?,?,?,?)"));
  for (const auto& r : b.failed) {
    x.BindText(1, r.path);
    x.BindInt(2, r.size);
    x.BindInt(3, r.mtime_ns);
    x.BindText(4, r.error);
    DOPPEL_RETURN_IF_ERROR(x.Run());
  }
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt c, db_->Prepare("DELETE FROM failed WHERE path = ?"));
  for (const auto& p : b.clear_failed) {
    c.BindText(1, p);
    DOPPEL_RETURN_IF_ERROR(c.Run());
  }
  return tx.Commit();
}

Result<std::optional<FileRecord>> FileCatalog::Find(const std::string& path) {
  DOPPEL_ASSIGN_OR_RETURN(ReadLease db, Read());
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt s,
                          db->Prepare(std::string("SELECT ") + kFileColumns + " FROM files WHERE path = ?"));
  s.BindText(1, path);
  DOPPEL_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<FileRecord>();
  return std::optional<FileRecord>(RowToRecord(s));
}

Result<std::vector<std::string>> FileCatalog::PathsOf(int64_t id) {
  DOPPEL_ASSIGN_OR_RETURN(ReadLease db, Read());
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt s, db->Prepare("SELECT path FROM files WHERE id = ? ORDER BY path"));
  s.BindInt(1, id);
  std::vector<std::string> out;
  for (;;) {
    DOPPEL_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.emplace_back(s.ColumnText(0));
  }
  return out;
}

Result<std::unordered_map<int64_t, std::vector<std::string>>> FileCatalog::PathsOfMany(
    const std::vector<int64_t>& ids) {
  std::unordered_map<int64_t, std::vector<std::string>> out;
  for (int64_t id : ids) {
    if (out.count(id)) continue;
    DOPPEL_ASSIGN_OR_RETURN(out[id], PathsOf(id));
  }
  return out;
}

Result<int64_t> FileCatalog::RemovePath(const std::string& path) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard<std::mutex> w(write_mu_);
  sqlite::Transaction tx(db_.get());
  DOPPEL_RETURN_IF_ERROR(tx.Begin());
  int64_t id = 0;
  {
    DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt f, db_->Prepare("SELECT id FROM files WHERE path = ?"));
    f.BindText(1, path);
    DOPPEL_ASSIGN_OR_RETURN(bool row, f.Step());
    if (row) id = f.ColumnInt(0);
  }
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt a, db_->Prepare("DELETE FROM files WHERE path = ?"));
  a.BindText(1, path);
  DOPPEL_RETURN_IF_ERROR(a.Run());
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt b, db_->Prepare("DELETE FROM failed WHERE path = ?"));
  b.BindText(1, path);
  DOPPEL_RETURN_IF_ERROR(b.Run());
  DOPPEL_RETURN_IF_ERROR(tx.Commit());
  return id;
}

Status FileCatalog::RemoveId(int64_t id) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard<std::mutex> w(write_mu_);
  sqlite::Transaction tx(db_.get());
  DOPPEL_RETURN_IF_ERROR(tx.Begin());
  for (const char* sql : {"DELETE FROM files WHERE id = ?", "DELETE FROM done WHERE id = ?"}) {
    DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt s, db_->Prepare(sql));
    s.BindInt(1, id);
    DOPPEL_RETURN_IF_ERROR(s.Run());
  }
  return tx.Commit();
}

Status FileCatalog::RemoveModel(const std::string& fingerprint) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard<std::mutex> w(write_mu_);
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt s, db_->Prepare("DELETE FROM done WHERE model = ?"));
  s.BindText(1, fingerprint);
  return s.Run();
}

Result<int64_t> FileCatalog::CountFiles() {
  DOPPEL_ASSIGN_OR_RETURN(ReadLease db, Read());
  DOPPEL_ASSIGN_OR_RETURN(sqlite::Stmt s, db->Prepare("SELECT COUNT(*) FROM files"));
  DOPPEL_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.ColumnInt(0) : int64_t(0);
}

}  // namespace doppel
