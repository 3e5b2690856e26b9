// Engine::StartIndex / Index: the indexer an index job runs (index_job.cc). Its steps, in order:
//   Prepare   the models to index with, their collections, and what the catalog already knows
//   Walk      find image candidates; skip unchanged files (path, size, mtime) and unchanged failures
//   Stream    three stages that overlap, linked by bounded queues (memory stays bounded, camera photos included):
//     read      on the job's thread: read + SHA-256 each file. Known content needs no embedding (a second path, a
//               touched file); the rest goes to the embedding session with just the models that lack it
//     embed     ONE EmbedSession for the whole run (decode + inference workers, embedder.h); its sink only counts
//               results and hands them on, so inference threads never wait for a disk
//     commit    on its own thread, every `commit_every` results: vectors into every collection, then the catalog
//               rows in one transaction (see file_catalog.h). A failed commit stops the run; Wait returns it
//   Prune     indexed paths under the roots whose files are gone
//   Hashes    near-copy records of pictures that still lack one (duplicates.cc): the stream makes those of the
//             pictures it embeds (from a model's decode when one decodes by the record's rule, picture_hash.h) and
//             the committer stores them with the vectors; this step catches pictures indexed before
// Locks: the engine's write lock is held for one commit (or one prune removal), never for the run: searches,
// removals and model changes interleave between batches. `state_mu_` guards what the reader, the sink and the
// committer share (the catalog's state, pictures in flight, counts); nobody waits on a queue while holding it.
// Order: write_mu, then models_mu or state_mu_; report_mu_ before state_mu_. A cancel stops the reading at once;
// images already under way are committed.
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "doppel/engine/walk.h"
#include "doppel/util/bounded_queue.h"
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

