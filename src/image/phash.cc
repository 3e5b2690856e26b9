// ComputePerceptualHash, ComputeDihedralHashes, ApplyDihedral. The pipeline is described in phash.h; this file keeps
// its promise that the 8 dihedral variants computed from one DCT equal the hashes of the transformed pixels bit for
// bit. Three arrangements make that hold in floating point, FMA contraction under -march=native included (each value
// is always computed by the same code, only with some inputs negated or exchanged):
//   1. The 64x64 luma grid is an exact integer sum (luma x 1000, overlaps in 1/64 pixel), so summation order does
//      not matter and the grid of a transformed image is exactly the transformed grid. Each cell becomes a double by
//      one division by a denominator that is the same for all 8 transforms.
//   2. Each 1-D DCT pairs samples k and 63 - k (even frequencies use x[k] + x[63-k], odd ones x[k] - x[63-k]). A flip
//      of the input leaves the sums bit-identical and negates the differences exactly, so it negates the odd
//      frequencies exactly (IEEE rounding is symmetric under negation).
//   3. The 2-D transform is the mean of rows-then-columns and columns-then-rows, the latter computed as the former
//      on the transposed grid. The transposed image swaps the two terms, so its block is exactly the transpose.
#include "doppel/image/phash.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace doppel {
namespace {

constexpr int kGrid = 64;   // the downscaled luma grid is kGrid x kGrid
constexpr int kFreqs = 16;  // frequencies 0..kFreqs-1 kept in each direction
constexpr int kHalf = kGrid / 2;

using Grid = double[kGrid][kGrid];
using Sums = int64_t[kGrid][kGrid];
using Block = double[kFreqs][kFreqs];

// How a dihedral transform maps variant pixel (x', y') to original pixel (sx, sy) of a W x H image: with `swap`
// the variant is H x W and sx comes from y', sy from x'; a reversed axis counts from the far end.
struct Mapping {
  bool swap;   // transpose
  bool rev_x;  // original x is reversed (sx = W - 1 - ...)
  bool rev_y;  // original y is reversed (sy = H - 1 - ...)
};

// Indexed by Dihedral. Derivations (V = variant, I = original, W x H):
//   rot90 (clockwise):  V(x', y') = I(y', H-1-x')       mirror:        V(x, y) = I(W-1-x, y)
//   rot180:             V(x, y)   = I(W-1-x, H-1-y)     mirror+rot90:  V(x', y') = I(W-1-y', H-1-x')
//   rot270:             V(x', y') = I(W-1-y', x')       mirror+rot180: V(x, y) = I(x, H-1-y)
//                                                       mirror+rot270: V(x', y') = I(y', x')
constexpr Mapping kMappings[8] = {
    {false, false, false},  // identity
    {true, false, true},    // rot90
    {false, true, true},    // rot180
    {true, true, false},    // rot270
    {false, true, false},   // mirror
    {true, true, true},     // mirror+rot90
    {false, false, true},   // mirror+rot180
    {true, false, false},   // mirror+rot270
};

int Index(Dihedral t) {
  int i = static_cast<int>(t);
  return (i >= 0 && i < 8) ? i : 0;
}

// The orthonormal DCT-II basis, C[u][k] = s(u) cos(pi u (2k + 1) / 128), for k < 32 only: C[u][63 - k] is
// (-1)^u C[u][k], which the paired sums in Dct16 account for.
struct Basis {
  double c[kFreqs][kHalf];
  Basis() {
    const double pi = 3.14159265358979323846;
    for (int u = 0; u < kFreqs; ++u) {
      double s = u == 0 ? std::sqrt(1.0 / kGrid) : std::sqrt(2.0 / kGrid);
      for (int k = 0; k < kHalf; ++k) c[u][k] = s * std::cos(pi * u * (2 * k + 1) / (2.0 * kGrid));
    }
  }
};

const Basis& TheBasis() {
  static const Basis basis;  // thread-safe initialisation
  return basis;
}

// The 16 lowest DCT-II frequencies of 64 samples. Reversing x makes out[u] exactly (-1)^u times the original.
void Dct16(const double* x, double* out) {
  const Basis& b = TheBasis();
  double sum[kHalf], diff[kHalf];
  for (int k = 0; k < kHalf; ++k) {
    sum[k] = x[k] + x[kGrid - 1 - k];
    diff[k] = x[k] - x[kGrid - 1 - k];
  }
  for (int u = 0; u < kFreqs; ++u) {
    const double* p = (u % 2 == 0) ? sum : diff;
    double acc = 0;
    for (int k = 0; k < kHalf; ++k) acc += b.c[u][k] * p[k];
    out[u] = acc;
  }
}

// out[u][v] = 2-D DCT of g with v the horizontal (column) frequency: each row first, then each column of the result.
void RowsThenColumns(const Grid& g, Block& out) {
  double rows[kGrid][kFreqs];  // rows[y][v]
  for (int y = 0; y < kGrid; ++y) Dct16(g[y], rows[y]);
  double col[kGrid], res[kFreqs];
  for (int v = 0; v < kFreqs; ++v) {
    for (int y = 0; y < kGrid; ++y) col[y] = rows[y][v];
    Dct16(col, res);
    for (int u = 0; u < kFreqs; ++u) out[u][v] = res[u];
  }
}

// The symmetric 2-D DCT (arrangement 3 above); `scratch` receives the transposed grid.
void Dct2(const Grid& g, Grid& scratch, Block& out) {
  Block a, bt;
  RowsThenColumns(g, a);
  for (int y = 0; y < kGrid; ++y)
    for (int x = 0; x < kGrid; ++x) scratch[x][y] = g[y][x];
  RowsThenColumns(scratch, bt);  // the transpose of columns-then-rows on g
  for (int u = 0; u < kFreqs; ++u)
    for (int v = 0; v < kFreqs; ++v) out[u][v] = (a[u][v] + bt[v][u]) * 0.5;
}

// The 64x64 area average of the luma, in grey levels 0..255. In coordinates scaled by 64, source pixel j spans
// [64 j, 64 j + 64) and output cell i spans [i W, i W + W), so every overlap is an integer in 0..64 and each cell's
// weights sum to W (resp. H). The accumulators hold at most 255000 * W * H, within int64 for any image that fits in
// memory. Each row's luma x 1000 (299 R + 587 G + 114 B, exact integer BT.601, or 1000 x grey) is computed once; a
// pixel on a cell border counts in both cells. The horizontal weights are the same for every row, so they are laid
// out once. Both passes visit only overlapping pairs: O(W H + 64 (W + H)) work; buffers of about 2 W entries.
void AreaAverage(const ImageU8& img, Sums& acc, Grid& out) {
  const int w = img.width, h = img.height, c = img.channels;
  std::memset(acc, 0, sizeof(Sums));
  // Cell i takes count[i] consecutive source pixels from pixel[i] (its first one shared with cell i - 1 when a
  // border falls inside it), weighted weight[first[i] + t].
  std::vector<int32_t> first(kGrid), count(kGrid), pixel(kGrid), weight;
  weight.reserve(size_t(w) + kGrid);
  for (int i = 0; i < kGrid; ++i) {
    const int64_t lo = int64_t(i) * w, hi = lo + w;  // cell i in scaled coordinates
    first[size_t(i)] = int32_t(weight.size());
    pixel[size_t(i)] = int32_t(lo / kGrid);
    for (int64_t j = lo / kGrid; j * kGrid < hi; ++j)
      weight.push_back(int32_t(std::min(j * kGrid + kGrid, hi) - std::max(j * kGrid, lo)));
    count[size_t(i)] = int32_t(weight.size()) - first[size_t(i)];
  }
  std::vector<int32_t> luma(static_cast<size_t>(w));  // luma x 1000 of one row: at most 255000
  int64_t rowsum[kGrid];
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = img.row(y);
    if (c == 1) {
      for (int x = 0; x < w; ++x) luma[size_t(x)] = int32_t(row[x]) * 1000;
    } else {
      for (int x = 0; x < w; ++x)
        luma[size_t(x)] = 299 * int32_t(row[3 * x]) + 587 * int32_t(row[3 * x + 1]) + 114 * int32_t(row[3 * x + 2]);
    }
    for (int i = 0; i < kGrid; ++i) {
      const int32_t* wt = weight.data() + first[size_t(i)];
      const int32_t* px = luma.data() + pixel[size_t(i)];
      int64_t s = 0;
      for (int t = 0; t < count[size_t(i)]; ++t) s += int64_t(wt[t]) * px[t];
      rowsum[i] = s;
    }
    // Output rows o whose span [o H, o H + H) overlaps [64 y, 64 y + 64).
    const int64_t ylo = int64_t(y) * kGrid, yhi = ylo + kGrid;
    for (int64_t o = ylo / h; o < kGrid && o * h < yhi; ++o) {
      int64_t overlap = std::min(o * h + h, yhi) - std::max(o * h, ylo);
      if (overlap <= 0) continue;
      for (int i = 0; i < kGrid; ++i) acc[o][i] += overlap * rowsum[i];
    }
  }
  const double denom = double(int64_t(w) * h) * 1000.0;  // w * h in integers: the same for a transposed image
  for (int o = 0; o < kGrid; ++o)
    for (int i = 0; i < kGrid; ++i) out[o][i] = double(acc[o][i]) / denom;
}

