// Internal: the user's decisions about duplicates, stored in DATA/duplicate-decisions.json against content ids (see
// Engine::ResolveDuplicates). Shared by duplicates.cc (grouping honours them) and trash.cc (applying them).
//
// File format, version 2: {"version": 2, "decisions": [{"ids": [...], "keep": [...], "keep_paths": [...]}]}, ids
// and keep sorted and unique, keep a non-empty subset of ids. Version 1 files ("keep": ID or null = keep all) are
// read as the same decisions.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "doppel/util/status.h"

namespace doppel {

struct Decision {
  std::vector<int64_t> ids;              // sorted, unique
  std::vector<int64_t> keep;             // sorted, unique, non-empty, within ids
  std::vector<std::string> keep_paths;   // of kept pictures stored under several paths: the paths that stay

  bool Names(int64_t id) const { return std::binary_search(ids.begin(), ids.end(), id); }
  bool Keeps(int64_t id) const { return std::binary_search(keep.begin(), keep.end(), id); }
  bool KeepsAll() const { return keep.size() == ids.size(); }
  // Whether `path` of the kept picture stays: keep_paths says so, or names none of `paths_of_id` (then all stay).
  bool KeepsPath(const std::string& path, const std::vector<std::string>& paths_of_id) const;
};

std::string DecisionsPath(const std::string& data_dir);
// No file: no decisions. Corruption naming the file when it cannot be read as decisions.
Result<std::vector<Decision>> LoadDecisions(const std::string& data_dir);
Status SaveDecisions(const std::string& data_dir, const std::vector<Decision>& decisions);  // atomic

}  // namespace doppel
