// doppel index / remove / status.
#include <unistd.h>

#include <chrono>
#include <atomic>
#include <csignal>
#include <thread>
#include <cstdio>
#include <deque>
#include <string>
#include <iostream>
#include <map>

#include "commands.h"
#include "doppel/api/api.h"
#include "doppel/api/json.h"
#include "engine_flags.h"

namespace doppel::cli {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;
std::atomic<IndexJob*> g_job{nullptr};  // the running job, for the SIGINT handler (Cancel sets an atomic flag)

struct IndexArgs {
  EngineFlags engine;
  std::vector<std::string> paths;
  std::vector<std::string> models;
  bool prune = false;
  bool quiet = false;
  bool json = false;
  int commit_every = 32;
};

// Progress on stderr: on a terminal one line that updates in place (bar, done/total, rate, ETA, at most 5 times a
// second); otherwise (a log, a pipe) a plain line every 5 seconds and a last one at the end. The rate is indexed
// images per second over the last ~10 seconds (the whole run until then), so that a slow start or a stretch of
// skipped files does not distort it; the ETA divides what is left by the recent rate of files done. Called by the
// index job one report at a time.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet) : quiet_(quiet), tty_(isatty(2)) {}
  void operator()(const IndexProgress& p) {
    if (quiet_) return;
    const bool final = p.done == p.total;
    if (final && final_shown_) return;
    window_.push_back(p);
    while (window_.size() > 2 && p.seconds - window_[1].seconds >= 10) window_.pop_front();
    const auto now = std::chrono::steady_clock::now();
    if (!final && shown_ && now - last_ < std::chrono::milliseconds(tty_ ? 200 : 5000)) return;
    final_shown_ = final;
    shown_ = true;
    last_ = now;
    const IndexProgress& from = window_.size() > 1 ? window_.front() : IndexProgress{};
    const double span = p.seconds - from.seconds;
    const double rate = span > 0 ? (p.indexed - from.indexed) / span : 0;
    const double done_rate = span > 0 ? (p.done - from.done) / span : 0;
    const std::string eta = final ? "done" : done_rate > 0 ? "ETA " + Clock((p.total - p.done) / done_rate) : "ETA --";
    if (tty_) {
      const int width = 30;
      const int fill = p.total ? int(width * p.done / p.total) : width;
      std::string bar(size_t(fill), '#');
      bar.resize(width, '.');
      std::fprintf(stderr, "\r\033[K[%s] %lld/%lld  %.1f img/s  %s", bar.c_str(), (long long)p.done,
                   (long long)p.total, rate, eta.c_str());
      if (p.failed) std::fprintf(stderr, "  %lld failed", (long long)p.failed);
      if (final) std::fprintf(stderr, "\n");
    } else {
      std::fprintf(stderr, "doppel index: %lld/%lld files (%d%%), %lld indexed, %lld skipped, %lld failed, %.1f img/s, %s\n",
                   (long long)p.done, (long long)p.total, p.total ? int(100 * p.done / p.total) : 100,
                   (long long)p.indexed, (long long)p.skipped, (long long)p.failed, rate, eta.c_str());
    }
    std::fflush(stderr);
  }

  // After the job: ends the terminal line if the last report did not (a cancel, an error).
  void Finish() {
    if (tty_ && shown_ && !final_shown_) std::fprintf(stderr, "\n");
    final_shown_ = true;
  }

 private:
  static std::string Clock(double seconds) {
    const long s = long(seconds + 0.5);
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
  }

  bool quiet_, tty_;
  bool shown_ = false, final_shown_ = false;
  std::deque<IndexProgress> window_;  // reports of the last ~10 seconds
  std::chrono::steady_clock::time_point last_{};
};

int RunIndex(const IndexArgs& a) {
  auto engine = a.engine.Open(EngineFlags::Mode::kWrite);
  if (!engine.ok()) return Fail("index", engine.status());
  if (a.models.empty()) {
    // A new data directory gets the built-in default model, so that `doppel index PHOTOS` just works.
    auto note = api::EnsureDefaultModel(**engine);
    if (!note.ok()) return Fail("index", note.status());
    if (!note->empty()) std::fprintf(stderr, "doppel index: %s\n", note->c_str());
  }
  IndexOptions o;
  o.models = a.models;
  o.prune = a.prune;
  o.commit_every = a.commit_every;
  ProgressPrinter printer(a.quiet || a.json);
  auto job = (*engine)->StartIndex(a.paths, o, [&](const IndexProgress& p) { printer(p); });
  if (!job.ok()) return Fail("index", job.status());
  // Ctrl-C: the first one stops the job after the pictures under way (everything committed stays; the next run
  // resumes), a second one quits at once (also safe: commits are atomic).
  g_interrupted = 0;
  g_job = job->get();
  std::signal(SIGINT, [](int) {
    g_interrupted = 1;
    if (IndexJob* j = g_job.load()) j->Cancel();
    std::signal(SIGINT, SIG_DFL);
  });
  bool told = false;
  while (!(*job)->Done()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (g_interrupted && !told) {
      std::fprintf(stderr, "\ndoppel index: stopping after the pictures under way (Ctrl-C again to quit now)\n");
      (*job)->Cancel();
      told = true;
    }
  }
  auto sum = (*job)->Wait();
  printer.Finish();
  std::signal(SIGINT, SIG_DFL);
  g_job = nullptr;
  if (!sum.ok()) return Fail("index", sum.status());
  if (sum->cancelled && !a.json)
    std::fprintf(stderr, "doppel index: stopped; what was indexed is kept, run the same command to resume\n");
  const auto& c = sum->counts;
  if (a.json) {
    std::cout << api::ToJson(*sum).dump(2) << "\n";
  } else if (!a.quiet) {
    std::printf("indexed %lld, skipped %lld (unchanged or known), failed %lld, duplicates %lld, pruned %lld, "
                "not images %lld; %.1f s, %.1f img/s\n",
                (long long)c.indexed, (long long)c.skipped, (long long)c.failed, (long long)sum->duplicates,
                (long long)sum->pruned, (long long)sum->ignored, c.seconds, sum->images_per_second);
    for (const auto& [p, e] : sum->failures) std::printf("  failed: %s\n", e.c_str());
    // Files that are not images: counted by reason, a few named (all of them with --json).
    std::map<std::string, std::vector<std::string>> by_reason;
    for (const auto& [p, why] : sum->ignored_files) by_reason[why].push_back(p);
    for (const auto& [why, paths] : by_reason) {
      std::printf("  not indexed: %zu file(s): %s, e.g. %s", paths.size(), why.c_str(), paths[0].c_str());
      if (paths.size() > 1) std::printf(", %s", paths[1].c_str());
      std::printf("%s\n", paths.size() > 2 ? ", ... (all in --json)" : "");
    }
  }
  return 0;
}