// PDQ's quality measure (see PerceptualHash::quality). Invariant under the 8 transforms: a flip negates each
// difference exactly and truncation is symmetric; a transpose swaps the two loops.
int Quality(const Grid& g) {
  int64_t sum = 0;
  for (int y = 0; y < kGrid; ++y)
    for (int x = 0; x < kGrid; ++x) {
      if (y + 1 < kGrid) sum += std::llabs(int64_t((g[y][x] - g[y + 1][x]) * 100.0 / 255.0));
      if (x + 1 < kGrid) sum += std::llabs(int64_t((g[y][x] - g[y][x + 1]) * 100.0 / 255.0));
    }
  return int(std::min<int64_t>(sum / 90, 100));
}

// Bits from a block: bit 16 r + c = block[r][c] > the lower median (the 128th smallest of the 256).
PerceptualHash Threshold(const Block& block, int quality) {
  double sorted[kFreqs * kFreqs];
  std::memcpy(sorted, block, sizeof(sorted));
  std::nth_element(sorted, sorted + kPerceptualHashBits / 2 - 1, sorted + kPerceptualHashBits);
  const double median = sorted[kPerceptualHashBits / 2 - 1];
  PerceptualHash h;
  h.quality = quality;
  for (int i = 0; i < kPerceptualHashBits; ++i)
    if (block[i / kFreqs][i % kFreqs] > median) h.bits[size_t(i / 8)] |= uint8_t(1u << (i % 8));
  return h;
}

