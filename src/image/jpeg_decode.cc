// The JPEG fast path: libjpeg's own API with a longjmp error manager.
//
// libjpeg reports fatal errors through error_exit, whose default prints and calls exit(); here it longjmps back to
// the function that made the libjpeg call. The setjmp functions below (ReadHeader, ReadPixels) only touch plain C
// state through a pointer and create no C++ object with a destructor, so a longjmp out of libjpeg skips nothing that
// needs cleaning up; everything that owns memory lives in the caller (Decompressor's destructor destroys the libjpeg
// object, whatever state it was left in).
#include "jpeg_decode.h"

#include <algorithm>
#include <csetjmp>
#include <cstdint>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first
#include <cstring>
#include <string>
#include <vector>

#include <jerror.h>
#include <jpeglib.h>

#include "draft.h"
#include "orient.h"

namespace doppel::image_internal {
namespace {

constexpr int kMaxScans = 1000;     // djpeg's -maxscans idea: legitimate progressive JPEGs have about 10
constexpr int kMaxWarnings = 100;  // libvips' limit: its jpegload fails at the 100th libjpeg warning

struct ErrorManager {
  jpeg_error_mgr pub;  // first: libjpeg sees a jpeg_error_mgr*
  std::jmp_buf jump;
  bool truncated = false;
  char message[JMSG_LENGTH_MAX + 64] = {};  // libjpeg's text, or ours around it
};

struct Decompressor {
  jpeg_decompress_struct cinfo{};
  ErrorManager err;
  jpeg_progress_mgr progress{};
  bool created = false;

  Decompressor() = default;
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;
  ~Decompressor() {
    if (created) jpeg_destroy_decompress(&cinfo);  // also after a longjmp, in any state; frees all libjpeg memory
  }
};

[[noreturn]] void Jump(j_common_ptr cinfo) {
  std::longjmp(reinterpret_cast<ErrorManager*>(cinfo->err)->jump, 1);
}

// error_exit: keep the message, never exit().
[[noreturn]] void OnError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  Jump(cinfo);
}

// emit_message: level -1 is a warning, 0.. are trace messages. Running out of data is a warning in libjpeg (it then
// pretends an EOI and fills the rest grey); here it is an error, as it is for Pillow and for libvips' fail_on=error.
// Other warnings (corrupt entropy data, extraneous bytes, bogus progression) are tolerated, as libvips tolerates
// them, up to the 100th, which is fatal as in libvips: data that bad is garbage, and each warning costs time.
// Nothing is printed.
void OnMessage(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
    err->truncated = true;
    (*cinfo->err->format_message)(cinfo, err->message);
    Jump(cinfo);
  }
  if (++cinfo->err->num_warnings >= kMaxWarnings) {
    char last[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, last);
    std::snprintf(err->message, sizeof(err->message), "%d libjpeg warnings, the last: %s", kMaxWarnings, last);
    Jump(cinfo);
  }
}

void NoOutput(j_common_ptr) {}

void OnProgress(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxScans) {
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    std::snprintf(err->message, sizeof(err->message), "more than %d scans (a scan bomb?)", kMaxScans);
    Jump(cinfo);
  }
}

// Creates the decompressor and reads the header (and, with save_app1, keeps APP1 segments for EXIF).
// False after a libjpeg error.
bool ReadHeader(Decompressor* d, const unsigned char* data, size_t size, bool save_app1) {
  d->cinfo.err = jpeg_std_error(&d->err.pub);
  d->err.pub.error_exit = OnError;
  d->err.pub.emit_message = OnMessage;
  d->err.pub.output_message = NoOutput;
  if (setjmp(d->err.jump)) return false;
  d->created = true;  // cinfo is zeroed: jpeg_destroy_decompress is safe even if jpeg_create_decompress fails midway
  jpeg_create_decompress(&d->cinfo);
  d->progress.progress_monitor = OnProgress;
  d->cinfo.progress = &d->progress;
  jpeg_mem_src(&d->cinfo, data, static_cast<unsigned long>(size));
  if (save_app1) jpeg_save_markers(&d->cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&d->cinfo, TRUE);
  return true;
}

// 64 rows measured best for the transposing orientations (4000 wide: ~20 ms to place 12 MP, ~30 with 32 rows).
constexpr int kStripRows = 64;

// Where decoded rows go: straight into the output image (`rows`, one pointer per row; orientation 1), or through a
// strip of kStripRows rows that PlaceRows puts where the EXIF orientation wants them, so that an oriented photo costs
// no second full-size image.
struct Sink {
  JSAMPROW* rows = nullptr;
  uint8_t* strip = nullptr;
  int orientation = 1;
  ImageU8* out = nullptr;
};