// What the committer gets: a picture and what the embedder made of it; or a picture that needed no embedding
// (`known`: counted by the reader); or only a request to commit now (`flush`: catalog rows of known content).
struct Ready {
  Pending p;
  EmbedResult r;
  bool known = false;
  bool flush = false;
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
    DOPPEL_RETURN_IF_ERROR(Stream());
    if (opts_.prune && !Cancelled()) DOPPEL_RETURN_IF_ERROR(Prune());
    // Near-copy records of the pictures that lack one (indexed before records existed, or by an older rule).
    if (!Cancelled()) {
      const auto h0 = Clock::now();
      DOPPEL_ASSIGN_OR_RETURN(sum_.hashed_after, impl_->UpdateHashes([this] { return Cancelled(); }));
      sum_.hash_seconds = std::chrono::duration<double>(Clock::now() - h0).count();
    }
    // Cancelled: asked to stop, and something was left undone (a cancel that came too late changes nothing).
    sum_.cancelled = Cancelled() && sum_.counts.done < sum_.counts.total;
    Report();
    sum_.images_per_second = embed_seconds_ > 0 ? sum_.counts.indexed / embed_seconds_ : 0;
    return sum_;
  }

 private:
  bool Cancelled() const { return job_ && job_->cancelled(); }

  void Report() {
    std::lock_guard<std::mutex> r(report_mu_);
    IndexProgress c;
    {
      std::lock_guard<std::mutex> l(state_mu_);
      sum_.counts.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
      c = sum_.counts;
    }
    if (job_) job_->Report(c);
  }

  // Caller holds state_mu_ (or runs before the stream starts).
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
    for (const auto& n : names_) sum_.embedded[n] = 0;
    DOPPEL_ASSIGN_OR_RETURN(hash_coll_, HashCollection(impl_->store.get(), true));
    QueryRequest q;
    q.output_fields = {"id"};
    DOPPEL_ASSIGN_OR_RETURN(std::vector<Entity> have, hash_coll_->Query(q));
    for (const auto& e : have) hashed_.insert(e.id);
    return LoadCatalogState();
  }

  // What the catalog says is indexed. Loaded at the start, and again when a removal ran during this job (then the
  // caller holds state_mu_).
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

  // The format and size of an indexed picture, from any of its paths. Caller holds state_mu_.
  void CopyPictureInfo(FileRecord* r) const {
    for (const auto& [q, rec] : files_)
      if (rec.id == r->id) {
        r->format = rec.format;
        r->width = rec.width;
        r->height = rec.height;
        return;
      }
  }

  // Step 3: the stream (see the top of the file). Returns the error that stopped the committer, if any.
  Status Stream() {
    Embedder embedder(models_, engine_->options().embed);
    // The committer acts on batches, so it is woken per batch, not per picture (each wake-up would take a core
    // from an inference thread for a context switch).
    BoundedQueue<Ready> ready(size_t(std::max(64, 4 * opts_.commit_every)), size_t(opts_.commit_every));
    // The sink runs on an inference thread: it counts the result (progress moves per picture, not per batch) and
    // hands it on (blocking while the committer is behind).
    std::unique_ptr<EmbedSession> session = embedder.Start(
        [&](EmbedResult&& r) {
          Ready x;
          {
            std::lock_guard<std::mutex> l(pending_mu_);
            auto it = pending_.find(r.index);
            x.p = std::move(it->second);
            pending_.erase(it);
          }
          x.r = std::move(r);
          Count(x);
          (void)ready.Push(std::move(x));  // false once the committer gave up: dropped
        },
        job_ ? job_->cancel_flag() : nullptr);
    std::thread committer([&] {
      pthread_setname_np(pthread_self(), "doppel-commit");
      CommitLoop(ready, *session);
    });
    const auto e0 = Clock::now();
    auto reported = e0;
    for (FoundFile& f : todo_) {
      if (Cancelled() || gave_up_) break;
      ReadOne(std::move(f), *session, ready);
      if (Clock::now() - reported > std::chrono::milliseconds(250)) {
        Report();
        reported = Clock::now();
      }
    }
    session->Close();
    session->Wait();  // every result is in `ready` (or dropped, if the committer gave up)
    ready.Close();    // the committer commits the rest and ends
    committer.join();
    embed_seconds_ = std::chrono::duration<double>(Clock::now() - e0).count();
    const int64_t decodes = session->Stats().model_decodes;
    std::lock_guard<std::mutex> l(state_mu_);
    sum_.decodes += decodes;
    return fatal_;
  }

  // Reads and hashes one file and decides what it needs: nothing (known content), a catalog row only (a second
  // path of a picture being embedded), or embedding with the models that lack it.
  void ReadOne(FoundFile f, EmbedSession& session, BoundedQueue<Ready>& ready) {
    auto bytes = ReadFileBytes(f.path, engine_->options().embed.max_file_bytes);
    if (!bytes.ok()) {
      std::lock_guard<std::mutex> l(state_mu_);
      Fail(f.path, bytes.status().ToString());
      return;
    }
    Pending p;
    p.hash = Sha256Hex(*bytes);
    p.id = ContentId(p.hash);
    std::vector<bool> need(models_.size(), false);
    std::optional<Ready> known;
    bool flush = false;
    {
      std::lock_guard<std::mutex> l(state_mu_);
      IndexProgress& c = sum_.counts;
      auto it = files_.find(f.path);
      p.old_id = it != files_.end() ? it->second.id : 0;
      bool any = false;
      for (size_t m = 0; m < models_.size(); ++m) any |= need[m] = !done_[m].count(p.id);
      if (!any) {
        // Known content: a second path to a picture, or a file touched without changing. No embedding.
        if (p.old_id != p.id && refs_.count(p.id) && refs_[p.id] > 0) ++sum_.duplicates;
        FileRecord r{f.path, f.size, f.mtime_ns, p.id, p.hash, f.format, 0, 0};
        CopyPictureInfo(&r);
        if (p.old_id == 0 || p.old_id == p.id) {
          side_.files.push_back(r);
          files_[f.path] = r;
          if (p.old_id == 0) ++refs_[p.id];
          // Rows of known content are committed at least every kSideRows files, so that a long run of them is
          // resumable too.
          flush = ++side_since_flush_ >= kSideRows;
          if (flush) side_since_flush_ = 0;
        } else {
          // Changed to a picture indexed elsewhere: committed like any other (its old picture may go).
          known.emplace();
          known->known = true;
          known->r.format = r.format;
          known->r.width = r.width;
          known->r.height = r.height;
          known->r.vectors.assign(models_.size(), {});
        }
        ++c.skipped;
        ++c.done;
      } else if (auto fl = in_flight_.find(p.id); fl != in_flight_.end()) {
        // The same picture under another path, being embedded now: embedded once, this path committed with it.
        fl->second.push_back({f.path, f.size, f.mtime_ns, p.id, p.hash, f.format, 0, 0});
        ++sum_.duplicates;
        ++c.skipped;
        ++c.done;
        return;
      } else {
        in_flight_[p.id];
      }
    }
    if (known) {
      known->p = std::move(p);
      known->p.file = std::move(f);
      (void)ready.Push(std::move(*known));
      return;
    }
    if (flush) (void)ready.Push(Ready{{}, {}, false, true}, /*wake_now=*/true);
    if (!std::any_of(need.begin(), need.end(), [](bool b) { return b; })) return;
    ImageSource s;
    s.path = f.path;
    s.bytes = std::move(bytes).value();
    s.models = std::move(need);
    s.picture_hash = !hashed_.count(p.id);
    const int64_t id = p.id;
    p.file = std::move(f);
    // The session numbers sources in Push order (only this thread pushes): the pending entry is there before the
    // sink can ask for it.
    {
      std::lock_guard<std::mutex> l(pending_mu_);
      pending_[pushed_] = std::move(p);
    }
    if (session.Push(std::move(s))) {
      ++pushed_;
      return;
    }
    // Stopped (cancel, or the committer gave up): this picture is left for the next run.
    {
      std::lock_guard<std::mutex> l(pending_mu_);
      pending_.erase(pushed_);
    }
    std::lock_guard<std::mutex> l(state_mu_);
    in_flight_.erase(id);
  }

  // The committer's thread: batches of `commit_every` results, then the rest once the stream ends. On an error it
  // stops the stream (the session, the queue) and leaves the error in fatal_.
  void CommitLoop(BoundedQueue<Ready>& ready, EmbedSession& session) {
    Status st;
    try {
      for (;;) {
        std::optional<Ready> x = ready.Pop();
        if (!x) break;
        if (!x->flush) Take(std::move(*x));
        else if (batch_.empty() && !HasSideRows()) continue;
        if (x->flush || int(batch_.size()) >= opts_.commit_every) {
          st = Commit();
          if (!st.ok()) break;
        }
      }
      if (st.ok() && (!batch_.empty() || HasSideRows())) st = Commit();
    } catch (const std::exception& e) {
      st = Status::Internal(std::string("index commit failed: ") + e.what());
    }
    if (st.ok()) return;
    {
      std::lock_guard<std::mutex> l(state_mu_);
      fatal_ = st;
    }
    gave_up_ = true;
    session.Stop();
    ready.Close();
  }

  bool HasSideRows() {
    std::lock_guard<std::mutex> l(state_mu_);
    return !side_.files.empty() || !side_.failed.empty();
  }

  // An embedded picture counts as done (or failed) when the embedder hands it over (sink, inference thread).
  void Count(Ready& x) {
    std::lock_guard<std::mutex> l(state_mu_);
    x.r.vectors.resize(x.r.status.ok() ? models_.size() : 0);
    if (x.r.status.ok()) {
      ++sum_.counts.indexed;
      ++sum_.counts.done;
      for (size_t m = 0; m < models_.size(); ++m)
        if (!x.r.vectors[m].empty()) ++sum_.embedded[names_[m]];
    } else {
      Fail(x.p.file.path, x.r.status.ToString());
    }
  }

  // A result joins the batch (committer thread).
  void Take(Ready&& x) { batch_.emplace_back(std::move(x.p), std::move(x.r)); }

  // One durable batch (committer thread). Under the engine's write lock: models removed meanwhile are left out;
  // vectors go into every collection first, then the catalog rows in one transaction.
  Status Commit() {
    std::unique_lock<std::mutex> wlock(impl_->write_mu);
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
    FileCatalog::Batch cat;
    std::vector<std::vector<Entity>> ents(models_.size());
    {
      std::lock_guard<std::mutex> l(state_mu_);
      // Pictures were removed while this job ran: what it remembers of the catalog may be stale.
      if (impl_->removals.load() != removals_seen_) DOPPEL_RETURN_IF_ERROR(LoadCatalogState());
      // Every active model must end up holding each picture: from a vector made now, or because it had it when
      // the picture was read. One it had then but lacks now was removed meanwhile: the picture is left for the next
      // run (which embeds it).
      for (auto& [p, r] : batch_) {
        if (!r.status.ok()) continue;
        for (size_t m = 0; m < models_.size(); ++m)
          if (active[m] && r.vectors[m].empty() && !done_[m].count(p.id)) {
            r.status = Status::FailedPrecondition("picture removed during indexing");
            break;
          }
      }
      cat = std::move(side_);
      side_ = FileCatalog::Batch();
      for (const auto& [p, r] : batch_) {
        if (!r.status.ok()) continue;
        // More paths of this picture, found while it was embedded: committed with it.
        if (auto fl = in_flight_.find(p.id); fl != in_flight_.end()) {
          for (FileRecord& x : fl->second) {
            x.format = r.format;
            x.width = r.width;
            x.height = r.height;
            cat.files.push_back(std::move(x));
          }
          fl->second.clear();
        }
      }
      for (size_t m = 0; m < models_.size(); ++m) {
        if (!active[m]) continue;
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
          ents[m].push_back(std::move(e));
        }
      }
    }
    for (size_t m = 0; m < models_.size(); ++m)
      if (!ents[m].empty())
        DOPPEL_RETURN_IF_ERROR(colls_[m]->Upsert(ents[m]).status().WithContext("collection " + names_[m]));
    {
      std::vector<Entity> records;
      std::unordered_set<int64_t> seen;
      int64_t own_decodes = 0;
      for (const auto& [p, r] : batch_)
        if (r.status.ok() && r.picture_hash && seen.insert(p.id).second) {
          records.push_back(HashEntity(p.id, *r.picture_hash));
          own_decodes += r.picture_hash_shared ? 0 : 1;
        }
      if (!records.empty()) {
        DOPPEL_RETURN_IF_ERROR(hash_coll_->Upsert(records).status().WithContext("the near-copy records"));
        std::lock_guard<std::mutex> l(state_mu_);
        sum_.hashed += int64_t(records.size());
        sum_.hash_decodes += own_decodes;
      }
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
    {
      std::lock_guard<std::mutex> l(state_mu_);
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
      // The batch's pictures are no longer in flight; paths of them found during the commit become plain rows of
      // known content (the next commit's).
      for (const auto& [p, r] : batch_) {
        auto fl = in_flight_.find(p.id);
        if (fl == in_flight_.end()) continue;
        if (r.status.ok())
          for (FileRecord& x : fl->second) {
            x.format = r.format;
            x.width = r.width;
            x.height = r.height;
            side_.files.push_back(std::move(x));
          }
        in_flight_.erase(fl);
      }
    }
    // A changed file's old picture goes when no path shows it any more (the catalog has the last word).
    for (int64_t old : replaced) {
      DOPPEL_ASSIGN_OR_RETURN(std::vector<std::string> still, impl_->catalog->PathsOf(old));
      bool unused = false;
      {
        std::lock_guard<std::mutex> l(state_mu_);
        unused = refs_[old] == 0 && still.empty();
      }
      if (!unused) continue;
      DOPPEL_RETURN_IF_ERROR(impl_->RemovePicture(old));
      std::lock_guard<std::mutex> l(state_mu_);
      for (auto& d : done_) d.erase(old);
    }
    batch_.clear();
    wlock.unlock();
    Report();
    return Status::OK();
  }

  // Step 4: indexed paths under the roots whose files are gone.
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

  static constexpr int kSideRows = 256;  // rows of known content per commit, at most

  Engine* engine_;
  Engine::Impl* impl_;
  const std::vector<std::string>& roots_;
  const IndexOptions& opts_;
  IndexJobImpl* job_;
  const Clock::time_point t0_;

  // Set by Prepare, then read-only.
  std::vector<std::string> names_;
  std::vector<std::shared_ptr<const OnnxModel>> models_;
  std::vector<std::shared_ptr<Collection>> colls_;
  std::vector<uint64_t> generations_;  // per model: its registration when the job started (see Engine::Impl)
  std::shared_ptr<Collection> hash_coll_;  // the near-copy records

  // Shared by the reader and the committer: under state_mu_ while the stream runs.
  std::mutex state_mu_;
  std::vector<std::unordered_set<int64_t>> done_;  // per model: content ids its collection holds
  std::unordered_map<std::string, FileRecord> files_;
  std::unordered_map<std::string, FailedRecord> failed_before_;
  std::unordered_map<int64_t, int> refs_;  // paths per content id
  uint64_t removals_seen_ = 0;
  IndexSummary sum_;
  FileCatalog::Batch side_;  // catalog rows that need no embedding
  // Pictures pushed to the embedder and not yet committed, with more paths of them found meanwhile.
  std::unordered_map<int64_t, std::vector<FileRecord>> in_flight_;
  Status fatal_;  // what stopped the committer

  // The reader's (the job thread's).
  std::vector<FoundFile> todo_;
  std::unordered_set<std::string> seen_;  // every candidate path of this run
  std::unordered_set<int64_t> hashed_;    // pictures with a near-copy record when the job started
  size_t pushed_ = 0;                     // sources pushed to the session
  int side_since_flush_ = 0;              // under state_mu_

  std::mutex pending_mu_;                         // guards pending_ (reader and sink)
  std::unordered_map<size_t, Pending> pending_;   // by session index: pushed, not yet embedded
  std::atomic<bool> gave_up_{false};              // the committer failed: stop reading
  std::mutex report_mu_;                          // one progress report at a time, in order

  // The committer's.
  std::vector<std::pair<Pending, EmbedResult>> batch_;  // embedded, waiting to be committed
  StopPoint stop_point_;

  double embed_seconds_ = 0;
};

}  // namespace

Result<IndexSummary> RunIndexer(Engine* engine, Engine::Impl* impl, const std::vector<std::string>& roots,
                                const IndexOptions& options, IndexJobImpl* job) {
  Indexer indexer(engine, impl, roots, options, job);
  return indexer.Run();
}

}  // namespace doppel
