// End-to-end tests of the doppel binary on real image files: index, search, re-index, modify, prune, crash and
// resume, bad files, fingerprint mismatch, compare and duplicates. Models: small real architectures with RANDOM
// weights (doppel-modelgen), which still rank near-identical pictures first.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "engine/engine_fixture.h"

namespace doppel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::RunCommand;
using testing::TempDir;

std::string Doppel() { return testing::BinPath("doppel"); }

// Runs doppel with `args` (shell words), returns the exit code and stdout; stderr is kept in the test log.
testing::CommandResult D(const std::string& args) { return RunCommand(Doppel() + " " + args); }

json J(const testing::CommandResult& r) { return testing::ParseJsonOutput(r); }

using testing::SamplePhotos;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.file("data");
    imgs_ = dir_.file("imgs");
    fs::create_directories(imgs_);
  }
  // A small random-weight model registered as `name`.
  void AddModel(const std::string& name, const std::string& arch = "resnet50", const std::string& form = "keras-nhwc",
                const std::string& extra = "--preset keras-caffe", int seed = 1) {
    std::string file = dir_.file(name + "-random.onnx");
    auto g = RunCommand(testing::BinPath("doppel-modelgen") + " --arch " + arch + " --form " + form +
                        " --width-multiplier 0.25 --input-size 96 --seed " + std::to_string(seed) + " --out " + file);
    ASSERT_EQ(g.exit_code, 0);
    auto r = D("model add " + name + " " + file + " " + extra + " --data " + data_);
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }
  std::string Img(const std::string& name) const { return (fs::path(imgs_) / name).string(); }
  json Index(const std::string& extra = "") {
    auto r = D("index " + imgs_ + " --json --data " + data_ + " " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return J(r);
  }
  json Search(const std::string& query, int k = 5, const std::string& extra = "") {
    auto r = D("search " + query + " -k " + std::to_string(k) + " --json --data " + data_ + " " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return J(r);
  }
  int64_t Count(const std::string& model = "m") {
    json s = J(D("status --json --data " + data_));
    for (const auto& m : s["models"])
      if (m["name"] == model) return m["count"].get<int64_t>();
    return -1;
  }

  TempDir dir_;
  std::string data_, imgs_;
};

TEST_F(CliTest, IndexSearchReindexModifyPrune) {
  AddModel("m");
  auto photos = SamplePhotos(10);
  ASSERT_EQ(photos.size(), 10u) << "opencv-doc sample photos missing";
  for (size_t i = 0; i < photos.size(); ++i) fs::copy_file(photos[i], Img("p" + std::to_string(i) + ".jpg"));
  testing::WriteFile(Img("broken.jpg"), "not really a jpeg");
  std::string good = testing::ReadFile(photos[0]);
  testing::WriteFile(Img("truncated.jpg"), good.substr(0, good.size() / 2));
  testing::WriteFile(Img("notes.txt"), "hello");

  json s = Index();
  EXPECT_EQ(s["indexed"], 10);
  EXPECT_EQ(s["failed"], 2);
  EXPECT_EQ(s["ignored"], 1);
  std::set<std::string> failed;
  for (const auto& f : s["failures"]) failed.insert(fs::path(f["path"].get<std::string>()).filename());
  EXPECT_EQ(failed, (std::set<std::string>{"broken.jpg", "truncated.jpg"}));
  EXPECT_EQ(Count(), 10);

  // Each picture finds itself first.
  for (int i : {0, 4, 9}) {
    json r = Search(Img("p" + std::to_string(i) + ".jpg"));
    ASSERT_FALSE(r["hits"].empty());
    EXPECT_EQ(r["hits"][0]["path"], Img("p" + std::to_string(i) + ".jpg"));
    EXPECT_NEAR(r["hits"][0]["distance"].get<double>(), 0.0, 1e-4);
    EXPECT_EQ(r["hits"].size(), 5u);
  }
  // Never fewer than k when k pictures exist.
  EXPECT_EQ(Search(Img("p1.jpg"), 10)["hits"].size(), 10u);

  // Re-indexing is a no-op.
  json again = Index();
  EXPECT_EQ(again["indexed"], 0);
  EXPECT_EQ(again["skipped"], 10);
  EXPECT_EQ(Count(), 10);

  // A modified file is re-embedded; its old picture goes.
  testing::WriteFile(dir_.file("old-p3.jpg"), testing::ReadFile(Img("p3.jpg")));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  testing::WriteEditedCopy(photos[3], Img("p3.jpg"), 0.5, 0.7, 60);
  json mod = Index();
  EXPECT_EQ(mod["indexed"], 1);
  EXPECT_EQ(Count(), 10);
  json now = Search(Img("p3.jpg"), 1);
  EXPECT_EQ(now["hits"][0]["path"], Img("p3.jpg"));
  EXPECT_NEAR(now["hits"][0]["distance"].get<double>(), 0.0, 1e-4);
  json old = Search(dir_.file("old-p3.jpg"), 1);
  EXPECT_GT(old["hits"][0]["distance"].get<double>(), 1e-4) << "the old content is no longer indexed";

  // The same picture under a second path is one entity with two paths.
  fs::copy_file(Img("p5.jpg"), Img("p5-copy.jpg"));
  json dup = Index();
  EXPECT_EQ(dup["indexed"], 0);
  EXPECT_EQ(dup["duplicates"], 1);
  EXPECT_EQ(Count(), 10);
  json both = Search("--path " + Img("p5-copy.jpg"), 1);
  EXPECT_EQ(both["hits"][0]["other_paths"].size(), 1u);

  // Prune removes what is gone.
  fs::remove(Img("p7.jpg"));
  json pr = Index("--prune");
  EXPECT_EQ(pr["pruned"], 1);
  EXPECT_EQ(Count(), 9);

  // remove by path, from every collection.
  auto rm = D("remove " + Img("p8.jpg") + " --data " + data_);
  EXPECT_EQ(rm.exit_code, 0);
  EXPECT_EQ(Count(), 8);
}

TEST_F(CliTest, KillDuringIndexingThenResumeLosesAndDuplicatesNothing) {
  AddModel("m");
  auto photos = SamplePhotos(20);
  int n = 0;
  for (size_t i = 0; i < photos.size(); ++i)
    for (double scale : {0.3, 0.45}) testing::WriteEditedCopy(photos[i], Img("e" + std::to_string(n++) + ".jpg"), scale);
  // Each run is killed at an exact point (the indexer stops itself there through the DOPPEL_TEST_STOP_AT hook, then
  // gets SIGKILL): right after a batch went into the store but before the catalog recorded it (the window the
  // durability order is about), and right after catalog commits. No timing involved.
  const char* points[] = {"upsert:1", "commit:2", "upsert:2", "commit:1", "upsert:3"};
  for (const char* point : points) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      setenv("DOPPEL_TEST_STOP_AT", point, 1);
      execl(Doppel().c_str(), "doppel", "index", imgs_.c_str(), "--data", data_.c_str(), "--quiet", "--batch", "2",
            "--commit-every", "3", static_cast<char*>(nullptr));
      _exit(127);
    }
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, WUNTRACED), pid);
    ASSERT_TRUE(WIFSTOPPED(st)) << "the run at " << point << " ended before its stop point";
    kill(pid, SIGKILL);
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  }
  json s = Index();
  EXPECT_EQ(s["failed"], 0);
  EXPECT_EQ(Count(), n) << "every picture once, none twice";
  json st = J(D("status --json --data " + data_));
  EXPECT_EQ(st["files"], n);
  // Every picture is there and finds itself.
  for (int i = 0; i < n; ++i) {
    json r = Search("--path " + Img("e" + std::to_string(i) + ".jpg"), 1);
    ASSERT_EQ(r["hits"].size(), 1u);
    EXPECT_EQ(r["hits"][0]["path"], Img("e" + std::to_string(i) + ".jpg"));
    EXPECT_NEAR(r["hits"][0]["distance"].get<double>(), 0.0, 1e-4);
  }
}

