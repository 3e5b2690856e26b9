// Deterministic weights: each initializer's values depend only on (model seed, initializer name), never on the
// order in which tensors are generated or on the form of the model, so both forms of a model share their trunk
// weights bit for bit. std::mt19937_64 is fully specified by the C++ standard (including its seeding from one
// integer); its raw output is turned into floats here, never through a <random> distribution, whose algorithms are
// implementation-defined.
#pragma once

#include <cstdint>
#include <random>
#include <string_view>

namespace doppel::modelgen {

class WeightRng {
 public:
  WeightRng(uint64_t seed, std::string_view tensor_name);
  // Uniform in [lo, hi): the top 24 bits of one raw 64-bit draw, as a float in [0, 1), mapped affinely.
  float Uniform(float lo, float hi);

 private:
  std::mt19937_64 engine_;
};

}  // namespace doppel::modelgen
