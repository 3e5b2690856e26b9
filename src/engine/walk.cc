#include "doppel/engine/walk.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "doppel/image/decode.h"

namespace doppel {
namespace fs = std::filesystem;

bool HasImageExtension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::set<std::string> kExt = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif",
                                             ".tif", ".tiff", ".bmp", ".heic", ".avif", ".jxl"};
  return kExt.count(ext) > 0;
}

namespace {

struct Walker {
  WalkResult result;
  std::set<std::pair<dev_t, ino_t>> visited_dirs;

  void File(const fs::path& p, const struct stat& st) {
    char head[32] = {0};
    std::ifstream f(p, std::ios::binary);
    if (!f) {
      result.errors.emplace_back(p.string(), Status::IOError(p.string() + ": " + std::strerror(errno)));
      return;
    }
    f.read(head, sizeof head);
    std::string format = SniffImageFormat(std::string_view(head, static_cast<size_t>(f.gcount())));
    if (format.empty() && !HasImageExtension(p.string())) {
      ++result.ignored;
      result.ignored_files.emplace_back(p.string(), "not an image (no known image signature)");
      return;
    }
    FoundFile ff;
    ff.path = p.string();
    ff.size = st.st_size;
    ff.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    ff.format = format;
    result.images.push_back(std::move(ff));
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
    if (!S_ISDIR(st.st_mode)) return;  // sockets, devices, fifos
    if (!visited_dirs.insert({st.st_dev, st.st_ino}).second) return;  // a link loop or a second way in
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

}  // namespace

WalkResult FindImages(const std::vector<std::string>& roots) {
  Walker w;
  for (const auto& r : roots) {
    std::error_code ec;
    fs::path abs = fs::absolute(r, ec).lexically_normal();
    if (abs.has_filename() == false && abs.has_parent_path()) abs = abs.parent_path();
    w.Visit(abs);
  }
  std::sort(w.result.images.begin(), w.result.images.end(),
            [](const FoundFile& a, const FoundFile& b) { return a.path < b.path; });
  w.result.images.erase(std::unique(w.result.images.begin(), w.result.images.end(),
                                    [](const FoundFile& a, const FoundFile& b) { return a.path == b.path; }),
                        w.result.images.end());
  return w.result;
}

}  // namespace doppel
