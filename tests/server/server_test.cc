// doppel serve, the real process over loopback: every route, every error class (JSON errors with stable codes and
// the right statuses), hostile requests (each answered 4xx while the server keeps serving), concurrent searches,
// and a CLI writer told that the server holds the data directory.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "doppel/image/decode.h"
#include "engine/engine_fixture.h"

namespace doppel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A `doppel serve` child process on a free loopback port.
class ServerProcess {
 public:
  // `extra`: more flags; `token`: DOPPEL_TOKEN for the child ("" = unset).
  explicit ServerProcess(const std::string& data, const std::vector<std::string>& extra = {},
                         const std::string& token = "") {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive a crashed test
      dup2(out[1], 1);
      close(out[0]);
      if (token.empty()) unsetenv("DOPPEL_TOKEN");
      else setenv("DOPPEL_TOKEN", token.c_str(), 1);
      std::string bin = testing::BinPath("doppel");
      std::vector<std::string> args = {"doppel", "serve", "--data", data, "--listen", "127.0.0.1:0", "--max-embeds", "2"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    // The first line says where it listens.
    FILE* f = fdopen(out[0], "r");
    char line[512] = {0};
    if (f && fgets(line, sizeof line, f)) {
      std::string s(line);
      size_t at = s.find("127.0.0.1:");
      if (at != std::string::npos) port_ = std::atoi(s.c_str() + at + 10);
    }
    stdout_ = f;
  }
  ~ServerProcess() {
    Stop();
    if (stdout_) fclose(stdout_);
  }
  // kill -9, as a crash or power cut would.
  void Crash() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  int Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  bool Alive() const { return pid_ > 0 && kill(pid_, 0) == 0; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  FILE* stdout_ = nullptr;
};

// Sends raw bytes on a new connection and returns what comes back until the server closes or `wait_ms` passes.
std::string Raw(int port, const std::string& bytes, int wait_ms = 3000) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  timeval tv{wait_ms / 1000, (wait_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer and close before taking it all
    off += size_t(n);
  }
  // No half-close: cpp-httplib drops the answer to a peer that has shut its side down.
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, size_t(n));
  close(fd);
  return out;
}

// A few hundred bytes of PNG whose header claims w x h RGB pixels (the data is a sliver).
std::string PngBomb(uint32_t w, uint32_t h) {
  std::string ihdr = testing::Be32(w) + testing::Be32(h) + std::string("\x08\x02\x00\x00\x00", 5);
  std::string idat("\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01", 10);  // zlib of one zero byte
  return std::string("\x89PNG\r\n\x1a\n", 8) + testing::PngChunk("IHDR", ihdr) + testing::PngChunk("IDAT", idat) +
         testing::PngChunk("IEND", "");
}

int StatusOf(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0) return -1;
  return std::atoi(response.c_str() + 9);
}

std::string ErrorCodeOf(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return "(not a JSON error: " + body.substr(0, 80) + ")";
  return j["error"]["code"].get<std::string>();
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    data_ = dir_->file("data");
    testing::WriteRandomModel(dir_->file("m.onnx"), 1);
    testing::WriteRandomModel(dir_->file("n.onnx"), 2);
    photos_ = testing::WriteCopies(testing::SamplePhotos(8), dir_->file("imgs"), "p", 1);
    EngineOptions o;
    o.data_dir = data_;
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE((*e)->AddModel("m", dir_->file("m.onnx"), testing::RandomModelSpec()).ok());
    ASSERT_TRUE((*e)->AddModel("n", dir_->file("n.onnx"), testing::RandomModelSpec()).ok());
    ASSERT_TRUE((*e)->Index({dir_->file("imgs")}, IndexOptions()).ok());
    for (const auto& p : photos_) ids_.push_back(testing::FileContentId(p));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(data_);
    ASSERT_GT(server_->port(), 0) << "the server did not say where it listens";
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(30, 0);
  }
  void TearDown() override {
    client_.reset();
    EXPECT_TRUE(server_->Alive()) << "the server died during the test";
    EXPECT_EQ(server_->Stop(), 0) << "a clean stop on SIGTERM";
  }
  // The server still answers.
  void ExpectHealthy() {
    auto r = client_->Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  httplib::Result Upload(const std::string& bytes, const std::string& filename, const std::string& extra_query = "") {
    httplib::MultipartFormDataItems items = {{"image", bytes, filename, "image/jpeg"}};
    return client_->Post(("/api/v1/search" + extra_query).c_str(), items);
  }

  static testing::TempDir* dir_;
  static std::string data_;
  static std::vector<std::string> photos_;
  static std::vector<int64_t> ids_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
};

testing::TempDir* ServerTest::dir_ = nullptr;
std::string ServerTest::data_;
std::vector<std::string> ServerTest::photos_;
std::vector<int64_t> ServerTest::ids_;