// Decodes every row with libjpeg's defaults and RGB output into `sink`. False after a libjpeg error.
// jpeg_finish_decompress is not called: it only reads what follows the last scan (libvips does not call it either),
// so a file whose pixels are all there but whose EOI marker is missing still decodes.
bool ReadPixels(Decompressor* d, const Sink* sink, JDIMENSION width, JDIMENSION height) {
  if (setjmp(d->err.jump)) return false;
  d->cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&d->cinfo);
  if (d->cinfo.output_width != width || d->cinfo.output_height != height || d->cinfo.output_components != 3) {
    std::snprintf(d->err.message, sizeof(d->err.message), "libjpeg would produce %ux%ux%d, not %ux%ux3",
                  unsigned(d->cinfo.output_width), unsigned(d->cinfo.output_height), d->cinfo.output_components,
                  unsigned(width), unsigned(height));
    return false;
  }
  JSAMPROW strip_rows[kStripRows];
  while (d->cinfo.output_scanline < height) {
    const JDIMENSION at = d->cinfo.output_scanline;
    JDIMENSION want = height - at;
    JSAMPROW* rows = sink->rows ? sink->rows + at : strip_rows;
    if (!sink->rows) {
      want = want < JDIMENSION(kStripRows) ? want : JDIMENSION(kStripRows);
      for (JDIMENSION i = 0; i < want; ++i) strip_rows[i] = sink->strip + size_t(i) * width * 3;
    }
    JDIMENSION got = 0;
    while (got < want) {  // libjpeg returns at most a few rows per call
      const JDIMENSION n = jpeg_read_scanlines(&d->cinfo, rows + got, want - got);
      if (n == 0) {
        std::snprintf(d->err.message, sizeof(d->err.message), "decoder stopped at row %u", unsigned(at + got));
        return false;
      }
      got += n;
    }
    if (!sink->rows) PlaceRows(sink->strip, int(at), int(got), int(width), int(height), sink->orientation, sink->out);
  }
  return true;
}

}  // namespace

Result<DecodedImage> DecodeJpegWithLibjpeg(std::string_view bytes, const std::string& name,
                                           const DecodeOptions& options, bool* handled) {
  *handled = true;
  auto failure = [&](const Decompressor& d, const char* what) -> Status {
    if (d.err.truncated) return Status::InvalidArgument(name + ": truncated JPEG (" + d.err.message + ")");
    return Status::InvalidArgument(name + ": " + what + ": " + d.err.message);
  };
  Decompressor d;
  if (!ReadHeader(&d, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                  options.apply_exif_orientation)) {
    return failure(d, "cannot read JPEG header");
  }
  jpeg_decompress_struct& cinfo = d.cinfo;
  const bool grey = cinfo.num_components == 1 && cinfo.jpeg_color_space == JCS_GRAYSCALE;
  const bool colour =
      cinfo.num_components == 3 && (cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB);
  if (!grey && !colour) {
    *handled = false;  // CMYK, YCCK, ...: libvips and ToRgb8's CMYK rule
    return Status::Unsupported(name + ": JPEG colour space left to libvips");
  }

  DecodedImage result;
  result.format = "jpeg";
  result.decoder = "libjpeg-turbo";
  result.source_width = int(cinfo.image_width);
  result.source_height = int(cinfo.image_height);
  const int64_t pixels = int64_t(cinfo.image_width) * cinfo.image_height;
  if (pixels > options.max_pixels) {
    return Status::ResourceExhausted(name + ": " + std::to_string(cinfo.image_width) + "x" +
                                     std::to_string(cinfo.image_height) + " = " + std::to_string(pixels) +
                                     " pixels, more than the limit of " + std::to_string(options.max_pixels));
  }
  if (pixels == 0) return Status::InvalidArgument(name + ": JPEG of size 0");

  int orientation = 1;
  if (options.apply_exif_orientation) {
    // libvips takes the first APP1 segment that starts with "Exif".
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
      if (m->marker == JPEG_APP0 + 1 && m->data_length > 4 && std::memcmp(m->data, "Exif", 4) == 0) {
        orientation = ExifOrientation(m->data, m->data_length);
        break;
      }
    }
  }

  // Shrink-on-load: Pillow's draft rule (see DecodeOptions), then libjpeg's DCT scaling by 1/s.
  const int s = (options.draft_formats & kDraftJpeg)
                    ? DraftScale(cinfo.image_width, cinfo.image_height, orientation, options)
                    : 1;
  cinfo.scale_num = 1;
  cinfo.scale_denom = unsigned(s);
  result.draft_scale = s;
  result.orientation = orientation;
  const int w = int((cinfo.image_width + unsigned(s) - 1) / unsigned(s));
  const int h = int((cinfo.image_height + unsigned(s) - 1) / unsigned(s));
  const bool swap = orientation >= 5;
  result.rgb = ImageU8(swap ? h : w, swap ? w : h, 3);
  Sink sink;
  std::vector<JSAMPROW> rows;
  std::vector<uint8_t> strip;
  if (orientation == 1) {
    rows.resize(size_t(h));
    for (int y = 0; y < h; ++y) rows[size_t(y)] = result.rgb.row(y);
    sink.rows = rows.data();
  } else {
    strip.resize(size_t(kStripRows) * size_t(w) * 3);
    sink.strip = strip.data();
    sink.orientation = orientation;
    sink.out = &result.rgb;
  }
  if (!ReadPixels(&d, &sink, JDIMENSION(w), JDIMENSION(h))) return failure(d, "cannot decode JPEG");
  return result;
}

}  // namespace doppel::image_internal
