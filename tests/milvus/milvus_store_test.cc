// The Milvus backend's own behaviour, against FakeMilvus (the in-process stand-in for Milvus's REST API v2; see
// fake_milvus.h): store URIs, failures (server down, timeouts, 5xx, malformed answers, refused credentials, a batch
// half accepted, Milvus error codes) with clear errors and nothing acknowledged that was not stored, retries of
// idempotent calls only, the protocol quirks (success code 200, eventual consistency, collections released behind
// the client's back), and writes split by request size. The semantics shared with the embedded store are the
// contract suite's (tests/store/contract_test.cc).
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "doppel/milvus/milvus_store.h"
#include "milvus/fake_milvus.h"
#include "store/store_test_util.h"

namespace doppel {
namespace {

using testing::FakeMilvus;
using testing::FakeMilvusOptions;
using Clock = std::chrono::steady_clock;

constexpr int kDim = 8;

MilvusOptions OptionsFor(const FakeMilvus& f) {
  MilvusOptions o;
  o.endpoint = f.uri();
  o.timeout_ms = 2000;
  o.connect_timeout_ms = 1000;
  o.retries = 2;
  o.backoff_ms = 10;
  return o;
}

std::vector<Entity> Entities(int64_t first, int64_t n) {
  static const std::vector<float> vecs = testing::RandomVectors(500, kDim, 3);
  std::vector<Entity> out;
  for (int64_t i = first; i < first + n; ++i) out.push_back(testing::MakeEntity(i, &vecs[(i % 500) * kDim], kDim, i));
  return out;
}

double Seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Opened {
  std::unique_ptr<VectorStore> store;
  std::shared_ptr<Collection> coll;
};

Opened OpenWithCollection(const MilvusOptions& o) {
  Opened r;
  auto s = OpenMilvusStore(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return r;
  r.store = std::move(*s);
  if (!*r.store->HasCollection("images")) {
    Status st = r.store->CreateCollection(testing::ImageSchema("images", kDim));
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  auto c = r.store->GetCollection("images");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  if (c.ok()) r.coll = *c;
  return r;
}

TEST(milvus_uri, ParsesSchemesHostsPortsDatabasesAndTokens) {
  auto a = ParseMilvusUri("milvus://db.example:19531/photos");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->endpoint, "http://db.example:19531");
  EXPECT_EQ(a->database, "photos");
  auto b = ParseMilvusUri("milvuss://root:Milvus@10.0.0.5");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->endpoint, "https://10.0.0.5:19530");
  EXPECT_EQ(b->token, "root:Milvus");
  EXPECT_EQ(b->database, "");
  auto c = ParseMilvusUri("https://[::1]:443");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->endpoint, "https://[::1]:443");
  for (const char* bad : {"mysql://x", "milvus://", "milvus://host:port", "milvus://host:99999", "host:19530"}) {
    auto r = ParseMilvusUri(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
  }
  auto secret = ParseMilvusUri("milvus://user:s3cret@host:port");
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().message().find("s3cret"), std::string::npos) << "never the password in a message";
}

TEST(milvus_failures, AServerThatIsDownIsReportedWithinSecondsNamingIt) {
  FakeMilvus f;
  MilvusOptions o = OptionsFor(f);
  f.Stop();
  auto t0 = Clock::now();
  auto s = OpenMilvusStore(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kUnavailable) << s.status().ToString();
  EXPECT_NE(s.status().message().find(o.endpoint), std::string::npos) << s.status().ToString();
  EXPECT_LT(Seconds(t0), 5.0);
  // A server that goes away after the store opened: every call says so, none hangs.
  FakeMilvus g;
  Opened r = OpenWithCollection(OptionsFor(g));
  ASSERT_TRUE(r.coll);
  ASSERT_TRUE(r.coll->Upsert(Entities(1, 5)).ok());
  g.Stop();
  t0 = Clock::now();
  auto n = r.coll->Count();
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(n.status().message().find("entities/query"), std::string::npos) << n.status().ToString();
  auto up = r.coll->Upsert(Entities(6, 2));
  EXPECT_EQ(up.status().code(), Status::Code::kUnavailable);
  EXPECT_LT(Seconds(t0), 5.0);
}

TEST(milvus_failures, ACallThatOutlivesItsTimeoutIsDeadlineExceeded) {
  FakeMilvus f;
  MilvusOptions o = OptionsFor(f);
  o.timeout_ms = 300;
  o.retries = 1;
  Opened r = OpenWithCollection(o);
  ASSERT_TRUE(r.coll);
  ASSERT_TRUE(r.coll->Upsert(Entities(1, 5)).ok());
  f.DelayNext("entities/search", 5, 1500);
  SearchRequest q;
  q.queries = Entities(1, 1)[0].vector;
  auto t0 = Clock::now();
  auto res = r.coll->Search(q);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Status::Code::kDeadlineExceeded) << res.status().ToString();
  EXPECT_LT(Seconds(t0), 2.0) << "two attempts of 0.3 s, not the server's 1.5 s";
}

