// doppel: the command-line front end. It parses arguments, calls the core library and formats results; nothing
// else lives here.
#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"doppel: reverse image search"};
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
