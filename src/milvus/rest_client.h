// Internal: one Milvus RESTful v2 call = one POST of a JSON body to /v2/vectordb/<path>, and the envelope of its
// answer checked by the rules of shared/reference/milvus-rest-v2.md: the JSON body is read whatever the HTTP status,
// and a call failed iff its "code" is neither 0 nor 200 (older servers answer 200 for data-returning calls).
//
// Transient failures (cannot connect, connection reset, HTTP 5xx or 429, an unreadable answer) are retried with
// exponential backoff when the call is idempotent; the last failure is returned as Unavailable, or DeadlineExceeded
// when the call ran out of time. Thread-safe: calls run concurrently on a small pool of keep-alive connections.
#pragma once

#include <httplib.h>

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "doppel/milvus/milvus_store.h"

namespace doppel::milvus {

enum class Idempotent { kNo, kYes };

class RestClient {
 public:
  explicit RestClient(MilvusOptions options);
  ~RestClient();

  // POSTs `body` (dbName added when a database is set) to /v2/vectordb/`path`; returns the whole envelope
  // (callers read "data", and "topks" for searches). Errors name `path` and Milvus's code and message.
  Result<nlohmann::json> Call(const std::string& path, nlohmann::json body, Idempotent idempotent);

  const MilvusOptions& options() const { return options_; }
  // The server, for messages: "http://host:port" (never the token).
  const std::string& endpoint() const { return options_.endpoint; }

 private:
  std::unique_ptr<httplib::Client> Take();
  void Give(std::unique_ptr<httplib::Client> c);
  // One attempt. *transient says whether another attempt may help.
  Result<nlohmann::json> Attempt(const std::string& path, const std::string& body, bool* transient);

  MilvusOptions options_;
  httplib::Headers headers_;
  std::mutex mu_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;  // guarded by mu_
};

// Milvus's own error codes that doppel acts on.
inline constexpr int kCodeCollectionNotFound = 100;
inline constexpr int kCodeCollectionNotLoaded = 101;
inline constexpr int kCodeUnauthenticated = 1800;

}  // namespace doppel::milvus
