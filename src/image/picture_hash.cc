#include "doppel/image/picture_hash.h"

#include "doppel/util/hash.h"

namespace doppel {

DecodeOptions PictureHashDecodeOptions(int64_t max_file_bytes, int64_t max_pixels) {
  DecodeOptions d;
  d.max_file_bytes = max_file_bytes;
  d.max_pixels = max_pixels;
  d.alpha = AlphaMode::kCompositeWhite;
  d.apply_exif_orientation = true;
  d.draft_width = d.draft_height = kPictureHashDraft;
  d.draft_oriented = true;
  return d;
}

bool DecodesLikePictureHash(const DecodeOptions& o) {
  const DecodeOptions r = PictureHashDecodeOptions(0, 0);
  return o.alpha == r.alpha && o.apply_exif_orientation == r.apply_exif_orientation &&
         o.draft_width == r.draft_width && o.draft_height == r.draft_height && o.draft_oriented == r.draft_oriented &&
         o.draft_formats == r.draft_formats;
}

Result<PictureHashes> HashDecodedPicture(const DecodedImage& img) {
  PictureHashes h;
  DOPPEL_ASSIGN_OR_RETURN(h.variants, ComputeDihedralHashes(img.rgb));
  std::string data = std::to_string(img.source_width) + "x" + std::to_string(img.source_height) + ":" +
                     std::to_string(img.draft_scale) + ":";
  data.append(reinterpret_cast<const char*>(img.rgb.pixels.data()), img.rgb.pixels.size());
  h.pixels = Sha256Hex(data);
  return h;
}

Result<PictureHashes> HashPictureFile(const std::string& path, int64_t max_file_bytes, int64_t max_pixels,
                                      const std::string* bytes) {
  const DecodeOptions d = PictureHashDecodeOptions(max_file_bytes, max_pixels);
  DOPPEL_ASSIGN_OR_RETURN(DecodedImage img, bytes ? DecodeImageBuffer(*bytes, path, d) : DecodeImageFile(path, d));
  return HashDecodedPicture(img);
}

}  // namespace doppel