TEST_F(CliTest, FingerprintMismatchIsRefused) {
  AddModel("m");
  fs::copy_file(SamplePhotos(1)[0], Img("a.jpg"));
  Index();
  // Someone replaces the model file in the data directory: its vectors would not match the stored ones.
  auto g = RunCommand(testing::BinPath("doppel-modelgen") +
                      " --arch resnet50 --form keras-nhwc --width-multiplier 0.25 --input-size 96 --seed 2 --out " +
                      data_ + "/models/m.onnx");
  ASSERT_EQ(g.exit_code, 0);
  auto r = RunCommand(Doppel() + " search " + Img("a.jpg") + " --data " + data_ + " 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("fingerprint"), std::string::npos) << r.out;
  auto i = RunCommand(Doppel() + " index " + imgs_ + " --data " + data_ + " 2>&1");
  EXPECT_EQ(i.exit_code, 2);
  EXPECT_NE(i.out.find("never mixed"), std::string::npos) << i.out;
}

TEST_F(CliTest, CompareAndDuplicatesOnPicturesAndTheirCopies) {
  AddModel("a");
  AddModel("b", "vgg16", "zoo-nchw", "--preset torch-imagenet --output block5_pool --pool max");
  auto photos = SamplePhotos(6);
  for (size_t i = 0; i < photos.size(); ++i) {
    fs::copy_file(photos[i], Img("o" + std::to_string(i) + ".jpg"));
    testing::WriteEditedCopy(photos[i], Img("o" + std::to_string(i) + "-small.jpg"), 0.7, 1.0, 60);
    testing::WriteEditedCopy(photos[i], Img("o" + std::to_string(i) + "-tiny.jpg"), 0.4, 1.0, 40);
  }
  json s = Index();
  EXPECT_EQ(s["indexed"], 18);

  // Side by side: both lists start with the query itself; the overlap and correlation are reported.
  auto c = D("compare --path " + Img("o2.jpg") + " --models a,b -k 3 --fuse --json --data " + data_);
  ASSERT_EQ(c.exit_code, 0);
  json cj = J(c);
  ASSERT_EQ(cj["hits"].size(), 2u);
  for (const auto& l : cj["hits"]) {
    ASSERT_EQ(l.size(), 3u);
    EXPECT_EQ(l[0]["path"], Img("o2.jpg"));
  }
  double overlap = cj["overlap"].get<double>();
  EXPECT_GE(overlap, 1.0 / 3);
  EXPECT_LE(overlap, 1.0);
  EXPECT_EQ(cj["fused"][0]["path"], Img("o2.jpg"));

  // Over a query set: an HTML report with inline plots and thumbnails, and its JSON twin.
  fs::create_directories(dir_.file("queries"));
  for (int i : {0, 3}) fs::copy_file(Img("o" + std::to_string(i) + "-small.jpg"), dir_.file("queries/q" + std::to_string(i) + ".jpg"));
  auto rep = D("compare --queries " + dir_.file("queries") + " --models a,b -k 3 --report " + dir_.file("r.html") +
               " --data " + data_);
  ASSERT_EQ(rep.exit_code, 0) << rep.out;
  std::string html = testing::ReadFile(dir_.file("r.html"));
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("data:image/jpeg;base64,"), std::string::npos);
  json rj = json::parse(testing::ReadFile(dir_.file("r.json")));
  EXPECT_EQ(rj["queries"].size(), 2u);
  EXPECT_EQ(rj["models"], json({"a", "b"}));
  for (const auto& q : rj["queries"]) {
    // A copy's original is among its top 3 in model a.
    std::string stem = fs::path(q["query"].get<std::string>()).stem().string().substr(1);
    bool found = false;
    for (const auto& h : q["hits"][0]) found = found || h["path"] == Img("o" + stem + ".jpg");
    EXPECT_TRUE(found) << q.dump();
  }

  // The copies are each original's nearest neighbours (the property duplicates relies on) in model a.
  double max_copy = 0, min_other = 1e9;
  for (size_t i = 0; i < photos.size(); ++i) {
    json r = Search("--path " + Img("o" + std::to_string(i) + ".jpg"), 17, "--model a");
    for (const auto& h : r["hits"]) {
      std::string p = fs::path(h["path"].get<std::string>()).filename();
      double d = h["distance"].get<double>();
      if (p.rfind("o" + std::to_string(i) + "-", 0) == 0) max_copy = std::max(max_copy, d);
      else if (p != "o" + std::to_string(i) + ".jpg") min_other = std::min(min_other, d);
    }
  }
  ASSERT_LT(max_copy, min_other) << "copies must be closer than other pictures";
  double threshold = (max_copy + min_other) / 2;
  // The similar tier alone (--radius 0: the first two samples, two renders of one Blender scene, are near-copies of
  // each other by their hashes).
  auto d = D("duplicates --model a --radius 0 --threshold " + std::to_string(threshold) + " --json --data " + data_);
  ASSERT_EQ(d.exit_code, 0);
  json groups = J(d)["groups"];
  ASSERT_EQ(groups.size(), photos.size());
  for (const auto& gr : groups) {
    const json& g = gr["members"];
    ASSERT_EQ(g.size(), 3u);
    std::string first = fs::path(g[0]["path"].get<std::string>()).filename();
    std::string stem = first.substr(0, first.find_first_of("-."));
    for (const auto& m : g) EXPECT_EQ(fs::path(m["path"].get<std::string>()).filename().string().rfind(stem, 0), 0u);
    EXPECT_EQ(g[0]["tier"], "exact") << "the representative";
    for (size_t i = 1; i < g.size(); ++i)
      EXPECT_TRUE(g[i]["tier"] == "near-copy" || g[i]["tier"] == "similar") << g[i].dump();
  }
}

