#include "doppel/model/embedder.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "doppel/util/bounded_queue.h"

namespace doppel {
namespace {

// An image decoded and preprocessed for every model, waiting for inference.
struct Prepared {
  EmbedResult result;                        // index, path, format, size filled in
  std::vector<std::vector<float>> tensors;   // one per model
};

}  // namespace

Embedder::Embedder(std::vector<std::shared_ptr<const OnnxModel>> models, EmbedOptions options)
    : models_(std::move(models)), options_(options) {
  if (options_.batch_size < 1) options_.batch_size = 1;
  if (options_.decode_threads < 1) options_.decode_threads = 1;
  if (options_.infer_threads < 1) options_.infer_threads = std::max(1u, std::thread::hardware_concurrency());
}

void Embedder::EmbedFiles(const std::vector<std::string>& paths, const EmbedSink& sink) const {
  std::vector<ImageSource> sources(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) sources[i].path = paths[i];
  Embed(sources, sink);
}

void Embedder::Embed(const std::vector<ImageSource>& sources, const EmbedSink& sink,
                     const std::atomic<bool>* stop) const {
  std::mutex sink_mu;
  auto emit = [&](EmbedResult&& r) {
    std::lock_guard<std::mutex> lock(sink_mu);
    sink(std::move(r));
  };
  const int batch = options_.batch_size;
  BoundedQueue<Prepared> queue(size_t(batch) * options_.infer_threads * 2);
  std::atomic<size_t> next{0};

  // Models that decode alike (alpha handling, EXIF) share one decode of each image.
  using DecodeKey = std::tuple<AlphaMode, bool>;
  std::map<DecodeKey, DecodeOptions> decode_settings;
  std::vector<DecodeKey> model_key;
  for (const auto& m : models_) {
    DecodeOptions d;
    d.max_file_bytes = options_.max_file_bytes;
    d.max_pixels = options_.max_pixels;
    d.alpha = m->spec().preprocess.alpha;
    d.apply_exif_orientation = m->spec().preprocess.apply_exif_orientation;
    DecodeKey key{d.alpha, d.apply_exif_orientation};
    decode_settings.emplace(key, d);
    model_key.push_back(key);
  }

  auto decode_worker = [&] {
    for (size_t i = next++; i < sources.size() && !(stop && *stop); i = next++) {
      const ImageSource& src = sources[i];
      Prepared p;
      p.result.index = i;
      p.result.path = src.path;
      Status st;
      std::map<DecodeKey, DecodedImage> decoded;
      for (const auto& [key, opts] : decode_settings) {
        auto d = src.bytes.empty() ? DecodeImageFile(src.path, opts) : DecodeImageBuffer(src.bytes, src.path, opts);
        if (!d.ok()) {
          st = d.status();
          break;
        }
        p.result.format = d->format;
        p.result.width = d->rgb.width;
        p.result.height = d->rgb.height;
        decoded.emplace(key, std::move(d).value());
      }
      for (size_t m = 0; st.ok() && m < models_.size(); ++m) {
        std::vector<float> t(models_[m]->input_floats());
        st = Preprocess(decoded.at(model_key[m]).rgb, models_[m]->spec().preprocess, models_[m]->input_layout(),
                        t.data());
        if (!st.ok()) st = st.WithContext(src.path);
        p.tensors.push_back(std::move(t));
      }
      if (!st.ok()) {
        p.result.status = st;
        emit(std::move(p.result));
        continue;
      }
      queue.Push(std::move(p));
    }
  };

  auto infer_worker = [&] {
    std::vector<Prepared> items;
    std::vector<float> input, output;
    for (;;) {
      items.clear();
      while (int(items.size()) < batch) {
        auto p = queue.Pop();
        if (!p) break;
        items.push_back(std::move(*p));
      }
      if (items.empty()) return;
      const int n = static_cast<int>(items.size());
      Status st;
      for (size_t m = 0; m < models_.size() && st.ok(); ++m) {
        const size_t floats = models_[m]->input_floats();
        input.resize(size_t(n) * floats);
        for (int i = 0; i < n; ++i) std::copy(items[i].tensors[m].begin(), items[i].tensors[m].end(),
                                              input.begin() + size_t(i) * floats);
        st = models_[m]->Run(input.data(), n, &output);
        if (!st.ok()) break;
        const int dim = models_[m]->dim();
        for (int i = 0; i < n; ++i)
          items[i].result.vectors.emplace_back(output.begin() + size_t(i) * dim, output.begin() + size_t(i + 1) * dim);
      }
      for (auto& it : items) {
        if (!st.ok()) {
          it.result.status = st;
          it.result.vectors.clear();
        }
        emit(std::move(it.result));
      }
    }
  };

  std::vector<std::thread> decoders, inferers;
  for (int i = 0; i < options_.decode_threads; ++i) decoders.emplace_back(decode_worker);
  for (int i = 0; i < options_.infer_threads; ++i) inferers.emplace_back(infer_worker);
  for (auto& t : decoders) t.join();
  queue.Close();
  for (auto& t : inferers) t.join();
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
