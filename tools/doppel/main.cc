// doppel: the command-line front end. It parses arguments, calls the core library and formats results; nothing
// else lives here.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "commands.h"
#include "engine_flags.h"

int main(int argc, char** argv) {
  CLI::App app{"doppel: reverse image search (images -> ONNX embeddings -> similar images)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "doppel 0.1.0");
  // Options that may also come before the subcommand (git style): `doppel --data D status`.
  doppel::cli::EngineFlags::Global().Add(&app);
  doppel::cli::Action action;
  doppel::cli::RegisterEmbed(app, &action);
  doppel::cli::RegisterModel(app, &action);
  doppel::cli::RegisterIndex(app, &action);
  doppel::cli::RegisterSearch(app, &action);
  doppel::cli::RegisterDuplicates(app, &action);
  doppel::cli::RegisterDemo(app, &action);
  doppel::cli::RegisterEval(app, &action);
  doppel::cli::RegisterServe(app, &action);
  CLI11_PARSE(app, argc, argv);
  try {
    return action ? action() : 0;
  } catch (const std::exception& e) {
    // The core returns errors as Status values; this is a last line of defence, never the way errors travel.
    std::fprintf(stderr, "doppel: internal error: %s\n", e.what());
    return 1;
  }
}
