// The near-copy record of a picture: its perceptual hash in all 8 rotations/flips (phash.h) and a hash of its
// decoded pixels, made by one fixed rule so that every record (stored by an index job or made for a query) is
// comparable with every other.
//
// The rule (kPictureHashRule): decode with PictureHashDecodeOptions -- EXIF orientation applied, alpha composited on
// white, and JPEGs decoded by shrink-on-load to at least 224x224 in the oriented frame (other formats at full size)
// -- then hash those pixels. These are exactly the decode settings of a 224x224 stretch model that shrinks on load
// (the built-in default's shape), so an index run hashes from the decode it makes for such a model instead of
// decoding the file a second time. Changing the rule changes stored records: bump kPictureHashRule, and the engine
// rebuilds them (it keeps them in a collection named after the rule).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "doppel/image/decode.h"
#include "doppel/image/phash.h"
#include "doppel/util/status.h"

namespace doppel {

inline constexpr int kPictureHashRule = 2;  // 1: JPEG drafts to at least 64x64 in the stored frame
inline constexpr int kPictureHashDraft = 224;

struct PictureHashes {
  // [0] is the picture as shown (quality included), the others its rotations/flips (Dihedral order), all from one
  // DCT.
  std::array<PerceptualHash, 8> variants;
  // Hex SHA-256 of "<stored width>x<stored height>:<draft scale>:" and the decoded RGB pixels: equal for two files
  // that decode to the same pixels (a PNG and its lossless WebP; a JPEG whose metadata alone changed).
  std::string pixels;
};

// The rule's decode settings, with the caller's size limits.
DecodeOptions PictureHashDecodeOptions(int64_t max_file_bytes, int64_t max_pixels);

// True when `o` decodes exactly as the rule does (limits aside): a decode made with `o` can be hashed.
bool DecodesLikePictureHash(const DecodeOptions& o);

// (Whether a decode made with other settings has the rule's pixels for its picture: DecodeServes, decode.h.)

// The record of a picture decoded with PictureHashDecodeOptions (a decode made otherwise gives a record that does
// not match the stored ones: the caller's responsibility). Errors as ComputeDihedralHashes. Pure, thread-safe.
Result<PictureHashes> HashDecodedPicture(const DecodedImage& img);

// Decodes `path` (or `bytes`, when given; `path` is then only its name in messages) by the rule and hashes it.
Result<PictureHashes> HashPictureFile(const std::string& path, int64_t max_file_bytes, int64_t max_pixels,
                                      const std::string* bytes = nullptr);

}  // namespace doppel
