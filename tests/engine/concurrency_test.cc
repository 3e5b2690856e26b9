// The engine under many callers at once, in one process (as a server runs it), bounded in time:
//   1. searchers while an index job runs: every search answers k hits whose ids are the content of the files their
//      paths name, and the collection's count only moves by whole batches;
//   2. searchers, an index job, a remover and a thread adding and removing another model, all together: no call
//      fails, and the final counts are exactly what was indexed minus what was removed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "engine/engine_fixture.h"

namespace doppel {
namespace {

namespace fs = std::filesystem;

class EngineConcurrency : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteRandomModel(dir_.file("m.onnx"), 1);
    testing::WriteRandomModel(dir_.file("other.onnx"), 2);
    EngineOptions o;
    o.data_dir = dir_.file("data");
    o.embed.infer_threads = 1;
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
    ASSERT_TRUE(engine_->AddModel("m", dir_.file("m.onnx"), testing::RandomModelSpec()).ok());
    photos_ = testing::SamplePhotos(40);
    ASSERT_GE(photos_.size(), 30u);
  }

  int64_t CountOf(const std::string& model) {
    auto st = engine_->GetStatus();
    EXPECT_TRUE(st.ok());
    for (const auto& m : st->models)
      if (m.model.name == model) return m.count;
    return -1;
  }

