// Helpers shared by tests: a temporary folder removed at scope exit, file writing.
#pragma once

#include <filesystem>
#include <string>

namespace doppel::testing {

// A fresh folder under $TMPDIR (or /tmp), removed with its contents when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void WriteFile(const std::string& path, const std::string& bytes);
std::string ReadFile(const std::string& path);

}  // namespace doppel::testing

namespace doppel::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout; stderr goes to the test's stderr
};

// Runs `command` with /bin/sh, capturing stdout.
CommandResult RunCommand(const std::string& command);
// Path of a program built into <build>/bin (doppel, doppel-modelgen, ...).
std::string BinPath(const std::string& name);

}  // namespace doppel::testing
