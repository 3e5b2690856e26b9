// Internal: the JPEG fast path. libjpeg-turbo called directly (not through libvips) with its default settings, which
// are the ones Pillow decodes with: JDCT_ISLOW, fancy upsampling, no scaling, RGB output (grey replicated).
#pragma once

#include <string>
#include <string_view>

#include "doppel/image/decode.h"
#include "doppel/util/status.h"

namespace doppel::image_internal {

// Decodes a 1- or 3-component JPEG held in `bytes` (the caller has checked options.max_file_bytes). Sets *handled to
// false and returns an error status without decoding when the JPEG is one the fast path leaves to libvips (CMYK/YCCK
// and other component counts or colour spaces); the caller then decodes it with libvips. Otherwise *handled is true
// and the result is final:
//   - the header is read first: width * height over options.max_pixels is ResourceExhausted, no pixel decoded;
//   - libjpeg errors (corrupt headers or data it cannot go on with) and truncation ("Premature end of JPEG file",
//     which libjpeg itself only warns about, filling the rest grey) are InvalidArgument naming `name`; other libjpeg
//     warnings ("Corrupt JPEG data: ...", bogus progression) are tolerated as Pillow and libvips (fail_on=error)
//     tolerate them, up to the 100th, which fails as in libvips;
//   - progressive JPEGs with more than 1000 scans are refused (InvalidArgument): a scan bomb costs time, not pixels;
//   - EXIF orientation (first APP1 "Exif" segment, IFD0) is applied when options.apply_exif_orientation, as the
//     rows are decoded (through a strip of rows, PlaceRows in orient.h): no second full-size image.
// One decompressor per call: thread-safe.
Result<DecodedImage> DecodeJpegWithLibjpeg(std::string_view bytes, const std::string& name,
                                           const DecodeOptions& options, bool* handled);

}  // namespace doppel::image_internal
