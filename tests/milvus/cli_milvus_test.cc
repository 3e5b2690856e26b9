// The doppel CLI with `--store milvus://...` against FakeMilvus (the in-process stand-in for Milvus's REST API v2,
// fake_milvus.h): two hosts (two data directories) index their own folders into one Milvus collection per model,
// a third host with an empty catalog searches, compares, finds duplicates and removes; a host whose model differs
// is refused by the fingerprint; an unreachable server is reported within seconds.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "engine/engine_fixture.h"
#include "milvus/fake_milvus.h"

namespace doppel {
namespace {

using nlohmann::json;

class CliMilvus : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteRandomModel(dir_.file("m.onnx"), 1);
    testing::WriteRandomModel(dir_.file("n.onnx"), 2);
    auto photos = testing::SamplePhotos(8);
    a_ = testing::WriteCopies({photos.begin(), photos.begin() + 4}, dir_.file("host-a-photos"), "a", 1);
    b_ = testing::WriteCopies({photos.begin() + 4, photos.begin() + 8}, dir_.file("host-b-photos"), "b", 1);
    uri_ = "milvus://127.0.0.1:" + std::to_string(fake_.port());
  }
  // `doppel --data DIR --store URI ARGS` on host `host`.
  testing::CommandResult Doppel(const std::string& host, const std::string& args) {
    return testing::RunCommand(testing::BinPath("doppel") + " --data " + dir_.file(host) + " --store " + uri_ + " " +
                               args + " 2>&1 </dev/null");
  }
  void Register(const std::string& host) {
    for (const char* m : {"m", "n"}) {
      auto r = Doppel(host, std::string("model add ") + m + " " + dir_.file(std::string(m) + ".onnx") +
                                " --preset keras-caffe --index FLAT");
      ASSERT_EQ(r.exit_code, 0) << host << ": " << r.out;
    }
  }

  testing::FakeMilvus fake_;
  testing::TempDir dir_;
  std::vector<std::string> a_, b_;
  std::string uri_;
};

TEST_F(CliMilvus, TwoHostsIndexOneCollectionAndAThirdSearchesIt) {
  Register("host-a");
  auto ia = Doppel("host-a", "index " + dir_.file("host-a-photos"));
  ASSERT_EQ(ia.exit_code, 0) << ia.out;
  Register("host-b");  // adopts the collections: same models, same fingerprints
  auto ib = Doppel("host-b", "index " + dir_.file("host-b-photos"));
  ASSERT_EQ(ib.exit_code, 0) << ib.out;
  EXPECT_EQ(fake_.Rows("m"), 8);
  EXPECT_EQ(fake_.Rows("n"), 8);

  // Host C has indexed nothing: its catalog is empty, the paths come from Milvus.
  Register("host-c");
  auto s = Doppel("host-c", "search " + b_[2] + " --model m -k 8 --json");
  ASSERT_EQ(s.exit_code, 0) << s.out;
  json hits = testing::ParseJsonOutput(s)["hits"];
  ASSERT_EQ(hits.size(), 8u) << "both hosts' pictures";
  EXPECT_EQ(hits[0]["path"], b_[2]);
  EXPECT_NEAR(hits[0]["distance"].get<double>(), 0.0, 1e-4);
  std::set<std::string> paths;
  for (const auto& h : hits) paths.insert(h["path"].get<std::string>());
  for (const auto& p : a_) EXPECT_TRUE(paths.count(p)) << p;
  for (const auto& p : b_) EXPECT_TRUE(paths.count(p)) << p;

  auto byid = Doppel("host-c", "search --id " + std::to_string(testing::FileContentId(a_[1])) + " -k 2 --json");
  ASSERT_EQ(byid.exit_code, 0) << byid.out;
  EXPECT_EQ(testing::ParseJsonOutput(byid)["hits"][0]["path"], a_[1]);

  auto cmp = Doppel("host-c", "compare " + a_[0] + " --models m,n -k 4 --json");
  ASSERT_EQ(cmp.exit_code, 0) << cmp.out;
  json c = testing::ParseJsonOutput(cmp);
  EXPECT_EQ(c["hits"][0][0]["path"], a_[0]);
  EXPECT_EQ(c["hits"][1][0]["path"], a_[0]);

  // Every pair of unit vectors is within squared distance 4: one group of all 8, found through a full scan paged
  // by id and a search per picture.
  auto dups = Doppel("host-c", "duplicates --model m --threshold 4 --json");
  ASSERT_EQ(dups.exit_code, 0) << dups.out;
  json groups = testing::ParseJsonOutput(dups)["groups"];
  ASSERT_EQ(groups.size(), 1u) << dups.out;
  EXPECT_EQ(groups[0]["members"].size(), 8u);
  // With a similar threshold that joins nothing, only copies remain: the two samples that are renders of one
  // Blender scene, found by their perceptual hashes (stored in Milvus by hosts A and B).
  auto none = Doppel("host-c", "duplicates --model m --threshold 0.000001 --json");
  ASSERT_EQ(none.exit_code, 0) << none.out;
  for (const auto& g : testing::ParseJsonOutput(none)["groups"])
    for (size_t i = 1; i < g["members"].size(); ++i)
      EXPECT_NE(g["members"][i]["tier"], "similar") << none.out;

  // Removing a picture by id from host C removes it for everyone.
  auto rm = Doppel("host-c", "remove --id " + std::to_string(testing::FileContentId(a_[3])));
  ASSERT_EQ(rm.exit_code, 0) << rm.out;
  EXPECT_EQ(fake_.Rows("m"), 7);
  EXPECT_EQ(fake_.Rows("n"), 7);
  auto after = Doppel("host-a", "search " + a_[3] + " --model m -k 8 --json");
  ASSERT_EQ(after.exit_code, 0) << after.out;
  for (const auto& h : testing::ParseJsonOutput(after)["hits"]) EXPECT_NE(h["path"], a_[3]);
}

TEST_F(CliMilvus, AHostWithAnotherModelUnderTheSameNameIsRefused) {
  Register("host-a");
  testing::WriteRandomModel(dir_.file("other.onnx"), 7);
  auto r = Doppel("host-d", "model add m " + dir_.file("other.onnx") + " --preset keras-caffe");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("fingerprint"), std::string::npos) << r.out;
}

TEST_F(CliMilvus, AnUnreachableServerIsReportedWithinSeconds) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = testing::RunCommand(testing::BinPath("doppel") + " --data " + dir_.file("x") +
                               " --store milvus://127.0.0.1:1 status 2>&1 </dev/null");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("Unavailable"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("127.0.0.1:1"), std::string::npos) << r.out;
  EXPECT_LT(secs, 10.0);
  auto bad = testing::RunCommand(testing::BinPath("doppel") + " --data " + dir_.file("x") +
                                 " --store mysql://nowhere status 2>&1 </dev/null");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.out.find("milvus://"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace doppel