// The review flow a user follows: find an exact copy, decide which path stays, see the dry run, apply (the copy
// moves into the trash and is no longer indexed), undo (the same bytes come back and are indexed again).
TEST_F(CliTest, ReviewApplyAndUndo) {
  AddModel("m");
  auto photos = SamplePhotos(3);
  fs::create_directories(Img("backup"));
  fs::copy_file(photos[0], Img("p0.jpg"));
  fs::copy_file(photos[0], Img("backup/p0.jpg"));
  fs::copy_file(photos[2], Img("p2.jpg"));
  Index();
  auto d = D("duplicates --min-tier exact --json --data " + data_);
  ASSERT_EQ(d.exit_code, 0) << d.out;
  json groups = J(d)["groups"];
  ASSERT_EQ(groups.size(), 1u) << groups.dump();
  ASSERT_EQ(groups[0]["members"].size(), 2u);
  EXPECT_EQ(groups[0]["members"][0]["id"], groups[0]["members"][1]["id"]) << "one picture under two paths";

  auto bad = D("review --keep-all --keep 5 1 2 --data " + data_ + " 2>&1");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("exactly one of"), std::string::npos) << bad.out;
  auto rv = D("review --keep-path " + Img("p0.jpg") + " --data " + data_);
  ASSERT_EQ(rv.exit_code, 0) << rv.out;
  EXPECT_TRUE(J(D("duplicates --min-tier exact --json --data " + data_))["groups"].empty()) << "resolved";

  auto dry = D("duplicates apply --data " + data_);
  ASSERT_EQ(dry.exit_code, 0) << dry.out;
  EXPECT_NE(dry.out.find("dry run: 1 file(s)"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find(Img("backup/p0.jpg")), std::string::npos) << dry.out;
  EXPECT_TRUE(fs::exists(Img("backup/p0.jpg"))) << "a dry run moves nothing";

  auto ap = D("duplicates apply --yes --json --data " + data_);
  ASSERT_EQ(ap.exit_code, 0) << ap.out;
  json batch = J(ap);
  ASSERT_EQ(batch["moves"].size(), 1u);
  EXPECT_EQ(batch["moves"][0]["from"], Img("backup/p0.jpg"));
  EXPECT_FALSE(fs::exists(Img("backup/p0.jpg")));
  EXPECT_EQ(testing::ReadFile(batch["moves"][0]["to"].get<std::string>()), testing::ReadFile(photos[0]));
  EXPECT_TRUE(fs::exists(Img("p0.jpg")));
  EXPECT_NE(D("search --path " + Img("backup/p0.jpg") + " --data " + data_).exit_code, 0) << "no longer indexed";
  auto list = D("duplicates undo --list --data " + data_);
  EXPECT_NE(list.out.find(batch["name"].get<std::string>() + " "), std::string::npos) << list.out;

  auto un = D("duplicates undo --json --data " + data_);
  ASSERT_EQ(un.exit_code, 0) << un.out;
  EXPECT_EQ(J(un)["reindexed"], 1);
  EXPECT_EQ(testing::ReadFile(Img("backup/p0.jpg")), testing::ReadFile(photos[0]));
  EXPECT_EQ(Search("--path " + Img("backup/p0.jpg"), 1)["hits"].size(), 1u) << "indexed again";
  auto again = D("duplicates undo --data " + data_ + " 2>&1");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.out.find("nothing to undo"), std::string::npos) << again.out;
}

TEST_F(CliTest, EmbedAndInspect) {
  std::string file = dir_.file("r50-random.onnx");
  ASSERT_EQ(RunCommand(testing::BinPath("doppel-modelgen") +
                       " --arch resnet50 --form zoo-nchw --width-multiplier 0.25 --input-size 96 --out " + file)
                .exit_code,
            0);
  auto inspect = D("model inspect " + file + " --json");
  ASSERT_EQ(inspect.exit_code, 0);
  json ij = J(inspect);
  EXPECT_EQ(ij["layout"], "NCHW");
  EXPECT_EQ(ij["guessed_preset"], "torch-imagenet");
  EXPECT_EQ(ij["inputs"][0]["name"], "data");
  EXPECT_EQ(ij["opset"], 13);
  EXPECT_NE(ij["metadata"]["doppel.weights"].get<std::string>().find("random"), std::string::npos);

  auto photos = SamplePhotos(2);
  testing::WriteFile(Img("text.jpg"), "plain text");
  auto e = D("embed --model " + file + " --preset torch-imagenet --output flatten_gap " + photos[0] + " " +
             Img("text.jpg") + " " + photos[1]);
  EXPECT_EQ(e.exit_code, 1) << "one image failed";
  std::vector<json> lines;
  std::stringstream ss(e.out);
  for (std::string l; std::getline(ss, l);) lines.push_back(json::parse(l));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["path"], photos[0]);  // input order
  EXPECT_EQ(lines[0]["dim"], 512);
  double norm = 0;
  for (double x : lines[0]["vector"]) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-4);
  EXPECT_NE(lines[1]["error"].get<std::string>().find("text.jpg"), std::string::npos);
  EXPECT_EQ(lines[2]["path"], photos[1]);
  EXPECT_EQ(lines[2]["vector"].size(), 512u);
}

