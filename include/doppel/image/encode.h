// Encoding pixels for display (thumbnails in reports and the web page): JPEG through libvips.
#pragma once

#include <string>

#include "doppel/image/image.h"
#include "doppel/util/status.h"

namespace doppel {

// JPEG bytes of a 1- or 3-channel image. Never throws.
Result<std::string> EncodeJpeg(const ImageU8& img, int quality = 80);

// The image scaled (antialiased bilinear) so that its longer side is at most `max_side`; unchanged if smaller; empty
// (0x0) when max_side is not positive or memory runs out. Never throws.
ImageU8 Thumbnail(const ImageU8& img, int max_side);

}  // namespace doppel
