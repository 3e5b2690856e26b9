// doppel serve: the HTTP API over one data directory (src/server). Parses flags, opens the engine, runs the server
// until SIGINT/SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "commands.h"
#include "doppel/server/server.h"
#include "doppel/util/file.h"
#include "engine_flags.h"

namespace doppel::cli {
namespace {

int g_stop_pipe[2] = {-1, -1};

struct ServeArgs {
  EngineFlags engine;
  std::string listen = "127.0.0.1:8080";
  int workers = 0;
  int max_embeds = 0;
  int64_t max_body_mb = 32;
  bool allow_writes = false;
  std::string token_file;
  std::vector<std::string> roots;  // NAME=DIR
};

Result<std::pair<std::string, int>> ParseListen(const std::string& s) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 == s.size())
    return Status::InvalidArgument("--listen '" + s + "': use HOST:PORT, e.g. 127.0.0.1:8080 (port 0: any free)");
  std::string host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    size_t used = 0;
    int port = std::stoi(s.substr(colon + 1), &used);
    if (used != s.size() - colon - 1 || port < 0 || port > 65535) throw std::out_of_range("port");
    return std::make_pair(host, port);
  } catch (const std::exception&) {
    return Status::InvalidArgument("--listen '" + s + "': the port must be a number in 0..65535");
  }
}

int RunServe(const ServeArgs& a) {
  auto listen = ParseListen(a.listen);
  if (!listen.ok()) return Fail("serve", listen.status());
  ServerOptions o;
  o.host = listen->first;
  o.port = listen->second;
  o.workers = a.workers;
  o.max_embeds = a.max_embeds;
  o.max_body_bytes = a.max_body_mb << 20;
  o.allow_writes = a.allow_writes;
  if (a.allow_writes) {
    // The token comes from a file or the environment, never the command line (which `ps` and DATA/LOCK show).
    if (!a.token_file.empty()) {
      auto t = ReadFileBytes(a.token_file, 4096);
      if (!t.ok()) return Fail("serve", t.status());
      o.token = *t;
      while (!o.token.empty() && (o.token.back() == '\n' || o.token.back() == '\r' || o.token.back() == ' '))
        o.token.pop_back();
    } else if (const char* env = std::getenv("DOPPEL_TOKEN")) {
      o.token = env;
    }
    if (o.token.empty())
      return Fail("serve", Status::InvalidArgument("--allow-writes needs a bearer token: set DOPPEL_TOKEN or give "
                                                   "--token-file FILE (16 characters or more)"));
  }
  for (const auto& r : a.roots) {
    size_t eq = r.find('=');
    if (eq == 0 || eq == std::string::npos || eq + 1 == r.size())
      return Fail("serve", Status::InvalidArgument("--root '" + r + "': use NAME=FOLDER"));
    o.roots[r.substr(0, eq)] = std::filesystem::absolute(r.substr(eq + 1)).lexically_normal().string();
  }
  // The server holds the data directory for writing, so that a CLI writer is told the server has it; CLI readers
  // (search, status) work beside it.
  auto engine = a.engine.Open(EngineFlags::Mode::kWrite);
  if (!engine.ok()) return Fail("serve", engine.status());
  auto server = HttpServer::Create(engine->get(), o);
  if (!server.ok()) return Fail("serve", server.status());
  // SIGINT/SIGTERM write a byte to a pipe (async-signal-safe, whichever thread takes the signal: libraries such as
  // OpenBLAS start threads before main); a thread waiting on the pipe stops the server.
  if (::pipe(g_stop_pipe) != 0) return Fail("serve", Status::IOError("cannot create a pipe"));
  struct sigaction sa = {};
  sa.sa_handler = [](int) {
    char b = 1;
    ssize_t n = ::write(g_stop_pipe[1], &b, 1);
    (void)n;
  };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  bool loopback = o.host == "127.0.0.1" || o.host == "localhost" || o.host == "::1";
  std::printf("doppel serve: listening on %s (data directory %s)\n", (*server)->url().c_str(),
              (*engine)->data_dir().c_str());
  std::fflush(stdout);
  if (!loopback)
    std::fprintf(stderr,
                 "doppel serve: listening beyond this machine; put a reverse proxy in front of it on an untrusted "
                 "network (cpp-httplib 0.11.4 cannot limit header lines)\n");
  std::thread waiter([&] {
    char b;
    while (::read(g_stop_pipe[0], &b, 1) < 0 && errno == EINTR) {
    }
    (*server)->Stop();
  });
  Status st = (*server)->Run();
  // Wake the waiter if the server stopped on its own.
  char b = 0;
  ssize_t n = ::write(g_stop_pipe[1], &b, 1);
  (void)n;
  waiter.join();
  if (!st.ok()) return Fail("serve", st);
  std::fprintf(stderr, "doppel serve: stopped\n");
  return 0;
}

}  // namespace

void RegisterServe(CLI::App& app, Action* action) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* serve = app.add_subcommand("serve", "Serve the HTTP API (JSON under /api/v1) for a data directory");
  a->engine.Add(serve);
  serve->add_option("--listen", a->listen, "HOST:PORT to listen on (default 127.0.0.1:8080; port 0: any free)");
  serve->add_option("--workers", a->workers, "HTTP worker threads (default 2 x cores, at least 4)");
  serve->add_option("--max-embeds", a->max_embeds, "image searches embedding at once (default: cores)");
  serve->add_option("--max-body-mb", a->max_body_mb, "largest request body in MiB (default 32)");
  serve->add_flag("--allow-writes", a->allow_writes,
                  "serve the write routes (index jobs, uploads, deletes); they need the bearer token");
  serve->add_option("--token-file", a->token_file, "file holding the bearer token (default: $DOPPEL_TOKEN)");
  serve->add_option("--root", a->roots, "NAME=FOLDER that index jobs may be started on (repeatable)");
  serve->callback([a, action] { *action = [a] { return RunServe(*a); }; });
}

}  // namespace doppel::cli
