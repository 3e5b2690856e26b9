// Internal: small durable-file helpers for index snapshots (fsync, atomic replace, checksums).
#pragma once

#include <cstdint>
#include <string>

#include "doppel/util/status.h"

namespace doppel {

// fsyncs a file or a directory. Errors name the path.
Status SyncPath(const std::string& path, bool directory);
// Writes `bytes` to path.tmp, fsyncs it, renames it over `path` and fsyncs the folder.
Status WriteFileAtomic(const std::string& path, const std::string& bytes);
Result<std::string> ReadWholeFile(const std::string& path);
// A fast 64-bit checksum (not cryptographic) of a buffer / a whole file.
uint64_t Checksum64(const void* data, size_t n, uint64_t seed = 0);
Result<uint64_t> ChecksumFile(const std::string& path, uint64_t* size);

}  // namespace doppel
