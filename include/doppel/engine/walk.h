// Finding image files under folders: a recursive walk that follows symbolic links safely (each directory is
// visited once, by device and inode, so link loops end) and picks images by content, not only by extension.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "doppel/util/status.h"

namespace doppel {

struct FoundFile {
  std::string path;   // absolute, lexically normal (symbolic links in it are kept as the user sees them)
  int64_t size = 0;
  int64_t mtime_ns = 0;
  std::string format; // sniffed image format, "" when only the extension says image
};

struct WalkResult {
  // Sorted by path, each path once. One file reachable by two paths (a link to it) is listed under both; the
  // engine recognises identical content by its hash.
  std::vector<FoundFile> images;
  int64_t ignored = 0;            // files that are neither image content nor image-named
  std::vector<std::pair<std::string, std::string>> ignored_files;  // path, reason
  std::vector<std::pair<std::string, Status>> errors;  // unreadable folders or files
};

// True for the extensions of the formats doppel decodes (.jpg, .jpeg, .png, .webp, .gif, .tif, .tiff, .bmp, ...).
bool HasImageExtension(const std::string& path);

// Walks each root (a file or a folder). A file is an image candidate when its first bytes are a known image
// format or its extension is an image one (a corrupt "photo.jpg" is then reported by the decoder, not ignored).
WalkResult FindImages(const std::vector<std::string>& roots);

}  // namespace doppel
