#include "doppel/model/embedder.h"

#include <algorithm>
#include <thread>

namespace doppel {

Embedder::Embedder(std::vector<std::shared_ptr<const OnnxModel>> models, EmbedOptions options)
    : models_(std::move(models)), options_(options) {
  if (options_.batch_size < 1) options_.batch_size = 1;
  if (options_.infer_threads < 1) options_.infer_threads = std::max(1u, std::thread::hardware_concurrency());
  if (options_.decode_threads < 0) options_.decode_threads = 0;
}

void Embedder::EmbedFiles(const std::vector<std::string>& paths, const EmbedSink& sink) const {
  std::vector<ImageSource> sources(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) sources[i].path = paths[i];
  Embed(sources, sink);
}

// One session for the list: sources are pushed in order, so a result's index is its position in the list.
void Embedder::Embed(const std::vector<ImageSource>& sources, const EmbedSink& sink,
                     const std::atomic<bool>* stop) const {
  std::unique_ptr<EmbedSession> session = Start(sink, stop);
  for (const ImageSource& s : sources) {
    if (stop && *stop) break;
    if (!session->Push(s)) break;
  }
  session->Close();
  session->Wait();
}

Result<std::vector<std::vector<float>>> Embedder::EmbedImage(const ImageU8& rgb) const {
  std::vector<std::vector<float>> out;
  for (const auto& m : models_) {
    DOPPEL_ASSIGN_OR_RETURN(std::vector<float> v, m->Embed(rgb));
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace doppel
