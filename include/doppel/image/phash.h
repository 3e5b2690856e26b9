// A PDQ-style perceptual hash for near-copy duplicate detection: 256 bits that change little when a picture is
// re-encoded, rescaled or lightly edited, and differ in about half their bits between unrelated pictures. Compare
// hashes with HammingDistance. The pipeline follows PDQ (Meta's ThreatExchange, pdqhash-2017-10-09.pdf) with two
// documented differences, so hashes are PDQ-like but not bit-compatible with PDQ's:
//   - the downscale to 64x64 is exact area averaging (every output pixel is the mean of the source area it covers,
//     fractional pixels weighted by their overlap), not PDQ's two-pass Jarosz tent filter;
//   - the 16x16 block is frequencies 0..15 in each direction, DC row and column included (PDQ uses 1..16).
// Steps: luma Y = 0.299 R + 0.587 G + 0.114 B (BT.601, PDQ's weights; grey images are their own luma), area-average
// to 64x64, 2-D DCT-II (orthonormal scaling) of which only the 16x16 lowest frequencies are computed, and each bit =
// (coefficient > median of the 256 coefficients). The median is the lower one (the 128th smallest), so an image
// whose coefficients are distinct has exactly 128 bits set; coefficients equal to the median are 0 bits.
//
// Exactness: the downscale is done in exact integer arithmetic and the DCT is arranged so that flipping or
// transposing the 64x64 grid flips signs of, or transposes, the coefficient block bit for bit. So the hashes of the 8
// dihedral variants from ComputeDihedralHashes equal those computed from the transformed pixels exactly, for every
// image size (tested), and the quality is the same for all 8.
#pragma once

#include <array>
#include <cstdint>

#include "doppel/image/image.h"
#include "doppel/util/status.h"

namespace doppel {

inline constexpr int kPerceptualHashBits = 256;

struct PerceptualHash {
  // Bit i = byte i/8, bit (i%8) from the LSB; the layout is part of the format. Bit i is the coefficient with vertical
  // frequency i/16 and horizontal frequency i%16 (row-major over the 16x16 block, DC first). Bit 0, the DC term
  // (64 x the mean luma), is almost always the largest coefficient, hence almost always 1: kept for the layout.
  std::array<uint8_t, 32> bits{};
  // 0..100: how much structure the image has; flat or near-empty images score low. PDQ's measure: the sum over all
  // horizontally and vertically adjacent pairs of the 64x64 luma grid of |trunc((a - b) * 100 / 255)| (differences
  // under 2.55 grey levels count 0), divided by 90 (integer division) and clamped to 100: 100 needs a sum of 9000
  // over the 8064 pairs. Photos score 100; one colour, smooth gradients (under 2.55 grey levels per 1/64 of the
  // picture) and faint noise score 0. Skip images below 50 as flat (PDQ's advice too): their bits are mostly
  // rounding noise and match unrelated flat images.
  int quality = 0;
};

// The 8 transforms of the dihedral group, as the transform that turns the ORIGINAL image into the variant image.
// Rotations are clockwise; "mirror" is a left-right flip, applied before the rotation.
enum class Dihedral { kIdentity, kRot90, kRot180, kRot270, kMirror, kMirrorRot90, kMirrorRot180, kMirrorRot270 };

// "identity", "rot90", "rot180", "rot270", "mirror", "mirror+rot90", "mirror+rot180", "mirror+rot270"; "unknown"
// for a value outside the enum.
const char* DihedralName(Dihedral t);

// PDQ-style hash of an 8-bit image (1 or 3 channels, any size >= 1x1). Memory: a few fixed 64x64 tables and two
// buffers of about the image's width (none of its height). InvalidArgument for an empty image, a channel count other
// than 1 or 3, or pixels whose size does not match width * height * channels; ResourceExhausted if the working memory
// cannot be allocated. Work: one pass over the pixels (about 5 ms for 12 megapixels). Pure, thread-safe, never
// throws.
Result<PerceptualHash> ComputePerceptualHash(const ImageU8& img);

// The hashes of all 8 dihedral variants of the image, indexed by Dihedral ([0] is the identity, equal to
// ComputePerceptualHash(img)), computed from ONE DCT by sign changes and a transpose of the 16x16 coefficient block (a
// left-right flip negates the odd horizontal frequencies, an up-down flip the odd vertical ones, a transpose swaps
// them), each variant thresholded at its own median, without touching pixels again.
// Invariant (tested): variants[t] equals ComputePerceptualHash(ApplyDihedral(img, t)) bit for bit, for every size.
// To find which transform turned a stored picture into a query picture, hash the stored picture's 8 variants and take
// the one closest to the query's hash. Same errors as ComputePerceptualHash. Pure, thread-safe, never throws.
Result<std::array<PerceptualHash, 8>> ComputeDihedralHashes(const ImageU8& img);

// The pixels transformed (for tests and callers that need it): rotations by 90 or 270 degrees swap width and height.
// Any channel count. An empty 0x0 image when `img` is empty, its pixels do not match its size, or the copy cannot
// be allocated; a value outside the enum acts as the identity. Pure, thread-safe, never throws.
ImageU8 ApplyDihedral(const ImageU8& img, Dihedral t);

// The number of differing bits, 0..256.
int HammingDistance(const PerceptualHash& a, const PerceptualHash& b);

}  // namespace doppel