struct RemoveArgs {
  EngineFlags engine;
  std::vector<std::string> paths;
  std::vector<int64_t> ids;
};

int RunRemove(const RemoveArgs& a) {
  auto engine = a.engine.Open(EngineFlags::Mode::kWrite);
  if (!engine.ok()) return Fail("remove", engine.status());
  if (a.paths.empty() && a.ids.empty()) return Fail("remove", Status::InvalidArgument("give PATH... or --id ID"));
  int64_t n = 0;
  if (!a.paths.empty()) {
    auto r = (*engine)->RemovePaths(a.paths);
    if (!r.ok()) return Fail("remove", r.status());
    n += *r;
  }
  if (!a.ids.empty()) {
    auto r = (*engine)->RemoveIds(a.ids);
    if (!r.ok()) return Fail("remove", r.status());
    n += *r;
  }
  std::printf("removed %lld picture(s) from every collection\n", (long long)n);
  return 0;
}

struct StatusArgs {
  EngineFlags engine;
  bool json = false;
};

int RunStatus(const StatusArgs& a) {
  auto engine = a.engine.Open(EngineFlags::Mode::kRead);
  if (!engine.ok()) return Fail("status", engine.status());
  auto s = (*engine)->GetStatus();
  if (!s.ok()) return Fail("status", s.status());
  if (a.json) {
    std::cout << api::ToJson(*s).dump(2) << "\n";
    return 0;
  }
  std::printf("data directory  %s (%s)\n", s->data_dir.c_str(), HumanBytes(s->disk_bytes).c_str());
  std::printf("indexed paths   %lld\n", (long long)s->files);
  if (s->models.empty()) std::printf("models          none (`doppel index` adds the built-in default)\n");
  else std::printf("default model   %s\n", s->default_model.c_str());
  for (const auto& m : s->models)
    std::printf("model %-12s%s %8lld pictures  dim %d  %s  %s  fingerprint %s\n", m.model.name.c_str(),
                m.model.name == s->default_model ? "*" : " ", (long long)m.count, m.model.dim,
                m.model.metric.c_str(), m.model.index.c_str(), m.model.fingerprint.c_str());
  return 0;
}

}  // namespace

void RegisterIndex(CLI::App& app, Action* action) {
  auto ia = std::make_shared<IndexArgs>();
  CLI::App* index = app.add_subcommand("index", "Index image files and folders (recursively) with every model");
  ia->engine.Add(index);
  index->add_option("paths", ia->paths, "files and folders")->required();
  index->add_option("--model", ia->models, "only these models (repeatable; default: all registered; a new data directory gets the built-in default model)");
  index->add_flag("--prune", ia->prune, "remove entries whose files are gone");
  index->add_flag("--quiet", ia->quiet, "no progress or summary");
  index->add_flag("--json", ia->json, "print the summary as JSON");
  index->add_option("--commit-every", ia->commit_every, "images per durable commit (default 32)");
  index->callback([ia, action] { *action = [ia] { return RunIndex(*ia); }; });

  auto ra = std::make_shared<RemoveArgs>();
  CLI::App* remove = app.add_subcommand("remove", "Remove images (by path or id) from every collection");
  ra->engine.Add(remove);
  remove->add_option("paths", ra->paths, "indexed paths");
  remove->add_option("--id", ra->ids, "picture ids");
  remove->callback([ra, action] { *action = [ra] { return RunRemove(*ra); }; });

  auto sa = std::make_shared<StatusArgs>();
  CLI::App* status = app.add_subcommand("status", "Show models, collections, counts and disk use");
  sa->engine.Add(status);
  status->add_flag("--json", sa->json, "print JSON");
  status->callback([sa, action] { *action = [sa] { return RunStatus(*sa); }; });
}

}  // namespace doppel::cli
