// Image fixtures for tests: random pixels; writing JPEG/PNG from pixels and edited copies of a photo (rescaled,
// recompressed, cropped) with libvips, for copy-detection and duplicate tests; PNG chunks built by hand.
#pragma once

#include <cstdint>
#include <string>

#include "doppel/image/image.h"

namespace doppel::testing {

// A w x h image of `channels` channels, every byte uniformly random from std::mt19937(seed).
ImageU8 Noise(int w, int h, int channels, uint32_t seed);
// Noise with 3 channels (RGB).
inline ImageU8 Noise(int w, int h, uint32_t seed) { return Noise(w, h, 3, seed); }

// Writes `img` (1 or 3 channels) as PNG, WebP (lossy, quality q) or JPEG (quality q) by the extension of `path`.
// Throws on failure.
void WriteImage(const ImageU8& img, const std::string& path, int jpeg_quality = 90);
// Writes `src` (any image file) resized by `scale`, cropped to the central `crop` fraction, as JPEG quality q.
void WriteEditedCopy(const std::string& src, const std::string& path, double scale, double crop = 1.0,
                     int jpeg_quality = 75);

// CRC-32 (the zlib/PNG polynomial) of `data`, as a PNG chunk's trailer holds it.
uint32_t Crc32(const std::string& data);
// `v` as 4 big-endian bytes.
std::string Be32(uint32_t v);
// A whole PNG chunk: length, `type`, `body`, CRC of type + body.
std::string PngChunk(const std::string& type, const std::string& body);

}  // namespace doppel::testing