TEST_F(ServerTest, ReadRoutes) {
  auto h = client_->Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["status"], "ok");

  auto st = client_->Get("/api/v1/status");
  ASSERT_TRUE(st);
  ASSERT_EQ(st->status, 200);
  json s = json::parse(st->body);
  EXPECT_EQ(s["default_model"], "m");
  EXPECT_EQ(s["files"], int(photos_.size()));
  EXPECT_FALSE(s.contains("data_dir")) << "no server paths beyond indexed pictures";

  auto ms = client_->Get("/api/v1/models");
  ASSERT_TRUE(ms);
  json m = json::parse(ms->body);
  ASSERT_EQ(m["models"].size(), 2u);
  EXPECT_EQ(m["default_model"], "m");
  EXPECT_FALSE(m["models"][0].contains("file"));
  EXPECT_FALSE(m["models"][0].contains("source"));

  auto api = client_->Get("/api/v1/openapi.json");
  ASSERT_TRUE(api);
  json doc = json::parse(api->body);
  EXPECT_EQ(doc["openapi"], "3.0.3");
  for (const char* route : {"/api/v1/search", "/api/v1/compare", "/api/v1/images/{id}", "/api/v1/thumbnails/{id}",
                            "/api/v1/duplicates", "/api/v1/jobs", "/api/v1/pictures"})
    EXPECT_TRUE(doc["paths"].contains(route)) << route;

  auto pic = client_->Get(("/api/v1/pictures/" + std::to_string(ids_[2])).c_str());
  ASSERT_TRUE(pic);
  ASSERT_EQ(pic->status, 200);
  EXPECT_EQ(json::parse(pic->body)["paths"][0], photos_[2]);

  auto img = client_->Get(("/api/v1/images/" + std::to_string(ids_[2])).c_str());
  ASSERT_TRUE(img);
  ASSERT_EQ(img->status, 200);
  EXPECT_EQ(img->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_EQ(img->body, testing::ReadFile(photos_[2])) << "the picture's own bytes";

  for (int round = 0; round < 2; ++round) {  // made, then from the cache
    auto th = client_->Get(("/api/v1/thumbnails/" + std::to_string(ids_[3])).c_str());
    ASSERT_TRUE(th);
    ASSERT_EQ(th->status, 200);
    EXPECT_EQ(th->get_header_value("Content-Type"), "image/jpeg");
    auto d = DecodeImageBuffer(th->body, "thumbnail");
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_LE(std::max(d->rgb.width, d->rgb.height), 256);
  }

  auto dups = client_->Get("/api/v1/duplicates?threshold=0.5");
  ASSERT_TRUE(dups);
  ASSERT_EQ(dups->status, 200) << dups->body;
  json dj = json::parse(dups->body);
  EXPECT_EQ(dj["model"], "m");
  EXPECT_TRUE(dj["groups"].is_array());
  if (dj["total"].get<int>() > 1) {  // paging: one group a page
    auto one = client_->Get("/api/v1/duplicates?threshold=0.5&limit=1&offset=1");
    ASSERT_TRUE(one);
    json oj = json::parse(one->body);
    ASSERT_EQ(oj["groups"].size(), 1u);
    EXPECT_EQ(oj["groups"][0], dj["groups"][1]);
    EXPECT_EQ(oj["more"], dj["total"].get<int>() > 2);
  }
  auto baddup = client_->Get("/api/v1/duplicates?threshold=lots");
  ASSERT_TRUE(baddup);
  EXPECT_EQ(baddup->status, 400);
  EXPECT_NE(baddup->body.find("field 'threshold' must be a number in 0..4"), std::string::npos) << baddup->body;
  auto halfbit = client_->Get("/api/v1/duplicates?radius=3.5");
  ASSERT_TRUE(halfbit);
  EXPECT_EQ(halfbit->status, 400);
  EXPECT_NE(halfbit->body.find("field 'radius' must be an integer in 0..256"), std::string::npos) << halfbit->body;

  auto missing = client_->Get("/api/v1/images/12345");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(ErrorCodeOf(missing->body), "not_found");

  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("doppel_http_requests_total{route=\"/api/v1/status\",status=\"200\"} 1"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("doppel_collection_pictures{model=\"m\"} " + std::to_string(photos_.size())),
            std::string::npos);
  EXPECT_NE(metrics->body.find("doppel_index_jobs_running 0"), std::string::npos);
}

TEST_F(ServerTest, TheWebPageComesFromTheBinary) {
  auto page = client_->Get("/");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<script src=\"/app.js\""), std::string::npos);
  const std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  for (const auto& [path, type] : std::vector<std::pair<std::string, std::string>>{
           {"/app.js", "text/javascript; charset=utf-8"}, {"/app.css", "text/css; charset=utf-8"},
           {"/favicon.svg", "image/svg+xml"}}) {
    auto a = client_->Get(path.c_str());
    ASSERT_TRUE(a);
    ASSERT_EQ(a->status, 200) << path;
    EXPECT_EQ(a->get_header_value("Content-Type"), type);
    EXPECT_EQ(a->body, testing::ReadFile(std::string(DOPPEL_SOURCE_DIR) + "/web" + path)) << "the file as in web/";
    // Revalidation: the same ETag gets 304 without a body.
    const std::string etag = a->get_header_value("ETag");
    ASSERT_FALSE(etag.empty());
    auto again = client_->Get(path.c_str(), httplib::Headers{{"If-None-Match", etag}});
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 304);
    EXPECT_TRUE(again->body.empty());
  }
  // Only the compiled-in files: no other name, no path into the tree or the machine.
  for (const char* path : {"/index.html.bak", "/web/app.js", "/../web/app.js", "/%2e%2e/etc/passwd", "/app.js/x",
                           "/CMakeLists.txt"}) {
    auto r = client_->Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(ErrorCodeOf(r->body), "not_found") << path;
  }
  ExpectHealthy();
}

