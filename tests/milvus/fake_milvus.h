// FakeMilvus: an in-process stand-in for a Milvus server's RESTful API v2 (/v2/vectordb/...), for testing a Milvus
// client without a Milvus. It implements the documented protocol and the quirks read in Milvus's sources (each cited
// where it is implemented, in fake_milvus.cc): errors as HTTP 200 with {"code", "message"}, int64 values as JSON
// strings unless the request says `Accept-Type-Allow-Int64: true`, collections that must be loaded before they are
// read, consistency levels that decide whether a read sees recent writes, insert that keeps duplicate primary keys,
// the filter-expression language (a subset; see fake_milvus_expr.cc). Search is exact brute force. It is not Milvus:
// no partitions, aliases, users, hybrid search, range search, grouping, arithmetic in filters, or Array/Float16/
// Sparse fields; statistics never shrink (there is no compaction); only the database "default" exists.
//
// Fault injection (FailNext, DelayNext, MalformedNext, HalfAcceptNext) and inspection (Requests, LastBody, Rows) are
// thread-safe and may be called while requests are served.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace doppel::testing {

struct FakeMilvusOptions {
  // When non-empty, every request needs `Authorization: Bearer <token>`; otherwise HTTP 401 + code 1800.
  std::string token;
  // The success code of data-returning endpoints (list, has, describe, get_stats, get_load_state, insert, upsert,
  // get, query, search): 0 as current servers send, or 200 as 2.3/early-2.4 servers did. The others always send 0.
  int success_code = 0;
  // Writes become visible to reads at consistency levels other than Strong and Session only after this many further
  // requests (to any path) have been served; 0 = at once.
  int eventual_lag = 0;
  // collections/load leaves the collection "LoadStateLoading" (searches and queries answer code 101) for this many
  // further get_load_state calls; 0 = loaded at once.
  int load_delay_requests = 0;
  // A body larger than this is refused (HTTP 413, code 1801) before any handler sees it.
  int64_t max_request_bytes = int64_t{64} << 20;
  // Search answers carry "topks" (newer servers); false drops it, as older servers do.
  bool search_topks = true;
};

class FakeMilvus {
 public:
  // Listens on 127.0.0.1 on a free port at once; the constructor returns when requests can be served.
  explicit FakeMilvus(FakeMilvusOptions options = {});
  ~FakeMilvus();  // Stop()
  FakeMilvus(const FakeMilvus&) = delete;
  FakeMilvus& operator=(const FakeMilvus&) = delete;

  int port() const;
  std::string uri() const;  // "http://127.0.0.1:PORT"

  // The server goes away: connections are refused afterwards. Answers being delayed by DelayNext end at once; an
  // idle keep-alive connection (the server closes those after 1 s anyway) may hold Stop up to a second. Idempotent.
  void Stop();

  // Fault injection. Each applies to the next `count` requests whose path ends with `path_suffix` ("" = any path),
  // in the order the faults were added; a request takes at most one fault. Faulted requests are counted by
  // Requests() and LastBody() like any other.
  //
  // Answers `http_status` with `body` verbatim (Content-Type application/json when it starts with '{', else
  // text/html) without acting on the request.
  void FailNext(const std::string& path_suffix, int count, int http_status, const std::string& body);
  // Waits `delay_ms` before acting on and answering the request (for client timeouts).
  void DelayNext(const std::string& path_suffix, int count, int delay_ms);
  // Acts on the request, then answers HTTP 200 with the first half of the real answer (JSON cut short): the client
  // cannot know whether a write happened.
  void MalformedNext(const std::string& path_suffix, int count);
  // The next entities/insert or entities/upsert whose path ends with `path_suffix` stores only the first half of its
  // rows (rounded down) and answers code 65535. Other paths do not consume it.
  void HalfAcceptNext(const std::string& path_suffix);

  // Inspection.
  // Requests received so far whose path ends with `path_suffix` ("" = all), whatever their answer.
  int64_t Requests(const std::string& path_suffix = "") const;
  // The body of the latest request whose path ends with `path_suffix` ("" if none).
  std::string LastBody(const std::string& path_suffix) const;
  // Rows a Strong read of `collection` would count (duplicates of a primary key included, as count(*) counts them);
  // -1 when there is no such collection.
  int64_t Rows(const std::string& collection) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Internals shared by fake_milvus.cc and fake_milvus_expr.cc; tests use the HTTP API instead.
namespace fake_milvus_detail {

// What the filter language needs to know of a field.
enum class FieldKind { kBool, kInt, kFloat, kVarChar, kJson, kVector };

struct FilterSchema {
  std::map<std::string, FieldKind> fields;
  // Names that are not fields refer to keys of the dynamic field (stored under "$meta" in a row).
  bool dynamic = false;
};

struct FilterNode;

// A parsed Milvus boolean expression (planparserv2's grammar, Plan.g4; the subset in fake_milvus_expr.cc).
class Filter {
 public:
  // Parses `text` ("" matches every row). On failure returns false and sets *error to what Milvus would say after
  // "cannot parse expression: <text>, error: ".
  static bool Parse(const std::string& text, const FilterSchema& schema, Filter* out, std::string* error);
  // `row`: field name -> value (null when null), dynamic keys under "$meta". A comparison with a null or missing value
  // is unknown, and unknown is not a match (three-valued logic, as Milvus's valid-data masks give).
  bool Matches(const nlohmann::json& row) const;
  // True for `pk == v` and `pk in [...]` on the primary key alone: what Milvus deletes without loading the collection.
  bool IsPrimaryKeyTerm(const std::string& pk_field) const;

 private:
  std::shared_ptr<const FilterNode> root_;  // null = match everything
};

}  // namespace fake_milvus_detail
}  // namespace doppel::testing
