// Internal: a growable bit set over slots, laid out as FAISS's IDSelectorBitmap expects (bit i of byte i/8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace doppel {

class Bitmap {
 public:
  Bitmap() = default;
  explicit Bitmap(size_t n, bool value = false) { Resize(n, value); }
  size_t size() const { return n_; }
  void Resize(size_t n, bool value = false) {
    size_t old = n_;
    n_ = n;
    bytes_.resize((n + 7) / 8, value ? 0xff : 0);
    if (value)
      for (size_t i = old; i < n && i < (old + 7) / 8 * 8; ++i) Set(i, true);
    else
      for (size_t i = old; i < (old + 7) / 8 * 8 && i < n; ++i) Set(i, false);
  }
  bool Test(size_t i) const { return i < n_ && ((bytes_[i >> 3] >> (i & 7)) & 1); }
  void Set(size_t i, bool v) {
    if (v) bytes_[i >> 3] |= static_cast<uint8_t>(1u << (i & 7));
    else bytes_[i >> 3] &= static_cast<uint8_t>(~(1u << (i & 7)));
  }
  size_t Count() const {
    size_t c = 0;
    for (size_t i = 0; i < n_; ++i) c += Test(i);
    return c;
  }
  void And(const Bitmap& o) {
    for (size_t i = 0; i < bytes_.size(); ++i) bytes_[i] &= i < o.bytes_.size() ? o.bytes_[i] : 0;
  }
  void Or(const Bitmap& o) {
    for (size_t i = 0; i < bytes_.size() && i < o.bytes_.size(); ++i) bytes_[i] |= o.bytes_[i];
  }
  // Flips bits [0, n); bits past n stay clear.
  void Not() {
    for (auto& b : bytes_) b = static_cast<uint8_t>(~b);
    for (size_t i = n_; i < bytes_.size() * 8; ++i) Set(i, false);
  }
  const uint8_t* data() const { return bytes_.data(); }
  size_t bytes() const { return bytes_.size(); }

 private:
  size_t n_ = 0;
  std::vector<uint8_t> bytes_;
};

}  // namespace doppel
