// Crash test: a child process inserts, upserts and deletes in a loop and is SIGKILLed at random moments, many times.
// After each kill the parent reopens the store and checks that every acknowledged write is there, that the batch
// in flight at the kill is entirely there or entirely absent, that stored vectors are the ones written, and that
// every stored vector finds itself by search (the index was recovered from its snapshot + replay, or rebuilt).
//
// The child is this same executable, re-executed with DOPPEL_STORE_CRASH_CHILD set: a static initialiser runs the
// child loop before gtest's main. It reports each operation to the parent through a pipe: "i <first> <n>" before an
// insert and "I" after it returned OK; "d <id>..." / "D" for deletes. A write acknowledged to the parent returned
// OK before the kill, so it must have survived.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "doppel/store/store.h"
#include "support/test_util.h"

namespace doppel {
namespace {

constexpr int kDim = 8;

std::vector<float> VectorOf(int64_t id) {
  std::mt19937 rng(static_cast<uint32_t>(id * 2654435761u));
  std::normal_distribution<float> g;
  std::vector<float> v(kDim);
  for (auto& x : v) x = g(rng);
  return v;
}

LocalStoreOptions Options() {
  LocalStoreOptions o;
  o.snapshot_every = 37;  // snapshots are taken all the time, so kills land inside them too
  o.warn = [](const std::string&) {};
  return o;
}

void WriteLine(int fd, const std::string& s) {
  std::string line = s + "\n";
  (void)!::write(fd, line.data(), line.size());
}

// The child: runs until killed.
[[noreturn]] void ChildMain(const char* dir, int fd, int64_t next_id, uint32_t seed) {
  auto store = OpenLocalStore(dir, Options());
  if (!store.ok()) {
    WriteLine(fd, "E " + store.status().ToString());
    _exit(2);
  }
  auto coll = (*store)->GetCollection("crash");
  if (!coll.ok()) {
    WriteLine(fd, "E " + coll.status().ToString());
    _exit(2);
  }
  std::mt19937 rng(seed);
  std::vector<int64_t> mine;
  while (true) {
    int op = rng() % 10;
    if (op < 7 || mine.size() < 10) {
      int n = 1 + rng() % 40;
      std::vector<Entity> batch;
      for (int i = 0; i < n; ++i) {
        Entity e;
        e.id = next_id + i;
        e.vector = VectorOf(e.id);
        e.fields["n"] = e.id;
        batch.push_back(std::move(e));
      }
      WriteLine(fd, "i " + std::to_string(next_id) + " " + std::to_string(n));
      auto r = (*coll)->Insert(batch);
      if (!r.ok()) {
        WriteLine(fd, "E " + r.status().ToString());
        _exit(3);
      }
      WriteLine(fd, "I");
      for (int i = 0; i < n; ++i) mine.push_back(next_id + i);
      next_id += n;
    } else {
      std::vector<int64_t> ids;
      int n = 1 + rng() % 5;
      for (int i = 0; i < n && !mine.empty(); ++i) {
        size_t j = rng() % mine.size();
        ids.push_back(mine[j]);
        mine.erase(mine.begin() + j);
      }
      std::string line = "d";
      for (int64_t id : ids) line += " " + std::to_string(id);
      WriteLine(fd, line);
      auto r = (*coll)->Delete(ids);
      if (!r.ok()) {
        WriteLine(fd, "E " + r.status().ToString());
        _exit(3);
      }
      WriteLine(fd, "D");
    }
  }
}

const bool kChild = [] {
  const char* dir = std::getenv("DOPPEL_STORE_CRASH_CHILD");
  if (!dir) return false;
  ChildMain(dir, std::atoi(std::getenv("DOPPEL_STORE_CRASH_FD")), std::atoll(std::getenv("DOPPEL_STORE_CRASH_NEXT")),
            static_cast<uint32_t>(std::atoll(std::getenv("DOPPEL_STORE_CRASH_SEED"))));
}();

TEST(store_crash, SigkillAtRandomMomentsLosesNothingAcknowledged) {
  testing::TempDir dir;
  {
    auto store = std::move(OpenLocalStore(dir.path().string(), Options()).value());
    CollectionSchema s;
    s.name = "crash";
    s.dim = kDim;
    s.index = IndexSpec::Parse("HNSW").value();
    s.fields = {{"n", FieldType::kInt64}};
    ASSERT_TRUE(store->CreateCollection(s).ok());
  }
  std::set<int64_t> present;  // what must be there
  int64_t next_id = 1;
  std::mt19937 rng(42);
  const int kKills = 25;
  int pending_seen = 0;
  for (int round = 0; round < kKills; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      setenv("DOPPEL_STORE_CRASH_CHILD", dir.path().c_str(), 1);
      setenv("DOPPEL_STORE_CRASH_FD", std::to_string(fds[1]).c_str(), 1);
      setenv("DOPPEL_STORE_CRASH_NEXT", std::to_string(next_id).c_str(), 1);
      setenv("DOPPEL_STORE_CRASH_SEED", std::to_string(round + 1).c_str(), 1);
      execl("/proc/self/exe", "store_crash_child", static_cast<char*>(nullptr));
      _exit(127);
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 600));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::string log;
    char buf[65536];
    for (ssize_t got; (got = ::read(fds[0], buf, sizeof buf)) > 0;) log.append(buf, static_cast<size_t>(got));
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited by itself: " << log;