TEST_F(CliTest, BadRequestsGiveClearErrors) {
  auto nodata = RunCommand(Doppel() + " search " + DOPPEL_SAMPLE_DIR "/apple.jpg --data " + data_ + " 2>&1");
  EXPECT_EQ(nodata.exit_code, 2);
  EXPECT_NE(nodata.out.find("no data directory at " + data_), std::string::npos) << nodata.out;
  fs::create_directories(data_);
  auto none = RunCommand(Doppel() + " search " + DOPPEL_SAMPLE_DIR "/apple.jpg --data " + data_ + " 2>&1");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.out.find("nothing indexed yet"), std::string::npos) << none.out;
  AddModel("m");
  auto empty = RunCommand(Doppel() + " search " + DOPPEL_SAMPLE_DIR "/apple.jpg --data " + data_ + " 2>&1");
  EXPECT_EQ(empty.exit_code, 0) << "an empty collection answers with no hits: " << empty.out;
  auto dup = RunCommand(Doppel() + " model add m " + dir_.file("m-random.onnx") + " --data " + data_ + " 2>&1");
  EXPECT_EQ(dup.exit_code, 2);
  EXPECT_NE(dup.out.find("already registered"), std::string::npos);
  auto unknown = RunCommand(Doppel() + " search --id 5 --model nope --data " + data_ + " 2>&1");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.out.find("no model named 'nope'"), std::string::npos) << unknown.out;
  // A bad filter on an indexed collection: the parse error names the filter and what is wrong in it.
  for (const auto& p : SamplePhotos(3)) fs::copy_file(p, Img(fs::path(p).filename().string()));
  Index();
  ASSERT_EQ(Count(), 3);
  auto badfilter =
      RunCommand(Doppel() + " search " + Img(fs::path(SamplePhotos(1)[0]).filename().string()) +
                 " --filter 'width >>> 3' --data " + data_ + " 2>&1");
  EXPECT_EQ(badfilter.exit_code, 2) << badfilter.out;
  EXPECT_NE(badfilter.out.find("InvalidArgument: filter 'width >>> 3'"), std::string::npos) << badfilter.out;
  EXPECT_NE(badfilter.out.find("at offset"), std::string::npos) << badfilter.out;
  auto quality = RunCommand(Doppel() + " search --id 5 --profile quality --data " + data_ + " 2>&1");
  EXPECT_EQ(quality.exit_code, 2);
  EXPECT_NE(quality.out.find("doppel model add-builtin mobilenet_v2 inception_v3"), std::string::npos) << quality.out;
  auto both = RunCommand(Doppel() + " search --id 5 --model m --models m,m --data " + data_ + " 2>&1");
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.out.find("not both"), std::string::npos) << both.out;
  auto badfield = RunCommand(Doppel() + " search --id 5 --filter \"colour == 'red'\" --data " + data_ + " 2>&1");
  EXPECT_EQ(badfield.exit_code, 2);
  EXPECT_NE(badfield.out.find("colour"), std::string::npos) << badfield.out;
  auto missing = RunCommand(Doppel() + " search " + dir_.file("nope.jpg") + " --data " + data_ + " 2>&1");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.out.find("nope.jpg"), std::string::npos) << missing.out;
  auto two = RunCommand(Doppel() + " search " + dir_.file("nope.jpg") + " --id 3 --data " + data_ + " 2>&1");
  EXPECT_EQ(two.exit_code, 2);
  EXPECT_NE(two.out.find("exactly one"), std::string::npos) << two.out;
}

