// Encoding pixels for display (thumbnails in reports and the web page): JPEG through libvips.
#pragma once

#include <string>

#include "doppel/image/image.h"
#include "doppel/util/status.h"

namespace doppel {

// JPEG bytes of a 1- or 3-channel image.
Result<std::string> EncodeJpeg(const ImageU8& img, int quality = 80);

// The image scaled (antialiased bilinear) so that its longer side is at most `max_side`; unchanged if smaller.
ImageU8 Thumbnail(const ImageU8& img, int max_side);

}  // namespace doppel
