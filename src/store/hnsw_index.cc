// The HNSW engine for float vectors: hnswlib (Debian's 0.6.2, header-only, compiled with our -march=native flags).
// We measured it against FAISS's IndexHNSWFlat on this machine (see docs/STORE.md): it builds 4-5x and searches
// ~2x faster at equal recall, so it is the engine; FAISS is not used for float HNSW.
//
// Labels are slots. Debian's hnswlib has no filter functor (added upstream in 0.7), so the base-layer search below
// is upstream 0.7's searchBaseLayerST with its `isIdAllowed` check, back-ported over 0.6.2's public members: the
// graph walk is unchanged, only results are restricted to allowed slots, so a filter applies before the top-k cut.
// Selective filters (few allowed slots) go to an exact scan instead, and so does any search where the graph walk
// returned fewer than min(k, allowed) hits: a filtered search returns k hits whenever k entities match.
#include <algorithm>
#include <atomic>
#include <fstream>
#include <hnswlib/hnswlib.h>
#include <queue>
#include <thread>

#include "store/exact_index.h"
#include "store/vector_index.h"

namespace doppel {
namespace {

using hnswlib::tableint;
using Hnsw = hnswlib::HierarchicalNSW<float>;

class HnswIndex final : public VectorIndex {
 public:
  explicit HnswIndex(const CollectionSchema& s)
      : spec_(s.index), metric_(s.metric), dim_(s.dim), scanner_(s.metric, s.vector_type, s.dim) {
    code_bytes_ = dim_ * sizeof(float);
    if (metric_ == Metric::kL2) space_ = std::make_unique<hnswlib::L2Space>(dim_);
    else space_ = std::make_unique<hnswlib::InnerProductSpace>(dim_);
  }

  Status Add(size_t n, const uint32_t* slots, const uint8_t* data) override {
    try {
      if (!hnsw_) hnsw_ = std::make_unique<Hnsw>(space_.get(), std::max<size_t>(1024, n), spec_.hnsw_m,
                                                 spec_.hnsw_ef_construction);
      size_t need = hnsw_->cur_element_count + n;
      if (need > hnsw_->max_elements_) hnsw_->resizeIndex(std::max(need, hnsw_->max_elements_ * 5 / 4));
      // hnswlib's addPoint is thread-safe for distinct labels: large batches are built on all cores.
      size_t threads = n >= 256 ? std::max(1u, std::thread::hardware_concurrency()) : 1;
      std::atomic<size_t> next{0};
      std::atomic<bool> failed{false};
      std::string error;
      auto work = [&] {
        for (size_t i; (i = next++) < n && !failed;) {
          try {
            hnsw_->addPoint(data + i * code_bytes_, slots[i]);
          } catch (const std::exception& e) {
            if (!failed.exchange(true)) error = e.what();
          }
        }
      };
      std::vector<std::thread> pool;
      for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
      work();
      for (auto& t : pool) t.join();
      if (failed) return Status::Internal("hnswlib addPoint failed: " + error);
      for (size_t i = 0; i < n; ++i) max_slot_ = std::max<size_t>(max_slot_, slots[i] + 1);
    } catch (const std::exception& e) {
      return Status::ResourceExhausted(std::string("hnswlib: ") + e.what());
    }
    return Status::OK();
  }

  Status Search(const uint8_t* queries, size_t nq, const IndexSearchParams& p,
                std::vector<SlotHits>* out) const override {
    out->assign(nq, {});
    if (!hnsw_ || hnsw_->cur_element_count == 0 || p.allow_count == 0) return Status::OK();
    size_t k = static_cast<size_t>(p.k);
    size_t ef = std::max<size_t>(k, p.ef > 0 ? p.ef : spec_.hnsw_ef);
    size_t want = std::min(k, p.allow_count);
    // An exact scan over few allowed slots is cheaper than a graph walk that must skip most of what it visits.
    bool exact_first = p.allow_count <= kExactBelow || p.allow_count * 50 < max_slot_;
    // No filter and no tombstones: every graph node is allowed, so skip the per-candidate check (it reads the
    // label, a cache line the unfiltered walk never touches).
    bool all_allowed = p.allow_count == hnsw_->cur_element_count;
    // Batches: queries spread over all cores (searches only read the graph).
    ParallelFor(nq, [&](size_t q) {
      const uint8_t* query = queries + q * code_bytes_;
      if (!exact_first) {
        GraphSearch(query, k, ef, *p.allow, all_allowed, &(*out)[q]);
        if ((*out)[q].size() >= want) return;
      }
      ExactScan(query, k, *p.allow, &(*out)[q]);
    });
    return Status::OK();
  }

