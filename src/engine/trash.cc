// Engine::ApplyDuplicateDecisions, UndoTrash and ListTrash: carrying out the user's duplicate decisions by moving
// files into the data directory's trash, and moving them back.
//
// Layout: DATA/trash/NAME/journal.json and DATA/trash/NAME/files/<the original absolute path without its '/'>, NAME
// the batch's UTC time (20261130T093012Z, "-2", "-3"... when taken). Walks never enter a data directory, so the trash
// is never indexed.
//
// Crash safety: the journal (state "applying", every planned move) is written durably before the first file moves,
// and again ("applied", the moves done) after the catalog and collections forgot the moved paths. An interrupted
// batch is undone like an applied one: each move is checked on disk, and a file that is in the trash with nothing at
// its old place goes back. Moves are rename(2) within a file system; across file systems a copy to a temporary name
// beside the target, fsync, rename, then unlink of the original (times and permissions kept).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "decisions.h"
#include "doppel/util/file.h"
#include "doppel/util/hash.h"
#include "engine_impl.h"

namespace doppel {
namespace fs = std::filesystem;
namespace {

std::string TrashDir(const std::string& data_dir) { return (fs::path(data_dir) / "trash").string(); }

std::string UtcStamp(const char* format) {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

// Where `from` goes inside batch folder `batch_dir`.
std::string TrashPath(const std::string& batch_dir, const std::string& from) {
  std::string rel = from;
  while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
  return (fs::path(batch_dir) / "files" / rel).string();
}

Status Errno(const std::string& what) { return Status::IOError(what + ": " + std::strerror(errno)); }

// Moves a file to `to` (which must not exist), creating its folders; durable when it returns OK.
Status MoveFile(const std::string& from, const std::string& to) {
  std::error_code ec;
  const fs::path dir = fs::path(to).parent_path();
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError(dir.string() + ": " + ec.message());
  if (fs::exists(fs::symlink_status(to, ec))) return Status::AlreadyExists(to + ": a file is in the way");
  if (::rename(from.c_str(), to.c_str()) != 0) {
    if (errno != EXDEV) return Errno(from + " -> " + to);
    // Another file system: copy beside the target, make it durable, rename it into place, then unlink the original.
    struct stat st;
    if (::stat(from.c_str(), &st) != 0) return Errno(from);
    const std::string tmp = to + ".doppel-partial";
    fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) return Status::IOError(from + " -> " + tmp + ": " + ec.message());
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(AT_FDCWD, tmp.c_str(), times, 0) != 0 || ::chmod(tmp.c_str(), st.st_mode & 07777) != 0)
      return Errno(tmp);
    DOPPEL_RETURN_IF_ERROR(SyncPath(tmp, false));
    if (::rename(tmp.c_str(), to.c_str()) != 0) return Errno(tmp + " -> " + to);
    DOPPEL_RETURN_IF_ERROR(SyncPath(dir.string(), true));
    if (::unlink(from.c_str()) != 0) return Errno(from);
  } else {
    DOPPEL_RETURN_IF_ERROR(SyncPath(dir.string(), true));
  }
  return SyncPath(fs::path(from).parent_path().string(), true);
}

nlohmann::json MovesJson(const std::vector<TrashMove>& ms) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& m : ms) {
    nlohmann::json j{{"id", m.id}, {"from", m.from}, {"to", m.to}, {"bytes", m.bytes}};
    if (!m.note.empty()) j["note"] = m.note;
    a.push_back(std::move(j));
  }
  return a;
}

std::vector<TrashMove> MovesFromJson(const nlohmann::json& a) {
  std::vector<TrashMove> out;
  if (!a.is_array()) return out;
  for (const auto& j : a) {
    TrashMove m;
    m.id = j.value("id", int64_t(0));
    m.from = j.value("from", "");
    m.to = j.value("to", "");
    m.bytes = j.value("bytes", int64_t(0));
    m.note = j.value("note", "");
    out.push_back(std::move(m));
  }
  return out;
}

Status WriteJournal(const std::string& batch_dir, const TrashBatch& b) {
  nlohmann::json j{{"version", 1},       {"name", b.name},   {"state", b.state},
                   {"created", b.created}, {"bytes", b.bytes}, {"moves", MovesJson(b.moves)},
                   {"skipped", MovesJson(b.skipped)}};
  return WriteFileAtomic((fs::path(batch_dir) / "journal.json").string(), j.dump(1) + "\n");
}