// The coefficient block of the variant image under `m`, from the original's block `d`: D'[r][c] is D[c][r] when the
// mapping swaps axes (else D[r][c]), negated once for each reversed original axis whose frequency there is odd.
void TransformBlock(const Block& d, const Mapping& m, Block& out) {
  for (int r = 0; r < kFreqs; ++r)
    for (int c = 0; c < kFreqs; ++c) {
      // Frequencies along the original x and y axes of this variant coefficient.
      const int fx = m.swap ? r : c, fy = m.swap ? c : r;
      double v = m.swap ? d[c][r] : d[r][c];
      if (m.rev_x && fx % 2 == 1) v = -v;
      if (m.rev_y && fy % 2 == 1) v = -v;
      out[r][c] = v;
    }
}

Status Validate(const ImageU8& img) {
  const std::string size = std::to_string(img.width) + "x" + std::to_string(img.height);
  if (img.width <= 0 || img.height <= 0) return Status::InvalidArgument("perceptual hash: empty image (" + size + ")");
  if (img.channels != 1 && img.channels != 3)
    return Status::InvalidArgument("perceptual hash: " + std::to_string(img.channels) +
                                   " channels; only 1 (grey) or 3 (RGB) are supported");
  const size_t want = size_t(img.width) * size_t(img.height) * size_t(img.channels);
  if (img.pixels.size() != want)
    return Status::InvalidArgument("perceptual hash: " + size + "x" + std::to_string(img.channels) + " image holds " +
                                   std::to_string(img.pixels.size()) + " bytes, expected " + std::to_string(want));
  return Status::OK();
}