// doppel eval measures the search options that join networks: --multi-scale (a built-in imported at 0.71x and
// 1.41x its input side, the vectors averaged) and --fuse (the models' vectors concatenated, as the quality profile
// ranks), each a row of its own on the same labelled folder.
TEST_F(CliTest, EvalMeasuresMultiScaleAndFusion) {
  const std::string set = dir_.file("labelled");
  auto photos = SamplePhotos(12);  // P@10 needs at least 11
  ASSERT_EQ(photos.size(), 12u);
  for (size_t i = 0; i < photos.size(); ++i) {
    const fs::path d = fs::path(set) / (i < 6 ? "a" : "b");
    fs::create_directories(d);
    fs::copy_file(photos[i], d / fs::path(photos[i]).filename());
  }
  const std::string onnx = dir_.file("r50.onnx");
  ASSERT_EQ(RunCommand(testing::BinPath("doppel-modelgen") +
                       " --arch resnet50 --form keras-nhwc --width-multiplier 0.25 --input-size 96 --out " + onnx)
                .exit_code,
            0);
  auto one = RunCommand(Doppel() + " eval " + set + " --onnx " + onnx + " --preset keras-caffe --fuse 2>&1");
  EXPECT_EQ(one.exit_code, 2);
  EXPECT_NE(one.out.find("--fuse needs at least two models"), std::string::npos) << one.out;

  auto r = D("eval " + set + " --builtin mobilenet_v2 --multi-scale --onnx " + onnx +
             " --preset keras-caffe --fuse --copies 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json rows = J(r);
  std::vector<std::string> names;
  for (const auto& row : rows) {
    names.push_back(row["name"]);
    EXPECT_EQ(row["images"], 12) << row.dump();
    EXPECT_EQ(row["failed"], 0) << row.dump();
    EXPECT_EQ(row["copy_queries"], 8) << row.dump();  // 2 originals x 4 edits
    EXPECT_GE(row["map"].get<double>(), 0.0);
    EXPECT_LE(row["map"].get<double>(), 1.0);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"mobilenet_v2", "mobilenet_v2 multi-scale x0.71,x1,x1.41", "r50.onnx",
                                             "fused mobilenet_v2+r50.onnx"}));
}

TEST_F(CliTest, ProgressIsPlainLinesWhenStderrIsNotATerminal) {
  AddModel("m");
  auto photos = SamplePhotos(6);
  for (size_t i = 0; i < photos.size(); ++i) fs::copy_file(photos[i], Img("p" + std::to_string(i) + ".jpg"));
  // stderr (the progress) captured, stdout (the summary) dropped.
  auto r = RunCommand(Doppel() + " index " + imgs_ + " --data " + data_ + " 2>&1 >/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << "no in-place updates in a log: " << r.out;
  EXPECT_EQ(r.out.find("\033["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("doppel index: 6/6 files (100%), 6 indexed, 0 skipped, 0 failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("done"), std::string::npos) << r.out;
  // --json prints the summary only, on stdout.
  auto j = RunCommand(Doppel() + " index " + imgs_ + " --json --data " + data_ + " 2>&1");
  ASSERT_EQ(j.exit_code, 0);
  json s = J(j);
  EXPECT_EQ(s["skipped"], 6);
}

}  // namespace
}  // namespace doppel
