// The workers behind Embedder::Start (see embedder.h): one long-lived set per session, in one of two shapes.
//
//   run to completion (decode_threads 0, the default):
//     Push -> inputs (bounded) -> `slots` workers, each: decode + preprocess -> its own batch -> inference -> sink
//   staged (decode_threads N > 0):
//     Push -> inputs (bounded) -> N decode workers -> prepared (bounded) -> `slots` inference workers -> sink
//
// Invariants:
// - CPU budget: at most `slots` (infer_threads) threads of the session compute at once. Run to completion: there
//   are only that many workers. Staged: a worker holds one of the slots while it computes, never while it waits on
//   a queue or the sink; decoders come first for a free slot (they feed everything downstream; when the tensor
//   queue is full they wait on it and leave the slots to inference), and an inference worker runs what is queued
//   (up to a batch) rather than wait for a full batch: no slot stays free while there is work.
// - Why run to completion is the default (BENCHMARKS.md, bench_index): a picture is never handed from thread to
//   thread between decoding and inference, so no core sits idle waiting for a woken thread (on a VM a wake-up
//   costs ~70 us), and inference reads a tensor still in the cache of the core that made it. A worker runs its
//   batch when full, or as soon as no source is queued (no worker waits with a part batch).
// - Memory: `inputs` holds at most 2 sources per slot (file bytes); each worker at most one batch of tensors
//   (staged: `prepared` 2 batches per inference worker, each decoder one decoded image).
// - Every source pushed gets exactly one sink call, unless the session is stopped before a worker starts it.
// - At most one decode per distinct decode setting a source needs, and fewer when one decode has another setting's
//   pixels for that picture (DecodeServes): models that decode alike share it, so do models whose draft sizes pick
//   the same scale for the picture; a source's near-copy record (ImageSource::picture_hash) is made from a decode
//   with the record's pixels when one was made, or else from one more decode on the same worker (counted as decode
//   time).
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "doppel/model/embedder.h"
#include "doppel/util/bounded_queue.h"

namespace doppel {
namespace {

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// A counting semaphore with two classes of waiters: an urgent one (a decoder) gets the next free slot before any
// other (inference).
class CpuSlots {
 public:
  explicit CpuSlots(int n) : free_(n) {}
  void Acquire(bool urgent) {
    std::unique_lock<std::mutex> l(mu_);
    if (urgent) ++urgent_waiting_;
    cv_.wait(l, [&] { return free_ > 0 && (urgent || urgent_waiting_ == 0); });
    if (urgent) --urgent_waiting_;
    --free_;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> l(mu_);
      ++free_;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
  int urgent_waiting_ = 0;
};

struct Input {
  size_t index = 0;
  ImageSource source;
};

// An image decoded and preprocessed for the models it asks for, waiting for inference.
struct Prepared {
  EmbedResult result;                       // index, path, format, size filled in; vectors sized, empty
  std::vector<bool> models;                 // which models to run
  std::vector<std::vector<float>> tensors;  // per model; empty for the others
};

// The picture's size after EXIF orientation, also when shrink-on-load decoded a fraction of it.
void PictureSize(const DecodedImage& d, int* w, int* h) {
  const int s = d.draft_scale;
  if (s <= 1) {
    *w = d.rgb.width;
    *h = d.rgb.height;
    return;
  }
  const bool upright = d.rgb.width == (d.source_width + s - 1) / s && d.rgb.height == (d.source_height + s - 1) / s;
  *w = upright ? d.source_width : d.source_height;
  *h = upright ? d.source_height : d.source_width;
}

}  // namespace

struct EmbedSession::State {
  State(const Embedder& e, EmbedSink s, const std::atomic<bool>* stop)
      : models(e.models()),
        options(e.options()),
        sink(std::move(s)),
        stop_flag(stop),
        slots_count(std::max(1, options.infer_threads)),
        run_to_completion(options.decode_threads == 0),
        // The reader is woken when half the sources are left, to read a burst of them, not after every picture.
        inputs(size_t(2 * slots_count), 1, size_t(slots_count)),
        prepared(size_t(options.batch_size) * size_t(slots_count) * 2),
        slots(slots_count) {
    // Models that decode alike (alpha, EXIF, shrink-on-load size and formats) share one decode of each image.
    using Key = std::tuple<AlphaMode, bool, int, int, bool, unsigned>;
    std::map<Key, size_t> seen;
    for (const auto& m : models) {
      DecodeOptions base;
      base.max_file_bytes = options.max_file_bytes;
      base.max_pixels = options.max_pixels;
      DecodeOptions d = DecodeOptionsFor(m->spec().preprocess, base);
      Key k{d.alpha, d.apply_exif_orientation, d.draft_width, d.draft_height, d.draft_oriented, d.draft_formats};
      auto [it, fresh] = seen.emplace(k, decode_settings.size());
      if (fresh) decode_settings.push_back(d);
      model_decode.push_back(it->second);
    }
    // The near-copy record's decode: a model's when one decodes by its rule, else a setting of its own (which a
    // model's decode may still serve, picture by picture: Prepare).
    hash_decode = decode_settings.size();
    for (size_t i = 0; i < decode_settings.size(); ++i)
      if (DecodesLikePictureHash(decode_settings[i])) hash_decode = i;
    if (hash_decode == decode_settings.size())
      decode_settings.push_back(PictureHashDecodeOptions(options.max_file_bytes, options.max_pixels));
    decoders = run_to_completion ? slots_count : options.decode_threads;
  }

