// The index job behind Engine::StartIndex / Index (index_job.h): its thread, progress, cancel and result. The work
// itself is the indexer's (indexer.cc).
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include "index_job.h"

namespace doppel {

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
  pthread_setname_np(pthread_self(), "doppel-index");
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
