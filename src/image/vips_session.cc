#include "vips_session.h"

#include <mutex>
#include <string>

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

}  // namespace

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
    if (VIPS_INIT("doppel") != 0) {
      error = vips_error_buffer();
      vips_error_clear();
      return;
    }
    // Decoding runs once per file; libvips' operation cache would only keep stale results for files that changed
    // on disk and hold memory.
    vips_cache_set_max(0);
    // Refuse loaders libvips marks as unsafe for untrusted input (ImageMagick, MATLAB, ...).
    vips_block_untrusted_set(TRUE);
    g_log_set_handler("VIPS", GLogLevelFlags(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO |
                                             G_LOG_LEVEL_DEBUG),
                      image_internal::DropLog, nullptr);
    ok = true;
  });
  if (!ok) return Status::Internal("libvips failed to start: " + error);
  return Status::OK();
}

}  // namespace doppel
