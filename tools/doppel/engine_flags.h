// Flags shared by the subcommands that open a data directory, and result formatting helpers.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "doppel/engine/engine.h"

namespace doppel::cli {

// The data directory and engine settings. They are accepted before the subcommand (git style: `doppel --data D
// status`, the global instance) and after it (`doppel status --data D`); the subcommand's own value wins.
struct EngineFlags {
  std::string data;  // --data, else $DOPPEL_DATA, else ./doppel-data
  int threads = 0;
  int batch = 0;     // 0: unset (8)
  std::string store; // --store URI, else $DOPPEL_STORE, else the embedded store
  void Add(CLI::App* cmd);
  // Readers (search, status, model list...) open the data directory read-only, so they work while another process
  // indexes; writers take its lock.
  enum class Mode { kRead, kWrite };
  Result<std::unique_ptr<Engine>> Open(Mode mode) const;

  static EngineFlags& Global();  // the options given before the subcommand
};
// "1.23 MB" etc.
std::string HumanBytes(int64_t n);
// Prints "doppel <cmd>: <status>" on stderr and returns the exit code for it (2 for bad input, 1 otherwise).
int Fail(const std::string& cmd, const Status& st);

// Prints several models' hits side by side with overlap, rank correlation and distance scales.
void PrintComparison(const Comparison& c, const std::string& query, int k);

// A query from the common flags: an image file, --id or --path (api::BuildQuery checks it).
struct QueryFlags {
  std::string image;
  int64_t id = 0;
  std::string path;
  void Add(CLI::App* cmd);
  Result<SearchQuery> Build() const;
};

}  // namespace doppel::cli