TEST(milvus_failures, FiveHundredsAreRetriedForReadsAndUpsertsButNotForInserts) {
  FakeMilvus f;
  Opened r = OpenWithCollection(OptionsFor(f));
  ASSERT_TRUE(r.coll);
  ASSERT_TRUE(r.coll->Upsert(Entities(1, 10)).ok());
  // Two 503s then success: an idempotent read retries through them.
  f.FailNext("entities/query", 2, 503, "<html>Service Unavailable</html>");
  auto n = r.coll->Count();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 10);
  // More failures than retries: Unavailable, with the HTTP status.
  f.FailNext("entities/query", 3, 502, "<html>Bad Gateway</html>");  // one more than the retries
  n = r.coll->Count();
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(n.status().message().find("HTTP 502"), std::string::npos) << n.status().ToString();
  // An insert is never retried: the first failure is returned and says the outcome is unknown.
  const int64_t before = f.Requests("entities/insert");
  f.FailNext("entities/insert", 1, 503, "<html>busy</html>");
  auto ins = r.coll->Insert(Entities(20, 3));
  ASSERT_FALSE(ins.ok());
  EXPECT_EQ(f.Requests("entities/insert") - before, 1);
  EXPECT_NE(ins.status().message().find("may or may not"), std::string::npos) << ins.status().ToString();
}

TEST(milvus_failures, MalformedAnswersAndMilvusErrorCodes) {
  FakeMilvus f;
  Opened r = OpenWithCollection(OptionsFor(f));
  ASSERT_TRUE(r.coll);
  // A cut answer to an upsert: retried (an upsert is idempotent), acknowledged only once a whole answer came.
  f.MalformedNext("entities/upsert", 1);
  auto up = r.coll->Upsert(Entities(1, 4));
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(*r.coll->Count(), 4);
  // Milvus's own error: its code and message, not retried.
  const int64_t before = f.Requests("entities/search");
  f.FailNext("entities/search", 1, 200, R"({"code": 65535, "message": "segment lost"})");
  SearchRequest q;
  q.queries = Entities(1, 1)[0].vector;
  auto res = r.coll->Search(q);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.status().message().find("65535"), std::string::npos);
  EXPECT_NE(res.status().message().find("segment lost"), std::string::npos);
  EXPECT_EQ(f.Requests("entities/search") - before, 1);
  // A collection that vanished (code 100) is NotFound.
  f.FailNext("entities/query", 1, 200, R"({"code": 100, "message": "collection not found[collection=images]"})");
  auto n = r.coll->Count();
  EXPECT_EQ(n.status().code(), Status::Code::kNotFound) << n.status().ToString();
}

TEST(milvus_failures, RefusedCredentialsAreNamed) {
  FakeMilvusOptions fo;
  fo.token = "root:Milvus";
  FakeMilvus f(fo);
  MilvusOptions o = OptionsFor(f);
  auto none = OpenMilvusStore(o);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Status::Code::kFailedPrecondition) << none.status().ToString();
  EXPECT_NE(none.status().message().find("token"), std::string::npos);
  o.token = "root:wrong";
  EXPECT_EQ(OpenMilvusStore(o).status().code(), Status::Code::kFailedPrecondition);
  o.token = "root:Milvus";
  Opened r = OpenWithCollection(o);
  ASSERT_TRUE(r.coll);
  EXPECT_TRUE(r.coll->Upsert(Entities(1, 2)).ok());
}

