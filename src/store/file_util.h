// Internal: checksums of index snapshots. (Durable file writes live in doppel/util/file.h.)
#pragma once

#include <cstdint>
#include <string>

#include "doppel/util/file.h"
#include "doppel/util/status.h"

namespace doppel {

// A fast 64-bit checksum (not cryptographic) of a buffer / a whole file.
uint64_t Checksum64(const void* data, size_t n, uint64_t seed = 0);
Result<uint64_t> ChecksumFile(const std::string& path, uint64_t* size);

}  // namespace doppel
