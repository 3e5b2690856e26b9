// FAISS engines (Debian libfaiss-dev 1.7.3):
//   IVF_FLAT, IVF_SQ8, IVF_PQ for float vectors: IndexIVFFlat / IndexIVFScalarQuantizer(QT_8bit) / IndexIVFPQ over
//   an IndexFlat coarse quantiser, labels = slots. Filters and tombstones go in as an IDSelectorBitmap through
//   SearchParametersIVF, so they apply inside the scan, before the top-k cut. A query that finds fewer than
//   min(k, allowed) hits in its nprobe lists is run again over all lists, so k hits come back whenever k match.
//   Until there are enough vectors to train on, vectors wait in an exact buffer that also serves searches.
//   HNSW for binary vectors: IndexBinaryHNSW; it takes no selector in 1.7.3, so results are filtered after the graph
//   walk with a growing k, and an exact popcount scan over an own copy of the codes covers selective filters.
#include <faiss/IndexBinaryHNSW.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <cmath>
#include <cstdio>
#include <mutex>

#include "store/exact_index.h"
#include "store/vector_index.h"

namespace doppel {
namespace {

constexpr char kIvfMagic[8] = {'D', 'P', 'L', 'I', 'V', 'F', '0', '1'};
constexpr char kBinHnswMagic[8] = {'D', 'P', 'L', 'B', 'H', 'N', 'W', '1'};

struct File {
  FILE* f = nullptr;
  File(const std::string& path, const char* mode) : f(std::fopen(path.c_str(), mode)) {}
  ~File() {
    if (f) std::fclose(f);
  }
};

class IvfIndex final : public VectorIndex {
 public:
  explicit IvfIndex(const CollectionSchema& s) : schema_(s), dim_(s.dim) {
    code_bytes_ = dim_ * sizeof(float);
    CollectionSchema flat = s;
    flat.index.kind = IndexKind::kFlat;
    pending_ = std::make_unique<ExactIndex>(flat);
  }

  Status Add(size_t n, const uint32_t* slots, const uint8_t* data) override {
    try {
      if (!ivf_) {
        DOPPEL_RETURN_IF_ERROR(pending_->Add(n, slots, data));
        if (pending_->Slots() >= TrainThreshold()) return Train();
        return Status::OK();
      }
      // Replacing a slot: remove its old code first (IVF lists may hold each label once).
      faiss::IDSelectorBatch replaced(0, nullptr);
      bool any = false;
      for (size_t i = 0; i < n; ++i)
        if (have_.Test(slots[i])) {
          replaced.set.insert(slots[i]);
          any = true;
        }
      if (any) {
        std::vector<int64_t> v(replaced.set.begin(), replaced.set.end());
        faiss::IDSelectorBatch sel(v.size(), v.data());
        ivf_->remove_ids(sel);
      }
      std::vector<int64_t> labels(slots, slots + n);
      ivf_->add_with_ids(static_cast<int64_t>(n), reinterpret_cast<const float*>(data), labels.data());
      for (size_t i = 0; i < n; ++i) {
        if (slots[i] >= have_.size()) have_.Resize(std::max<size_t>(slots[i] + 1, have_.size() * 2));
        have_.Set(slots[i], true);
        nslots_ = std::max<size_t>(nslots_, slots[i] + 1);
      }
    } catch (const std::exception& e) {
      return Status::Internal(std::string("FAISS IVF add failed: ") + e.what());
    }
    return Status::OK();
  }