  bool IsExact() const override { return false; }

  Status Save(const std::string& path) const override {
    if (!hnsw_) {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      if (!f) return Status::IOError("cannot write index file " + path);
      return Status::OK();
    }
    try {
      hnsw_->saveIndex(path);
    } catch (const std::exception& e) {
      return Status::IOError("cannot write index file " + path + ": " + e.what());
    }
    return Status::OK();
  }

  Status Load(const std::string& path) override {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) return Status::Corruption("cannot read index file " + path);
    if (f.tellg() == 0) {
      hnsw_.reset();
      max_slot_ = 0;
      return Status::OK();
    }
    try {
      auto h = std::make_unique<Hnsw>(space_.get());
      h->loadIndex(path, space_.get(), 0);
      if (h->data_size_ != code_bytes_) return Status::Corruption("index file " + path + " has the wrong dimension");
      size_t mx = 0;
      for (tableint i = 0; i < h->cur_element_count; ++i) mx = std::max<size_t>(mx, h->getExternalLabel(i) + 1);
      hnsw_ = std::move(h);
      max_slot_ = mx;
    } catch (const std::exception& e) {
      return Status::Corruption("index file " + path + " is damaged: " + e.what());
    }
    return Status::OK();
  }

  size_t MemoryBytes() const override {
    if (!hnsw_) return 0;
    size_t b = hnsw_->max_elements_ * hnsw_->size_data_per_element_;
    for (tableint i = 0; i < hnsw_->cur_element_count; ++i)
      b += hnsw_->element_levels_[i] * hnsw_->size_links_per_element_;
    return b + hnsw_->label_lookup_.size() * 32;
  }
  size_t Slots() const override { return max_slot_; }

 private:
  static constexpr size_t kExactBelow = 2048;

  void ExactScan(const uint8_t* query, size_t k, const Bitmap& allow, SlotHits* out) const {
    auto row = [this](uint32_t slot) -> const uint8_t* {
      auto it = hnsw_->label_lookup_.find(slot);
      if (it == hnsw_->label_lookup_.end()) return nullptr;
      return reinterpret_cast<const uint8_t*>(hnsw_->getDataByInternalId(it->second));
    };
    scanner_.Scan(query, k, allow, max_slot_, row, out);
  }

  // Greedy descent through the upper layers, then the filtered base-layer beam search.
  void GraphSearch(const uint8_t* query, size_t k, size_t ef, const Bitmap& allow, bool all_allowed,
                   SlotHits* out) const {
    const Hnsw& h = *hnsw_;
    tableint cur = h.enterpoint_node_;
    float curdist = h.fstdistfunc_(query, h.getDataByInternalId(cur), h.dist_func_param_);
    for (int level = h.maxlevel_; level > 0; level--) {
      bool changed = true;
      while (changed) {
        changed = false;
        unsigned int* data = (unsigned int*)h.get_linklist(cur, level);
        int size = h.getListCount(data);
        tableint* datal = (tableint*)(data + 1);
        for (int i = 0; i < size; i++) {
          tableint cand = datal[i];
          float d = h.fstdistfunc_(query, h.getDataByInternalId(cand), h.dist_func_param_);
          if (d < curdist) {
            curdist = d;
            cur = cand;
            changed = true;
          }
        }
      }
    }
    auto top = all_allowed ? BaseLayer<false>(cur, query, ef, allow) : BaseLayer<true>(cur, query, ef, allow);
    while (top.size() > k) top.pop();
    out->resize(top.size());
    for (size_t i = top.size(); i-- > 0;) {
      (*out)[i] = {scanner_.Report(top.top().first), static_cast<uint32_t>(h.getExternalLabel(top.top().second))};
      top.pop();
    }
  }

  using Pair = std::pair<float, tableint>;
  using Queue = std::priority_queue<Pair, std::vector<Pair>, Hnsw::CompareByFirst>;

