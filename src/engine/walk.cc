#include "doppel/engine/walk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <set>

#include "doppel/image/decode.h"

namespace doppel {
namespace fs = std::filesystem;

bool HasImageExtension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::set<std::string> kExt = {".jpg",  ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif",
                                             ".tif",  ".tiff", ".bmp", ".heic", ".heif", ".avif", ".jxl",
                                             ".pbm",  ".pgm",  ".ppm", ".pnm",  ".pfm"};
  return kExt.count(ext) > 0;
}

namespace {

const char* FileKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "FIFO";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  return "special file";
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// A doppel data directory (see engine.h): its catalog beside its model registry.
bool IsDataDirectory(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "catalog.db", ec) && fs::exists(dir / "models.json", ec);
}

struct Walker {
  WalkResult result;
  std::set<std::pair<dev_t, ino_t>> visited_dirs;

  void Ignore(const fs::path& p, std::string reason) { result.ignored_files.emplace_back(p.string(), std::move(reason)); }

  void Candidate(const fs::path& p, const struct stat& st, std::string format) {
    FoundFile ff;
    ff.path = p.string();
    ff.size = st.st_size;
    ff.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    ff.format = std::move(format);
    result.images.push_back(std::move(ff));
  }

  void File(const fs::path& p, const struct stat& st) {
    const bool named = HasImageExtension(p.string());
    if (st.st_size == 0) {  // an empty "photo.jpg" is a candidate: the decoder reports it as a failure
      if (named) {
        Candidate(p, st, "");
      } else {
        Ignore(p, "empty file");
      }
      return;
    }
    FdCloser f{::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
    if (f.fd < 0) {
      result.errors.emplace_back(p.string(), Status::IOError(p.string() + ": " + std::strerror(errno)));
      return;
    }
    char head[kSniffBytes];
    ssize_t n;
    do {
      n = ::pread(f.fd, head, sizeof head, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      result.errors.emplace_back(p.string(), Status::IOError(p.string() + ": cannot read: " + std::strerror(errno)));
      return;
    }
    const FormatGuess g = RecogniseImageFormat(std::string_view(head, size_t(n)));
    if (g.decodable) {
      Candidate(p, st, g.format);
    } else if (named) {
      Candidate(p, st, "");
    } else if (!g.format.empty()) {
      Ignore(p, "recognised as " + g.format + ", which doppel does not decode: " + g.why_not);
    } else {
      Ignore(p, "not an image (no known image signature)");
    }
  }

  void Visit(const fs::path& p) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) {  // follows links; a dangling link is an error
      result.errors.emplace_back(p.string(), Status::IOError(p.string() + ": " + std::strerror(errno)));
      return;
    }
    if (S_ISREG(st.st_mode)) {
      File(p, st);
      return;
    }
    if (!S_ISDIR(st.st_mode)) {  // sockets, devices, FIFOs: never opened
      Ignore(p, std::string("not a regular file (") + FileKind(st.st_mode) + ")");
      return;
    }
    if (!visited_dirs.insert({st.st_dev, st.st_ino}).second) return;  // a link loop or a second way in
    if (IsDataDirectory(p)) {
      Ignore(p, "a doppel data directory (never indexed: its trash holds files moved there on purpose)");
      return;
    }
    std::error_code ec;
    fs::directory_iterator it(p, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
      result.errors.emplace_back(p.string(), Status::IOError(p.string() + ": " + ec.message()));
      return;
    }
    std::vector<fs::path> children;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) break;
      children.push_back(it->path());
    }
    std::sort(children.begin(), children.end());
    for (const auto& c : children) Visit(c);
  }
};

template <typename T, typename Key>
void SortUnique(std::vector<T>& v, Key key) {
  std::sort(v.begin(), v.end(), [&](const T& a, const T& b) { return key(a) < key(b); });
  v.erase(std::unique(v.begin(), v.end(), [&](const T& a, const T& b) { return key(a) == key(b); }), v.end());
}

}  // namespace

WalkResult FindImages(const std::vector<std::string>& roots) {
  Walker w;
  try {
    for (const auto& r : roots) {
      std::error_code ec;
      fs::path abs = fs::absolute(r, ec).lexically_normal();
      if (abs.has_filename() == false && abs.has_parent_path()) abs = abs.parent_path();
      w.Visit(abs);
    }
    SortUnique(w.result.images, [](const FoundFile& f) -> const std::string& { return f.path; });
    SortUnique(w.result.ignored_files,
               [](const std::pair<std::string, std::string>& f) -> const std::string& { return f.first; });
  } catch (const std::exception& e) {  // out of memory on an enormous tree: report it, keep what was found
    w.result.errors.emplace_back("", Status::ResourceExhausted(std::string("walking the folders: ") + e.what()));
  }
  w.result.ignored = int64_t(w.result.ignored_files.size());
  return w.result;
}

}  // namespace doppel