// The grid, its quality and the identity's coefficient block. The 64x64 tables (96 KiB) live on the heap, not the
// stack; what the helpers keep on the stack is under 16 KiB.
struct Analysis {
  Sums sums;
  Grid grid;
  Grid scratch;
  Block dct;
  int quality = 0;
};

Status Analyse(const ImageU8& img, Analysis* a) {
  DOPPEL_RETURN_IF_ERROR(Validate(img));
  try {
    AreaAverage(img, a->sums, a->grid);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("perceptual hash: out of memory");
  }
  a->quality = Quality(a->grid);
  Dct2(a->grid, a->scratch, a->dct);
  return Status::OK();
}

}  // namespace

const char* DihedralName(Dihedral t) {
  switch (t) {
    case Dihedral::kIdentity: return "identity";
    case Dihedral::kRot90: return "rot90";
    case Dihedral::kRot180: return "rot180";
    case Dihedral::kRot270: return "rot270";
    case Dihedral::kMirror: return "mirror";
    case Dihedral::kMirrorRot90: return "mirror+rot90";
    case Dihedral::kMirrorRot180: return "mirror+rot180";
    case Dihedral::kMirrorRot270: return "mirror+rot270";
  }
  return "unknown";
}

Result<PerceptualHash> ComputePerceptualHash(const ImageU8& img) {
  auto a = std::unique_ptr<Analysis>(new (std::nothrow) Analysis);
  if (!a) return Status::ResourceExhausted("perceptual hash: out of memory");
  DOPPEL_RETURN_IF_ERROR(Analyse(img, a.get()));
  return Threshold(a->dct, a->quality);
}

Result<std::array<PerceptualHash, 8>> ComputeDihedralHashes(const ImageU8& img) {
  auto a = std::unique_ptr<Analysis>(new (std::nothrow) Analysis);
  if (!a) return Status::ResourceExhausted("perceptual hash: out of memory");
  DOPPEL_RETURN_IF_ERROR(Analyse(img, a.get()));
  std::array<PerceptualHash, 8> out;
  Block variant;
  for (int t = 0; t < 8; ++t) {
    TransformBlock(a->dct, kMappings[t], variant);
    out[size_t(t)] = Threshold(variant, a->quality);
  }
  return out;
}

ImageU8 ApplyDihedral(const ImageU8& img, Dihedral t) {
  const int w = img.width, h = img.height, c = img.channels;
  if (w <= 0 || h <= 0 || c <= 0 || img.pixels.size() != size_t(w) * size_t(h) * size_t(c)) return ImageU8(0, 0, c);
  const Mapping& m = kMappings[Index(t)];
  const int ow = m.swap ? h : w, oh = m.swap ? w : h;
  ImageU8 out;
  try {
    out = ImageU8(ow, oh, c);
  } catch (const std::bad_alloc&) {
    return ImageU8(0, 0, c);
  }
  for (int y = 0; y < oh; ++y) {
    uint8_t* dst = out.row(y);
    for (int x = 0; x < ow; ++x, dst += c) {
      int sx = m.swap ? y : x, sy = m.swap ? x : y;
      if (m.rev_x) sx = w - 1 - sx;
      if (m.rev_y) sy = h - 1 - sy;
      std::memcpy(dst, img.row(sy) + size_t(sx) * size_t(c), size_t(c));
    }
  }
  return out;
}

int HammingDistance(const PerceptualHash& a, const PerceptualHash& b) {
  int d = 0;
  for (size_t i = 0; i < a.bits.size(); ++i) d += std::popcount(unsigned(a.bits[i] ^ b.bits[i]));
  return d;
}

}  // namespace doppel
