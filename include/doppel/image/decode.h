// Decoding image files to 8-bit RGB: JPEG (1 and 3 components) with libjpeg-turbo directly, and with libvips
// everything else doppel decodes: CMYK/YCCK JPEGs, PNG, WebP, GIF (first frame), TIFF (first page), HEIF/HEIC and AVIF
// (primary image), JPEG XL, and Netpbm (PBM, PGM, PPM and PFM, P1-P6/PF/Pf; PAM, P7, is not something libvips 8.14
// reads). Loaders libvips marks as unsafe for untrusted files stay blocked (ImageMagick, hence BMP/ICO/PSD; PDF and
// SVG, which are documents and drawings rather than pictures; JPEG 2000, OpenEXR, FITS, ...) apart from Netpbm and
// JPEG XL, whose loaders doppel allows; data those would read is Unsupported, named with its format.
//
// Limits, all checked before any pixel is decoded (a decompression bomb costs nothing):
//   - the file size (max_file_bytes), from fstat of the opened file, before reading it;
//   - width * height (max_pixels), from the header;
//   - the header's layout: 1-4 bands (grey, grey+alpha, RGB, RGBA) or 4-5 for CMYK(+alpha), real samples of at most
//     8 bytes (complex ones are Unsupported), and at most 16 bytes per pixel within max_pixels (width * height *
//     bands * bytes per sample <= 16 * max_pixels; 16-bit RGBA is 8, float RGB 12: only absurd layouts hit it).
// So decoding holds at most a small multiple of max_pixels bytes: the loader's own buffer (within the last bound), the
// 8- or 16-bit copy, and the RGB result (3 bytes a pixel; twice while an EXIF rotation is applied). Allocation
// failures and any other exception become a Status naming the file; nothing throws.
//
// Colour conversion follows Pillow's convert('RGB') (shared/reference/pil-resize.md section 4) so that vectors match
// Python pipelines: grey -> (L, L, L); CMYK -> naive (255-C)(255-K)/255 without ICC; 16-bit grey -> saturating
// min(v, 255) like Pillow (not v >> 8); other 16-bit layouts (RGB, RGBA, LA) -> the high byte, as Pillow's "RGB;16B"
// raw modes do; JPEG pixels are libjpeg-turbo's defaults (ISLOW DCT, fancy upsampling), as Pillow's. PBM's 1 bits are
// black.
#pragma once

#include <cstddef>
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

// Formats that can decode smaller than stored (DecodeOptions::draft_formats): bits, any combination.
enum DraftFormat : unsigned { kDraftJpeg = 1, kDraftWebp = 2, kDraftHeif = 4, kDraftAll = 7 };

struct DecodeOptions {
  int64_t max_file_bytes = int64_t(512) << 20;  // larger files are refused (ResourceExhausted)
  int64_t max_pixels = 178956970;               // Pillow's decompression-bomb error threshold (2 x 89,478,485)
  AlphaMode alpha = AlphaMode::kCompositeWhite;
  bool apply_exif_orientation = true;           // Pillow/Keras ignore EXIF orientation; doppel applies it
  // Shrink-on-load ("draft"): when both are > 0, the formats named in draft_formats decode smaller, never below the
  // draft size. The scale s is the largest of 8, 4, 2, 1 not above min(W / draft_width, H / draft_height) (integer
  // division; W x H as stored, before EXIF orientation): Pillow's Image.draft rule.
  //  - JPEG: libjpeg's DCT scaling by 1/s, ceil(W/s) x ceil(H/s): the pixels of Pillow's draft + load (and of
  //    `djpeg -scale 1/s`).
  //  - WebP: libwebp's own scaled decode to round(W/s) x round(H/s) (what `dwebp -scale` writes; VP8 has no DCT
  //    scaling, so the frame is still decoded whole, but its colour conversion and output are 1/s^2 of the work).
  //    Pillow cannot draft a WebP: a Python pipeline reproduces these pixels with libwebp's scaled decode alone.
  //  - HEIF/HEIC/AVIF: the thumbnail stored in the file, when it has one of the primary image's shape that is at
  //    least the draft size (phones store one; decoding it costs ~1/10 of the picture); else the full picture.
  // Far less work for a thumbnail of a camera photo. Other formats decode at full size.
  int draft_width = 0;
  int draft_height = 0;
  // The draft size is given in the picture's oriented frame (after EXIF orientation): for the orientations that
  // turn the picture by 90 degrees it is swapped before the rule is applied to the stored size.
  bool draft_oriented = false;
  unsigned draft_formats = kDraftJpeg;  // DraftFormat bits: which formats shrink on load
};