  bool Stopping() const { return stopped || (stop_flag && *stop_flag); }

  void Emit(EmbedResult&& r) {
    std::lock_guard<std::mutex> l(sink_mu);
    sink(std::move(r));
  }

  void EndInputs(bool stop) {
    if (stop) stopped = true;
    inputs.Close();
  }

  void RecordDecode(double cpu) {
    std::lock_guard<std::mutex> l(stats_mu);
    ++stats.decoded;
    stats.decode_cpu_seconds += cpu;
  }

  void RecordInfer(double cpu, int n) {
    std::lock_guard<std::mutex> l(stats_mu);
    stats.inferred += n;
    stats.infer_cpu_seconds += cpu;
  }

  // Decodes once per decode setting the source's models need, then preprocesses for each of them. A decode made
  // for one setting serves another when it has that setting's pixels for this picture (DecodeServes: a 224 and a
  // 299 model both draft a 12 MP JPEG to 1/8), so a picture is often decoded once for several models.
  Status Prepare(const ImageSource& src, Prepared* p) {
    std::vector<std::optional<DecodedImage>> decoded(decode_settings.size());
    auto made = [&](size_t i) -> const DecodedImage* {
      if (decoded[i]) return &*decoded[i];
      for (size_t j = 0; j < decoded.size(); ++j)
        if (decoded[j] && DecodeServes(*decoded[j], decode_settings[j], decode_settings[i])) return &*decoded[j];
      return nullptr;
    };
    auto decode = [&](size_t i) -> Result<const DecodedImage*> {
      const DecodeOptions& o = decode_settings[i];
      auto r = src.bytes.empty() ? DecodeImageFile(src.path, o) : DecodeImageBuffer(src.bytes, src.path, o);
      if (!r.ok()) return r.status();
      decoded[i] = std::move(r).value();
      if (p->result.width == 0) {
        p->result.format = decoded[i]->format;
        PictureSize(*decoded[i], &p->result.width, &p->result.height);
      }
      return &*decoded[i];
    };
    int64_t model_decodes = 0;
    for (size_t m = 0; m < models.size(); ++m) {
      if (!p->models[m]) continue;
      const DecodedImage* d = made(model_decode[m]);
      if (!d) {
        DOPPEL_ASSIGN_OR_RETURN(d, decode(model_decode[m]));
        ++model_decodes;
      }
      std::vector<float>& t = p->tensors[m];
      t.resize(models[m]->input_floats());
      Status st = Preprocess(d->rgb, models[m]->spec().preprocess, models[m]->input_layout(), t.data());
      if (!st.ok()) return st.WithContext(src.path);
    }
    if (model_decodes > 0) {
      std::lock_guard<std::mutex> l(stats_mu);
      stats.model_decodes += model_decodes;
    }
    if (src.picture_hash) {
      const DecodedImage* d = made(hash_decode);
      p->result.picture_hash_shared = d != nullptr;
      if (!d) {
        auto r = decode(hash_decode);
        if (!r.ok()) return model_decodes > 0 ? Status::OK() : r.status();
        d = *r;
      }
      if (auto h = HashDecodedPicture(*d); h.ok()) {
        p->result.picture_hash = std::move(h).value();
        std::lock_guard<std::mutex> l(stats_mu);
        ++stats.hashed;
        if (!p->result.picture_hash_shared) ++stats.hash_decodes;
      }
    }
    return Status::OK();
  }

