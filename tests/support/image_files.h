// Writing image files for tests with libvips: JPEG/PNG from pixels, and edited copies of a photo (rescaled,
// recompressed, cropped) for copy-detection and duplicate tests.
#pragma once

#include <string>

#include "doppel/image/image.h"

namespace doppel::testing {

// Writes `img` (1 or 3 channels) as JPEG (quality q) or PNG by the extension of `path`. Throws on failure.
void WriteImage(const ImageU8& img, const std::string& path, int jpeg_quality = 90);
// Writes `src` (any image file) resized by `scale`, cropped to the central `crop` fraction, as JPEG quality q.
void WriteEditedCopy(const std::string& src, const std::string& path, double scale, double crop = 1.0,
                     int jpeg_quality = 75);

}  // namespace doppel::testing