  Status Search(const uint8_t* queries, size_t nq, const IndexSearchParams& p,
                std::vector<SlotHits>* out) const override {
    if (!ivf_) return pending_->Search(queries, nq, p, out);
    out->assign(nq, {});
    size_t k = static_cast<size_t>(p.k);
    std::vector<float> dist(nq * k);
    std::vector<int64_t> lab(nq * k);
    faiss::IDSelectorBitmap sel(p.allow->bytes(), p.allow->data());
    faiss::SearchParametersIVF sp;
    sp.sel = &sel;
    sp.nprobe = static_cast<size_t>(p.nprobe > 0 ? p.nprobe : schema_.index.ivf_nprobe);
    const float* x = reinterpret_cast<const float*>(queries);
    try {
      ivf_->search(static_cast<int64_t>(nq), x, static_cast<int64_t>(k), dist.data(), lab.data(), &sp);
      size_t want = std::min(k, p.allow_count);
      for (size_t q = 0; q < nq; ++q) {
        Collect(&dist[q * k], &lab[q * k], k, &(*out)[q]);
        if ((*out)[q].size() < want && sp.nprobe < ivf_->nlist) {
          faiss::SearchParametersIVF all = sp;
          all.nprobe = ivf_->nlist;
          ivf_->search(1, x + q * dim_, static_cast<int64_t>(k), &dist[q * k], &lab[q * k], &all);
          Collect(&dist[q * k], &lab[q * k], k, &(*out)[q]);
        }
      }
    } catch (const std::exception& e) {
      return Status::Internal(std::string("FAISS IVF search failed: ") + e.what());
    }
    return Status::OK();
  }

  bool IsExact() const override { return !ivf_; }

  Status Save(const std::string& path) const override {
    File f(path, "wb");
    if (!f.f) return Status::IOError("cannot write index file " + path);
    uint64_t trained = ivf_ ? 1 : 0;
    std::fwrite(kIvfMagic, 1, 8, f.f);
    std::fwrite(&trained, 8, 1, f.f);
    if (!trained) {
      std::fclose(f.f);
      f.f = nullptr;
      // The untrained buffer: an exact index's own file, after our header.
      std::string tmp = path + ".pending";
      DOPPEL_RETURN_IF_ERROR(pending_->Save(tmp));
      return AppendFile(tmp, path);
    }
    try {
      faiss::FileIOWriter w(f.f);
      faiss::write_index(ivf_.get(), &w);
    } catch (const std::exception& e) {
      return Status::IOError("cannot write index file " + path + ": " + e.what());
    }
    if (std::fflush(f.f) != 0) return Status::IOError("cannot write index file " + path);
    return Status::OK();
  }

  Status Load(const std::string& path) override {
    File f(path, "rb");
    char magic[8];
    uint64_t trained = 0;
    if (!f.f || std::fread(magic, 1, 8, f.f) != 8 || std::memcmp(magic, kIvfMagic, 8) != 0 ||
        std::fread(&trained, 8, 1, f.f) != 1)
      return Status::Corruption("index file " + path + " is not an IVF index file");
    if (!trained) {
      // Re-read the exact buffer from offset 16.
      std::string tmp = path + ".pending";
      DOPPEL_RETURN_IF_ERROR(CopyTail(f.f, tmp));
      Status s = pending_->Load(tmp);
      std::remove(tmp.c_str());
      return s;
    }
    try {
      faiss::FileIOReader r(f.f);
      std::unique_ptr<faiss::Index> idx(faiss::read_index(&r));
      auto* ivf = dynamic_cast<faiss::IndexIVF*>(idx.get());
      if (!ivf || ivf->d != static_cast<int>(dim_)) return Status::Corruption("index file " + path + " holds another index");
      idx.release();
      ivf_.reset(ivf);
      // Which slots hold codes: walk the inverted lists once.
      have_ = Bitmap();
      nslots_ = 0;
      for (size_t l = 0; l < ivf_->nlist; ++l) {
        size_t ls = ivf_->invlists->list_size(l);
        const int64_t* ids = ivf_->invlists->get_ids(l);
        for (size_t i = 0; i < ls; ++i) {
          size_t s = static_cast<size_t>(ids[i]);
          if (s >= have_.size()) have_.Resize(std::max(s + 1, have_.size() * 2));
          have_.Set(s, true);
          nslots_ = std::max(nslots_, s + 1);
        }
        ivf_->invlists->release_ids(l, ids);
      }
      pending_->Clear();
    } catch (const std::exception& e) {
      return Status::Corruption("index file " + path + " is damaged: " + e.what());
    }
    return Status::OK();
  }

