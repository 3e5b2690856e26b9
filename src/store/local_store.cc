// The embedded VectorStore: a data directory holding one folder per collection.
//   <dir>/LOCK                   flock'd while a process has the store open (one process at a time)
//   <dir>/collections/<name>/    a collection (see local_collection.h)
// A collection folder is created under a temporary name and renamed into place once its database holds the
// schema, and dropped by renaming it away before deleting it, so a crash never leaves a half-made collection.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "doppel/store/store.h"
#include "doppel/util/file.h"
#include "store/file_util.h"
#include "store/local_collection.h"
#include "store/schema_codec.h"

namespace doppel {

namespace fs = std::filesystem;

namespace {

class LocalStore final : public VectorStore {
 public:
  LocalStore(std::string dir, int lock_fd, LocalStoreOptions options)
      : dir_(std::move(dir)), lock_fd_(lock_fd), options_(options) {}
  ~LocalStore() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      open_.clear();  // collections still held by callers stay usable until released
    }
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  std::string CollectionDir(const std::string& name) const { return dir_ + "/collections/" + name; }

  Status CheckName(const std::string& name) const {
    if (!IsValidName(name)) return Status::InvalidArgument("collection name '" + name + "' is invalid");
    return Status::OK();
  }

  Status CheckWritable() const {
    if (options_.read_only) return Status::FailedPrecondition("store " + dir_ + " is open read-only");
    return Status::OK();
  }

  Status CreateCollection(const CollectionSchema& schema) override {
    DOPPEL_RETURN_IF_ERROR(CheckWritable());
    DOPPEL_RETURN_IF_ERROR(schema.Validate());
    {
      auto probe = NewVectorIndex(schema);
      if (!probe.ok()) return probe.status();
    }
    std::lock_guard<std::mutex> l(mu_);
    std::string final_dir = CollectionDir(schema.name);
    std::error_code ec;
    if (fs::exists(final_dir, ec)) return Status::AlreadyExists("collection '" + schema.name + "' already exists");
    std::string tmp = dir_ + "/collections/.creating-" + schema.name;
    fs::remove_all(tmp, ec);
    if (!fs::create_directories(tmp, ec))
      return Status::IOError("cannot create folder " + tmp + ": " + ec.message());
    Status s = LocalCollection::Create(tmp, schema);
    if (!s.ok()) {
      fs::remove_all(tmp, ec);
      return s;
    }
    fs::rename(tmp, final_dir, ec);
    if (ec) return Status::IOError("cannot rename " + tmp + " to " + final_dir + ": " + ec.message());
    return SyncPath(dir_ + "/collections", true);
  }

  Status DropCollection(const std::string& name) override {
    DOPPEL_RETURN_IF_ERROR(CheckWritable());
    DOPPEL_RETURN_IF_ERROR(CheckName(name));
    std::lock_guard<std::mutex> l(mu_);
    std::string d = CollectionDir(name);
    std::error_code ec;
    if (!fs::exists(d, ec)) return Status::NotFound("collection '" + name + "' does not exist");
    auto it = open_.find(name);
    if (it != open_.end()) {
      it->second->MarkDropped();
      open_.erase(it);
    }
    std::string gone = dir_ + "/collections/.dropped-" + name + "-" + std::to_string(++drop_counter_);
    fs::rename(d, gone, ec);
    if (ec) return Status::IOError("cannot rename " + d + ": " + ec.message());
    DOPPEL_RETURN_IF_ERROR(SyncPath(dir_ + "/collections", true));
    fs::remove_all(gone, ec);
    return Status::OK();
  }

  Result<std::vector<std::string>> ListCollections() override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_ + "/collections", ec)) {
      std::string n = e.path().filename().string();
      if (e.is_directory() && IsValidName(n)) names.push_back(n);
    }
    if (ec) return Status::IOError("cannot list " + dir_ + "/collections: " + ec.message());
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<bool> HasCollection(const std::string& name) override {
    if (!IsValidName(name)) return false;
    std::error_code ec;
    return fs::exists(CollectionDir(name), ec);
  }

  Result<CollectionInfo> DescribeCollection(const std::string& name) override {
    DOPPEL_ASSIGN_OR_RETURN(auto c, GetCollection(name));
    return c->Describe();
  }

  Result<std::shared_ptr<Collection>> GetCollection(const std::string& name) override {
    DOPPEL_RETURN_IF_ERROR(CheckName(name));
    std::lock_guard<std::mutex> l(mu_);
    auto it = open_.find(name);
    if (it != open_.end()) return std::shared_ptr<Collection>(it->second);
    std::string d = CollectionDir(name);
    std::error_code ec;
    if (!fs::exists(d, ec)) return Status::NotFound("collection '" + name + "' does not exist");
    auto c = LocalCollection::Open(d, options_);
    if (!c.ok()) return c.status().WithContext("opening collection '" + name + "'");
    open_[name] = *c;
    return std::shared_ptr<Collection>(*c);
  }

 private:
  std::string dir_;
  int lock_fd_;
  LocalStoreOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<LocalCollection>> open_;
  int64_t drop_counter_ = 0;
};

}  // namespace

namespace {

// "pid 1234: doppel index /photos" for the LOCK file: who holds the store, for the next writer's error message.
std::string LockOwnerLine() {
  std::string cmd;
  if (auto bytes = ReadFileBytes("/proc/self/cmdline", 4096); bytes.ok()) {
    for (char c : *bytes) cmd += c == '\0' ? ' ' : c;
    while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
  }
  return "pid " + std::to_string(::getpid()) + (cmd.empty() ? "" : ": " + cmd) + "\n";
}

}  // namespace

Result<std::unique_ptr<VectorStore>> OpenLocalStore(const std::string& dir, const LocalStoreOptions& options) {
  std::error_code ec;
  if (options.read_only) {
    if (!fs::is_directory(dir + "/collections", ec)) return Status::NotFound("no vector store in " + dir);
    return std::unique_ptr<VectorStore>(new LocalStore(dir, -1, options));
  }
  fs::create_directories(dir + "/collections", ec);
  if (ec) return Status::IOError("cannot create store folder " + dir + ": " + ec.message());
  std::string lock = dir + "/LOCK";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot open " + lock + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    std::string owner;
    if (auto text = ReadFileBytes(lock, 8192); text.ok()) owner = *text;
    while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' ')) owner.pop_back();
    return Status::FailedPrecondition("store " + dir + " is open for writing in another process" +
                                      (owner.empty() ? "" : " (" + owner + ")"));
  }
  std::string owner = LockOwnerLine();
  // Best effort: only a later writer's error message depends on it; the lock itself is held.
  bool noted = ::ftruncate(fd, 0) == 0 && ::pwrite(fd, owner.data(), owner.size(), 0) == ssize_t(owner.size());
  (void)noted;
  // Leftovers of a crash in CreateCollection / DropCollection.
  for (const auto& e : fs::directory_iterator(dir + "/collections", ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind(".creating-", 0) == 0 || n.rfind(".dropped-", 0) == 0) fs::remove_all(e.path(), ec);
  }
  return std::unique_ptr<VectorStore>(new LocalStore(dir, fd, options));
}

}  // namespace doppel
