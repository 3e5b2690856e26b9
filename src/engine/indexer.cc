// Engine::StartIndex / Index: the index job and the indexer it runs. The indexer's steps, in order:
//   Prepare      the models to index with, their collections, and what the catalog already knows
//   Walk         find image candidates; skip unchanged files (path, size, mtime) and unchanged failures
//   ReadChunk    read and hash a chunk of files; known content needs no embedding (a second path, a touched file)
//   EmbedChunk   decode + embed the rest with every model at once, committing every `commit_every` images
//   Commit       vectors into every collection, then the catalog rows (one transaction): see file_catalog.h
//   Prune        indexed paths under the roots whose files are gone
// The engine's write lock is held for one Commit (or one prune removal), never for the run: searches, removals
// and model changes interleave between batches. The job stops between chunks when cancelled.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include "doppel/engine/walk.h"
#include "doppel/util/file.h"
#include "doppel/util/hash.h"
#include "index_job.h"

namespace doppel {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// What the indexer knows about one image it is embedding.
struct Pending {
  FoundFile file;
  std::string hash;
  int64_t id = 0;
  int64_t old_id = 0;  // the id this path had before (0 if new)
};

// A test hook for crash tests (LevelDB-style fault injection): DOPPEL_TEST_STOP_AT=upsert:N or commit:N makes the
// process stop itself (SIGSTOP) right after its N-th batch upsert into the store, or its N-th catalog commit, so
// that a test can kill -9 it at exactly that point instead of at a random moment. Unset in normal use.
class StopPoint {
 public:
  StopPoint() {
    const char* v = std::getenv("DOPPEL_TEST_STOP_AT");
    if (!v) return;
    std::string s(v);
    size_t colon = s.find(':');
    if (colon == std::string::npos) return;
    kind_ = s.substr(0, colon);
    at_ = std::atoi(s.c_str() + colon + 1);
  }
  void Passed(const char* kind) {
    if (at_ > 0 && kind_ == kind && ++count_ == at_) ::raise(SIGSTOP);
  }

 private:
  std::string kind_;
  int at_ = 0;
  int count_ = 0;
};

bool UnderRoot(const std::string& path, const std::string& root) {
  if (path == root) return true;
  std::string r = root;
  if (!r.empty() && r.back() != '/') r += '/';
  return path.compare(0, r.size(), r) == 0;
}

class Indexer {
 public:
  Indexer(Engine* engine, Engine::Impl* impl, const std::vector<std::string>& roots, const IndexOptions& opts,
          IndexJobImpl* job)
      : engine_(engine), impl_(impl), roots_(roots), opts_(opts), job_(job), t0_(Clock::now()) {}

  Result<IndexSummary> Run() {
    DOPPEL_RETURN_IF_ERROR(Prepare());
    Walk();
    Report();
    Embedder embedder(models_, engine_->options().embed);
    const size_t kChunk = 256;  // files read and hashed ahead of the embedder
    for (size_t start = 0; start < todo_.size(); start += kChunk) {
      if (Cancelled()) break;
      std::vector<ImageSource> sources;
      std::vector<Pending> pending;
      ReadChunk(start, std::min(todo_.size(), start + kChunk), &sources, &pending);
      DOPPEL_RETURN_IF_ERROR(EmbedChunk(embedder, sources, pending));
      DOPPEL_RETURN_IF_ERROR(CommitExtraPaths());
    }
    if (opts_.prune && !Cancelled()) DOPPEL_RETURN_IF_ERROR(Prune());
    // Near-copy hashes of the pictures that lack one (duplicates.cc): JPEGs decode at 1/8, so this is cheap.
    if (!Cancelled()) DOPPEL_RETURN_IF_ERROR(impl_->UpdateHashes([this] { return Cancelled(); }));
    // Cancelled: asked to stop, and something was left undone (a cancel that came too late changes nothing).
    sum_.cancelled = Cancelled() && sum_.counts.done < sum_.counts.total;
    Report();
    sum_.images_per_second = embed_seconds_ > 0 ? sum_.counts.indexed / embed_seconds_ : 0;
    return sum_;
  }

 private:
  bool Cancelled() const { return job_ && job_->cancelled(); }

  void Report() {
    sum_.counts.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    if (job_) job_->Report(sum_.counts);
  }

  void Fail(const std::string& path, const std::string& error) {
    sum_.failures.emplace_back(path, error);
    ++sum_.counts.failed;
    ++sum_.counts.done;
  }

