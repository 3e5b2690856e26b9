// Internal: EXIF orientation, read with libexif and applied to 8-bit RGB pixels.
#pragma once

#include <cstddef>
#include <cstdint>

#include "doppel/image/image.h"

namespace doppel::image_internal {

// The Orientation tag (IFD0) of an EXIF block as a JPEG APP1 segment carries it ("Exif\0\0" then TIFF data), parsed
// with libexif the way libvips reads it: the first value of a SHORT/SSHORT/LONG/SLONG entry, clamped to 1..8.
// 1 (as stored) when there is no such tag or the block does not parse.
int ExifOrientation(const uint8_t* exif, size_t size);

// The image as displayed for EXIF orientation 1..8: 2 mirror left-right, 3 rotate 180, 4 mirror top-bottom,
// 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 anticlockwise (5-8 swap width and height). Display
// pixel (x, y) comes from stored pixel:
//   2: (W-1-x, y)  3: (W-1-x, H-1-y)  4: (x, H-1-y)  5: (y, x)  6: (y, H-1-x)  7: (W-1-y, H-1-x)  8: (W-1-y, x)
// where W x H is the stored size. Any channel count. Other values return the image unchanged.
ImageU8 ApplyOrientation(ImageU8 img, int orientation);

// The piece of ApplyOrientation that decoders can call as rows arrive: writes stored rows [y0, y0 + n) of a
// stored_w x stored_h image, `strip` holding them contiguously (n * stored_w * channels bytes), to where orientation
// 1..8 puts them in `out`, which is already sized for the displayed image (width and height swapped for 5..8).
// Strips of a few dozen rows keep the transposing orientations cache-friendly.
void PlaceRows(const uint8_t* strip, int y0, int n, int stored_w, int stored_h, int orientation, ImageU8* out);

}  // namespace doppel::image_internal
