// The doppel CLI's subcommands. Each Register* adds its subcommands to the app; handlers parse, call the core
// library and format. They report errors on stderr and set the exit code through the returned int.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace doppel::cli {

// A subcommand's action, run after parsing; returns the process exit code.
using Action = std::function<int()>;

void RegisterEmbed(CLI::App& app, Action* action);
void RegisterModel(CLI::App& app, Action* action);
void RegisterIndex(CLI::App& app, Action* action);   // index, remove, status
void RegisterSearch(CLI::App& app, Action* action);      // search, compare
void RegisterDuplicates(CLI::App& app, Action* action);  // duplicates (+ apply, undo), review
void RegisterDemo(CLI::App& app, Action* action);
void RegisterEval(CLI::App& app, Action* action);
void RegisterServe(CLI::App& app, Action* action);

}  // namespace doppel::cli