  bool InAll(int64_t id) const {
    for (const auto& d : done_)
      if (!d.count(id)) return false;
    return true;
  }

  // Step 1: models, collections and the catalog's state.
  Status Prepare() {
    names_ = opts_.models;
    if (names_.empty()) names_ = impl_->ModelNames();
    if (names_.empty())
      return Status::FailedPrecondition("no models registered: add one with `doppel model add-builtin` or "
                                        "`doppel model add`");
    // All registered models, unless the caller named some: a model removed between listing and loading is then
    // simply not part of this run (a named one that is missing is an error).
    const bool named = !opts_.models.empty();
    std::vector<std::string> kept;
    for (const auto& n : names_) {
      uint64_t gen = 0;
      {
        std::shared_lock<std::shared_mutex> l(impl_->models_mu);
        auto g = impl_->generation.find(n);
        gen = g == impl_->generation.end() ? 0 : g->second;
      }
      auto m = engine_->LoadModel(n);
      auto c = m.ok() ? impl_->store->GetCollection(n) : Result<std::shared_ptr<Collection>>(m.status());
      if (!c.ok()) {
        if (!named && c.status().code() == Status::Code::kNotFound) continue;
        return c.status();
      }
      kept.push_back(n);
      generations_.push_back(gen);
      models_.push_back(*m);
      colls_.push_back(*c);
    }
    names_ = kept;
    if (names_.empty()) return Status::FailedPrecondition("no models registered (all were removed meanwhile)");
    return LoadCatalogState();
  }

  // What the catalog says is indexed. Loaded at the start, and again when a removal ran during this job.
  Status LoadCatalogState() {
    done_.clear();
    for (const auto& m : models_) {
      DOPPEL_ASSIGN_OR_RETURN(std::unordered_set<int64_t> d, impl_->catalog->DoneIds(m->fingerprint()));
      done_.push_back(std::move(d));
    }
    DOPPEL_ASSIGN_OR_RETURN(files_, impl_->catalog->LoadFiles());
    DOPPEL_ASSIGN_OR_RETURN(failed_before_, impl_->catalog->LoadFailed());
    refs_.clear();
    for (const auto& [p, r] : files_) ++refs_[r.id];
    removals_seen_ = impl_->removals.load();
    return Status::OK();
  }

  // Step 2: the candidates, minus what needs no work.
  void Walk() {
    WalkResult walk = FindImages(roots_);
    sum_.ignored = walk.ignored;
    sum_.ignored_files = std::move(walk.ignored_files);
    IndexProgress& c = sum_.counts;
    c.total = static_cast<int64_t>(walk.images.size() + walk.errors.size());
    for (const auto& [p, st] : walk.errors) Fail(p, st.ToString());
    for (auto& f : walk.images) {
      seen_.insert(f.path);
      auto it = files_.find(f.path);
      if (it != files_.end() && it->second.size == f.size && it->second.mtime_ns == f.mtime_ns &&
          InAll(it->second.id)) {
        ++c.skipped;
        ++c.done;
        continue;
      }
      auto fb = failed_before_.find(f.path);
      if (fb != failed_before_.end() && fb->second.size == f.size && fb->second.mtime_ns == f.mtime_ns) {
        Fail(f.path, fb->second.error + " (unchanged since the last run)");
        continue;
      }
      todo_.push_back(std::move(f));
    }
  }

  // The format and size of an indexed picture, from any of its paths.
  void CopyPictureInfo(FileRecord* r) const {
    for (const auto& [q, rec] : files_)
      if (rec.id == r->id) {
        r->format = rec.format;
        r->width = rec.width;
        r->height = rec.height;
        return;
      }
  }

