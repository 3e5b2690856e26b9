// Whole-file reads and durable writes: the one home of doppel's file helpers (the registry, index snapshots, model
// files and the indexer all use these). Errors name the path.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "doppel/util/status.h"

namespace doppel {

// Reads a whole file. The size is checked before anything is read: a file over `max_bytes` is ResourceExhausted
// (never a huge allocation). IOError for a file that cannot be opened or read; NotFound when it does not exist.
Result<std::string> ReadFileBytes(const std::string& path,
                                  int64_t max_bytes = std::numeric_limits<int64_t>::max());

// fsyncs a file or a directory.
Status SyncPath(const std::string& path, bool directory);

// Writes `bytes` to `path` atomically and durably: a temporary file beside it, fsync, rename over `path`, fsync of
// the folder. Readers see the old or the new content, never a mix; after OK the new content survives power loss.
Status WriteFileAtomic(const std::string& path, const std::string& bytes);

}  // namespace doppel