  // A source's result, sized for its models, before its decode.
  Prepared Begin(Input& in) const {
    Prepared p;
    p.result.index = in.index;
    p.result.path = in.source.path;
    p.result.vectors.assign(models.size(), {});
    p.models = in.source.models;
    p.models.resize(models.size(), in.source.models.empty());
    p.tensors.assign(models.size(), {});
    return p;
  }

  // Decodes + preprocesses one source (counted as decode time). False: it failed, and its result went to the sink.
  bool DecodeOne(Input& in, Prepared* p) {
    const double c0 = ThreadCpuSeconds();
    Status st = Prepare(in.source, p);
    RecordDecode(ThreadCpuSeconds() - c0);
    if (st.ok()) return true;
    p->result.status = st;
    p->result.vectors.clear();
    Emit(std::move(p->result));
    return false;
  }

  // Runs each model over the items that ask for it (one batch per model); the first failure fails the batch.
  Status InferBatch(std::vector<Prepared>* items, std::vector<float>* input, std::vector<float>* output) {
    const double c0 = ThreadCpuSeconds();
    Status st;
    std::vector<size_t> which;
    for (size_t m = 0; m < models.size() && st.ok(); ++m) {
      which.clear();
      for (size_t i = 0; i < items->size(); ++i)
        if ((*items)[i].models[m]) which.push_back(i);
      if (which.empty()) continue;
      // One image runs from its own tensor; several are copied into one batch.
      const float* batch = (*items)[which[0]].tensors[m].data();
      if (which.size() > 1) {
        const size_t floats = models[m]->input_floats();
        input->resize(which.size() * floats);
        for (size_t j = 0; j < which.size(); ++j)
          std::copy((*items)[which[j]].tensors[m].begin(), (*items)[which[j]].tensors[m].end(),
                    input->begin() + j * floats);
        batch = input->data();
      }
      st = models[m]->Run(batch, int(which.size()), output);
      if (!st.ok()) break;
      const size_t dim = size_t(models[m]->dim());
      for (size_t j = 0; j < which.size(); ++j)
        (*items)[which[j]].result.vectors[m].assign(output->begin() + j * dim, output->begin() + (j + 1) * dim);
    }
    RecordInfer(ThreadCpuSeconds() - c0, int(items->size()));
    return st;
  }

  // Hands every item's result to the sink (failed with `st` when it is not OK).
  void EmitAll(std::vector<Prepared>* items, const Status& st) {
    for (auto& it : *items) {
      if (!st.ok()) {
        it.result.status = st;
        it.result.vectors.clear();
      }
      Emit(std::move(it.result));
    }
    items->clear();
  }

  // Run to completion (decode_threads 0): the worker decodes its own sources and runs inference on them, a batch
  // at a time, on the same core: no hand-over between decoding and inference, and the tensors are still in that
  // core's cache. A batch is run when full, or as soon as no source is queued (no worker waits with a part batch).
  // Its tensors are kept from picture to picture (Preprocess writes every element): no new pages to fault in and
  // zero for each picture.
  void Worker() {
    std::vector<Prepared> items;
    std::vector<float> input, output;
    std::vector<std::vector<std::vector<float>>> spare(models.size());  // per model: tensors to reuse
    for (;;) {
      std::optional<Input> in = items.empty() ? inputs.Pop() : inputs.TryPop();
      if (in && Stopping()) in.reset();  // dropped: no result (what is prepared still runs)
      if (in) {
        Prepared p = Begin(*in);
        for (size_t m = 0; m < models.size(); ++m)
          if (p.models[m] && !spare[m].empty()) {
            p.tensors[m] = std::move(spare[m].back());
            spare[m].pop_back();
          }
        const bool ok = DecodeOne(*in, &p);
        in.reset();  // the file's bytes
        if (ok) items.push_back(std::move(p));
        if (int(items.size()) < options.batch_size) continue;
      }
      if (items.empty()) {
        if (inputs.Closed() && inputs.Size() == 0) return;
        continue;
      }
      Status st = InferBatch(&items, &input, &output);
      for (auto& it : items)
        for (size_t m = 0; m < models.size(); ++m)
          if (!it.tensors[m].empty()) spare[m].push_back(std::move(it.tensors[m]));
      EmitAll(&items, st);
    }
  }

  void DecodeWorker() {
    for (;;) {
      std::optional<Input> in = inputs.Pop();
      if (!in) break;
      if (Stopping()) continue;  // dropped: no result
      Prepared p = Begin(*in);
      slots.Acquire(true);
      const bool ok = DecodeOne(*in, &p);
      slots.Release();
      in.reset();  // the file's bytes
      if (!ok) continue;
      if (!prepared.Push(std::move(p))) break;
    }
    if (--decoders_running == 0) prepared.Close();
  }