  // Step 3: read and hash files [begin, end); what must be embedded goes to sources/pending.
  void ReadChunk(size_t begin, size_t end, std::vector<ImageSource>* sources, std::vector<Pending>* pending) {
    IndexProgress& c = sum_.counts;
    for (size_t i = begin; i < end; ++i) {
      const FoundFile& f = todo_[i];
      auto bytes = ReadFileBytes(f.path, engine_->options().embed.max_file_bytes);
      if (!bytes.ok()) {
        Fail(f.path, bytes.status().ToString());
        continue;
      }
      Pending p;
      p.file = f;
      p.hash = Sha256Hex(*bytes);
      p.id = ContentId(p.hash);
      auto it = files_.find(f.path);
      p.old_id = it != files_.end() ? it->second.id : 0;
      if (InAll(p.id)) {
        // Known content: a second path to a picture, or a file touched without changing. No embedding.
        if (p.old_id != p.id && refs_.count(p.id) && refs_[p.id] > 0) ++sum_.duplicates;
        FileRecord r{f.path, f.size, f.mtime_ns, p.id, p.hash, f.format, 0, 0};
        CopyPictureInfo(&r);
        if (p.old_id == 0 || p.old_id == p.id) {
          side_.files.push_back(r);
          files_[f.path] = r;
          if (p.old_id == 0) ++refs_[p.id];
        } else {
          // Changed to a picture indexed elsewhere: committed like any other (its old picture may go).
          EmbedResult known;
          known.format = r.format;
          known.width = r.width;
          known.height = r.height;
          known.vectors.assign(models_.size(), {});
          batch_.emplace_back(p, std::move(known));
        }
        ++c.skipped;
        ++c.done;
        continue;
      }
      if (!in_flight_.insert(p.id).second) {
        // The same picture under another path in this very chunk: embed it once.
        same_as_in_flight_.push_back({f.path, f.size, f.mtime_ns, p.id, p.hash, f.format, 0, 0});
        ++sum_.duplicates;
        ++c.skipped;
        ++c.done;
        continue;
      }
      ImageSource s;
      s.path = f.path;
      s.bytes = std::move(bytes).value();
      sources->push_back(std::move(s));
      pending->push_back(std::move(p));
    }
  }

  // Step 4: embed a chunk, committing as batches fill up. A cancel stops it after the images under way.
  Status EmbedChunk(const Embedder& embedder, const std::vector<ImageSource>& sources,
                    const std::vector<Pending>& pending) {
    Status fatal;
    const auto e0 = Clock::now();
    embedder.Embed(sources, [&](EmbedResult&& r) {
      if (!fatal.ok()) return;
      const Pending& p = pending[r.index];
      r.vectors.resize(r.status.ok() ? models_.size() : 0);
      if (r.status.ok()) {
        ++sum_.counts.indexed;
        ++sum_.counts.done;
      } else {
        Fail(p.file.path, r.status.ToString());
      }
      batch_.emplace_back(p, std::move(r));
      if (int(batch_.size()) >= opts_.commit_every) fatal = Commit();
    }, job_ ? job_->cancel_flag() : nullptr);
    embed_seconds_ += std::chrono::duration<double>(Clock::now() - e0).count();
    DOPPEL_RETURN_IF_ERROR(fatal);
    if (!batch_.empty() || !side_.files.empty() || !side_.failed.empty()) DOPPEL_RETURN_IF_ERROR(Commit());
    return Status::OK();
  }

  // Extra paths of pictures embedded in this chunk, now that the pictures are stored (failed ones are dropped:
  // the same bytes fail the same way).
  Status CommitExtraPaths() {
    for (auto& r : same_as_in_flight_) {
      for (const auto& [q, rec] : files_)
        if (rec.id == r.id) {
          r.format = rec.format;
          r.width = rec.width;
          r.height = rec.height;
          side_.files.push_back(r);
          break;
        }
    }
    same_as_in_flight_.clear();
    in_flight_.clear();
    if (!side_.files.empty()) return Commit();
    return Status::OK();
  }

