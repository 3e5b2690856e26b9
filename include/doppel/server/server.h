// doppel serve: the HTTP front end over one Engine. JSON API under /api/v1 (described by /api/v1/openapi.json),
// /healthz, and /metrics in Prometheus text format. Like the CLI it only parses, calls the API layer and the engine,
// and formats; it never opens a path taken from a request: query images are uploaded, pictures and thumbnails are
// served by id.
//
// cpp-httplib 0.11.4 (Debian 12) is hardened in front of the handlers (see shared/reference/http-and-browser.md):
// a request body must come with a Content-Length (411 otherwise, and for any Transfer-Encoding), without
// Content-Encoding (415), and within max_body_bytes (413), all decided before the body is read; a bounded worker
// pool; searches that embed an image go through a bounded semaphore and get 503 + Retry-After when it is full;
// keep-alive and read/write limits; errors are JSON with stable codes, 5xx messages are logged, never sent (they
// could name server paths). Header lines of unlimited length cannot be refused in this version: put a reverse proxy
// in front when the server faces an untrusted network.
//
// Writes (index jobs over configured roots, uploads to index, deletes) are off unless `allow_writes`, and then need
// `Authorization: Bearer <token>`. An index request names a configured root by its name, never a path; uploads are
// stored by content hash under DATA/uploads before they are indexed, and acknowledged only once durable.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "doppel/engine/engine.h"
#include "doppel/util/status.h"

namespace doppel {

struct ServerOptions {
  std::string host = "127.0.0.1";     // loopback unless told otherwise
  int port = 8080;                    // 0 = any free port (see HttpServer::port)
  int64_t max_body_bytes = 32 << 20;  // larger request bodies are refused before they are read (413)
  int workers = 0;                    // HTTP worker threads; 0 = 2 x cores, at least 4
  int max_embeds = 0;                 // image searches embedding at once; 0 = cores; more get 503 + Retry-After
  int thumbnail_size = 256;           // longer side of thumbnails, in pixels
  int max_k = 1000;                   // largest k a request may ask for
  bool allow_writes = false;          // serve the write routes (they also need the token)
  std::string token;                  // bearer token of the write routes; required with allow_writes
  // Folders index jobs may be started on, by name (NAME -> folder). Requests name them; they never give paths.
  std::map<std::string, std::string> roots;
};

class HttpServer {
 public:
  // Binds the socket (so port() is known) without serving yet. `engine` must outlive the server.
  static Result<std::unique_ptr<HttpServer>> Create(Engine* engine, const ServerOptions& options);
  ~HttpServer();

  int port() const;
  std::string url() const;  // http://HOST:PORT
  // Serves until Stop() (from another thread or a signal-waiting thread).
  Status Run();
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel
