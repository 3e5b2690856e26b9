// What a new user meets first, through the real binary: the first index of a new data directory registers the
// built-in default model; options before the subcommand (git style); the default model as a stored property; and
// two terminals on one data directory: searches and status work while another process indexes, a second writer is
// told which process holds the directory.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/engine_fixture.h"

namespace doppel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::RunCommand;

std::string Doppel() { return testing::BinPath("doppel"); }

json J(const testing::CommandResult& r) { return testing::ParseJsonOutput(r); }

class CliNewcomer : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.file("data");
    auto photos = testing::SamplePhotos(10);
    first_ = testing::WriteCopies({photos.begin(), photos.begin() + 4}, dir_.file("first"), "a", 1);
    second_ = testing::WriteCopies({photos.begin() + 4, photos.end()}, dir_.file("second"), "b", 1);
    testing::WriteFile(dir_.file("first/notes.txt"), "not a picture\n");
  }
  testing::CommandResult D(const std::string& args) { return RunCommand(Doppel() + " " + args + " 2>&1"); }
  testing::CommandResult DJson(const std::string& args) { return RunCommand(Doppel() + " " + args); }

  testing::TempDir dir_;
  std::string data_;
  std::vector<std::string> first_, second_;
};

TEST_F(CliNewcomer, FirstIndexRegistersTheDefaultModelAndGlobalOptionsWork) {
  auto r = D("--data " + data_ + " index " + dir_.file("first"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("registered the built-in default model mobilenet_v2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not indexed: 1 file(s): not an image"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("notes.txt"), std::string::npos) << r.out;
  // Both places for the options.
  json before = J(DJson("--data " + data_ + " status --json"));
  json after = J(DJson("status --json --data " + data_));
  EXPECT_EQ(before, after);
  EXPECT_EQ(before["default_model"], "mobilenet_v2");
  ASSERT_EQ(before["models"].size(), 1u);
  EXPECT_EQ(before["models"][0]["count"], int(first_.size()));
  // The JSON summary names every ignored file with its reason.
  json again = J(DJson("--data " + data_ + " index " + dir_.file("first") + " --json"));
  ASSERT_EQ(again["ignored_files"].size(), 1u);
  EXPECT_EQ(again["ignored_files"][0]["path"], dir_.file("first/notes.txt"));
  EXPECT_NE(again["ignored_files"][0]["reason"].get<std::string>().find("not an image"), std::string::npos);
  EXPECT_EQ(again["skipped"], int(first_.size()));
}

TEST_F(CliNewcomer, TheDefaultModelIsAStoredChoice) {
  ASSERT_EQ(D("--data " + data_ + " model add-builtin").exit_code, 0);
  ASSERT_EQ(D("--data " + data_ + " index " + dir_.file("first")).exit_code, 0);
  auto list = D("--data " + data_ + " model list");
  EXPECT_NE(list.out.find("mobilenet_v2     (default)"), std::string::npos) << list.out;
  json s = J(DJson("--data " + data_ + " search " + first_[0] + " -k 2 --json"));
  EXPECT_EQ(s["model"], "mobilenet_v2") << "the built-in default, not the alphabetically first (inception_v3)";
  EXPECT_EQ(s["hits"][0]["path"], first_[0]);
  ASSERT_EQ(D("--data " + data_ + " model default inception_v3").exit_code, 0);
  EXPECT_EQ(D("--data " + data_ + " model default").out, "inception_v3\n");
  s = J(DJson("--data " + data_ + " search " + first_[0] + " -k 2 --json"));
  EXPECT_EQ(s["model"], "inception_v3");
  json st = J(DJson("--data " + data_ + " status --json"));
  EXPECT_EQ(st["default_model"], "inception_v3");
  for (const auto& m : st["models"]) EXPECT_EQ(m["default"], m["name"] == "inception_v3");
  auto bad = D("--data " + data_ + " model default nope");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.out.find("no model named 'nope'"), std::string::npos) << bad.out;
  auto rm = D("--data " + data_ + " model remove inception_v3");
  EXPECT_NE(rm.out.find("the default model is now mobilenet_v2"), std::string::npos) << rm.out;
}

TEST_F(CliNewcomer, ReadersWorkWhileAnotherProcessIndexes) {
  ASSERT_EQ(D("--data " + data_ + " index " + dir_.file("first")).exit_code, 0);
  // A writer held right after its first durable batch of the second folder (the DOPPEL_TEST_STOP_AT hook).
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("DOPPEL_TEST_STOP_AT", "commit:1", 1);
    execl(Doppel().c_str(), "doppel", "--data", data_.c_str(), "index", dir_.file("second").c_str(), "--quiet",
          "--commit-every", "2", static_cast<char*>(nullptr));
    _exit(127);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, WUNTRACED), pid);
  ASSERT_TRUE(WIFSTOPPED(st));
  // Readers: what was committed so far, including the writer's first batch.
  json status = J(DJson("--data " + data_ + " status --json"));
  EXPECT_EQ(status["models"][0]["count"], int(first_.size()) + 2);
  auto search = DJson("--data " + data_ + " search " + first_[1] + " -k 3 --json");
  EXPECT_EQ(search.exit_code, 0);
  EXPECT_EQ(J(search)["hits"][0]["path"], first_[1]);
  // Writers: a clear message naming the process.
  for (const std::string& cmd : {"index " + dir_.file("first"), "remove " + first_[0], std::string("model default mobilenet_v2")}) {
    auto w = D("--data " + data_ + " " + cmd);
    EXPECT_EQ(w.exit_code, 2) << cmd;
    EXPECT_NE(w.out.find("open for writing by another process (pid " + std::to_string(pid)), std::string::npos)
        << cmd << ": " << w.out;
    EXPECT_NE(w.out.find("doppel --data"), std::string::npos) << "names the command: " << w.out;
  }
  kill(pid, SIGCONT);
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  status = J(DJson("--data " + data_ + " status --json"));
  EXPECT_EQ(status["models"][0]["count"], int(first_.size() + second_.size()));
}

