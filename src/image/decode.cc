// DecodeImageFile / DecodeImageBuffer: JPEG data goes to libjpeg-turbo directly (jpeg_decode.h) unless it is CMYK or
// otherwise unusual; everything else to libvips, which opens the data lazily: the header is checked against the
// limits, then the first page/frame is decoded to memory and converted to 8-bit RGB (to_rgb.h).
#include "doppel/image/decode.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "draft.h"
#include "jpeg_decode.h"
#include "orient.h"
#include "to_rgb.h"
#include "vips_session.h"

namespace doppel {
namespace {

using image_internal::ClearVipsError;
using image_internal::TakeVipsError;
using image_internal::VipsImagePtr;
using image_internal::VipsSourcePtr;

struct GFree {
  void operator()(void* p) const { g_free(p); }
};
using GMemory = std::unique_ptr<void, GFree>;  // memory libvips allocated with g_malloc

Status VipsFailure(Status (*make)(std::string), const std::string& name, const std::string& what) {
  std::string detail = TakeVipsError();
  return make(name + ": " + what + (detail.empty() ? "" : ": " + detail));
}

// "jpegload_source" -> "jpeg".
std::string FormatFromLoader(VipsImage* im) {
  const char* loader = nullptr;
  if (vips_image_get_typeof(im, VIPS_META_LOADER) == 0 || vips_image_get_string(im, VIPS_META_LOADER, &loader) != 0 ||
      !loader) {
    return "";
  }
  std::string s = loader;
  for (const char* suffix : {"_source", "_buffer"}) {
    size_t n = std::strlen(suffix);
    if (s.size() > n && s.compare(s.size() - n, n, suffix) == 0) s.resize(s.size() - n);
  }
  if (s.size() > 4 && s.compare(s.size() - 4, 4, "load") == 0) s.resize(s.size() - 4);
  return s;
}

bool IsColourimetric(VipsInterpretation t) {
  switch (t) {
    case VIPS_INTERPRETATION_XYZ:
    case VIPS_INTERPRETATION_LAB:
    case VIPS_INTERPRETATION_LABQ:
    case VIPS_INTERPRETATION_LABS:
    case VIPS_INTERPRETATION_LCH:
    case VIPS_INTERPRETATION_CMC:
    case VIPS_INTERPRETATION_YXY:
    case VIPS_INTERPRETATION_scRGB:
    case VIPS_INTERPRETATION_HSV:
      return true;
    default:
      return false;
  }
}

// The header's layout against what doppel decodes and the memory it may take (decode.h): band count, sample type,
// bytes a pixel within max_pixels. Before any pixel is decoded.
Status CheckLayout(VipsImage* im, const std::string& name, const std::string& format, const DecodeOptions& options) {
  const int bands = vips_image_get_bands(im);
  const bool cmyk = vips_image_get_interpretation(im) == VIPS_INTERPRETATION_CMYK;
  if (cmyk ? (bands != 4 && bands != 5) : (bands < 1 || bands > 4)) {
    return Status::Unsupported(name + ": " + format + " image with " + std::to_string(bands) +
                               (cmyk ? " CMYK bands" : " bands") +
                               " (doppel decodes grey, grey+alpha, RGB, RGBA, CMYK and CMYK+alpha)");
  }
  const VipsBandFormat fmt = vips_image_get_format(im);
  if (fmt == VIPS_FORMAT_COMPLEX || fmt == VIPS_FORMAT_DPCOMPLEX || fmt == VIPS_FORMAT_NOTSET ||
      fmt >= VIPS_FORMAT_LAST) {
    return Status::Unsupported(name + ": " + format + " image with " +
                               (fmt == VIPS_FORMAT_COMPLEX || fmt == VIPS_FORMAT_DPCOMPLEX ? "complex" : "unknown") +
                               " samples");
  }
  const int64_t sample_bytes = int64_t(vips_format_sizeof(fmt));
  const int64_t pixels = int64_t(vips_image_get_width(im)) * vips_image_get_height(im);
  const int64_t bytes = pixels * bands * sample_bytes;  // libvips keeps sides under 10^7: no overflow
  if (options.max_pixels > 0 && bytes / 16 > options.max_pixels) {
    return Status::ResourceExhausted(name + ": " + format + " image of " + std::to_string(pixels) + " pixels x " +
                                     std::to_string(bands) + " bands x " + std::to_string(sample_bytes * 8) +
                                     " bits = " + std::to_string(bytes) +
                                     " bytes of samples, more than 16 bytes a pixel within the limit of " +
                                     std::to_string(options.max_pixels) + " pixels");
  }
  return Status::OK();
}

// Shrink-on-load through libvips (DecodeOptions::draft_formats): the data opened again, reduced, or null to keep the
// full picture. `w` x `h` is the picture as stored, `orientation` its EXIF orientation. WebP: libwebp's scaled decode
// at the draft scale; HEIF: the stored thumbnail, when it has the picture's shape and covers the draft size.
Result<VipsImagePtr> OpenReduced(VipsSource* source, const image_internal::LoaderMatch& loader,
                                 const std::string& name, const std::string& format, int w, int h, int bands,
                                 int orientation, const DecodeOptions& options, int* scale, bool* thumbnail) {
  *scale = 1;
  *thumbnail = false;
  if (options.draft_width <= 0 || options.draft_height <= 0) return VipsImagePtr();
  const bool webp = format == "webp" && (options.draft_formats & kDraftWebp);
  const bool heif = format == "heif" && (options.draft_formats & kDraftHeif);
  if (!webp && !heif) return VipsImagePtr();
  const int s = image_internal::DraftScale(w, h, orientation, options);
  if (s == 1) return VipsImagePtr();  // the picture is no more than twice the draft size: nothing to gain
  if (vips_source_rewind(source) != 0) {
    TakeVipsError();
    return VipsImagePtr();  // a stream that cannot go back: the full picture, already open
  }
  VipsImage* opened = nullptr;
  const int failed = webp ? vips_call(loader.loader.c_str(), source, &opened, "access", VIPS_ACCESS_SEQUENTIAL,
                                      "fail_on", VIPS_FAIL_ON_ERROR, "scale", 1.0 / s, nullptr)
                          : vips_call(loader.loader.c_str(), source, &opened, "access", VIPS_ACCESS_SEQUENTIAL,
                                      "fail_on", VIPS_FAIL_ON_ERROR, "thumbnail", TRUE, nullptr);
  if (failed != 0 || !opened)
    return VipsFailure(Status::InvalidArgument, name, "cannot read " + format + " header (shrink-on-load)");
  VipsImagePtr reduced(opened);
  const int rw = vips_image_get_width(opened), rh = vips_image_get_height(opened);
  if (webp) {
    *scale = s;
    return reduced;
  }
  // HEIF: libvips gives the primary image when there is no thumbnail. A thumbnail is used only when it is the
  // picture at a smaller size (its sides in the picture's proportions, within a pixel; its bands: a thumbnail without
  // the picture's alpha would show other pixels) and covers the draft size in the frame the picture is shown in.
  int64_t dw = 0, dh = 0;
  image_internal::DraftSize(orientation, options, &dw, &dh);
  const bool smaller = rw < w && rh < h;
  const bool same_shape = std::llabs(int64_t(rw) * h - int64_t(rh) * w) <= std::max(w, h);
  if (!smaller || !same_shape || rw < dw || rh < dh ||
      vips_image_get_bands(opened) != bands) {
    return VipsImagePtr();
  }
  *scale = std::max(1, w / rw);
  *thumbnail = true;
  return reduced;
}

// Decodes from `source`. `head` is the data's first bytes (for the error when no loader accepts the data).
Result<DecodedImage> DecodeSource(VipsSource* source, std::string_view head, const std::string& name,
                                  const DecodeOptions& options) {
  // The loader: the same search as content recognition (FindLoader), which skips blocked loaders; libvips' own
  // vips_foreign_find_load_source would return a blocked one and then fail with "operation is blocked".
  const image_internal::LoaderMatch loader = image_internal::FindLoader(source);
  if (!loader.allowed) {
    TakeVipsError();
    std::string format = loader.format.empty() ? SniffImageFormat(head) : loader.format;
    if (!format.empty()) {
      return Status::Unsupported(name + ": " + format + " data, which doppel does not decode: " +
                                 image_internal::RefusedFormatReason(format));
    }
    return Status::InvalidArgument(name + ": not an image (unknown format)");
  }
  // Lazy open: this reads the header only. `fail_on=error` makes truncated or corrupt data an error instead of a
  // grey-filled image; access=sequential lets the loaders stream.
  VipsImage* opened = nullptr;
  if (vips_call(loader.loader.c_str(), source, &opened, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                VIPS_FAIL_ON_ERROR, nullptr) != 0 ||
      !opened) {
    return VipsFailure(Status::InvalidArgument, name, "cannot read " + loader.format + " header");
  }
  VipsImagePtr im(opened);

  DecodedImage result;
  result.format = FormatFromLoader(im.get());
  if (result.format.empty()) result.format = loader.format;
  result.decoder = "libvips";
  result.source_width = vips_image_get_width(im.get());
  result.source_height = vips_image_get_height(im.get());
  const int64_t pixels = int64_t(result.source_width) * result.source_height;
  if (pixels > options.max_pixels) {
    return Status::ResourceExhausted(name + ": " + std::to_string(result.source_width) + "x" +
                                     std::to_string(result.source_height) + " = " + std::to_string(pixels) +
                                     " pixels, more than the limit of " + std::to_string(options.max_pixels));
  }
  if (pixels <= 0) return Status::InvalidArgument(name + ": " + result.format + " image of size 0");
  DOPPEL_RETURN_IF_ERROR(CheckLayout(im.get(), name, result.format, options));
  int orientation = 1;
  if (vips_image_get_typeof(im.get(), VIPS_META_ORIENTATION) != 0) {
    vips_image_get_int(im.get(), VIPS_META_ORIENTATION, &orientation);
  }
  result.orientation = orientation;
  {
    // Shrink-on-load (the JPEG fast path does its own): the limits and layout were checked on the full picture.
    Result<VipsImagePtr> reduced =
        OpenReduced(source, loader, name, result.format, result.source_width, result.source_height,
                    vips_image_get_bands(im.get()), orientation, options, &result.draft_scale,
                    &result.thumbnail);
    if (!reduced.ok()) return reduced.status();
    if (*reduced) im = std::move(reduced).value();
  }

  // Non-RGB colour spaces (Lab TIFFs, scRGB, ...) go to sRGB first; CMYK is left for the naive Pillow formula.
  VipsInterpretation interp = vips_image_get_interpretation(im.get());
  if (IsColourimetric(interp)) {
    VipsImage* srgb = nullptr;
    if (vips_colourspace(im.get(), &srgb, VIPS_INTERPRETATION_sRGB, nullptr) != 0) {
      return VipsFailure(Status::Unsupported, name, "cannot convert colour space to sRGB");
    }
    im.reset(srgb);
    interp = VIPS_INTERPRETATION_sRGB;
  }
  VipsBandFormat fmt = vips_image_get_format(im.get());
  if (fmt != VIPS_FORMAT_UCHAR && fmt != VIPS_FORMAT_USHORT) {
    // Signed, 32-bit, float: clamp to 0..255 (vips_cast clips out-of-range values).
    VipsImage* cast = nullptr;
    if (vips_cast(im.get(), &cast, VIPS_FORMAT_UCHAR, nullptr) != 0) {
      return VipsFailure(Status::Unsupported, name, "cannot convert samples to 8 bits");
    }
    im.reset(cast);
    fmt = VIPS_FORMAT_UCHAR;
  }

  image_internal::RawPixels raw;
  raw.width = vips_image_get_width(im.get());
  raw.height = vips_image_get_height(im.get());
  raw.bands = vips_image_get_bands(im.get());
  raw.sixteen_bit = fmt == VIPS_FORMAT_USHORT;
  raw.cmyk = interp == VIPS_INTERPRETATION_CMYK;
  // The actual decode happens here.
  size_t size = 0;
  GMemory mem(vips_image_write_to_memory(im.get(), &size));
  if (!mem) return VipsFailure(Status::InvalidArgument, name, "cannot decode image (truncated or corrupt?)");
  raw.data = mem.get();
  const size_t expected = size_t(raw.width) * raw.height * raw.bands * (raw.sixteen_bit ? 2 : 1);
  if (size != expected) {
    return Status::Internal(name + ": libvips returned " + std::to_string(size) + " bytes, expected " +
                            std::to_string(expected));
  }
  Result<ImageU8> rgb = image_internal::ToRgb8(raw, options.alpha);
  mem.reset();
  if (!rgb.ok()) return rgb.status().WithContext(name);
  result.rgb = std::move(rgb).value();

  if (options.apply_exif_orientation) result.rgb = image_internal::ApplyOrientation(std::move(result.rgb), orientation);
  return result;
}

// Guards the libvips-facing part against exceptions (allocation failures) so none escapes.
template <typename F>
Result<DecodedImage> NoThrow(const std::string& name, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(name + ": out of memory while decoding");
  } catch (const std::exception& e) {
    return Status::Internal(name + ": " + e.what());
  }
}

// Decodes bytes held in memory: JPEG through the fast path when it takes them, the rest through libvips.
// `bytes` has passed the size limit.
Result<DecodedImage> DecodeMemory(std::string_view bytes, const std::string& name, const DecodeOptions& options) {
  if (SniffImageFormat(bytes.substr(0, 32)) == "jpeg") {
    bool handled = false;
    Result<DecodedImage> r = image_internal::DecodeJpegWithLibjpeg(bytes, name, options, &handled);
    if (handled) return r;
  }
  ClearVipsError();
  // The source borrows `bytes`, which outlives every libvips object made here.
  VipsSourcePtr source(vips_source_new_from_memory(bytes.data(), bytes.size()));
  if (!source) return VipsFailure(Status::Internal, name, "cannot wrap buffer");
  return DecodeSource(source.get(), bytes.substr(0, 32), name, options);
}

// Reads `size` bytes from the start of the open file `fd` (fewer if it shrank meanwhile).
Result<std::string> ReadWhole(int fd, size_t size, const std::string& path) {
  std::string data(size, '\0');
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd, data.data() + got, size - got, off_t(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(path + ": cannot read: " + std::strerror(errno));
    }
    if (n == 0) break;
    got += size_t(n);
  }
  data.resize(got);
  return data;
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<DecodedImage> DecodeImageFile(const std::string& path, const DecodeOptions& options) {
  return NoThrow(path, [&]() -> Result<DecodedImage> {
    DOPPEL_RETURN_IF_ERROR(InitImageLibrary());
    // Open first, then check what was opened (no window for the path to change in between). O_NONBLOCK: opening a
    // FIFO must not wait for a writer; it is refused below as not a regular file.
    FdCloser f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
    if (f.fd < 0) return Status::IOError(path + ": " + std::strerror(errno));
    struct stat st;
    if (::fstat(f.fd, &st) != 0) return Status::IOError(path + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return Status::IOError(path + ": not a regular file");
    if (st.st_size == 0) return Status::InvalidArgument(path + ": empty file");
    if (st.st_size > options.max_file_bytes) {
      return Status::ResourceExhausted(path + ": file of " + std::to_string(st.st_size) +
                                       " bytes, more than the limit of " + std::to_string(options.max_file_bytes));
    }
    const int flags = ::fcntl(f.fd, F_GETFL);
    if (flags >= 0) ::fcntl(f.fd, F_SETFL, flags & ~O_NONBLOCK);
    char head[32];
    ssize_t head_size;
    do {
      head_size = ::pread(f.fd, head, sizeof(head), 0);
    } while (head_size < 0 && errno == EINTR);
    if (head_size < 0) return Status::IOError(path + ": cannot read: " + std::strerror(errno));
    std::string_view head_view(head, size_t(head_size));
    if (SniffImageFormat(head_view) == "jpeg") {
      // JPEG: read it whole and decode from memory (the fast path, or libvips for CMYK), as DecodeImageBuffer does.
      DOPPEL_ASSIGN_OR_RETURN(std::string bytes, ReadWhole(f.fd, size_t(st.st_size), path));
      if (bytes.empty()) return Status::InvalidArgument(path + ": empty file");
      return DecodeMemory(bytes, path, options);
    }

    ClearVipsError();
    // A source on the opened descriptor (libvips dups it): the file checked above, and no option parsing of the
    // name as vips_image_new_from_file would do ("name.jpg[shrink=2]").
    VipsSourcePtr source(vips_source_new_from_descriptor(f.fd));
    if (!source) return VipsFailure(Status::IOError, path, "cannot open");
    return DecodeSource(source.get(), head_view, path, options);
  });
}

Result<DecodedImage> DecodeImageBuffer(std::string_view bytes, const std::string& name, const DecodeOptions& options) {
  return NoThrow(name, [&]() -> Result<DecodedImage> {
    DOPPEL_RETURN_IF_ERROR(InitImageLibrary());
    if (bytes.empty()) return Status::InvalidArgument(name + ": empty data");
    if (int64_t(bytes.size()) > options.max_file_bytes) {
      return Status::ResourceExhausted(name + ": " + std::to_string(bytes.size()) +
                                       " bytes, more than the limit of " + std::to_string(options.max_file_bytes));
    }
    return DecodeMemory(bytes, name, options);
  });
}

bool DecodeServes(const DecodedImage& d, const DecodeOptions& made_with, const DecodeOptions& wanted) {
  if (made_with.alpha != wanted.alpha || made_with.apply_exif_orientation != wanted.apply_exif_orientation)
    return false;
  if (wanted.max_file_bytes < made_with.max_file_bytes ||
      int64_t(d.source_width) * d.source_height > wanted.max_pixels)
    return false;
  const bool drafts = wanted.draft_width > 0 && wanted.draft_height > 0;
  // The scale `wanted` picks for this picture when it shrinks formats with bit `bit` (1: it does not).
  auto scale = [&](unsigned bit) {
    return drafts && (wanted.draft_formats & bit)
               ? image_internal::DraftScale(d.source_width, d.source_height, d.orientation, wanted)
               : 1;
  };
  if (d.format == "jpeg") {
    // libvips decodes the JPEGs the fast path leaves (CMYK, YCCK) at full size, whatever the options.
    return d.decoder != "libjpeg-turbo" || scale(kDraftJpeg) == d.draft_scale;
  }
  if (d.format == "webp") return scale(kDraftWebp) == d.draft_scale;
  if (d.format == "heif") {
    // A full decode: `wanted` decodes in full too when its rule keeps the picture whole (scale 1). A thumbnail:
    // only the same draft makes the same choice.
    const bool same_draft = made_with.draft_width == wanted.draft_width &&
                            made_with.draft_height == wanted.draft_height &&
                            made_with.draft_oriented == wanted.draft_oriented &&
                            (made_with.draft_formats & kDraftHeif) == (wanted.draft_formats & kDraftHeif);
    return same_draft || (!d.thumbnail && scale(kDraftHeif) == 1);
  }
  return true;  // formats that never shrink on load
}

}  // namespace doppel
