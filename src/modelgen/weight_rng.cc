#include "weight_rng.h"

namespace doppel::modelgen {
namespace {

// 64-bit FNV-1a.
uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// SplitMix64 finalizer: spreads nearby (seed, name) pairs over unrelated engine seeds.
uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

WeightRng::WeightRng(uint64_t seed, std::string_view tensor_name)
    : engine_(Mix(Mix(seed) ^ Fnv1a(tensor_name))) {}

float WeightRng::Uniform(float lo, float hi) {
  // Exactly representable: a 24-bit integer times 2^-24.
  const float u = static_cast<float>(engine_() >> 40) * (1.0f / 16777216.0f);
  // Computed in double and rounded once, so the result does not depend on FMA contraction.
  return static_cast<float>(static_cast<double>(lo) + (static_cast<double>(hi) - lo) * u);
}

}  // namespace doppel::modelgen