TEST_F(CliNewcomer, CtrlCStopsIndexingGracefully) {
  ASSERT_EQ(D("--data " + data_ + " index " + dir_.file("first")).exit_code, 0);
  // Held after its first commit, then interrupted: the job stops, keeps what it committed, and exits cleanly.
  std::string out = dir_.file("out.json");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("DOPPEL_TEST_STOP_AT", "commit:1", 1);
    if (!freopen(out.c_str(), "w", stdout)) _exit(126);
    execl(Doppel().c_str(), "doppel", "--data", data_.c_str(), "index", dir_.file("second").c_str(), "--json",
          "--commit-every", "2", static_cast<char*>(nullptr));
    _exit(127);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, WUNTRACED), pid);
  ASSERT_TRUE(WIFSTOPPED(st));
  kill(pid, SIGINT);  // pending until it runs again
  kill(pid, SIGCONT);
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st)) << "a first Ctrl-C does not kill the process";
  EXPECT_EQ(WEXITSTATUS(st), 0);
  json sum = json::parse(testing::ReadFile(out));
  // The interrupt lands while the job runs (it was held mid-run) unless the job finished the few files left first;
  // either way the summary is truthful.
  if (sum["cancelled"] == true) {
    EXPECT_LT(sum["indexed"].get<int>(), int(second_.size()));
  } else {
    EXPECT_EQ(sum["indexed"].get<int>(), int(second_.size()));
  }
  EXPECT_GE(sum["indexed"].get<int>(), 2) << "the batch committed before the interrupt is kept";
  // The next run completes what is missing; nothing twice.
  json again = J(DJson("--data " + data_ + " index " + dir_.file("second") + " --json"));
  EXPECT_EQ(again["indexed"].get<int>() + again["skipped"].get<int>(), int(second_.size()));
  json status = J(DJson("--data " + data_ + " status --json"));
  EXPECT_EQ(status["models"][0]["count"], int(first_.size() + second_.size()));
}

}  // namespace
}  // namespace doppel
