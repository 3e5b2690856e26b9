// doppel embed: images -> vectors, printed as JSON lines in input order.
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "doppel/model/embedder.h"
#include "model_flags.h"

namespace doppel::cli {
namespace {

struct EmbedArgs {
  ModelFlags model;
  std::vector<std::string> images;
  int batch = EmbedOptions{}.batch_size;
  int threads = 0;
  int decode_threads = EmbedOptions{}.decode_threads;
};

int RunEmbed(const EmbedArgs& a) {
  auto model = a.model.Load();
  if (!model.ok()) {
    std::fprintf(stderr, "doppel embed: %s\n", model.status().ToString().c_str());
    return 2;
  }
  EmbedOptions opts;
  opts.batch_size = a.batch;
  opts.infer_threads = a.threads;
  opts.decode_threads = a.decode_threads;
  Embedder embedder({*model}, opts);
  // Results arrive in completion order; print them in input order.
  std::map<size_t, EmbedResult> pending;
  size_t next = 0;
  int failed = 0;
  auto print = [&](const EmbedResult& r) {
    nlohmann::json j;
    j["path"] = r.path;
    if (!r.status.ok()) {
      j["error"] = r.status.ToString();
      ++failed;
      std::fprintf(stderr, "doppel embed: skipped %s\n", r.status.ToString().c_str());
    } else {
      j["model"] = (*model)->fingerprint();
      j["format"] = r.format;
      j["width"] = r.width;
      j["height"] = r.height;
      j["dim"] = r.vectors[0].size();
      j["vector"] = r.vectors[0];
    }
    std::cout << j.dump() << "\n";
  };
  embedder.EmbedFiles(a.images, [&](EmbedResult&& r) {
    pending.emplace(r.index, std::move(r));
    while (!pending.empty() && pending.begin()->first == next) {
      print(pending.begin()->second);
      pending.erase(pending.begin());
      ++next;
    }
  });
  std::cout.flush();
  return failed ? 1 : 0;
}

}  // namespace

void RegisterEmbed(CLI::App& app, Action* action) {
  auto args = std::make_shared<EmbedArgs>();
  CLI::App* cmd = app.add_subcommand("embed", "Print the embedding of each image as a JSON line");
  args->model.Add(cmd);
  cmd->add_option("images", args->images, "image files")->required();
  cmd->add_option("--batch", args->batch, "images per inference call (default 1)");
  cmd->add_option("--threads", args->threads, "inference threads (default: number of cores)");
  cmd->add_option("--decode-threads", args->decode_threads,
                  "dedicated decoding threads (default 0: each inference thread decodes its own images)");
  cmd->callback([args, action] { *action = [args] { return RunEmbed(*args); }; });
}

}  // namespace doppel::cli
