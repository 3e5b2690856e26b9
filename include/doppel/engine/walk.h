// Finding image files under folders: a recursive walk that follows symbolic links safely (each directory is
// visited once, by device and inode, so link loops end) and picks images by content, not only by extension.
//
// What is an image: RecogniseImageFormat (doppel/image/decode.h) on the file's first kSniffBytes bytes, i.e. the
// fast hand-written sniff for JPEG, PNG, GIF, WebP and TIFF, then libvips' own sniffers for everything else doppel
// decodes: HEIF/HEIC and AVIF, JPEG XL, Netpbm (PBM, PGM, PPM, PFM), whatever the file is called. Formats that libvips
// recognises but doppel does not decode are ignored with the reason: PDF (documents, not pictures), SVG (drawings),
// BMP, JPEG 2000, Radiance, ... (their loaders are blocked as unsafe for untrusted files). Text is never an image.
// A file whose extension is an image one is a candidate whatever its content: a corrupt "photo.jpg" is reported by
// the decoder as a failure, not silently ignored. A doppel data directory (catalog.db beside models.json) is never
// entered: it is listed among the ignored files with that reason (its trash holds files moved away on purpose).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "doppel/util/status.h"

namespace doppel {

struct FoundFile {
  std::string path;   // absolute, lexically normal (symbolic links in it are kept as the user sees them)
  int64_t size = 0;
  int64_t mtime_ns = 0;
  std::string format; // recognised image format ("jpeg", "png", "heif", "jxl", "ppm", ...), "" when only the
                      // extension says image
};

struct WalkResult {
  // Sorted by path, each path once. One file reachable by two paths (a link to it) is listed under both; the
  // engine recognises identical content by its hash.
  std::vector<FoundFile> images;
  int64_t ignored = 0;  // files that are neither image content nor image-named: ignored_files.size()
  // Every ignored file with the reason, sorted by path, each path once. Reasons: "empty file", "not an image (no known
  // image signature)", "recognised as pdf, which doppel does not decode: a PDF document; ...", "not a regular file
  // (FIFO)" (likewise socket, character device, block device).
  std::vector<std::pair<std::string, std::string>> ignored_files;  // path, reason
  // Folders and files that could not be read (missing, dangling links, permissions): whether such a file is an image
  // cannot be told, so it is an error rather than ignored.
  std::vector<std::pair<std::string, Status>> errors;
};

// True for the extensions of the formats doppel decodes (.jpg, .jpeg, .png, .webp, .gif, .tif, .tiff, .heic, .avif,
// .jxl, .ppm, .pgm, .pbm, ...) and .bmp.
bool HasImageExtension(const std::string& path);

// Walks each root (a file or a folder). A file is an image candidate when its content is a format doppel decodes or
// its extension is an image one (see above). Never throws.
WalkResult FindImages(const std::vector<std::string>& roots);

}  // namespace doppel