  // Step 5: one durable batch. Under the engine's write lock: models removed meanwhile are left out; vectors go
  // into every collection first, then the catalog rows in one transaction.
  Status Commit() {
    std::lock_guard<std::mutex> wlock(impl_->write_mu);
    if (impl_->removals.load() != removals_seen_) {
      // Pictures were removed while this job ran: what it remembers of the catalog may be stale. A file whose
      // content was "already indexed" but is gone now is left for the next run (which embeds it).
      DOPPEL_RETURN_IF_ERROR(LoadCatalogState());
      for (auto& [p, r] : batch_)
        if (r.status.ok() && !r.vectors.empty() && r.vectors[0].empty() && !InAll(p.id))
          r.status = Status::FailedPrecondition("picture removed during indexing");
    }
    std::vector<bool> active(models_.size(), true);
    {
      std::shared_lock<std::shared_mutex> l(impl_->models_mu);
      bool any = false;
      for (size_t m = 0; m < models_.size(); ++m) {
        auto it = impl_->models.find(names_[m]);
        auto g = impl_->generation.find(names_[m]);
        uint64_t gen = g == impl_->generation.end() ? 0 : g->second;
        active[m] = it != impl_->models.end() && it->second.fingerprint == models_[m]->fingerprint() &&
                    gen == generations_[m];
        any = any || active[m];
      }
      if (!any) return Status::FailedPrecondition("every model of this index run was removed while it ran");
    }
    FileCatalog::Batch cat = std::move(side_);
    side_ = FileCatalog::Batch();
    for (size_t m = 0; m < models_.size(); ++m) {
      if (!active[m]) continue;
      std::vector<Entity> ents;
      std::unordered_set<int64_t> seen;
      for (const auto& [p, r] : batch_) {
        if (!r.status.ok() || r.vectors[m].empty() || done_[m].count(p.id) || !seen.insert(p.id).second) continue;
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
      if (!ents.empty())
        DOPPEL_RETURN_IF_ERROR(colls_[m]->Upsert(ents).status().WithContext("collection " + names_[m]));
    }
    stop_point_.Passed("upsert");
    for (const auto& [p, r] : batch_) {
      if (!r.status.ok()) {
        if (r.status.code() != Status::Code::kFailedPrecondition)
          cat.failed.push_back({p.file.path, p.file.size, p.file.mtime_ns, r.status.ToString()});
        continue;
      }
      cat.files.push_back({p.file.path, p.file.size, p.file.mtime_ns, p.id, p.hash, r.format, r.width, r.height});
      cat.clear_failed.push_back(p.file.path);
      for (size_t m = 0; m < models_.size(); ++m)
        if (active[m]) cat.done.emplace_back(p.id, models_[m]->fingerprint());
    }
    DOPPEL_RETURN_IF_ERROR(impl_->catalog->Commit(cat));
    stop_point_.Passed("commit");
    std::vector<int64_t> replaced;
    for (const auto& f : cat.files) {
      auto it = files_.find(f.path);
      if (it != files_.end()) {
        if (--refs_[it->second.id] == 0 && it->second.id != f.id) replaced.push_back(it->second.id);
        it->second = f;
      } else {
        files_.emplace(f.path, f);
      }
      ++refs_[f.id];
      for (size_t m = 0; m < models_.size(); ++m)
        if (active[m]) done_[m].insert(f.id);
    }
    // A changed file's old picture goes when no path shows it any more (the catalog has the last word).
    for (int64_t old : replaced) {
      DOPPEL_ASSIGN_OR_RETURN(std::vector<std::string> still, impl_->catalog->PathsOf(old));
      if (refs_[old] == 0 && still.empty()) {
        DOPPEL_RETURN_IF_ERROR(impl_->RemovePicture(old));
        for (auto& d : done_) d.erase(old);
      }
    }
    batch_.clear();
    Report();
    return Status::OK();
  }

  // Step 6: indexed paths under the roots whose files are gone.
  Status Prune() {
    std::vector<std::string> abs_roots;
    for (const auto& r : roots_) abs_roots.push_back(fs::absolute(r).lexically_normal().string());
    std::vector<std::string> gone;
    for (const auto& [p, rec] : files_) {
      bool under = false;
      for (const auto& r : abs_roots) under = under || UnderRoot(p, r);
      std::error_code ec;
      if (under && !seen_.count(p) && !fs::exists(p, ec)) gone.push_back(p);
    }
    for (const auto& p : gone) {
      std::lock_guard<std::mutex> wlock(impl_->write_mu);
      DOPPEL_ASSIGN_OR_RETURN(int64_t id, impl_->catalog->RemovePath(p));
      if (id == 0) continue;  // removed meanwhile
      DOPPEL_ASSIGN_OR_RETURN(std::vector<std::string> rest, impl_->catalog->PathsOf(id));
      if (rest.empty()) DOPPEL_RETURN_IF_ERROR(impl_->RemovePicture(id));
      ++sum_.pruned;
    }
    return Status::OK();
  }

  Engine* engine_;
  Engine::Impl* impl_;
  const std::vector<std::string>& roots_;
  const IndexOptions& opts_;
  IndexJobImpl* job_;
  const Clock::time_point t0_;

  std::vector<std::string> names_;
  std::vector<std::shared_ptr<const OnnxModel>> models_;
  std::vector<std::shared_ptr<Collection>> colls_;
  std::vector<uint64_t> generations_;  // per model: its registration when the job started (see Engine::Impl)
  std::vector<std::unordered_set<int64_t>> done_;  // per model: content ids its collection holds
  std::unordered_map<std::string, FileRecord> files_;
  std::unordered_map<std::string, FailedRecord> failed_before_;
  std::unordered_map<int64_t, int> refs_;  // paths per content id
  uint64_t removals_seen_ = 0;

  IndexSummary sum_;
  std::vector<FoundFile> todo_;
  std::unordered_set<std::string> seen_;                // every candidate path of this run
  std::vector<std::pair<Pending, EmbedResult>> batch_;  // embedded, waiting to be committed
  FileCatalog::Batch side_;                             // catalog rows that need no embedding
  std::unordered_set<int64_t> in_flight_;               // ids being embedded in this chunk
  std::vector<FileRecord> same_as_in_flight_;           // more paths of pictures in flight
  double embed_seconds_ = 0;
  StopPoint stop_point_;
};

}  // namespace

Result<IndexSummary> RunIndexer(Engine* engine, Engine::Impl* impl, const std::vector<std::string>& roots,
                                const IndexOptions& options, IndexJobImpl* job) {
  Indexer indexer(engine, impl, roots, options, job);
  return indexer.Run();
}

// ---------------------------------------------------------------- the job

IndexJobImpl::IndexJobImpl(Engine* engine, Engine::Impl* impl, std::vector<std::string> roots, IndexOptions options,
                           ProgressFn progress)
    : engine_(engine), impl_(impl), roots_(std::move(roots)), options_(std::move(options)),
      progress_fn_(std::move(progress)) {}

IndexJobImpl::~IndexJobImpl() {
  cancel_ = true;
  if (thread_.joinable()) thread_.join();
}

void IndexJobImpl::Start() {
  thread_ = std::thread([this] { Run(); });
}

void IndexJobImpl::Run() {
  // Lower this thread's CPU priority; the threads it starts (the embedder's) inherit it (Linux: nice is per
  // thread). Best effort: raising one's own nice value needs no privilege.
  if (engine_->options().index_nice > 0) {
    errno = 0;
    int now = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    if (errno == 0 && now < engine_->options().index_nice)
      (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), engine_->options().index_nice);
  }
  Result<IndexSummary> r = Status::Internal("index job ended without a result");
  try {
    r = RunIndexer(engine_, impl_, roots_, options_, this);
  } catch (const std::exception& e) {
    r = Status::Internal(std::string("index job failed: ") + e.what());
  }
  std::lock_guard<std::mutex> l(mu_);
  result_ = std::move(r);
  cv_.notify_all();
}