TEST_F(ServerTest, PagingAndWhatThePageNeedsToKnow) {
  auto hits = [&](int k, int offset) {
    auto r = client_->Post("/api/v1/search", json{{"id", ids_[1]}, {"k", k}, {"offset", offset}}.dump(),
                           "application/json");
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body);
  };
  json all = hits(6, 0), first = hits(3, 0), second = hits(3, 3), last = hits(3, 6);
  ASSERT_EQ(all["hits"].size(), 6u);
  ASSERT_EQ(first["hits"].size(), 3u);
  ASSERT_EQ(second["hits"].size(), 3u);
  for (int i = 0; i < 6; ++i) {
    const json& h = i < 3 ? first["hits"][i] : second["hits"][i - 3];
    EXPECT_EQ(h["id"], all["hits"][i]["id"]) << "page 2 continues page 1 at " << i;
    EXPECT_EQ(h["rank"], i + 1);
  }
  EXPECT_EQ(second["offset"], 3);
  EXPECT_TRUE(first["more"]);
  EXPECT_EQ(last["hits"].size(), photos_.size() - 6) << "the last page holds what is left";
  EXPECT_FALSE(last["more"]);
  auto deep = client_->Post("/api/v1/search", json{{"id", ids_[1]}, {"offset", 10001}}.dump(), "application/json");
  ASSERT_TRUE(deep);
  EXPECT_EQ(deep->status, 400);
  EXPECT_NE(json::parse(deep->body)["error"]["message"].get<std::string>().find("offset"), std::string::npos);

  auto st = client_->Get("/api/v1/status");
  ASSERT_TRUE(st);
  json server = json::parse(st->body)["server"];
  EXPECT_EQ(server["writes"], false);
  EXPECT_EQ(server["roots"], json::array());
  EXPECT_EQ(server["max_body_bytes"], 32 << 20);
  EXPECT_EQ(server["max_k"], 1000);
}