  // Searches until `stop`, checking every answer; records the first problem in `error`.
  void Searcher(int seed, const std::vector<std::string>& queries, std::atomic<bool>* stop, std::string* error,
                std::mutex* error_mu, std::atomic<int>* searches) {
    std::mt19937 rng(seed);
    auto fail = [&](const std::string& what) {
      std::lock_guard<std::mutex> l(*error_mu);
      if (error->empty()) *error = what;
    };
    while (!*stop) {
      const std::string& file = queries[rng() % queries.size()];
      SearchQuery q;
      if (rng() % 2) {
        q.upload = testing::ReadFile(file);
        q.upload_name = "query.jpg";
      } else {
        q.indexed_path = file;
      }
      SearchOptions o;
      o.k = 5;
      auto hits = engine_->Search(q, "m", o);
      if (!hits.ok()) return fail("search failed: " + hits.status().ToString());
      if (hits->size() != 5u) return fail("search returned " + std::to_string(hits->size()) + " hits, not 5");
      for (const auto& h : *hits) {
        if (!fs::exists(h.path)) return fail("hit path does not exist: " + h.path);
        if (testing::FileContentId(h.path) != h.id)
          return fail("hit id " + std::to_string(h.id) + " is not the content of " + h.path);
      }
      ++*searches;
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<Engine> engine_;
  std::vector<std::string> photos_;
};

TEST_F(EngineConcurrency, SearchesDuringIndexingSeeWholeBatches) {
  // Queries: pictures indexed before the job starts (always present).
  auto base = testing::WriteCopies({photos_.begin(), photos_.begin() + 8}, dir_.file("base"), "b", 1);
  ASSERT_TRUE(engine_->Index({dir_.file("base")}, IndexOptions()).ok());
  const int64_t c0 = CountOf("m");
  ASSERT_EQ(c0, 8);
  auto more = testing::WriteCopies({photos_.begin() + 8, photos_.end()}, dir_.file("more"), "x", 2);

  IndexOptions io;
  io.commit_every = 4;
  auto job = engine_->StartIndex({dir_.file("more")}, io);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  std::atomic<bool> stop{false};
  std::atomic<int> searches{0};
  std::string error;
  std::mutex error_mu;
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] { Searcher(i, base, &stop, &error, &error_mu, &searches); });
  // Counts only move by whole batches of 4 (the last batch of the run may be shorter).
  std::set<int64_t> seen;
  while (!(*job)->Done()) {
    seen.insert(CountOf("m"));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  auto sum = (*job)->Wait();
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  EXPECT_EQ(error, "");
  EXPECT_GT(searches.load(), 0);
  EXPECT_EQ(sum->counts.failed, 0);
  const int64_t final_count = c0 + int64_t(more.size());
  EXPECT_EQ(CountOf("m"), final_count);
  for (int64_t c : seen) {
    EXPECT_GE(c, c0);
    EXPECT_TRUE((c - c0) % io.commit_every == 0 || c == final_count) << "a count of " << c << " is half a batch";
  }
  EXPECT_GT(seen.size(), 2u) << "the sampler saw the index grow";
}

TEST_F(EngineConcurrency, IndexerRemoverModelChangesAndSearchersTogether) {
  // Pictures that stay (queries), pictures the remover takes away, and a folder the job indexes meanwhile.
  auto keep = testing::WriteCopies({photos_.begin(), photos_.begin() + 8}, dir_.file("keep"), "k", 1);
  auto victims = testing::WriteCopies({photos_.begin() + 8, photos_.begin() + 16}, dir_.file("victims"), "v", 1);
  ASSERT_TRUE(engine_->Index({dir_.file("keep"), dir_.file("victims")}, IndexOptions()).ok());
  ASSERT_EQ(CountOf("m"), 16);
  auto fresh = testing::WriteCopies({photos_.begin() + 16, photos_.end()}, dir_.file("fresh"), "f", 2);

  std::atomic<bool> stop{false};
  std::atomic<int> searches{0};
  std::string error;
  std::mutex error_mu;
  auto fail = [&](const std::string& what) {
    std::lock_guard<std::mutex> l(error_mu);
    if (error.empty()) error = what;
  };
  // The job starts with two models; the second is removed (and added back and removed again) while it runs.
  ASSERT_TRUE(engine_->AddModel("other", dir_.file("other.onnx"), testing::RandomModelSpec()).ok());
  IndexOptions io;
  io.commit_every = 3;
  auto job = engine_->StartIndex({dir_.file("fresh")}, io);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i] { Searcher(10 + i, keep, &stop, &error, &error_mu, &searches); });
  std::atomic<int> removed{0};
  threads.emplace_back([&] {
    for (const auto& v : victims) {
      auto r = engine_->RemovePaths({v});
      if (!r.ok()) return fail("remove failed: " + r.status().ToString());
      removed += int(*r);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::atomic<int> model_rounds{0};
  threads.emplace_back([&] {
    for (int round = 0; round < 3 && !stop; ++round) {
      if (round > 0) {
        auto a = engine_->AddModel("other", dir_.file("other.onnx"), testing::RandomModelSpec());
        if (!a.ok()) return fail("add model failed: " + a.status().ToString());
      }
      Status r = engine_->RemoveModel("other");
      if (!r.ok()) return fail("remove model failed: " + r.ToString());
      ++model_rounds;
    }
  });
  auto sum = (*job)->Wait();
  threads[2].join();  // the remover
  threads[3].join();  // the model changer
  stop = true;
  threads[0].join();
  threads[1].join();
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  EXPECT_EQ(error, "");
  EXPECT_EQ(removed.load(), int(victims.size()));
  EXPECT_EQ(model_rounds.load(), 3);
  EXPECT_GT(searches.load(), 0);
  EXPECT_EQ(sum->counts.failed, 0);
  EXPECT_EQ(sum->counts.indexed, int64_t(fresh.size()));
  EXPECT_EQ(CountOf("m"), int64_t(keep.size() + fresh.size()));
  EXPECT_EQ(CountOf("other"), -1);
  auto st = engine_->GetStatus();
  EXPECT_EQ(st->files, int64_t(keep.size() + fresh.size()));
  // Nothing of a victim is left, everything fresh finds itself.
  for (const auto& v : victims) {
    SearchQuery q;
    q.indexed_path = v;
    EXPECT_EQ(engine_->Search(q, "m", SearchOptions()).status().code(), Status::Code::kNotFound);
  }
  for (const auto& f : fresh) {
    SearchQuery q;
    q.indexed_path = f;
    SearchOptions o;
    o.k = 1;
    auto h = engine_->Search(q, "m", o);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_EQ((*h)[0].path, f);
  }
}

}  // namespace
}  // namespace doppel