TEST(milvus_failures, AHalfAcceptedBatchIsNotAcknowledgedAndARetryCompletesIt) {
  FakeMilvus f;
  Opened r = OpenWithCollection(OptionsFor(f));
  ASSERT_TRUE(r.coll);
  f.HalfAcceptNext("entities/upsert");
  auto up = r.coll->Upsert(Entities(1, 10));
  ASSERT_FALSE(up.ok()) << "half a batch is not an acknowledged batch";
  // Retrying the upsert (what the engine does on its next run) completes it without duplicates.
  ASSERT_TRUE(r.coll->Upsert(Entities(1, 10)).ok());
  EXPECT_EQ(*r.coll->Count(), 10);
  EXPECT_EQ(f.Rows("images"), 10);
  // An insert half accepted: not acknowledged; the ids that made it are then known to exist.
  f.HalfAcceptNext("entities/insert");
  EXPECT_FALSE(r.coll->Insert(Entities(100, 6)).ok());
  EXPECT_EQ(*r.coll->Count(), 13);
  auto again = r.coll->Insert(Entities(100, 6));
  EXPECT_EQ(again.status().code(), Status::Code::kAlreadyExists) << again.status().ToString();
}

TEST(milvus_protocol, OlderServersSuccessCodeAndEventualConsistency) {
  FakeMilvusOptions fo;
  fo.success_code = 200;
  fo.eventual_lag = 50;  // a non-Strong read would not see the writes for 50 requests
  FakeMilvus f(fo);
  Opened r = OpenWithCollection(OptionsFor(f));
  ASSERT_TRUE(r.coll);
  ASSERT_TRUE(r.coll->Upsert(Entities(1, 20)).ok());
  EXPECT_EQ(*r.coll->Count(), 20) << "reads that follow writes ask for Strong consistency";
  auto got = r.coll->Get({5, 6}, {"path"});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 2u);
  SearchRequest q;
  q.queries = Entities(7, 1)[0].vector;
  q.k = 1;
  auto res = r.coll->Search(q);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ((*res)[0][0].id, 7);
  EXPECT_NE(f.LastBody("entities/search").find("\"Strong\""), std::string::npos);
}

TEST(milvus_protocol, AReleasedCollectionIsLoadedAgain) {
  FakeMilvus f;
  Opened r = OpenWithCollection(OptionsFor(f));
  ASSERT_TRUE(r.coll);
  ASSERT_TRUE(r.coll->Upsert(Entities(1, 5)).ok());
  // Someone releases it behind the client's back.
  httplib::Client c("127.0.0.1", f.port());
  auto rel = c.Post("/v2/vectordb/collections/release", R"({"collectionName": "images"})", "application/json");
  ASSERT_TRUE(rel);
  SearchRequest q;
  q.queries = Entities(3, 1)[0].vector;
  q.k = 1;
  auto res = r.coll->Search(q);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ((*res)[0][0].id, 3);
}

TEST(milvus_protocol, WritesAreSplitByRequestSizeAndTwoClientsShareACollection) {
  FakeMilvus f;
  MilvusOptions o = OptionsFor(f);
  o.max_request_bytes = 4096;
  Opened a = OpenWithCollection(o);
  Opened b = OpenWithCollection(o);  // another host
  ASSERT_TRUE(a.coll && b.coll);
  const int64_t before = f.Requests("entities/upsert");
  ASSERT_TRUE(a.coll->Upsert(Entities(1, 100)).ok());
  EXPECT_GT(f.Requests("entities/upsert") - before, 5) << "100 rows of ~300 bytes in 4 KiB requests";
  ASSERT_TRUE(b.coll->Upsert(Entities(101, 50)).ok());
  ASSERT_TRUE(b.coll->Upsert(Entities(1, 10)).ok());  // the same content ids from both: no duplicates
  EXPECT_EQ(*a.coll->Count(), 150);
  EXPECT_EQ(*b.coll->Count(), 150);
  EXPECT_EQ(f.Rows("images"), 150);
  ASSERT_TRUE(a.coll->SetMetadata("fingerprint", "abc").ok());
  EXPECT_EQ(*b.coll->GetMetadata("fingerprint"), "abc");
}

}  // namespace
}  // namespace doppel
