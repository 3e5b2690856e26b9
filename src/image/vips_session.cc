#include "vips_session.h"

#include <malloc.h>

#include <cctype>
#include <mutex>
#include <string>
#include <vector>

#include "doppel/image/decode.h"

namespace doppel {
namespace image_internal {
namespace {

std::mutex& ErrorMutex() {
  static std::mutex mu;
  return mu;
}

// libvips reports warnings (e.g. "VipsJpeg: Invalid SOS parameters", premature ends it tolerates) through g_log in
// the "VIPS" domain, straight to stderr. Decoding thousands of web images makes that noise; errors still reach the
// caller as a Status, so warnings are dropped.
void DropLog(const gchar*, GLogLevelFlags, const gchar*, gpointer) {}

// The source loaders that can sniff, in libvips' priority order; filled once by InitImageLibrary.
std::vector<VipsForeignLoadClass*>& SourceLoaders() {
  static std::vector<VipsForeignLoadClass*> loaders;
  return loaders;
}

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

void* CollectSourceLoader(void* item, void* a, void*) {
  auto* cls = static_cast<VipsForeignLoadClass*>(item);
  const char* nick = VIPS_OBJECT_CLASS(cls)->nickname;
  if (nick && EndsWith(nick, "_source") && cls->is_a_source) {
    static_cast<std::vector<VipsForeignLoadClass*>*>(a)->push_back(cls);
  }
  return nullptr;
}

// Netpbm: "P1".."P6", "PF", "Pf", then whitespace (or a comment), then the width. libvips' sniff looks at the two
// magic bytes only.
bool PlausibleNetpbm(VipsSource* source) {
  unsigned char* data = nullptr;
  const gint64 n = vips_source_sniff_at_most(source, &data, 64);
  if (n < 3 || !data) return false;
  size_t i = 2;
  if (!std::isspace(data[i]) && data[i] != '#') return false;
  while (i < size_t(n)) {
    if (data[i] == '#') {
      while (i < size_t(n) && data[i] != '\n' && data[i] != '\r') ++i;
    } else if (std::isspace(data[i])) {
      ++i;
    } else {
      return std::isdigit(data[i]) != 0;
    }
  }
  return true;  // the header goes on past what was sniffed: let the loader decide
}

}  // namespace

LoaderMatch FindLoader(VipsSource* source) {
  LoaderMatch refused;
  for (VipsForeignLoadClass* cls : SourceLoaders()) {
    (void)vips_source_rewind(source);  // some sniffers read rather than peek
    if (!cls->is_a_source(source)) continue;
    std::string nick = VIPS_OBJECT_CLASS(cls)->nickname;
    std::string format = nick.substr(0, nick.size() - std::string("load_source").size());
    if (format == "ppm") {
      (void)vips_source_rewind(source);
      if (!PlausibleNetpbm(source)) continue;
    }
    const bool allowed = (VIPS_OPERATION_CLASS(cls)->flags & VIPS_OPERATION_BLOCKED) == 0;
    if (allowed) {
      (void)vips_source_rewind(source);
      return {nick, format, true};
    }
    // Text formats libvips can read as numbers are no pictures: not worth naming.
    if (refused.loader.empty() && format != "matrix" && format != "csv") refused = {nick, format, false};
  }
  (void)vips_source_rewind(source);
  return refused;
}

std::string RefusedFormatReason(const std::string& format) {
  if (format == "pdf") return "a PDF document; doppel indexes pictures, not documents";
  if (format == "svg") return "an SVG drawing; doppel decodes raster pictures, not vector graphics";
  if (format == "bmp") return "libvips reads BMP only through ImageMagick, which doppel does not run on untrusted files";
  return "its libvips loader is one doppel does not run on untrusted files";
}

std::string TakeVipsError() {
  std::lock_guard<std::mutex> lock(ErrorMutex());
  std::string text = vips_error_buffer();
  vips_error_clear();
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) {
      if (!out.empty()) out += "; ";
      out.append(text, start, end - start);
    }
    start = end + 1;
  }
  return out;
}

void ClearVipsError() {
  std::lock_guard<std::mutex> lock(ErrorMutex());
  vips_error_clear();
}

}  // namespace image_internal

Status InitImageLibrary() {
  static std::once_flag once;
  static bool ok = false;
  static std::string error;
  std::call_once(once, [] {
    // Freed decode buffers stay in the process for the next picture (see decode.h).
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    if (VIPS_INIT("doppel") != 0) {
      error = vips_error_buffer();
      vips_error_clear();
      return;
    }
    // Decoding runs once per file; libvips' operation cache would only keep stale results for files that changed
    // on disk and hold memory.
    vips_cache_set_max(0);
    // Which loaders run. libvips marks some as unsafe for untrusted input; doppel blocks those (ImageMagick, PDF,
    // SVG, JPEG 2000, FITS, OpenEXR, OpenSlide, MATLAB, Radiance, libvips' own .v, ...) except two photo formats:
    // Netpbm (libvips' own small parser of a trivial format) and JPEG XL (libjxl, fuzzed continuously by OSS-Fuzz).
    // matrixload, which libvips trusts, reads text ("2 2\n1 2\n3 4"): blocked, it is not a picture format.
    // Content recognition and decoding both follow these blocks (FindLoader), so they always agree.
    vips_block_untrusted_set(TRUE);
    vips_operation_block_set("VipsForeignLoadPpm", FALSE);
    vips_operation_block_set("VipsForeignLoadJxl", FALSE);
    vips_operation_block_set("VipsForeignLoadMatrix", TRUE);
    vips_foreign_map("VipsForeignLoad", image_internal::CollectSourceLoader, &image_internal::SourceLoaders(),
                     nullptr);
    g_log_set_handler("VIPS", GLogLevelFlags(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO |
                                             G_LOG_LEVEL_DEBUG),
                      image_internal::DropLog, nullptr);
    ok = true;
  });
  if (!ok) return Status::Internal("libvips failed to start: " + error);
  return Status::OK();
}

void ReleaseFreedImageMemory() { malloc_trim(0); }

}  // namespace doppel
