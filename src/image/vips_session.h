// Internal: libvips start-up, owning pointers for GObjects, and the libvips error buffer.
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

}  // namespace doppel::image_internal
