// The vector store on a Milvus 2.4+ server, over its RESTful API v2 (JSON over HTTP; the official C++ SDK speaks
// gRPC and cannot be built from Debian packages). Same interface as the embedded store (store/store.h): callers
// hold VectorStore/Collection pointers and never learn which they got. docs/STORE.md has the mapping.
//
// What differs from the embedded store, by the nature of a shared remote service:
//   - A batch larger than one request (see MilvusOptions::max_request_bytes) is written in several requests; each is
//     atomic in Milvus, the whole batch is not. A failed call returns an error and acknowledges nothing; rows of
//     earlier requests of that batch may be stored (upserts and deletes are idempotent: retrying the call is safe).
//   - Insert refuses ids that exist (checked with a strongly consistent read first) but, Milvus having no
//     conditional insert, two clients inserting the same id at the same moment can both succeed; doppel's engine
//     only upserts content ids, which is safe from any number of hosts.
//   - auto_id collections get Milvus's ids (unique, increasing, not 1, 2, 3).
//   - Reads that must see the caller's own writes (get, query, count, search) ask for Strong consistency.
//   - Flush and Compact are left to Milvus (it seals and compacts segments itself).
// Errors: Unavailable when the server cannot be reached or answers 5xx/429, DeadlineExceeded when a call outlives
// its timeout, FailedPrecondition for refused credentials; Milvus's own errors keep their code and message.
// Idempotent calls (reads, upserts, deletes, describe/list/has/load) are retried with exponential backoff within
// MilvusOptions::retries; inserts and creates are not.
#pragma once

#include <memory>
#include <string>

#include "doppel/store/store.h"
#include "doppel/util/status.h"

namespace doppel {

struct MilvusOptions {
  std::string endpoint;  // "http://host:19530" or "https://host:19530"
  // "user:password" or an API key; sent as "Authorization: Bearer <token>". Empty: no authentication.
  std::string token;
  std::string database;  // empty = Milvus's "default"
  int connect_timeout_ms = 3000;
  int timeout_ms = 30000;  // per request (also sent as Request-Timeout)
  int retries = 3;         // further attempts of an idempotent call after a transient failure
  int backoff_ms = 200;    // first pause between attempts; doubled each time
  // Writes are split into requests of at most this many bytes of JSON (Milvus's default limit is 64 MiB).
  int64_t max_request_bytes = int64_t(16) << 20;
  std::string consistency = "Strong";  // for reads that must see this client's writes
};

// Parses a store URI: milvus://[USER:PASSWORD@]HOST[:PORT][/DATABASE] (plain HTTP; port 19530 by default),
// milvuss://... (TLS), or http(s)://HOST:PORT[/DATABASE]. A token in the URI fills MilvusOptions::token; otherwise
// $DOPPEL_MILVUS_TOKEN does. Errors name the URI part at fault (never the password).
Result<MilvusOptions> ParseMilvusUri(const std::string& uri);

// Connects (one describe call checks the server, the credentials and the database) and returns the store.
// doppel's per-collection metadata (the model fingerprint, the collection schema as doppel knows it) lives in one
// extra collection, "doppel_metadata".
Result<std::unique_ptr<VectorStore>> OpenMilvusStore(const MilvusOptions& options);

}  // namespace doppel
