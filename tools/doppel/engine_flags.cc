#include "engine_flags.h"

#include "doppel/api/api.h"
#include "doppel/milvus/milvus_store.h"

#include <cstdio>
#include <cstdlib>

namespace doppel::cli {

void EngineFlags::Add(CLI::App* cmd) {
  cmd->add_option("--data", data, "data directory (default: $DOPPEL_DATA or ./doppel-data)");
  cmd->add_option("--threads", threads, "inference threads (default: number of cores)");
  cmd->add_option("--batch", batch, "images per inference call (default 1)");
  cmd->add_option("--store", store,
                  "vector store: milvus://[USER:PASSWORD@]HOST[:PORT][/DB] (or milvuss://, https://) for a Milvus "
                  "server (default: $DOPPEL_STORE, else the embedded store in the data directory)");
}

EngineFlags& EngineFlags::Global() {
  static EngineFlags global;
  return global;
}

Result<std::unique_ptr<Engine>> EngineFlags::Open(Mode mode) const {
  const EngineFlags& g = Global();
  EngineOptions o;
  const char* env = std::getenv("DOPPEL_DATA");
  std::string dir = !data.empty() ? data : g.data;
  o.data_dir = !dir.empty() ? dir : (env && *env ? env : "doppel-data");
  o.embed.infer_threads = threads ? threads : g.threads;
  int b = batch ? batch : g.batch;
  o.embed.batch_size = b ? b : EmbedOptions{}.batch_size;
  o.read_only = mode == Mode::kRead;
  // A Milvus store: the collections live on the server; the data directory keeps this host's models and catalog.
  const char* store_env = std::getenv("DOPPEL_STORE");
  std::string uri = !store.empty() ? store : (!g.store.empty() ? g.store : (store_env ? store_env : ""));
  if (!uri.empty()) {
    DOPPEL_ASSIGN_OR_RETURN(MilvusOptions mo, ParseMilvusUri(uri));
    DOPPEL_ASSIGN_OR_RETURN(std::unique_ptr<VectorStore> vs, OpenMilvusStore(mo));
    o.store = std::shared_ptr<VectorStore>(std::move(vs));
  }
  return Engine::Open(o);
}

std::string HumanBytes(int64_t n) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = double(n);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

int Fail(const std::string& cmd, const Status& st) {
  std::fprintf(stderr, "doppel %s: %s\n", cmd.c_str(), st.ToString().c_str());
  switch (st.code()) {
    case Status::Code::kInvalidArgument:
    case Status::Code::kNotFound:
    case Status::Code::kAlreadyExists:
    case Status::Code::kFailedPrecondition:
    case Status::Code::kUnsupported:
    case Status::Code::kResourceExhausted:
      return 2;
    default:
      return 1;
  }
}

void QueryFlags::Add(CLI::App* cmd) {
  cmd->add_option("image", image, "query image file");
  cmd->add_option("--id", id, "query by the id of an indexed picture");
  cmd->add_option("--path", path, "query by the path of an indexed picture");
}

Result<SearchQuery> QueryFlags::Build() const {
  api::QueryInput in;
  in.image_file = image;
  in.id = id;
  in.indexed_path = path;
  return api::BuildQuery(in, api::Caller::kLocal);
}

}  // namespace doppel::cli