struct DecodedImage {
  ImageU8 rgb;             // always 3 channels
  std::string format;      // "jpeg", "png", "webp", "gif", "tiff", "heif", "jxl", "ppm", ... (libvips loader name)
  int source_width = 0;    // as stored in the file, before orientation
  int source_height = 0;
  std::string decoder;     // what decoded the pixels: "libjpeg-turbo" (the JPEG fast path) or "libvips"
  // s when shrink-on-load decoded 1/s of the stored size (DecodeOptions::draft_width); for a HEIF thumbnail, the
  // stored width over the thumbnail's, rounded down.
  int draft_scale = 1;
  int orientation = 1;     // the EXIF orientation the draft rule saw (1 when none, or not applied by the JPEG path)
  bool thumbnail = false;  // HEIF: the stored thumbnail was decoded instead of the picture
};

// True when decoding the same data with `wanted` gives exactly the pixels of `d`, its decode with `made_with`. Lets
// one decode serve models whose settings differ only in a draft size that picks the same scale for this picture
// (a 12 MP JPEG drafts to 1/8 for a 224 and a 299 model alike). Conservative: the same alpha and EXIF handling, limits
// at least as wide, and the same shrink-on-load outcome by each format's rule (JPEG and WebP: the same scale; HEIF:
// both full, or both with the same draft; formats that never shrink: always).
bool DecodeServes(const DecodedImage& d, const DecodeOptions& made_with, const DecodeOptions& wanted);

// Errors name `path` (or `name` for buffers): InvalidArgument for empty, truncated, corrupt or non-image data,
// ResourceExhausted for limits, IOError for unreadable files and special files (FIFOs, devices: never opened for
// blocking reads), Unsupported for formats doppel does not decode and for header layouts it refuses (the format and
// the value are named).
// JPEG data that libjpeg only warns about (corrupt entropy data, extraneous bytes) decodes to the pixels libjpeg
// recovers, as in Pillow; data that ends early is an error. Thread-safe.
// DecodeImageFile reads JPEG files whole and decodes them as DecodeImageBuffer does; other formats are streamed.
Result<DecodedImage> DecodeImageFile(const std::string& path, const DecodeOptions& options = {});
Result<DecodedImage> DecodeImageBuffer(std::string_view bytes, const std::string& name,
                                       const DecodeOptions& options = {});

// Content sniffing, fast and library-free: the image format of a buffer's first bytes ("jpeg", "png", "gif", "webp",
// "tiff", "bmp"), or "" when it is none of these. Never decodes.
std::string SniffImageFormat(std::string_view head);

// What a file's first bytes say it is, by the decoder's own rules.
struct FormatGuess {
  std::string format;      // "jpeg", "png", "gif", "webp", "tiff", "heif", "jxl", "ppm", ... or "pdf", "svg", "bmp",
                           // "jp2k", ... for formats doppel recognises but does not decode; "" for anything else
  bool decodable = false;  // true when the decoders above take this format (the data may still be corrupt)
  std::string why_not;     // for a recognised format that is not decodable: why, e.g. "a PDF document; ..."
};
// SniffImageFormat first (no library call for the common formats), then every libvips source loader's own sniffer in
// libvips' priority order, the one vips_foreign_find_load_source uses, with the blocks above: a format is decodable
// exactly when DecodeImageFile would hand it to a loader. Text formats libvips reads as numbers (matrix, CSV) are
// not images (""); Netpbm needs its magic number followed by a header, not just "P1". Give it kSniffBytes bytes
// (fewer when the file is shorter): every decodable format is recognised from its first 16 bytes, SVG from its first
// few hundred. Never decodes. Thread-safe.
inline constexpr size_t kSniffBytes = 1024;
FormatGuess RecogniseImageFormat(std::string_view head);

// Initialises libvips once per process (idempotent, thread-safe). Called by the decode functions. It also tells
// glibc's malloc to keep freed memory for reuse (blocks up to 256 MiB from the heap, not fresh mappings; no trimming
// below 128 MiB free): a 12 MP decode needs a 36 MB buffer, and on the VMs measured (BENCHMARKS.md) faulting in
// fresh pages for it cost 3-4x the decode itself. ReleaseFreedImageMemory gives the memory back when a run ends.
Status InitImageLibrary();

// Returns freed heap memory to the system (malloc_trim): call after a burst of decoding (an index run's end).
void ReleaseFreedImageMemory();

}  // namespace doppel
