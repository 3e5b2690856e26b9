// Engine::Index: walk, skip what is unchanged, embed the rest with every model at once, commit as it goes.
#include <chrono>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include "doppel/engine/walk.h"
#include "doppel/model/graph_edit.h"
#include "doppel/util/hash.h"
#include "engine_impl.h"

namespace doppel {
namespace fs = std::filesystem;

namespace {

// What the indexer knows about one image it is embedding.
struct Pending {
  FoundFile file;
  std::string hash;
  int64_t id = 0;
  int64_t old_id = 0;  // the id this path had before (0 if new)
};

bool UnderRoot(const std::string& path, const std::string& root) {
  if (path == root) return true;
  std::string r = root;
  if (!r.empty() && r.back() != '/') r += '/';
  return path.compare(0, r.size(), r) == 0;
}

}  // namespace

Result<IndexSummary> Engine::Index(const std::vector<std::string>& roots, const IndexOptions& opts,
                                   const ProgressFn& progress) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  std::lock_guard<std::mutex> wlock(impl_->write_mu);

  // The models to index with, their collections and what each already holds.
  std::vector<std::string> names = opts.models;
  if (names.empty())
    for (const auto& e : ListModels()) names.push_back(e.name);
  if (names.empty()) return Status::FailedPrecondition("no models registered: add one with `doppel model add`");
  std::vector<std::shared_ptr<const OnnxModel>> models;
  std::vector<std::shared_ptr<Collection>> colls;
  std::vector<std::unordered_set<int64_t>> done;
  std::unordered_map<std::string, FileRecord> files;
  std::unordered_map<std::string, FailedRecord> failed_before;
  for (const auto& n : names) {
    DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<const OnnxModel> m, LoadModel(n));
    DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, impl_->store->GetCollection(n));
    models.push_back(m);
    colls.push_back(c);
  }
  {
    std::lock_guard<std::mutex> lock(impl_->catalog_mu);
    for (const auto& m : models) {
      DOPPEL_ASSIGN_OR_RETURN(std::unordered_set<int64_t> d, impl_->catalog->DoneIds(m->fingerprint()));
      done.push_back(std::move(d));
    }
    DOPPEL_ASSIGN_OR_RETURN(files, impl_->catalog->LoadFiles());
    DOPPEL_ASSIGN_OR_RETURN(failed_before, impl_->catalog->LoadFailed());
  }
  std::unordered_map<int64_t, int> refs;  // paths per content id
  for (const auto& [p, r] : files) ++refs[r.id];
  auto in_all = [&](int64_t id) {
    for (const auto& d : done)
      if (!d.count(id)) return false;
    return true;
  };

  IndexSummary sum;
  IndexProgress& c = sum.counts;
  WalkResult walk = FindImages(roots);
  sum.ignored = walk.ignored;
  for (const auto& [p, st] : walk.errors) {
    sum.failures.emplace_back(p, st.ToString());
    ++c.failed;
  }
  c.total = static_cast<int64_t>(walk.images.size()) + c.failed;
  c.done = c.failed;
  auto report = [&] {
    c.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (progress) progress(c);
  };

  // Cheap skips: same path, size and mtime, already in every collection; or an unchanged file that failed before.
  std::vector<FoundFile> todo;
  for (auto& f : walk.images) {
    auto it = files.find(f.path);
    if (it != files.end() && it->second.size == f.size && it->second.mtime_ns == f.mtime_ns && in_all(it->second.id)) {
      ++c.skipped;
      ++c.done;
      continue;
    }
    auto fb = failed_before.find(f.path);
    if (fb != failed_before.end() && fb->second.size == f.size && fb->second.mtime_ns == f.mtime_ns) {
      sum.failures.emplace_back(f.path, fb->second.error + " (unchanged since the last run)");
      ++c.failed;
      ++c.done;
      continue;
    }
    todo.push_back(std::move(f));
  }
  report();

  Status fatal;
  std::vector<std::pair<Pending, EmbedResult>> batch;  // embedded, waiting to be committed
  FileCatalog::Batch side;                             // catalog rows that need no embedding (duplicates, failures)
  std::unordered_set<int64_t> in_flight;               // ids being embedded in this chunk
  std::vector<FileRecord> same_as_in_flight;           // more paths of pictures in flight, recorded after them
  double embed_seconds = 0;

  // Stores a batch: vectors into every collection first, then the catalog rows (see file_catalog.h).
  auto commit = [&]() -> Status {
    FileCatalog::Batch cat = std::move(side);
    side = FileCatalog::Batch();
    std::vector<int64_t> replaced;
    for (size_t m = 0; m < models.size(); ++m) {
      std::vector<Entity> ents;
      std::unordered_set<int64_t> seen;
      for (const auto& [p, r] : batch) {
        if (!r.status.ok() || done[m].count(p.id) || !seen.insert(p.id).second) continue;
        Entity e;
        e.id = p.id;
        e.vector = r.vectors[m];
        e.fields["path"] = p.file.path;
        e.fields["size"] = p.file.size;
        e.fields["mtime"] = p.file.mtime_ns / 1000000000;
        e.fields["width"] = int64_t(r.width);
        e.fields["height"] = int64_t(r.height);
        e.fields["hash"] = p.hash;
        e.fields["format"] = r.format;
        ents.push_back(std::move(e));
      }
      if (!ents.empty()) DOPPEL_RETURN_IF_ERROR(colls[m]->Upsert(ents).status().WithContext("collection " + names[m]));
    }
    for (const auto& [p, r] : batch) {
      if (!r.status.ok()) {
        cat.failed.push_back({p.file.path, p.file.size, p.file.mtime_ns, r.status.ToString()});
        continue;
      }
      cat.files.push_back({p.file.path, p.file.size, p.file.mtime_ns, p.id, p.hash, r.format, r.width, r.height});
      cat.clear_failed.push_back(p.file.path);
      for (const auto& m : models) cat.done.emplace_back(p.id, m->fingerprint());
    }
    {
      std::lock_guard<std::mutex> lock(impl_->catalog_mu);
      DOPPEL_RETURN_IF_ERROR(impl_->catalog->Commit(cat));
    }
    for (const auto& f : cat.files) {
      auto it = files.find(f.path);
      if (it != files.end()) {
        if (--refs[it->second.id] == 0 && it->second.id != f.id) replaced.push_back(it->second.id);
        it->second = f;
      } else {
        files.emplace(f.path, f);
      }
      ++refs[f.id];
      for (auto& d : done) d.insert(f.id);
    }
    // A changed file's old picture goes when no other path shows it.
    for (int64_t old : replaced)
      if (refs[old] == 0) {
        DOPPEL_RETURN_IF_ERROR(impl_->RemovePicture(old));
        for (auto& d : done) d.erase(old);
      }
    batch.clear();
    report();
    return Status::OK();
  };

  const size_t kChunk = 256;  // files read and hashed ahead of the embedder
  Embedder embedder(models, options_.embed);
  for (size_t start = 0; start < todo.size() && fatal.ok(); start += kChunk) {
    std::vector<ImageSource> sources;
    std::vector<Pending> pending;
    for (size_t i = start; i < std::min(todo.size(), start + kChunk); ++i) {
      const FoundFile& f = todo[i];
      auto bytes = ReadFileBytes(f.path);
      if (!bytes.ok()) {
        sum.failures.emplace_back(f.path, bytes.status().ToString());
        ++c.failed;
        ++c.done;
        continue;
      }
      Pending p;
      p.file = f;
      p.hash = Sha256Hex(*bytes);
      p.id = ContentId(p.hash);
      auto it = files.find(f.path);
      p.old_id = it != files.end() ? it->second.id : 0;
      if (in_all(p.id)) {
        // Known content: a second path to a picture, or a file touched without changing. No embedding.
        if (p.old_id != p.id && refs.count(p.id) && refs[p.id] > 0) ++sum.duplicates;
        FileRecord r{f.path, f.size, f.mtime_ns, p.id, p.hash, f.format, 0, 0};
        for (const auto& [q, rec] : files)
          if (rec.id == p.id) {
            r.format = rec.format;
            r.width = rec.width;
            r.height = rec.height;
            break;
          }
        if (p.old_id == 0 || p.old_id == p.id) {
          side.files.push_back(r);
          files[f.path] = r;
          if (p.old_id == 0) ++refs[p.id];
        } else {
          // Changed to a picture indexed elsewhere: handled like any commit (old picture may go).
          batch.emplace_back(p, EmbedResult());
          batch.back().second.status = Status::OK();
          batch.back().second.format = r.format;
          batch.back().second.width = r.width;
          batch.back().second.height = r.height;
          batch.back().second.vectors.assign(models.size(), {});
        }
        ++c.skipped;
        ++c.done;
        continue;
      }
      if (!in_flight.insert(p.id).second) {
        // The same picture under another path in this very chunk: embed it once.
        same_as_in_flight.push_back({f.path, f.size, f.mtime_ns, p.id, p.hash, f.format, 0, 0});
        ++sum.duplicates;
        ++c.skipped;
        ++c.done;
        continue;
      }
      ImageSource s;
      s.path = f.path;
      s.bytes = std::move(bytes).value();
      sources.push_back(std::move(s));
      pending.push_back(std::move(p));
    }
    const auto e0 = Clock::now();
    embedder.Embed(sources, [&](EmbedResult&& r) {
      if (!fatal.ok()) return;
      const Pending& p = pending[r.index];
      r.vectors.resize(r.status.ok() ? models.size() : 0);
      if (r.status.ok()) {
        ++c.indexed;
      } else {
        ++c.failed;
        sum.failures.emplace_back(p.file.path, r.status.ToString());
      }
      ++c.done;
      batch.emplace_back(p, std::move(r));
      if (int(batch.size()) >= opts.commit_every) fatal = commit();
    });
    embed_seconds += std::chrono::duration<double>(Clock::now() - e0).count();
    if (fatal.ok() && (!batch.empty() || !side.files.empty() || !side.failed.empty())) fatal = commit();
    // Extra paths of pictures embedded in this chunk, now that the pictures are stored (failed ones are dropped:
    // the same bytes fail the same way).
    for (auto& r : same_as_in_flight) {
      for (const auto& [q, rec] : files)
        if (rec.id == r.id) {
          r.format = rec.format;
          r.width = rec.width;
          r.height = rec.height;
          side.files.push_back(r);
          break;
        }
    }
    same_as_in_flight.clear();
    in_flight.clear();
    if (fatal.ok() && !side.files.empty()) fatal = commit();
  }
  if (!fatal.ok()) return fatal;

  // Prune: indexed paths under the roots whose files are gone.
  if (opts.prune) {
    std::vector<std::string> abs_roots;
    for (const auto& r : roots) abs_roots.push_back(fs::absolute(r).lexically_normal().string());
    std::unordered_set<std::string> seen;
    for (const auto& f : walk.images) seen.insert(f.path);
    std::vector<std::string> gone;
    for (const auto& [p, rec] : files) {
      bool under = false;
      for (const auto& r : abs_roots) under = under || UnderRoot(p, r);
      std::error_code ec;
      if (under && !seen.count(p) && !fs::exists(p, ec)) gone.push_back(p);
    }
    for (const auto& p : gone) {
      int64_t id;
      std::vector<std::string> rest;
      {
        std::lock_guard<std::mutex> lock(impl_->catalog_mu);
        DOPPEL_ASSIGN_OR_RETURN(id, impl_->catalog->RemovePath(p));
        DOPPEL_ASSIGN_OR_RETURN(rest, impl_->catalog->PathsOf(id));
      }
      if (id != 0 && rest.empty()) DOPPEL_RETURN_IF_ERROR(impl_->RemovePicture(id));
      ++sum.pruned;
    }
  }
  report();
  sum.images_per_second = embed_seconds > 0 ? c.indexed / embed_seconds : 0;
  return sum;
}

}  // namespace doppel