void IndexJobImpl::Report(const IndexProgress& p) {
  {
    std::lock_guard<std::mutex> l(mu_);
    progress_ = p;
  }
  if (progress_fn_) progress_fn_(p);
}

IndexProgress IndexJobImpl::Progress() const {
  std::lock_guard<std::mutex> l(mu_);
  return progress_;
}

bool IndexJobImpl::Done() const {
  std::lock_guard<std::mutex> l(mu_);
  return result_.has_value();
}

Result<IndexSummary> IndexJobImpl::Wait() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return result_.has_value(); });
  return *result_;
}

void CancelAndWait(IndexJobImpl& job) {
  job.Cancel();
  (void)job.Wait();  // the caller only needs the job to have stopped
}

// ---------------------------------------------------------------- engine entry points

Result<std::shared_ptr<IndexJob>> Engine::StartIndex(const std::vector<std::string>& roots,
                                                     const IndexOptions& options, ProgressFn progress) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  if (roots.empty()) return Status::InvalidArgument("nothing to index: give files or folders");
  if (options.commit_every < 1)
    return Status::InvalidArgument("commit_every must be at least 1, got " + std::to_string(options.commit_every));
  std::lock_guard<std::mutex> l(impl_->job_mu);
  if (impl_->job && !impl_->job->Done())
    return Status::FailedPrecondition("an index job is already running in " + options_.data_dir +
                                      "; cancel it or wait for it");
  auto job = std::make_shared<IndexJobImpl>(this, impl_.get(), roots, options, std::move(progress));
  job->Start();
  impl_->job = job;
  return std::shared_ptr<IndexJob>(job);
}

std::shared_ptr<IndexJob> Engine::RunningIndexJob() const {
  std::lock_guard<std::mutex> l(impl_->job_mu);
  if (impl_->job && !impl_->job->Done()) return impl_->job;
  return nullptr;
}

Result<IndexSummary> Engine::Index(const std::vector<std::string>& roots, const IndexOptions& options,
                                   const ProgressFn& progress) {
  DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<IndexJob> job, StartIndex(roots, options, progress));
  return job->Wait();
}

}  // namespace doppel
