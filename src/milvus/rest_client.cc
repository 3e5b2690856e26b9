#include "milvus/rest_client.h"

#include <chrono>
#include <thread>

namespace doppel::milvus {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// A Milvus error: its code becomes the Status code doppel's callers act on; the message keeps Milvus's words.
Status MilvusError(const std::string& where, int code, const std::string& message) {
  std::string m = where + ": Milvus error " + std::to_string(code) + ": " + message;
  switch (code) {
    case kCodeCollectionNotFound: return Status::NotFound(m);
    case kCodeCollectionNotLoaded: return Status::FailedPrecondition(m);
    case kCodeUnauthenticated: return Status::FailedPrecondition(m + " (check the token: user:password or API key)");
    case 1100:  // invalid parameter, e.g. a filter Milvus cannot plan
    case 1801:
    case 1802: return Status::InvalidArgument(m);
    default: return Status::Internal(m);
  }
}

std::string Snippet(const std::string& body) {
  std::string s = body.substr(0, 120);
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return s;
}

}  // namespace

RestClient::RestClient(MilvusOptions options) : options_(std::move(options)) {
  headers_ = {{"Accept-Type-Allow-Int64", "true"},
              {"Request-Timeout", std::to_string(std::max(1, options_.timeout_ms / 1000))}};
  if (!options_.token.empty()) headers_.emplace("Authorization", "Bearer " + options_.token);
  if (!options_.database.empty()) headers_.emplace("DB-Name", options_.database);
}

RestClient::~RestClient() = default;

std::unique_ptr<httplib::Client> RestClient::Take() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<httplib::Client>(options_.endpoint);
  c->set_connection_timeout(std::chrono::milliseconds(options_.connect_timeout_ms));
  c->set_read_timeout(std::chrono::milliseconds(options_.timeout_ms));
  c->set_write_timeout(std::chrono::milliseconds(options_.timeout_ms));
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);  // headers and body go out as two writes: without it Nagle + delayed ACK add ~40 ms
  return c;
}

void RestClient::Give(std::unique_ptr<httplib::Client> c) {
  std::lock_guard<std::mutex> l(mu_);
  if (idle_.size() < 16) idle_.push_back(std::move(c));
}

Result<json> RestClient::Attempt(const std::string& path, const std::string& body, bool* transient) {
  const std::string where = "Milvus at " + options_.endpoint + ", " + path;
  *transient = false;
  auto client = Take();
  const auto t0 = Clock::now();
  httplib::Result r = client->Post(("/v2/vectordb/" + path).c_str(), headers_, body, "application/json");
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (!r) {
    // The connection is in an unknown state: drop it.
    const httplib::Error e = r.error();
    *transient = true;
    if (e == httplib::Error::Read && ms >= options_.timeout_ms * 0.9)
      return Status::DeadlineExceeded(where + ": no answer within " + std::to_string(options_.timeout_ms) + " ms");
    if (e == httplib::Error::ConnectionTimeout)
      return Status::Unavailable(where + ": cannot connect within " + std::to_string(options_.connect_timeout_ms) +
                                 " ms");
    return Status::Unavailable(where + ": " + httplib::to_string(e));
  }
  Give(std::move(client));
  if (r->status == 401 || r->status == 403) {
    json j = json::parse(r->body, nullptr, false);
    std::string msg = j.is_object() && j.contains("message") && j["message"].is_string()
                          ? j["message"].get<std::string>()
                          : "HTTP " + std::to_string(r->status);
    return MilvusError(where, kCodeUnauthenticated, msg);
  }
  if (r->status >= 500 || r->status == 429) {
    *transient = true;
    return Status::Unavailable(where + ": HTTP " + std::to_string(r->status) + " (" + Snippet(r->body) + ")");
  }
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("code") || !j["code"].is_number_integer()) {
    *transient = true;  // a proxy's page, a cut connection: the outcome is unknown
    return Status::Unavailable(where + ": not a Milvus answer (HTTP " + std::to_string(r->status) + ": " +
                               Snippet(r->body) + ")");
  }
  const int code = j["code"].get<int>();
  if (code != 0 && code != 200) {
    std::string msg = j.contains("message") && j["message"].is_string() ? j["message"].get<std::string>() : "";
    return MilvusError(where, code, msg);
  }
  return j;
}

Result<json> RestClient::Call(const std::string& path, json body, Idempotent idempotent) {
  if (!options_.database.empty() && !body.contains("dbName")) body["dbName"] = options_.database;
  const std::string text = body.dump();
  int pause = options_.backoff_ms;
  for (int attempt = 0;; ++attempt) {
    bool transient = false;
    Result<json> r = Attempt(path, text, &transient);
    if (r.ok() || !transient || idempotent == Idempotent::kNo || attempt >= options_.retries) {
      if (!r.ok() && transient && idempotent == Idempotent::kNo)
        return r.status().WithContext("not retried (the write may or may not have been applied)");
      if (!r.ok() && transient && attempt > 0)
        return r.status().WithContext("after " + std::to_string(attempt + 1) + " attempts");
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(pause));
    pause *= 2;
  }
}

}  // namespace doppel::milvus