  size_t MemoryBytes() const override {
    if (!ivf_) return pending_->MemoryBytes();
    return ivf_->ntotal * (ivf_->code_size + 8) + ivf_->nlist * dim_ * sizeof(float) + have_.bytes();
  }
  size_t Slots() const override { return ivf_ ? nslots_ : pending_->Slots(); }

 private:
  size_t NList(size_t n) const {
    if (schema_.index.ivf_nlist > 0) return static_cast<size_t>(schema_.index.ivf_nlist);
    size_t nl = static_cast<size_t>(4 * std::sqrt(static_cast<double>(n)));
    return std::clamp<size_t>(std::min(nl, n / 39), 1, 65536);
  }
  size_t TrainThreshold() const {
    if (schema_.index.ivf_nlist > 0) return std::max<size_t>(39 * schema_.index.ivf_nlist, 1000);
    return 20000;
  }

  Status Train() {
    size_t n = pending_->Slots();
    size_t nlist = NList(n);
    faiss::MetricType mt = schema_.metric == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
    auto quantizer = std::make_unique<faiss::IndexFlat>(dim_, mt);
    std::unique_ptr<faiss::IndexIVF> ivf;
    switch (schema_.index.kind) {
      case IndexKind::kIvfFlat: ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer.get(), dim_, nlist, mt); break;
      case IndexKind::kIvfSq8:
        ivf = std::make_unique<faiss::IndexIVFScalarQuantizer>(quantizer.get(), dim_, nlist,
                                                                faiss::ScalarQuantizer::QT_8bit, mt);
        break;
      case IndexKind::kIvfPq: {
        size_t m = schema_.index.pq_m > 0 ? schema_.index.pq_m : dim_ / 8;
        ivf = std::make_unique<faiss::IndexIVFPQ>(quantizer.get(), dim_, nlist, m, schema_.index.pq_nbits, mt);
        break;
      }
      default: return Status::Internal("not an IVF index");
    }
    ivf->own_fields = true;
    quantizer.release();
    ivf->cp.verbose = false;
    const float* x = reinterpret_cast<const float*>(pending_->Row(0));
    ivf->train(static_cast<int64_t>(n), x);
    std::vector<int64_t> labels(n);
    for (size_t i = 0; i < n; ++i) labels[i] = static_cast<int64_t>(i);
    ivf->add_with_ids(static_cast<int64_t>(n), x, labels.data());
    have_ = Bitmap(n, true);
    nslots_ = n;
    ivf_ = std::move(ivf);
    pending_->Clear();
    return Status::OK();
  }

  void Collect(const float* d, const int64_t* l, size_t k, SlotHits* out) const {
    out->clear();
    for (size_t j = 0; j < k; ++j)
      if (l[j] >= 0) out->emplace_back(d[j], static_cast<uint32_t>(l[j]));
  }

  static Status AppendFile(const std::string& from, const std::string& to) {
    File in(from, "rb"), out(to, "ab");
    if (!in.f || !out.f) return Status::IOError("cannot write index file " + to);
    char buf[1 << 16];
    for (size_t got; (got = std::fread(buf, 1, sizeof buf, in.f)) > 0;)
      if (std::fwrite(buf, 1, got, out.f) != got) return Status::IOError("cannot write index file " + to);
    std::remove(from.c_str());
    return Status::OK();
  }
  static Status CopyTail(FILE* in, const std::string& to) {
    File out(to, "wb");
    if (!out.f) return Status::IOError("cannot write " + to);
    char buf[1 << 16];
    for (size_t got; (got = std::fread(buf, 1, sizeof buf, in)) > 0;) std::fwrite(buf, 1, got, out.f);
    return Status::OK();
  }

  CollectionSchema schema_;
  size_t dim_;
  std::unique_ptr<ExactIndex> pending_;  // until trained
  std::unique_ptr<faiss::IndexIVF> ivf_;  // once trained
  Bitmap have_;                           // slots with a code in ivf_
  size_t nslots_ = 0;
};

// HNSW over binary codes (FAISS IndexBinaryHNSW). Graph positions are append-only; a replaced slot gets a new
// position and its old one is ignored (pos_slot_ / slot_pos_).
class BinaryHnswIndex final : public VectorIndex {
 public:
  explicit BinaryHnswIndex(const CollectionSchema& s) : schema_(s) {
    code_bytes_ = s.dim / 8;
    CollectionSchema flat = s;
    flat.index.kind = IndexKind::kFlat;
    exact_ = std::make_unique<ExactIndex>(flat);
    Reset();
  }

