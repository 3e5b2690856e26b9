#include "store/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace doppel {

namespace {
inline uint64_t Mix(uint64_t h, uint64_t w) {
  h ^= w * 0x9E3779B97F4A7C15ull;
  h = (h << 27) | (h >> 37);
  return h * 0xC2B2AE3D27D4EB4Full + 0x165667B19E3779F9ull;
}
}  // namespace

uint64_t Checksum64(const void* data, size_t n, uint64_t seed) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  // Four independent lanes so the multiply latency does not serialise the loop.
  uint64_t h[4] = {seed ^ 1, seed ^ 2, seed ^ 3, seed ^ 4};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int l = 0; l < 4; ++l) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * l, 8);
      h[l] = Mix(h[l], w);
    }
  }
  uint64_t r = Mix(Mix(Mix(h[0], h[1]), h[2]), h[3]);
  for (; i < n; ++i) r = Mix(r, p[i]);
  return Mix(r, n);
}

Result<uint64_t> ChecksumFile(const std::string& path, uint64_t* size) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound("cannot open " + path);
  std::vector<char> buf(1 << 22);
  uint64_t h = 0, total = 0;
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize got = f.gcount();
    if (got <= 0) break;
    h = Checksum64(buf.data(), static_cast<size_t>(got), h);
    total += static_cast<uint64_t>(got);
  }
  *size = total;
  return h;
}

}  // namespace doppel
