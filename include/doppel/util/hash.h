// Content hashes (SHA-256 through OpenSSL's libcrypto): model fingerprints and image content hashes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "doppel/util/status.h"

namespace doppel {

// Incremental SHA-256. Not thread-safe; one per thread.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t size);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Lower-case hex of the 32-byte digest. Call once.
  std::string HexDigest();

 private:
  void* ctx_;  // EVP_MD_CTX*, owned
};

std::string Sha256Hex(std::string_view data);
// SHA-256 of a whole file, streamed. Error names the path.
Result<std::string> Sha256File(const std::string& path);

}  // namespace doppel