TEST_F(ServerTest, SearchByUploadRawBodyAndIdAndCompare) {
  auto r = Upload(testing::ReadFile(photos_[4]), "holiday.jpg", "?k=3");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["fingerprint"].get<std::string>().size(), 32u);
  EXPECT_GE(j["took_ms"].get<double>(), 0.0);
  ASSERT_EQ(j["hits"].size(), 3u);
  EXPECT_EQ(j["hits"][0]["path"], photos_[4]);
  EXPECT_EQ(j["hits"][0]["id"], ids_[4]);
  EXPECT_NEAR(j["hits"][0]["score"].get<double>(), 1.0, 1e-5);
  EXPECT_EQ(j["hits"][0]["thumbnail"], "/api/v1/thumbnails/" + std::to_string(ids_[4]));
  EXPECT_GT(j["hits"][0]["width"].get<int>(), 0);

  auto raw = client_->Post("/api/v1/search?k=2&model=n", testing::ReadFile(photos_[1]), "image/jpeg");
  ASSERT_TRUE(raw);
  ASSERT_EQ(raw->status, 200) << raw->body;
  json rj = json::parse(raw->body);
  EXPECT_EQ(rj["model"], "n");
  EXPECT_EQ(rj["hits"][0]["path"], photos_[1]);

  auto byid = client_->Post("/api/v1/search", json{{"id", ids_[6]}, {"k", 4}}.dump(), "application/json");
  ASSERT_TRUE(byid);
  ASSERT_EQ(byid->status, 200) << byid->body;
  EXPECT_EQ(json::parse(byid->body)["hits"][0]["id"], ids_[6]);

  // Whitened re-ranking: the picture itself stays first (its whitened vector is the query's); a bad value is a 400.
  auto white =
      client_->Post("/api/v1/search", json{{"id", ids_[6]}, {"k", 4}, {"whiten", true}}.dump(), "application/json");
  ASSERT_TRUE(white);
  ASSERT_EQ(white->status, 200) << white->body;
  json wj = json::parse(white->body);
  EXPECT_EQ(wj["whiten"], true) << "the answer says how it was ordered";
  EXPECT_EQ(json::parse(byid->body)["whiten"], false);
  ASSERT_EQ(wj["hits"].size(), 4u);
  EXPECT_EQ(wj["hits"][0]["id"], ids_[6]);
  auto bad_white =
      client_->Post("/api/v1/search", json{{"id", ids_[6]}, {"whiten", "maybe"}}.dump(), "application/json");
  ASSERT_TRUE(bad_white);
  EXPECT_EQ(bad_white->status, 400);
  EXPECT_NE(bad_white->body.find("whiten"), std::string::npos) << bad_white->body;
  // Database-side augmentation: the same shape; with whiten it is refused (two re-rankings), as is a bad value.
  auto dba = client_->Post("/api/v1/search", json{{"id", ids_[6]}, {"k", 4}, {"dba", true}}.dump(), "application/json");
  ASSERT_TRUE(dba);
  ASSERT_EQ(dba->status, 200) << dba->body;
  json dj = json::parse(dba->body);
  EXPECT_EQ(dj["dba"], true);
  ASSERT_EQ(dj["hits"].size(), 4u);
  EXPECT_EQ(dj["hits"][0]["id"], ids_[6]);
  for (const json& bad : {json{{"id", ids_[6]}, {"dba", true}, {"whiten", true}}, json{{"id", ids_[6]}, {"dba", 7}}}) {
    auto r = client_->Post("/api/v1/search", bad.dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad.dump();
    EXPECT_NE(r->body.find("dba"), std::string::npos) << r->body;
  }

  auto filtered = client_->Post("/api/v1/search", json{{"id", ids_[6]}, {"filter", "width > 100000"}}.dump(),
                                "application/json");
  ASSERT_TRUE(filtered);
  ASSERT_EQ(filtered->status, 200);
  EXPECT_EQ(json::parse(filtered->body)["hits"].size(), 0u);

  httplib::MultipartFormDataItems items = {{"image", testing::ReadFile(photos_[5]), "q.jpg", "image/jpeg"},
                                           {"models", "m,n", "", ""},
                                           {"k", "3", "", ""}};
  auto cmp = client_->Post("/api/v1/compare", items);
  ASSERT_TRUE(cmp);
  ASSERT_EQ(cmp->status, 200) << cmp->body;
  json c = json::parse(cmp->body);
  EXPECT_EQ(c["models"], json::array({"m", "n"}));
  EXPECT_EQ(c["hits"][0][0]["path"], photos_[5]);
  EXPECT_EQ(c["hits"][1][0]["path"], photos_[5]);
  EXPECT_EQ(c["hits"][1][0]["thumbnail"], "/api/v1/thumbnails/" + std::to_string(ids_[5])) << "hits as search gives them";
  EXPECT_NEAR(c["hits"][1][0]["score"].get<double>(), 1.0, 1e-5);
  EXPECT_GE(c["overlap"].get<double>(), 1.0 / 3) << "both find the query picture itself";
  EXPECT_LE(c["overlap"].get<double>(), 1.0);
  EXPECT_EQ(c["fused"][0]["path"], photos_[5]) << "rank fusion puts the picture both rank first first";

  // Two models searched as one (the vectors concatenated); the quality profile needs the built-in models.
  auto fused = client_->Post("/api/v1/search", json{{"id", ids_[2]}, {"k", 3}, {"models", "m,n"}}.dump(),
                             "application/json");
  ASSERT_TRUE(fused);
  ASSERT_EQ(fused->status, 200) << fused->body;
  json fj = json::parse(fused->body);
  EXPECT_EQ(fj["model"], "m+n");
  EXPECT_EQ(fj["models"], json::array({"m", "n"}));
  ASSERT_EQ(fj["hits"].size(), 3u);
  EXPECT_EQ(fj["hits"][0]["id"], ids_[2]);
  EXPECT_NEAR(fj["hits"][0]["score"].get<double>(), 1.0, 1e-4);
  auto quality = client_->Post("/api/v1/search", json{{"id", ids_[2]}, {"profile", "quality"}}.dump(),
                               "application/json");
  ASSERT_TRUE(quality);
  EXPECT_EQ(quality->status, 409) << quality->body;
  EXPECT_NE(quality->body.find("add-builtin"), std::string::npos) << quality->body;
  auto unknown = client_->Post("/api/v1/search", json{{"id", ids_[2]}, {"profile", "best"}}.dump(),
                               "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400) << unknown->body;
}

TEST_F(ServerTest, EveryErrorClassIsJsonWithAStableCode) {
  struct Case {
    std::string what;
    httplib::Result r;
    int status;
    std::string code;
  };
  std::vector<Case> cases;
  cases.push_back({"k out of range", client_->Post("/api/v1/search", json{{"id", ids_[0]}, {"k", 0}}.dump(),
                                                   "application/json"), 400, "invalid_argument"});
  cases.push_back({"k not a number", client_->Post("/api/v1/search", R"({"id": 5, "k": "ten"})", "application/json"),
                   400, "invalid_argument"});
  cases.push_back({"unknown model", client_->Post("/api/v1/search", json{{"id", ids_[0]}, {"model", "nope"}}.dump(),
                                                  "application/json"), 404, "not_found"});
  cases.push_back({"unknown id", client_->Post("/api/v1/search", R"({"id": 77})", "application/json"), 404,
                   "not_found"});
  cases.push_back({"invalid JSON", client_->Post("/api/v1/search", "{\"id\": ", "application/json"), 400,
                   "invalid_argument"});
  cases.push_back({"a server path in JSON", client_->Post("/api/v1/search", R"({"path": "/etc/passwd"})",
                                                         "application/json"), 400, "invalid_argument"});
  cases.push_back({"a server path as form field",
                   client_->Post("/api/v1/search", httplib::MultipartFormDataItems{{"image_file", "/etc/passwd", "", ""}}),
                   400, "invalid_argument"});
  cases.push_back({"no query", client_->Post("/api/v1/search", "{}", "application/json"), 400, "invalid_argument"});
  cases.push_back({"not an image", Upload("just some text, not a picture", "notes.jpg"), 400, "invalid_argument"});
  cases.push_back({"wrong content type", client_->Post("/api/v1/search", "hello", "text/plain"), 415,
                   "unsupported"});
  cases.push_back({"injection-looking filter",
                   client_->Post("/api/v1/search",
                                 json{{"id", ids_[0]}, {"filter", "path == 'x' OR 1=1; DROP TABLE entities; --"}}.dump(),
                                 "application/json"),
                   400, "invalid_argument"});
  cases.push_back({"unknown route", client_->Get("/api/v1/nothing"), 404, "not_found"});
  for (auto& c : cases) {
    ASSERT_TRUE(c.r) << c.what;
    EXPECT_EQ(c.r->status, c.status) << c.what << ": " << c.r->body;
    EXPECT_EQ(ErrorCodeOf(c.r->body), c.code) << c.what;
    EXPECT_EQ(c.r->body.find(data_), std::string::npos) << c.what << " reveals the data directory";
  }
  ExpectHealthy();
}

TEST_F(ServerTest, HostileRequestsAreRefusedAndTheServerKeepsServing) {
  const int port = server_->port();
  // Path traversal in every form: no route takes a path, ids are digits only.
  for (const char* p : {"/api/v1/images/../../../etc/passwd", "/api/v1/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                        "/api/v1/thumbnails/..%2F..%2Fetc%2Fpasswd", "/api/v1/images//etc/passwd",
                        "/api/v1/pictures/1%2F..%2F..", "/../../etc/passwd", "/api/v1/images/12abc"}) {
    std::string resp = Raw(port, std::string("GET ") + p + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    int st = StatusOf(resp);
    EXPECT_TRUE(st == 400 || st == 404) << p << " -> " << resp.substr(0, 120);
    EXPECT_EQ(resp.find("root:"), std::string::npos) << p;
  }
  // A chunked body: refused before it is read.
  std::string chunked =
      "POST /api/v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n"
      "Connection: close\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n";
  EXPECT_EQ(StatusOf(Raw(port, chunked)), 411);
  // No Content-Length on a POST.
  EXPECT_EQ(StatusOf(Raw(port, "POST /api/v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nConnection: close\r\n\r\n")), 411);
  // A compressed body.
  EXPECT_EQ(StatusOf(Raw(port, "POST /api/v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                               "Content-Encoding: gzip\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd")),
            415);
  // 40 MiB announced (and sent): 413 without reading it.
  std::string big = "POST /api/v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                    std::to_string(40 << 20) + "\r\nConnection: close\r\n\r\n";
  big.append(size_t(40) << 20, 'x');
  std::string resp = Raw(port, big);
  EXPECT_EQ(StatusOf(resp), 413) << resp.substr(0, 200);
  EXPECT_EQ(ErrorCodeOf(resp.substr(resp.find("\r\n\r\n") + 4)), "payload_too_large");
  // A truncated body (the announced length is never reached): the client gives up and closes; nothing to answer,
  // and the server goes on serving.
  std::string part = "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
                     "Content-Type: image/jpeg\r\n\r\n" + testing::ReadFile(photos_[0]).substr(0, 1000);
  std::string trunc = "POST /api/v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
                      "Content-Length: " + std::to_string(part.size() + 500) + "\r\n\r\n" + part;
  Raw(port, trunc, 300);
  ExpectHealthy();
  // A truncated multipart body: all the bytes announced, but the parts end without their closing boundary.
  std::string bad = part + "\r\n--Nope--\r\n";
  std::string badreq = "POST /api/v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
                       "Content-Length: " + std::to_string(bad.size()) + "\r\nConnection: close\r\n\r\n" + bad;
  EXPECT_EQ(StatusOf(Raw(port, badreq)), 400);
  // A decompression bomb: a small PNG whose header claims 100000 x 100000 pixels.
  std::string bomb = PngBomb(100000, 100000);
  auto br = Upload(bomb, "bomb.png");
  ASSERT_TRUE(br);
  EXPECT_EQ(br->status, 413) << br->body;
  EXPECT_EQ(ErrorCodeOf(br->body), "resource_exhausted");
  // A 1 x 65500 JPEG: an answer, not a stall or a crash.
  ImageU8 thin(1, 65500, 3);
  for (size_t i = 0; i < thin.pixels.size(); ++i) thin.pixels[i] = uint8_t(i * 7);
  testing::WriteImage(thin, dir_->file("thin.jpg"));
  auto tr = Upload(testing::ReadFile(dir_->file("thin.jpg")), "thin.jpg");
  ASSERT_TRUE(tr);
  EXPECT_TRUE(tr->status == 200 || (tr->status >= 400 && tr->status < 500)) << tr->status << " " << tr->body;
  ExpectHealthy();
  auto ok = Upload(testing::ReadFile(photos_[2]), "after.jpg");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << "still searching after all that";
}

TEST_F(ServerTest, ConcurrentSearchesAndACliWriterIsToldWhoHoldsTheDirectory) {
  std::atomic<int> ok{0}, busy{0}, other{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", server_->port());
      c.set_read_timeout(60, 0);
      for (int i = 0; i < 6; ++i) {
        httplib::Result r = (i % 2)
            ? c.Post("/api/v1/search", json{{"id", ids_[(t + i) % ids_.size()]}}.dump(), "application/json")
            : c.Post("/api/v1/search",
                     httplib::MultipartFormDataItems{{"image", testing::ReadFile(photos_[(t + i) % photos_.size()]),
                                                      "q.jpg", "image/jpeg"}});
        if (r && r->status == 200) ++ok;
        else if (r && r->status == 503 && r->get_header_value("Retry-After") == "1") ++busy;
        else ++other;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ok.load() + busy.load(), 48);
  EXPECT_GE(ok.load(), 24) << "every search by id succeeds";
  // The CLI: readers work beside the server, a writer is told the server holds the directory.
  auto status = testing::RunCommand(testing::BinPath("doppel") + " --data " + data_ + " status --json");
  EXPECT_EQ(status.exit_code, 0);
  auto writer = testing::RunCommand(testing::BinPath("doppel") + " --data " + data_ + " index " + dir_->file("imgs") +
                                    " 2>&1");
  EXPECT_EQ(writer.exit_code, 2);
  EXPECT_NE(writer.out.find("pid " + std::to_string(server_->pid()) + ": "), std::string::npos) << writer.out;
  EXPECT_NE(writer.out.find("serve"), std::string::npos) << writer.out;
}

// The write routes: off by default, then behind the bearer token; index jobs by root name; uploads that survive a
// crash once acknowledged; deletes.
class ServerWrites : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.file("data");
    testing::WriteRandomModel(dir_.file("m.onnx"), 1);
    photos_ = testing::SamplePhotos(12);
    first_ = testing::WriteCopies({photos_.begin(), photos_.begin() + 4}, dir_.file("first"), "a", 1);
    more_ = testing::WriteCopies({photos_.begin() + 4, photos_.begin() + 8}, dir_.file("more"), "b", 1);
    EngineOptions o;
    o.data_dir = data_;
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE((*e)->AddModel("m", dir_.file("m.onnx"), testing::RandomModelSpec()).ok());
    ASSERT_TRUE((*e)->Index({dir_.file("first")}, IndexOptions()).ok());
  }
  httplib::Headers Auth(const std::string& t) { return {{"Authorization", "Bearer " + t}}; }
  int64_t Count(httplib::Client& c) {
    auto r = c.Get("/api/v1/status");
    return r && r->status == 200 ? json::parse(r->body)["models"][0]["count"].get<int64_t>() : -1;
  }

  const std::string token_ = "s3cret-token-for-tests";
  testing::TempDir dir_;
  std::string data_;
  std::vector<std::string> photos_, first_, more_;
};

TEST_F(ServerWrites, OffByDefault) {
  ServerProcess s(data_);
  httplib::Client c("127.0.0.1", s.port());
  httplib::MultipartFormDataItems items = {{"image", testing::ReadFile(more_[0]), "x.jpg", "image/jpeg"}};
  auto up = c.Post("/api/v1/pictures", Auth(token_), items);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->status, 403);
  EXPECT_EQ(ErrorCodeOf(up->body), "forbidden");
  auto del = c.Delete(("/api/v1/pictures/" + std::to_string(testing::FileContentId(first_[0]))).c_str(), Auth(token_));
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 403);
  EXPECT_EQ(Count(c), 4);
  // Writes without a token do not start at all.
  auto refused = testing::RunCommand(testing::BinPath("doppel") + " serve --data " + data_ +
                                     " --listen 127.0.0.1:0 --allow-writes 2>&1 </dev/null");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.out.find("DOPPEL_TOKEN"), std::string::npos) << refused.out;
}

