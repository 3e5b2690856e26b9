// Internal: the background index job behind Engine::StartIndex. The job owns a thread that runs the indexer
// (indexer.cc) and publishes its progress; Wait() blocks until it ends.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "engine_impl.h"

namespace doppel {

class IndexJobImpl final : public IndexJob {
 public:
  // `engine` and `impl` must outlive the job (the engine cancels and waits for its job when destroyed).
  IndexJobImpl(Engine* engine, Engine::Impl* impl, std::vector<std::string> roots, IndexOptions options,
               ProgressFn progress);
  ~IndexJobImpl() override;

  void Start();  // starts the thread; call once

  IndexProgress Progress() const override;
  void Cancel() override { cancel_ = true; }
  bool Done() const override;
  Result<IndexSummary> Wait() override;

  bool cancelled() const { return cancel_; }
  const std::atomic<bool>* cancel_flag() const { return &cancel_; }
  // Called by the indexer on its thread.
  void Report(const IndexProgress& p);

 private:
  void Run();

  Engine* engine_;
  Engine::Impl* impl_;
  std::vector<std::string> roots_;
  IndexOptions options_;
  ProgressFn progress_fn_;
  std::atomic<bool> cancel_{false};
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  IndexProgress progress_;                      // mu_
  std::optional<Result<IndexSummary>> result_;  // mu_; set once, when the job ends
};

// Runs an index job's work on the calling thread (indexer.cc).
Result<IndexSummary> RunIndexer(Engine* engine, Engine::Impl* impl, const std::vector<std::string>& roots,
                                const IndexOptions& options, IndexJobImpl* job);

void CancelAndWait(IndexJobImpl& job);

}  // namespace doppel