  void InferWorker() {
    const int batch = options.batch_size;
    std::vector<Prepared> items;
    std::vector<float> input, output;
    for (;;) {
      // Wait for one tensor, then take what is queued, up to a batch. Once no more will come (the decoders are
      // done), what is left is shared among the inference workers, so that none ends the run alone.
      auto first = prepared.Pop();
      if (!first) return;
      items.push_back(std::move(*first));
      slots.Acquire(false);
      int take = batch;
      if (prepared.Closed())
        take = std::min(batch, int((prepared.Size() + 1 + size_t(slots_count) - 1) / size_t(slots_count)));
      while (int(items.size()) < take) {
        auto p = prepared.TryPop();
        if (!p) break;
        items.push_back(std::move(*p));
      }
      Status st = InferBatch(&items, &input, &output);
      slots.Release();
      EmitAll(&items, st);
    }
  }

  const std::vector<std::shared_ptr<const OnnxModel>>& models;  // the Embedder's, which outlives the session
  const EmbedOptions options;
  EmbedSink sink;
  const std::atomic<bool>* stop_flag;
  const int slots_count;
  const bool run_to_completion;  // decode_threads 0: slots_count workers, each decoding and inferring (Worker)

  BoundedQueue<Input> inputs;
  BoundedQueue<Prepared> prepared;
  CpuSlots slots;
  std::vector<DecodeOptions> decode_settings;  // distinct settings
  std::vector<size_t> model_decode;            // per model: its entry in decode_settings
  size_t hash_decode = 0;                      // the near-copy record's entry in decode_settings

  std::mutex sink_mu;        // one sink call at a time
  std::mutex push_mu;        // guards next_index
  size_t next_index = 0;
  std::atomic<bool> stopped{false};

  int decoders = 1;            // workers that decode: all of them (run to completion) or the dedicated ones
  mutable std::mutex stats_mu;  // guards stats
  EmbedStats stats;

  std::atomic<int> decoders_running{0};
  std::vector<std::thread> threads;
  std::once_flag joined;
};

EmbedSession::EmbedSession(std::unique_ptr<State> state) : s_(std::move(state)) {}

EmbedSession::~EmbedSession() {
  Stop();
  Wait();
}

std::optional<size_t> EmbedSession::Push(ImageSource source) {
  std::lock_guard<std::mutex> l(s_->push_mu);
  if (s_->Stopping()) return std::nullopt;
  const size_t index = s_->next_index;
  if (!s_->inputs.Push(Input{index, std::move(source)})) return std::nullopt;
  ++s_->next_index;
  return index;
}

void EmbedSession::Close() { s_->EndInputs(false); }
void EmbedSession::Stop() { s_->EndInputs(true); }

void EmbedSession::Wait() {
  std::call_once(s_->joined, [&] {
    for (auto& t : s_->threads) t.join();
    ReleaseFreedImageMemory();  // what the decodes of the run kept for reuse
  });
}

EmbedStats EmbedSession::Stats() const {
  std::lock_guard<std::mutex> l(s_->stats_mu);
  EmbedStats st = s_->stats;
  st.decoders = s_->decoders;
  return st;
}

std::unique_ptr<EmbedSession> Embedder::Start(EmbedSink sink, const std::atomic<bool>* stop) const {
  auto state = std::make_unique<EmbedSession::State>(*this, std::move(sink), stop);
  EmbedSession::State* s = state.get();
  std::unique_ptr<EmbedSession> session(new EmbedSession(std::move(state)));
  if (s->run_to_completion) {
    for (int i = 0; i < s->slots_count; ++i)
      s->threads.emplace_back([s] {
        pthread_setname_np(pthread_self(), "doppel-embed");
        s->Worker();
      });
    return session;
  }
  s->decoders_running = s->decoders;
  // Named for top, perf and benchmarks (Linux: at most 15 characters).
  for (int k = 0; k < s->decoders; ++k)
    s->threads.emplace_back([s] {
      pthread_setname_np(pthread_self(), "doppel-decode");
      s->DecodeWorker();
    });
  for (int i = 0; i < s->slots_count; ++i)
    s->threads.emplace_back([s] {
      pthread_setname_np(pthread_self(), "doppel-infer");
      s->InferWorker();
    });
  return session;
}

}  // namespace doppel