  Status Add(size_t n, const uint32_t* slots, const uint8_t* data) override {
    try {
      DOPPEL_RETURN_IF_ERROR(exact_->Add(n, slots, data));
      int64_t base = hnsw_->ntotal;
      hnsw_->add(static_cast<int64_t>(n), data);
      for (size_t i = 0; i < n; ++i) {
        pos_slot_.push_back(slots[i]);
        if (slots[i] >= slot_pos_.size()) slot_pos_.resize(slots[i] + 1, -1);
        slot_pos_[slots[i]] = base + static_cast<int64_t>(i);
      }
    } catch (const std::exception& e) {
      return Status::Internal(std::string("FAISS binary HNSW add failed: ") + e.what());
    }
    return Status::OK();
  }

  Status Search(const uint8_t* queries, size_t nq, const IndexSearchParams& p,
                std::vector<SlotHits>* out) const override {
    out->assign(nq, {});
    size_t k = static_cast<size_t>(p.k);
    size_t want = std::min(k, p.allow_count);
    if (p.allow_count == 0) return Status::OK();
    bool exact_first = p.allow_count <= 2048 || p.allow_count * 50 < pos_slot_.size();
    try {
      for (size_t q = 0; q < nq; ++q) {
        const uint8_t* query = queries + q * code_bytes_;
        if (!exact_first) {
          // Over-fetch so that filtered-out and stale positions leave enough hits.
          size_t fetch = std::min<size_t>(pos_slot_.size(), k * 2 * std::max<size_t>(1, pos_slot_.size() / p.allow_count));
          std::vector<int32_t> d(fetch);
          std::vector<int64_t> l(fetch);
          {
            // IndexBinaryHNSW takes no SearchParameters in 1.7.3: efSearch is a member, so searches take turns.
            std::lock_guard<std::mutex> lock(search_mu_);
            hnsw_->hnsw.efSearch = static_cast<int>(std::max<size_t>(fetch, p.ef > 0 ? p.ef : schema_.index.hnsw_ef));
            hnsw_->search(1, query, static_cast<int64_t>(fetch), d.data(), l.data());
          }
          for (size_t j = 0; j < fetch && (*out)[q].size() < k; ++j) {
            if (l[j] < 0) continue;
            uint32_t slot = pos_slot_[l[j]];
            if (slot_pos_[slot] != l[j] || !p.allow->Test(slot)) continue;
            (*out)[q].emplace_back(static_cast<float>(d[j]), slot);
          }
          if ((*out)[q].size() >= want) continue;
        }
        std::vector<SlotHits> one;
        DOPPEL_RETURN_IF_ERROR(exact_->Search(query, 1, p, &one));
        (*out)[q] = std::move(one[0]);
      }
    } catch (const std::exception& e) {
      return Status::Internal(std::string("FAISS binary HNSW search failed: ") + e.what());
    }
    return Status::OK();
  }

  bool IsExact() const override { return false; }

  Status Save(const std::string& path) const override {
    // Rebuilding is cheap next to float HNSW (codes are dim/8 bytes); the file holds the codes and the graph.
    File f(path, "wb");
    if (!f.f) return Status::IOError("cannot write index file " + path);
    try {
      std::fwrite(kBinHnswMagic, 1, 8, f.f);
      uint64_t np = pos_slot_.size(), ns = slot_pos_.size();
      std::fwrite(&np, 8, 1, f.f);
      std::fwrite(pos_slot_.data(), 4, np, f.f);
      std::fwrite(&ns, 8, 1, f.f);
      std::fwrite(slot_pos_.data(), 8, ns, f.f);
      faiss::FileIOWriter w(f.f);
      faiss::write_index_binary(hnsw_.get(), &w);
    } catch (const std::exception& e) {
      return Status::IOError("cannot write index file " + path + ": " + e.what());
    }
    if (std::fflush(f.f) != 0) return Status::IOError("cannot write index file " + path);
    return Status::OK();
  }

