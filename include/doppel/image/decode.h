// Decoding image files to 8-bit RGB: JPEG (1 and 3 components) with libjpeg-turbo directly, and with libvips
// everything else: CMYK/YCCK JPEGs, PNG, WebP, GIF (first frame), TIFF, and whatever else the installed libvips
// loads. The header is read first; files over the size or pixel limits are refused before any pixel is decoded
// (a decompression bomb costs nothing).
//
// Colour conversion follows Pillow's convert('RGB') (shared/reference/pil-resize.md section 4) so that vectors match
// Python pipelines: grey -> (L, L, L); CMYK -> naive (255-C)(255-K)/255 without ICC; 16-bit grey -> saturating
// min(v, 255) like Pillow (not v >> 8); other 16-bit layouts (RGB, RGBA, LA) -> the high byte, as Pillow's "RGB;16B"
// raw modes do; JPEG pixels are libjpeg-turbo's defaults (ISLOW DCT, fancy upsampling), as Pillow's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "doppel/image/image.h"
#include "doppel/util/status.h"

namespace doppel {

enum class AlphaMode {
  kCompositeWhite,  // doppel's default: composite onto white (what a person sees)
  kDrop,            // Pillow/Keras/torchvision behaviour: drop alpha, keep the RGB bytes
};

struct DecodeOptions {
  int64_t max_file_bytes = int64_t(512) << 20;  // larger files are refused (ResourceExhausted)
  int64_t max_pixels = 178956970;               // Pillow's decompression-bomb error threshold (2 x 89,478,485)
  AlphaMode alpha = AlphaMode::kCompositeWhite;
  bool apply_exif_orientation = true;           // Pillow/Keras ignore EXIF orientation; doppel applies it
};

struct DecodedImage {
  ImageU8 rgb;             // always 3 channels
  std::string format;      // "jpeg", "png", "webp", "gif", "tiff", ... (the libvips loader name, lower-case)
  int source_width = 0;    // as stored in the file, before orientation
  int source_height = 0;
  std::string decoder;     // what decoded the pixels: "libjpeg-turbo" (the JPEG fast path) or "libvips"
};

// Errors name `path` (or `name` for buffers): InvalidArgument for empty, truncated, corrupt or non-image data,
// ResourceExhausted for limits, IOError for unreadable files, Unsupported for formats libvips cannot load.
// JPEG data that libjpeg only warns about (corrupt entropy data, extraneous bytes) decodes to the pixels libjpeg
// recovers, as in Pillow; data that ends early is an error. Thread-safe.
// DecodeImageFile reads JPEG files whole and decodes them as DecodeImageBuffer does; other formats are streamed.
Result<DecodedImage> DecodeImageFile(const std::string& path, const DecodeOptions& options = {});
Result<DecodedImage> DecodeImageBuffer(std::string_view bytes, const std::string& name,
                                       const DecodeOptions& options = {});

// Content sniffing: the image format of a buffer's first bytes ("jpeg", "png", "gif", "webp", "tiff", "bmp"),
// or "" when it is not a known image format. Never decodes.
std::string SniffImageFormat(std::string_view head);

// Initialises libvips once per process (idempotent, thread-safe). Called by the decode functions.
Status InitImageLibrary();

}  // namespace doppel