    // Replay the child's log: acknowledged operations are certain, the last unacknowledged one is either way.
    std::istringstream in(log);
    std::string line;
    std::vector<int64_t> pending_insert, pending_delete;
    while (std::getline(in, line)) {
      ASSERT_NE(line[0], 'E') << line;
      std::istringstream ls(line.substr(1));
      if (line[0] == 'i') {
        int64_t first, n;
        ls >> first >> n;
        pending_insert.clear();
        for (int64_t i = 0; i < n; ++i) pending_insert.push_back(first + i);
        next_id = std::max(next_id, first + n);  // never reuse ids of a possibly-written batch
      } else if (line[0] == 'I') {
        present.insert(pending_insert.begin(), pending_insert.end());
        pending_insert.clear();
      } else if (line[0] == 'd') {
        pending_delete.clear();
        for (int64_t id; ls >> id;) pending_delete.push_back(id);
      } else if (line[0] == 'D') {
        for (int64_t id : pending_delete) present.erase(id);
        pending_delete.clear();
      }
    }

    // Reopen (recovery) and check.
    auto store = std::move(OpenLocalStore(dir.path().string(), Options()).value());
    auto c = store->GetCollection("crash");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto coll = *c;
    if (!pending_insert.empty()) {
      auto got = coll->Get(pending_insert);
      ASSERT_TRUE(got->empty() || got->size() == pending_insert.size())
          << "half a batch: " << got->size() << " of " << pending_insert.size();
      if (!got->empty()) present.insert(pending_insert.begin(), pending_insert.end());
      ++pending_seen;
    }
    if (!pending_delete.empty()) {
      auto got = coll->Get(pending_delete);
      ASSERT_TRUE(got->empty() || got->size() == pending_delete.size()) << "half a delete batch";
      if (got->empty())
        for (int64_t id : pending_delete) present.erase(id);
      ++pending_seen;
    }
    ASSERT_EQ(*coll->Count(), static_cast<int64_t>(present.size())) << "round " << round;
    std::vector<int64_t> ids(present.begin(), present.end());
    auto got = coll->Get(ids, {"n", "vector"});
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), ids.size());
    SearchRequest r;
    for (size_t i = 0; i < ids.size(); ++i) {
      const Entity& e = (*got)[i];
      ASSERT_EQ(e.id, ids[i]);
      ASSERT_EQ(std::get<int64_t>(e.fields.at("n")), e.id);
      ASSERT_EQ(e.vector, VectorOf(e.id)) << "id " << e.id;
      r.queries.insert(r.queries.end(), e.vector.begin(), e.vector.end());
    }
    if (ids.empty()) continue;
    r.k = 1;
    r.ef = 128;
    auto res = coll->Search(r);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    size_t self = 0;
    for (size_t i = 0; i < ids.size(); ++i) self += !(*res)[i].empty() && (*res)[i][0].id == ids[i];
    EXPECT_EQ(self, ids.size()) << "round " << round << ": not every stored vector finds itself";
    std::printf("round %2d: %zu entities, %zu find themselves\n", round, ids.size(), self);
  }
  std::printf("%d kills, %d operations were in flight at a kill\n", kKills, pending_seen);
  EXPECT_GT(present.size(), 100u);
}

}  // namespace
}  // namespace doppel