  Status Load(const std::string& path) override {
    File f(path, "rb");
    char magic[8];
    uint64_t np = 0, ns = 0;
    if (!f.f || std::fread(magic, 1, 8, f.f) != 8 || std::memcmp(magic, kBinHnswMagic, 8) != 0 ||
        std::fread(&np, 8, 1, f.f) != 1 || np > (1ull << 32))
      return Status::Corruption("index file " + path + " is not a binary HNSW index file");
    std::vector<uint32_t> pos_slot(np);
    if (std::fread(pos_slot.data(), 4, np, f.f) != np || std::fread(&ns, 8, 1, f.f) != 1 || ns > (1ull << 32))
      return Status::Corruption("index file " + path + " is truncated");
    std::vector<int64_t> slot_pos(ns);
    if (std::fread(slot_pos.data(), 8, ns, f.f) != ns) return Status::Corruption("index file " + path + " is truncated");
    try {
      faiss::FileIOReader r(f.f);
      std::unique_ptr<faiss::IndexBinary> idx(faiss::read_index_binary(&r));
      auto* h = dynamic_cast<faiss::IndexBinaryHNSW*>(idx.get());
      if (!h || h->d != schema_.dim || static_cast<uint64_t>(h->ntotal) != np)
        return Status::Corruption("index file " + path + " holds another index");
      idx.release();
      hnsw_.reset(h);
      auto* storage = dynamic_cast<faiss::IndexBinaryFlat*>(h->storage);
      if (!storage) return Status::Corruption("index file " + path + " has no flat storage");
      // The exact copy: the latest code of each slot.
      exact_->Clear();
      for (uint32_t s = 0; s < ns; ++s)
        if (slot_pos[s] >= 0) {
          if (static_cast<uint64_t>(slot_pos[s]) >= np || pos_slot[slot_pos[s]] != s)
            return Status::Corruption("index file " + path + " has an inconsistent slot table");
          DOPPEL_RETURN_IF_ERROR(exact_->Add(1, &s, storage->xb.data() + slot_pos[s] * code_bytes_));
        }
    } catch (const std::exception& e) {
      return Status::Corruption("index file " + path + " is damaged: " + e.what());
    }
    pos_slot_ = std::move(pos_slot);
    slot_pos_ = std::move(slot_pos);
    return Status::OK();
  }

  size_t MemoryBytes() const override {
    return exact_->MemoryBytes() + hnsw_->ntotal * (code_bytes_ + schema_.index.hnsw_m * 2 * 4 * 1.1) +
           pos_slot_.size() * 4 + slot_pos_.size() * 8;
  }
  size_t Slots() const override { return slot_pos_.size(); }

 private:
  void Reset() {
    hnsw_ = std::make_unique<faiss::IndexBinaryHNSW>(schema_.dim, schema_.index.hnsw_m);
    hnsw_->hnsw.efConstruction = schema_.index.hnsw_ef_construction;
  }

  CollectionSchema schema_;
  std::unique_ptr<ExactIndex> exact_;
  std::unique_ptr<faiss::IndexBinaryHNSW> hnsw_;
  std::vector<uint32_t> pos_slot_;  // graph position -> slot
  std::vector<int64_t> slot_pos_;   // slot -> current graph position, -1 = none
  mutable std::mutex search_mu_;    // guards hnsw_->hnsw.efSearch during a search
};

}  // namespace

Result<std::unique_ptr<VectorIndex>> NewFaissIndex(const CollectionSchema& schema) {
  if (schema.vector_type == VectorType::kBinary) {
    if (schema.index.kind == IndexKind::kHnsw) return std::unique_ptr<VectorIndex>(new BinaryHnswIndex(schema));
    return Status::Unsupported("collection '" + schema.name + "': binary vectors support FLAT and HNSW only");
  }
  return std::unique_ptr<VectorIndex>(new IvfIndex(schema));
}

}  // namespace doppel
