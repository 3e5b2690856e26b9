// Internal: libvips start-up (and which of its loaders doppel lets run), owning pointers for GObjects, the loader
// search that content recognition and decoding share, and the libvips error buffer.
#pragma once

#include <vips/vips.h>

#include <memory>
#include <string>

namespace doppel::image_internal {

struct GObjectUnref {
  void operator()(void* p) const {
    if (p) g_object_unref(p);
  }
};
using VipsImagePtr = std::unique_ptr<VipsImage, GObjectUnref>;
using VipsSourcePtr = std::unique_ptr<VipsSource, GObjectUnref>;

// Returns and clears the text in libvips' error buffer, one line per message joined with "; " (empty when there
// is none).
//
// The buffer is process-global, not per thread. Each decode clears it when it starts and takes it when it fails, both
// under one mutex, so the text never outlives the call that reads it. The race that remains: when two decodes fail at
// the same moment, one of them may take the other's libvips text too (or find it already taken). That text is only
// detail; the Status code and the file name come from the failing call itself and are always right.
std::string TakeVipsError();
void ClearVipsError();

// What libvips' source loaders make of some data, in libvips' priority order (the order vips_foreign_find_load_source
// uses), through each loader's is_a_source sniff (reads the first bytes, never decodes).
struct LoaderMatch {
  std::string loader;  // operation nickname, "ppmload_source"; "" when no loader doppel knows of recognises the data
  std::string format;  // "ppm" (the nickname without "load_source"), "" with loader
  bool allowed = false;  // doppel decodes it: the loader is not blocked (see InitImageLibrary in vips_session.cc)
};
// The first allowed loader that recognises `source`; if none does, the first blocked one, minus text formats that are
// no pictures (matrix, csv); else empty. Netpbm is only taken when the magic number is followed by a header (libvips
// checks just the two magic bytes, which plain text like "P1 notes" has). Leaves `source` rewound. Call after
// InitImageLibrary. Thread-safe.
LoaderMatch FindLoader(VipsSource* source);

// Why doppel does not decode a format that a blocked loader recognises (a phrase to follow "<format> data: ").
std::string RefusedFormatReason(const std::string& format);

}  // namespace doppel::image_internal