TEST_F(ServerWrites, TokenJobsUploadsAndDeletes) {
  ServerProcess s(data_, {"--allow-writes", "--root", "more=" + dir_.file("more")}, token_);
  ASSERT_GT(s.port(), 0);
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(60, 0);
  const std::string job = json{{"root", "more"}}.dump();
  auto none = c.Post("/api/v1/jobs", job, "application/json");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(ErrorCodeOf(none->body), "unauthorized");
  auto wrong = c.Post("/api/v1/jobs", Auth("not-the-token-at-all"), job, "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto badroot = c.Post("/api/v1/jobs", Auth(token_), json{{"root", "etc"}}.dump(), "application/json");
  ASSERT_TRUE(badroot);
  EXPECT_EQ(badroot->status, 404);
  EXPECT_EQ(ErrorCodeOf(badroot->body), "not_found");
  auto path = c.Post("/api/v1/jobs", Auth(token_), json{{"root", "more"}, {"path", "/etc"}}.dump(), "application/json");
  ASSERT_TRUE(path);
  EXPECT_EQ(path->status, 400) << "a request never gives a path";
  // Start a job and follow it to the end.
  auto started = c.Post("/api/v1/jobs", Auth(token_), job, "application/json");
  ASSERT_TRUE(started);
  ASSERT_EQ(started->status, 202) << started->body;
  for (int i = 0; i < 600; ++i) {
    auto cur = c.Get("/api/v1/jobs/current");
    ASSERT_TRUE(cur);
    if (json::parse(cur->body)["job"].is_null()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(Count(c), 8);
  auto cancel = c.Delete("/api/v1/jobs/current", Auth(token_));
  ASSERT_TRUE(cancel);
  EXPECT_EQ(cancel->status, 404) << "nothing to cancel";
  // Upload a picture: indexed, found by its own bytes.
  httplib::MultipartFormDataItems items = {{"image", testing::ReadFile(photos_[9]), "../../etc/x.jpg", "image/jpeg"}};
  auto up = c.Post("/api/v1/pictures", Auth(token_), items);
  ASSERT_TRUE(up);
  ASSERT_EQ(up->status, 201) << up->body;
  int64_t id = json::parse(up->body)["id"].get<int64_t>();
  EXPECT_EQ(Count(c), 9);
  auto again = c.Post("/api/v1/pictures", Auth(token_), items);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << "the same bytes again: already there";
  EXPECT_EQ(Count(c), 9);
  auto notimg = c.Post("/api/v1/pictures", Auth(token_),
                       httplib::MultipartFormDataItems{{"image", "hello", "a.jpg", "image/jpeg"}});
  ASSERT_TRUE(notimg);
  EXPECT_EQ(notimg->status, 400);
  auto found = c.Post("/api/v1/search", json{{"id", id}, {"k", 1}}.dump(), "application/json");
  ASSERT_TRUE(found);
  ASSERT_EQ(found->status, 200);
  json hit = json::parse(found->body)["hits"][0];
  EXPECT_EQ(hit["id"], id);
  EXPECT_EQ(hit["path"].get<std::string>().find(".."), std::string::npos) << "stored by hash, not by its name";
  // Delete it.
  auto del = c.Delete(("/api/v1/pictures/" + std::to_string(id)).c_str(), Auth(token_));
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200) << del->body;
  EXPECT_EQ(Count(c), 8);
  auto gone = c.Get(("/api/v1/pictures/" + std::to_string(id)).c_str());
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
}

// The review flow over HTTP: a group of one picture under two paths, a decision (ids as strings, as the page sends
// them), the dry run, applying (the copy moves into the trash, no server path in the answer), undo, forgetting.
TEST_F(ServerWrites, DuplicateDecisionsApplyAndUndo) {
  fs::create_directories(dir_.file("dups/backup"));
  const std::string keep = dir_.file("dups/p.jpg"), copy = dir_.file("dups/backup/p.jpg");
  fs::copy_file(photos_[10], keep);
  fs::copy_file(photos_[10], copy);
  {
    EngineOptions o;
    o.data_dir = data_;
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE((*e)->Index({dir_.file("dups")}, IndexOptions()).ok());
  }
  ServerProcess s(data_, {"--allow-writes"}, token_);
  ASSERT_GT(s.port(), 0);
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(60, 0);
  auto groups = [&](const std::string& extra) {
    auto r = c.Get(("/api/v1/duplicates?min_tier=exact" + extra).c_str());
    EXPECT_TRUE(r && r->status == 200);
    return r ? json::parse(r->body) : json();
  };
  json g = groups("");
  ASSERT_EQ(g["total"], 1) << g.dump();
  const std::string id = std::to_string(g["groups"][0]["members"][0]["id"].get<int64_t>());
  const json decision = {{"ids", {id}}, {"keep", {id}}, {"keep_paths", {keep}}};
  auto anon = c.Post("/api/v1/duplicates/decisions", decision.dump(), "application/json");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->status, 401);
  auto bad = c.Post("/api/v1/duplicates/decisions", Auth(token_), json{{"ids", {"x1"}}, {"keep", {"x1"}}}.dump(),
                    "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
  auto unknown = c.Post("/api/v1/duplicates/decisions", Auth(token_),
                        json{{"ids", {id, "42"}}, {"keep", {id}}}.dump(), "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404) << "42 is no picture: " << unknown->body;
  auto ok = c.Post("/api/v1/duplicates/decisions", Auth(token_), json{{"decisions", {decision}}}.dump(),
                   "application/json");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(groups("")["total"], 0) << "resolved";
  json decided = groups("&show_decided=true");
  ASSERT_EQ(decided["total"], 1);
  EXPECT_EQ(decided["groups"][0]["decision"], "keep " + id);

  auto dry = c.Post("/api/v1/duplicates/apply", Auth(token_), "{}", "application/json");
  ASSERT_TRUE(dry);
  ASSERT_EQ(dry->status, 200) << dry->body;
  json dj = json::parse(dry->body);
  EXPECT_EQ(dj["state"], "dry-run");
  ASSERT_EQ(dj["moves"].size(), 1u);
  EXPECT_EQ(dj["moves"][0]["from"], copy);
  EXPECT_TRUE(fs::exists(copy));
  auto applied = c.Post("/api/v1/duplicates/apply", Auth(token_), json{{"dry_run", false}}.dump(), "application/json");
  ASSERT_TRUE(applied);
  ASSERT_EQ(applied->status, 200) << applied->body;
  json aj = json::parse(applied->body);
  EXPECT_EQ(aj["state"], "applied");
  ASSERT_EQ(aj["moves"].size(), 1u);
  EXPECT_FALSE(aj["moves"][0].contains("to")) << "no place inside the data directory";
  EXPECT_FALSE(fs::exists(copy));
  EXPECT_TRUE(fs::exists(keep));
  auto trash = c.Get("/api/v1/trash");
  ASSERT_TRUE(trash);
  json tj = json::parse(trash->body);
  ASSERT_EQ(tj["batches"].size(), 1u);
  EXPECT_EQ(tj["batches"][0]["name"], aj["name"]);

  auto undo = c.Post("/api/v1/duplicates/undo", Auth(token_), "{}", "application/json");
  ASSERT_TRUE(undo);
  ASSERT_EQ(undo->status, 200) << undo->body;
  EXPECT_EQ(json::parse(undo->body)["reindexed"], 1);
  EXPECT_EQ(testing::ReadFile(copy), testing::ReadFile(photos_[10]));
  auto forget = c.Delete(("/api/v1/duplicates/decisions?ids=" + id).c_str(), Auth(token_));
  ASSERT_TRUE(forget);
  EXPECT_EQ(forget->status, 200) << forget->body;
  EXPECT_EQ(groups("")["total"], 1) << "the group is back";
}

TEST_F(ServerWrites, WhileAnIndexJobRunsUploadsAndJobsGet409) {
  const std::string big = dir_.file("big");
  fs::create_directories(big);
  for (int i = 0; i < 400; ++i)
    testing::WriteImage(testing::Noise(64, 64, 1000 + i), big + "/n" + std::to_string(i) + ".png");
  ServerProcess s(data_, {"--allow-writes", "--root", "big=" + big}, token_);
  ASSERT_GT(s.port(), 0);
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(60, 0);
  const std::string job = json{{"root", "big"}}.dump();
  httplib::MultipartFormDataItems items = {{"image", testing::ReadFile(more_[0]), "x.jpg", "image/jpeg"}};
  auto started = c.Post("/api/v1/jobs", Auth(token_), job, "application/json");
  ASSERT_TRUE(started);
  ASSERT_EQ(started->status, 202) << started->body;
  auto second = c.Post("/api/v1/jobs", Auth(token_), job, "application/json");
  auto upload = c.Post("/api/v1/pictures", Auth(token_), items);
  auto current = c.Get("/api/v1/jobs/current");
  ASSERT_TRUE(second && upload && current);
  ASSERT_FALSE(json::parse(current->body)["job"].is_null()) << "the job ended before the checks: a bigger folder";
  for (const auto* r : {&second, &upload}) {
    EXPECT_EQ((*r)->status, 409) << (*r)->body;
    EXPECT_EQ(ErrorCodeOf((*r)->body), "failed_precondition");
    EXPECT_EQ((*r)->body.find(data_), std::string::npos) << "no server path in the message: " << (*r)->body;
    EXPECT_FALSE((*r)->get_header_value("Retry-After").empty());
  }
  auto cancel = c.Delete("/api/v1/jobs/current", Auth(token_));
  ASSERT_TRUE(cancel);
  EXPECT_EQ(cancel->status, 202);
  for (int i = 0; i < 600; ++i) {
    auto cur = c.Get("/api/v1/jobs/current");
    ASSERT_TRUE(cur);
    if (json::parse(cur->body)["job"].is_null()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto after = c.Post("/api/v1/pictures", Auth(token_), items);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 201) << "once the job is over, the upload goes in: " << after->body;
}

TEST_F(ServerWrites, EveryAcknowledgedUploadSurvivesKillNine) {
  std::vector<int64_t> acked;
  {
    ServerProcess s(data_, {"--allow-writes"}, token_);
    ASSERT_GT(s.port(), 0);
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::thread uploader([&] {
      httplib::Client c("127.0.0.1", s.port());
      c.set_read_timeout(60, 0);
      for (size_t i = 4; i < photos_.size() && !stop; ++i) {
        for (double scale : {0.3, 0.5}) {
          std::string f = dir_.file("u" + std::to_string(i) + "-" + std::to_string(int(scale * 10)) + ".jpg");
          testing::WriteEditedCopy(photos_[i], f, scale);
          auto r = c.Post("/api/v1/pictures", httplib::Headers{{"Authorization", "Bearer " + token_}},
                          httplib::MultipartFormDataItems{{"image", testing::ReadFile(f), "u.jpg", "image/jpeg"}});
          if (!r) return;  // the server is gone
          if (r->status == 201) {
            std::lock_guard<std::mutex> l(mu);
            acked.push_back(json::parse(r->body)["id"].get<int64_t>());
          }
        }
      }
    });
    // Crash the server once a few uploads were acknowledged, while more are under way.
    for (int i = 0; i < 2000; ++i) {
      {
        std::lock_guard<std::mutex> l(mu);
        if (acked.size() >= 4) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    s.Crash();
    stop = true;
    uploader.join();
  }
  ASSERT_GE(acked.size(), 4u);
  ServerProcess again(data_);
  ASSERT_GT(again.port(), 0);
  httplib::Client c("127.0.0.1", again.port());
  for (int64_t id : acked) {
    auto r = c.Post("/api/v1/search", json{{"id", id}, {"k", 1}}.dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << "acknowledged upload " << id << " is gone: " << r->body;
    EXPECT_EQ(json::parse(r->body)["hits"][0]["id"], id);
  }
}

}  // namespace
}  // namespace doppel