Result<TrashBatch> ReadJournal(const std::string& batch_dir) {
  const std::string path = (fs::path(batch_dir) / "journal.json").string();
  DOPPEL_ASSIGN_OR_RETURN(std::string text, ReadFileBytes(path, int64_t(1) << 30));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("moves")) return Status::Corruption(path + ": not a journal");
  TrashBatch b;
  b.name = j.value("name", fs::path(batch_dir).filename().string());
  b.state = j.value("state", "applying");
  b.created = j.value("created", "");
  b.bytes = j.value("bytes", int64_t(0));
  b.moves = MovesFromJson(j["moves"]);
  b.skipped = MovesFromJson(j.value("skipped", nlohmann::json::array()));
  return b;
}

bool Exists(const std::string& p) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(p, ec));
}

// Removes the empty folders under `dir` (bottom up), `dir` included when it ends up empty.
void RemoveEmptyDirs(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec) && !e.is_symlink(ec)) RemoveEmptyDirs(e.path());
  if (fs::is_empty(dir, ec)) fs::remove(dir, ec);
}

}  // namespace

Result<TrashBatch> Engine::ApplyDuplicateDecisions(bool dry_run) {
  if (!dry_run) DOPPEL_RETURN_IF_ERROR(CheckWritable());
  if (!dry_run && RunningIndexJob())
    return Status::FailedPrecondition("an index job is running: apply the decisions when it has finished");
  DOPPEL_ASSIGN_OR_RETURN(std::vector<Decision> decisions, LoadDecisions(options_.data_dir));
  std::set<int64_t> kept;  // by any decision: never moved
  for (const auto& d : decisions) kept.insert(d.keep.begin(), d.keep.end());

  TrashBatch b;
  b.state = dry_run ? "dry-run" : "applying";
  b.created = UtcStamp("%Y-%m-%dT%H:%M:%SZ");
  std::map<std::string, TrashMove> planned;  // by path: two decisions may name one picture
  std::map<std::string, TrashMove> skipped;
  for (const auto& d : decisions) {
    if (d.KeepsAll() && d.keep_paths.empty()) continue;  // "not duplicates": nothing to move
    std::map<int64_t, std::vector<std::string>> paths_of;
    for (int64_t id : d.ids) {
      DOPPEL_ASSIGN_OR_RETURN(std::vector<std::string> ps, impl_->catalog->PathsOf(id));
      paths_of[id] = std::move(ps);
    }
    // What this decision keeps must still be there: at least one kept path on disk.
    bool keeper_alive = false;
    for (int64_t id : d.keep)
      for (const auto& p : paths_of[id])
        if (d.KeepsPath(p, paths_of[id]) && Exists(p)) keeper_alive = true;
    for (int64_t id : d.ids)
      for (const auto& p : paths_of[id]) {
        const bool keeps_picture = d.Keeps(id);
        if (keeps_picture && d.KeepsPath(p, paths_of[id])) continue;
        TrashMove m;
        m.id = id;
        m.from = p;
        if (!keeper_alive)
          m.note = "the picture this decision keeps has no file any more";
        else if (!keeps_picture && kept.count(id))
          m.note = "another decision keeps this picture";
        if (!m.note.empty()) {
          skipped[p] = m;
        } else {
          planned[p] = m;
        }
      }
  }
  // A file moves only if its bytes are still the picture that was decided about.
  for (auto it = planned.begin(); it != planned.end();) {
    TrashMove& m = it->second;
    auto bytes = ReadFileBytes(m.from, options_.embed.max_file_bytes);
    if (!bytes.ok()) {
      m.note = bytes.status().code() == Status::Code::kNotFound ? "the file is gone" : bytes.status().ToString();
    } else if (ContentId(Sha256Hex(*bytes)) != m.id) {
      m.note = "the file changed since it was indexed (index it again, then decide)";
    } else {
      m.bytes = int64_t(bytes->size());
    }
    if (!m.note.empty()) {
      skipped[it->first] = m;
      it = planned.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [p, m] : skipped) b.skipped.push_back(m);
  if (dry_run || planned.empty()) {
    for (auto& [p, m] : planned) {
      b.moves.push_back(m);
      b.bytes += m.bytes;
    }
    if (!dry_run) b.state = "applied";  // nothing to move: no batch folder
    return b;
  }

  std::lock_guard<std::mutex> tlock(impl_->trash_mu);
  const std::string trash = TrashDir(options_.data_dir);
  const std::string base = UtcStamp("%Y%m%dT%H%M%SZ");
  b.name = base;
  for (int n = 2; Exists((fs::path(trash) / b.name).string()); ++n) b.name = base + "-" + std::to_string(n);
  const std::string batch_dir = (fs::path(trash) / b.name).string();
  std::error_code ec;
  fs::create_directories(batch_dir, ec);
  if (ec) return Status::IOError(batch_dir + ": " + ec.message());
  for (auto& [p, m] : planned) {
    m.to = TrashPath(batch_dir, m.from);
    b.moves.push_back(m);
  }
  DOPPEL_RETURN_IF_ERROR(WriteJournal(batch_dir, b));  // the intent, before anything moves

  std::vector<TrashMove> done;
  for (auto& m : b.moves) {
    Status st = MoveFile(m.from, m.to);
    if (!st.ok()) {
      m.note = st.ToString();
      b.skipped.push_back(m);
      continue;
    }
    done.push_back(m);
    b.bytes += m.bytes;
  }
  b.moves = std::move(done);
  // The catalog and the collections forget the moved paths (a picture goes when no path shows it any more).
  Status forget;
  for (const auto& m : b.moves) {
    auto r = RemovePaths({m.from});
    if (!r.ok() && r.status().code() != Status::Code::kNotFound && forget.ok()) forget = r.status();
  }
  b.state = forget.ok() ? "applied" : "applying";
  DOPPEL_RETURN_IF_ERROR(WriteJournal(batch_dir, b));
  DOPPEL_RETURN_IF_ERROR(forget.WithContext("the files were moved into " + batch_dir +
                                            " but the catalog could not forget them (`doppel index --prune` will)"));
  return b;
}

Result<std::vector<TrashBatch>> Engine::ListTrash() {
  std::vector<TrashBatch> out;
  const std::string trash = TrashDir(options_.data_dir);
  std::error_code ec;
  if (!fs::is_directory(trash, ec)) return out;
  for (const auto& e : fs::directory_iterator(trash, ec)) {
    if (!e.is_directory(ec)) continue;
    auto b = ReadJournal(e.path().string());
    if (b.ok()) out.push_back(std::move(b).value());
  }
  std::sort(out.begin(), out.end(), [](const TrashBatch& a, const TrashBatch& b) { return a.name > b.name; });
  return out;
}

Result<TrashBatch> Engine::UndoTrash(const std::string& name) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  if (RunningIndexJob()) return Status::FailedPrecondition("an index job is running: undo when it has finished");
  if (name.find('/') != std::string::npos || name == "." || name == "..")
    return Status::InvalidArgument("batch name '" + name + "': a name from `doppel duplicates undo --list`");
  TrashBatch b;
  {
    std::lock_guard<std::mutex> tlock(impl_->trash_mu);
    DOPPEL_ASSIGN_OR_RETURN(std::vector<TrashBatch> all, ListTrash());
    auto it = std::find_if(all.begin(), all.end(), [&](const TrashBatch& x) {
      return name.empty() ? x.state == "applied" || x.state == "applying" : x.name == name;
    });
    if (it == all.end())
      return Status::NotFound(name.empty() ? "nothing to undo: the trash has no applied batch"
                                           : "no trash batch named '" + name + "'");
    if (it->state == "undone") return Status::FailedPrecondition("batch " + it->name + " was undone already");
    b = *it;
    const std::string batch_dir = (fs::path(TrashDir(options_.data_dir)) / b.name).string();
    std::vector<TrashMove> back, left;
    for (auto m : b.moves) {
      if (!Exists(m.to)) {
        if (!Exists(m.from)) {
          m.note = "not in the trash any more";
          left.push_back(m);
        }  // else: never moved (an interrupted batch), nothing to do
        continue;
      }
      if (Exists(m.from)) {
        m.note = "a file is in the way at its old place; left in the trash at " + m.to;
        left.push_back(m);
        continue;
      }
      Status st = MoveFile(m.to, m.from);
      if (!st.ok()) {
        m.note = st.ToString();
        left.push_back(m);
        continue;
      }
      back.push_back(m);
    }
    TrashBatch journal = b;
    journal.state = left.empty() ? "undone" : "applied";
    if (!left.empty()) {  // what stays in the trash can still be undone later
      journal.moves.clear();
      for (const auto& m : left)
        if (Exists(m.to)) journal.moves.push_back(m);
      if (journal.moves.empty()) journal.state = "undone";
    }
    DOPPEL_RETURN_IF_ERROR(WriteJournal(batch_dir, journal));
    RemoveEmptyDirs(fs::path(batch_dir) / "files");
    b.state = journal.state;
    b.moves = std::move(back);
    b.skipped = std::move(left);
    b.bytes = 0;
    for (const auto& m : b.moves) b.bytes += m.bytes;
  }
  // The catalog and the collections follow: the restored files are indexed again.
  if (!b.moves.empty()) {
    std::vector<std::string> roots;
    for (const auto& m : b.moves) roots.push_back(m.from);
    DOPPEL_ASSIGN_OR_RETURN(IndexSummary s, Index(roots, IndexOptions{}));
    b.reindexed = s.counts.indexed + s.counts.skipped;
  }
  return b;
}

}  // namespace doppel