  // hnswlib 0.7's searchBaseLayerST<has_deletions=false>(ep, query, ef, isIdAllowed), on 0.6.2's members.
  template <bool kFiltered>
  Queue BaseLayer(tableint ep_id, const void* data_point, size_t ef, const Bitmap& allow) const {
    const Hnsw& h = *hnsw_;
    hnswlib::VisitedList* vl = h.visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type* visited_array = vl->mass;
    hnswlib::vl_type visited_array_tag = vl->curV;
    Queue top_candidates;
    Queue candidate_set;
    auto allowed = [&](tableint id) { return !kFiltered || allow.Test(h.getExternalLabel(id)); };

    float lowerBound;
    if (allowed(ep_id)) {
      float dist = h.fstdistfunc_(data_point, h.getDataByInternalId(ep_id), h.dist_func_param_);
      lowerBound = dist;
      top_candidates.emplace(dist, ep_id);
      candidate_set.emplace(-dist, ep_id);
    } else {
      lowerBound = std::numeric_limits<float>::max();
      candidate_set.emplace(-lowerBound, ep_id);
    }
    visited_array[ep_id] = visited_array_tag;

    while (!candidate_set.empty()) {
      Pair current_node_pair = candidate_set.top();
      if ((-current_node_pair.first) > lowerBound && (top_candidates.size() == ef || !kFiltered)) break;
      candidate_set.pop();
      tableint current_node_id = current_node_pair.second;
      int* data = (int*)h.get_linklist0(current_node_id);
      size_t size = h.getListCount((hnswlib::linklistsizeint*)data);
#ifdef USE_SSE
      _mm_prefetch((char*)(visited_array + *(data + 1)), _MM_HINT_T0);
      _mm_prefetch((char*)(visited_array + *(data + 1) + 64), _MM_HINT_T0);
      _mm_prefetch(h.data_level0_memory_ + (*(data + 1)) * h.size_data_per_element_ + h.offsetData_, _MM_HINT_T0);
      _mm_prefetch((char*)(data + 2), _MM_HINT_T0);
#endif
      for (size_t j = 1; j <= size; j++) {
        int candidate_id = *(data + j);
#ifdef USE_SSE
        _mm_prefetch((char*)(visited_array + *(data + j + 1)), _MM_HINT_T0);
        _mm_prefetch(h.data_level0_memory_ + (*(data + j + 1)) * h.size_data_per_element_ + h.offsetData_,
                     _MM_HINT_T0);
#endif
        if (visited_array[candidate_id] == visited_array_tag) continue;
        visited_array[candidate_id] = visited_array_tag;
        char* currObj1 = h.getDataByInternalId(candidate_id);
        float dist = h.fstdistfunc_(data_point, currObj1, h.dist_func_param_);
        if (top_candidates.size() < ef || lowerBound > dist) {
          candidate_set.emplace(-dist, candidate_id);
#ifdef USE_SSE
          _mm_prefetch(h.data_level0_memory_ + candidate_set.top().second * h.size_data_per_element_ +
                           h.offsetLevel0_,
                       _MM_HINT_T0);
#endif
          if (allowed(candidate_id)) top_candidates.emplace(dist, candidate_id);
          if (top_candidates.size() > ef) top_candidates.pop();
          if (!top_candidates.empty()) lowerBound = top_candidates.top().first;
        }
      }
    }
    h.visited_list_pool_->releaseVisitedList(vl);
    return top_candidates;
  }

  IndexSpec spec_;
  Metric metric_;
  size_t dim_;
  ExactScanner scanner_;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;  // outlives hnsw_, which points into it
  std::unique_ptr<Hnsw> hnsw_;
  size_t max_slot_ = 0;  // highest label + 1
};

}  // namespace

std::shared_ptr<void> HnswlibKernel(Metric metric, size_t dim, DistFunc* func, void** param) {
  std::shared_ptr<hnswlib::SpaceInterface<float>> space;
  if (metric == Metric::kL2) space = std::make_shared<hnswlib::L2Space>(dim);
  else space = std::make_shared<hnswlib::InnerProductSpace>(dim);
  *func = space->get_dist_func();
  *param = space->get_dist_func_param();
  return space;
}

std::unique_ptr<VectorIndex> NewHnswIndex(const CollectionSchema& schema) {
  return std::make_unique<HnswIndex>(schema);
}

}  // namespace doppel
