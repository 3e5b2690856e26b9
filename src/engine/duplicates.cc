// Engine::FindDuplicates and the near-copy hashes behind it.
//
// Hashes: every catalogued picture gets a near-copy record (image/picture_hash.h: a 256-bit perceptual hash of its
// decoded, EXIF-oriented pixels in all 8 rotations/flips, its quality, and a pixel hash: a PNG and its lossless WebP
// are one picture), stored in the binary collection kHashCollection (Hamming, exact search). An index job's pipeline
// makes the records of the pictures it embeds (from a model's decode when the model decodes by the record's rule);
// UpdateHashes, after its last commit, makes the missing ones (pictures indexed before, records of an older rule).
//
// Grouping, without chaining: the pictures are visited in keeper order (largest resolution, then largest file, then
// path); each one not yet in a group becomes a representative and takes the not-yet-grouped pictures that are
// within a tier's threshold of IT: exact (same pixel hash, or the same picture under another path), near-copy (the
// Hamming distance between its hash in any of the 8 rotations/flips and theirs, both hashes of sufficient quality),
// similar (the model's distance). Each member keeps its strongest tier. The neighbour lists come from batched
// searches (256 pictures a request), so the cost is two searches per picture, not a matrix.
#include <algorithm>
#include <array>
#include <cstring>
#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <filesystem>

#include "doppel/image/decode.h"
#include "doppel/image/phash.h"
#include "doppel/util/file.h"
#include "doppel/util/hash.h"
#include "decisions.h"
#include "engine_impl.h"

namespace doppel {
namespace fs = std::filesystem;
namespace {

constexpr size_t kBatch = 256;

CollectionSchema HashSchema() {
  CollectionSchema s;
  s.name = kHashCollection;
  s.vector_type = VectorType::kBinary;
  s.dim = kPerceptualHashBits;
  s.metric = Metric::kHamming;
  s.index = IndexSpec::Parse("FLAT").value();
  s.fields = {{"quality", FieldType::kInt64}, {"pixels", FieldType::kString}, {"variants", FieldType::kString}};
  s.description = "doppel near-copy hashes (256-bit perceptual hash, quality, pixel hash)";
  return s;
}

std::string Hex(const std::array<PerceptualHash, 8>& v) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (const auto& h : v)
    for (uint8_t b : h.bits) {
      s += d[b >> 4];
      s += d[b & 15];
    }
  return s;
}

bool FromHex(const std::string& s, std::array<PerceptualHash, 8>* v) {
  if (s.size() != 8 * 64) return false;
  auto nib = [](char c) { return c >= 'a' ? c - 'a' + 10 : c - '0'; };
  for (size_t t = 0; t < 8; ++t)
    for (size_t i = 0; i < 32; ++i) (*v)[t].bits[i] = uint8_t(nib(s[t * 64 + i * 2]) << 4 | nib(s[t * 64 + i * 2 + 1]));
  return true;
}

// The record of an image file, or of image bytes when `bytes` is set (`path` is then only a label).
Result<PictureHashes> HashFile(const std::string& path, const EmbedOptions& embed, const std::string* bytes = nullptr) {
  return HashPictureFile(path, embed.max_file_bytes, embed.max_pixels, bytes);
}

// Records of `todo` (id -> path) on a few threads; failures (a file gone or changed) are skipped.
std::vector<Entity> HashMany(const std::vector<std::pair<int64_t, std::string>>& todo, const EmbedOptions& embed,
                             const std::function<bool()>& cancelled) {
  std::vector<Entity> out(todo.size());
  std::vector<char> ok(todo.size(), 0);
  std::atomic<size_t> next{0};
  const unsigned threads = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      for (size_t i; (i = next++) < todo.size();) {
        if (cancelled && cancelled()) return;
        auto h = HashPictureFile(todo[i].second, embed.max_file_bytes, embed.max_pixels);
        if (!h.ok()) continue;
        out[i] = HashEntity(todo[i].first, *h);
        ok[i] = 1;
      }
    });
  for (auto& t : ts) t.join();
  std::vector<Entity> done;
  for (size_t i = 0; i < todo.size(); ++i)
    if (ok[i]) done.push_back(std::move(out[i]));
  return done;
}

// The inverse of a rotation/flip (Dihedral order): rot90 and rot270 undo each other; the rest undo themselves.
int InverseDihedral(int t) {
  if (t == int(Dihedral::kRot90)) return int(Dihedral::kRot270);
  if (t == int(Dihedral::kRot270)) return int(Dihedral::kRot90);
  return t;
}

struct NearPair {
  size_t i, j;  // i < j in `good` order
  int bits;
  int transform;  // j = transform(i)
};

// Every pair of `good` pictures within `radius` bits in some rotation/flip, on all cores.
std::vector<NearPair> NearCopyPairs(const std::vector<PictureHashes>& hashes, const std::vector<size_t>& good,
                                    int radius) {
  struct Words {
    uint64_t w[4];
  };
  auto words = [](const PerceptualHash& h) {
    Words x;
    static_assert(sizeof(x.w) == sizeof(h.bits), "256-bit hashes");
    std::memcpy(x.w, h.bits.data(), sizeof(x.w));
    return x;
  };
  const size_t m = good.size();
  std::vector<Words> base(m), variants(m * 8);
  for (size_t a = 0; a < m; ++a) {
    base[a] = words(hashes[good[a]].variants[0]);
    for (size_t t = 0; t < 8; ++t) variants[a * 8 + t] = words(hashes[good[a]].variants[t]);
  }
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::vector<NearPair>> found(threads);
  std::atomic<size_t> next{0};
  constexpr size_t kRows = 64;  // rows a thread takes at a time (later rows are shorter: spread them)
  auto work = [&](unsigned w) {
    for (size_t r0; (r0 = next.fetch_add(kRows)) < m;)
      for (size_t a = r0; a < std::min(m, r0 + kRows); ++a) {
        const Words* va = &variants[a * 8];
        for (size_t b = a + 1; b < m; ++b) {
          const Words& hb = base[b];
          int best = radius + 1, best_t = 0;
          for (int t = 0; t < 8; ++t) {
            int d = __builtin_popcountll(va[t].w[0] ^ hb.w[0]) + __builtin_popcountll(va[t].w[1] ^ hb.w[1]);
            if (d >= best) continue;  // a lower bound already too far
            d += __builtin_popcountll(va[t].w[2] ^ hb.w[2]) + __builtin_popcountll(va[t].w[3] ^ hb.w[3]);
            if (d < best) best = d, best_t = t;
          }
          if (best <= radius) found[w].push_back({good[a], good[b], best, best_t});
        }
      }
  };
  std::vector<std::thread> ts;
  for (unsigned w = 0; w < threads; ++w) ts.emplace_back(work, w);
  for (auto& t : ts) t.join();
  std::vector<NearPair> out;
  for (auto& f : found) out.insert(out.end(), f.begin(), f.end());
  return out;
}

// One path per picture id (the smallest), from the catalog.
Result<std::map<int64_t, std::string>> PathsById(FileCatalog* catalog) {
  DOPPEL_ASSIGN_OR_RETURN(auto files, catalog->LoadFiles());
  std::map<int64_t, std::string> out;
  for (const auto& [path, r] : files) {
    auto [it, inserted] = out.emplace(r.id, path);
    if (!inserted && path < it->second) it->second = path;
  }
  return out;
}

std::string StringField(const std::map<std::string, FieldValue>& f, const char* name) {
  auto it = f.find(name);
  return it != f.end() && std::holds_alternative<std::string>(it->second) ? std::get<std::string>(it->second) : "";
}
int64_t IntField(const std::map<std::string, FieldValue>& f, const char* name) {
  auto it = f.find(name);
  return it != f.end() && std::holds_alternative<int64_t>(it->second) ? std::get<int64_t>(it->second) : 0;
}

}  // namespace

Result<std::shared_ptr<Collection>> HashCollection(VectorStore* store, bool create) {
  DOPPEL_ASSIGN_OR_RETURN(bool has, store->HasCollection(kHashCollection));
  if (create)
    for (const char* old : kOldHashCollections) {
      DOPPEL_ASSIGN_OR_RETURN(bool stale, store->HasCollection(old));
      if (stale) DOPPEL_RETURN_IF_ERROR(store->DropCollection(old).WithContext("dropping the old near-copy records"));
    }
  if (!has) {
    if (!create) return Status::NotFound("no near-copy hashes yet");
    Status st = store->CreateCollection(HashSchema());
    if (!st.ok() && st.code() != Status::Code::kAlreadyExists) return st;
  }
  return store->GetCollection(kHashCollection);
}

Entity HashEntity(int64_t id, const PictureHashes& h) {
  Entity e;
  e.id = id;
  e.binary_vector.assign(h.variants[0].bits.begin(), h.variants[0].bits.end());
  e.fields["quality"] = int64_t(h.variants[0].quality);
  e.fields["pixels"] = h.pixels;
  e.fields["variants"] = Hex(h.variants);
  return e;
}

Status Engine::DecideDuplicates(const std::vector<int64_t>& ids, DuplicateDecision decision, int64_t keep) {
  DuplicateResolution r;
  r.ids = ids;
  if (decision == DuplicateDecision::kKeep) {
    r.keep = {keep};
  } else {
    r.keep = ids;
  }
  return ResolveDuplicates(r);
}

Status Engine::ResolveDuplicates(const DuplicateResolution& r) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  Decision d;
  d.keep_paths = r.keep_paths;
  for (auto& p : d.keep_paths) p = fs::absolute(p).lexically_normal().string();
  d.keep = r.keep;
  if (d.keep.empty())  // keep_paths alone: keep the pictures they show
    for (const auto& p : d.keep_paths) {
      DOPPEL_ASSIGN_OR_RETURN(std::optional<FileRecord> rec, impl_->catalog->Find(p));
      if (!rec) return Status::NotFound("keep path " + p + ": not an indexed path");
      d.keep.push_back(rec->id);
    }
  d.ids = r.ids;
  for (int64_t k : r.keep)
    if (!r.ids.empty() && std::count(r.ids.begin(), r.ids.end(), k) == 0)
      return Status::InvalidArgument("the picture to keep (" + std::to_string(k) + ") is not among the ids");
  d.ids.insert(d.ids.end(), d.keep.begin(), d.keep.end());
  std::sort(d.ids.begin(), d.ids.end());
  d.ids.erase(std::unique(d.ids.begin(), d.ids.end()), d.ids.end());
  std::sort(d.keep.begin(), d.keep.end());
  d.keep.erase(std::unique(d.keep.begin(), d.keep.end()), d.keep.end());
  if (d.keep.empty()) return Status::InvalidArgument("a decision keeps at least one picture");
  if (d.ids.size() < 2 && d.keep_paths.empty())
    return Status::InvalidArgument("a decision names at least two different pictures (or one picture and the "
                                   "paths of it to keep)");
  std::map<int64_t, std::vector<std::string>> paths_of;
  for (int64_t id : d.ids) {
    DOPPEL_ASSIGN_OR_RETURN(std::vector<std::string> paths, impl_->catalog->PathsOf(id));
    if (paths.empty()) return Status::NotFound("no indexed picture with id " + std::to_string(id));
    paths_of[id] = std::move(paths);
  }
  for (const auto& p : d.keep_paths) {
    bool of_kept = false;
    for (int64_t id : d.keep)
      of_kept = of_kept || std::count(paths_of[id].begin(), paths_of[id].end(), p) > 0;
    if (!of_kept) return Status::InvalidArgument("keep path " + p + " is not an indexed path of a picture kept");
  }
  std::lock_guard<std::mutex> wlock(impl_->write_mu);
  DOPPEL_ASSIGN_OR_RETURN(std::vector<Decision> ds, LoadDecisions(options_.data_dir));
  ds.erase(std::remove_if(ds.begin(), ds.end(), [&](const Decision& x) { return x.ids == d.ids; }), ds.end());
  ds.push_back(std::move(d));
  return SaveDecisions(options_.data_dir, ds);
}

Status Engine::ForgetDuplicateDecisions(const std::vector<int64_t>& ids) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard<std::mutex> wlock(impl_->write_mu);
  DOPPEL_ASSIGN_OR_RETURN(std::vector<Decision> ds, LoadDecisions(options_.data_dir));
  const size_t before = ds.size();
  ds.erase(std::remove_if(ds.begin(), ds.end(),
                          [&](const Decision& d) {
                            for (int64_t id : ids)
                              if (d.Names(id)) return true;
                            return false;
                          }),
           ds.end());
  if (ds.size() == before) return Status::NotFound("no decision names these pictures");
  return SaveDecisions(options_.data_dir, ds);
}

const char* DuplicateTierName(DuplicateTier t) {
  switch (t) {
    case DuplicateTier::kExact: return "exact";
    case DuplicateTier::kNearCopy: return "near-copy";
    case DuplicateTier::kSimilar: return "similar";
  }
  return "similar";
}

Result<DuplicateTier> ParseDuplicateTier(const std::string& s) {
  for (DuplicateTier t : {DuplicateTier::kExact, DuplicateTier::kNearCopy, DuplicateTier::kSimilar})
    if (s == DuplicateTierName(t)) return t;
  return Status::InvalidArgument("tier '" + s + "': use exact, near-copy or similar");
}

Result<int64_t> Engine::Impl::UpdateHashes(const std::function<bool()>& cancelled) {
  DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, HashCollection(store.get(), true));
  DOPPEL_ASSIGN_OR_RETURN(auto paths, PathsById(catalog.get()));
  QueryRequest q;
  q.output_fields = {"id"};
  DOPPEL_ASSIGN_OR_RETURN(std::vector<Entity> have, c->Query(q));
  std::set<int64_t> hashed;
  std::vector<int64_t> stale;
  for (const auto& e : have) {
    hashed.insert(e.id);
    if (!paths.count(e.id)) stale.push_back(e.id);
  }
  if (!stale.empty()) DOPPEL_RETURN_IF_ERROR(c->Delete(stale).status());
  std::vector<std::pair<int64_t, std::string>> todo;
  for (const auto& [id, path] : paths)
    if (!hashed.count(id)) todo.emplace_back(id, path);
  EmbedOptions embed;
  int64_t made = 0;
  for (size_t at = 0; at < todo.size(); at += kBatch) {
    if (cancelled && cancelled()) break;
    std::vector<std::pair<int64_t, std::string>> part(todo.begin() + at,
                                                      todo.begin() + std::min(todo.size(), at + kBatch));
    std::vector<Entity> es = HashMany(part, embed, cancelled);
    if (!es.empty()) DOPPEL_RETURN_IF_ERROR(c->Upsert(es).status());
    made += int64_t(es.size());
  }
  return made;
}

Result<std::vector<DuplicateGroup>> Engine::FindDuplicates(const DuplicateOptions& o_in) {
  if (o_in.max_group < 2) return Status::InvalidArgument("max_group must be at least 2");
  if (o_in.near_copy_radius < 0 || o_in.near_copy_radius > kPerceptualHashBits)
    return Status::InvalidArgument("the near-copy radius must be in 0..256 bits");
  for (const auto& r : o_in.keep_rules) {
    const bool known = r == "largest" || r == "biggest" || r == "oldest" || r == "newest" ||
                       ((r.rfind("prefer:", 0) == 0 || r.rfind("avoid:", 0) == 0) && r.size() > r.find(':') + 1);
    if (!known)
      return Status::InvalidArgument("keeper rule '" + r + "': use largest, biggest, oldest, newest, prefer:TEXT or "
                                     "avoid:TEXT");
  }
  DOPPEL_ASSIGN_OR_RETURN(std::string name, ResolveModelName(o_in.model));
  DuplicateOptions o = o_in;  // 0 = the model's calibrated threshold
  if (o.similar_threshold <= 0) {
    DOPPEL_ASSIGN_OR_RETURN(o.similar_threshold, SimilarThreshold(name));
  }
  DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> coll, impl_->store->GetCollection(name));
  const bool smaller_better = coll->schema().metric == Metric::kL2;
  QueryRequest all;
  all.output_fields = {"path", "width", "height", "size", "format", "mtime"};
  if (o.min_tier >= DuplicateTier::kSimilar) all.output_fields.push_back("vector");  // only the similar tier needs them
  DOPPEL_ASSIGN_OR_RETURN(std::vector<Entity> es, coll->Query(all));
  const size_t n = es.size();
  std::unordered_map<int64_t, size_t> index_of;
  for (size_t i = 0; i < n; ++i) index_of[es[i].id] = i;
  // Where each picture is now: the catalog's paths (a moved file keeps its entity, whose stored path is where it was
  // first indexed); the stored path where this host's catalog does not know the picture (a shared Milvus store).
  std::vector<int64_t> all_ids;
  for (const auto& e : es) all_ids.push_back(e.id);
  DOPPEL_ASSIGN_OR_RETURN(auto catalog_paths, impl_->catalog->PathsOfMany(all_ids));
  for (auto& e : es) {
    auto it = catalog_paths.find(e.id);
    if (it != catalog_paths.end() && !it->second.empty()) {
      std::sort(it->second.begin(), it->second.end());
      e.fields["path"] = it->second[0];
    }
  }

  // The hashes: the stored ones, and in memory for pictures without one.
  std::vector<PictureHashes> hashes(n);
  std::vector<char> has_hash(n, 0);
  if (auto hc = HashCollection(impl_->store.get(), false); hc.ok()) {
    QueryRequest q;
    q.output_fields = {"quality", "pixels", "variants"};
    DOPPEL_ASSIGN_OR_RETURN(std::vector<Entity> rows, (*hc)->Query(q));
    for (auto& r : rows) {
      auto it = index_of.find(r.id);
      if (it == index_of.end()) continue;
      PictureHashes& ph = hashes[it->second];
      if (!FromHex(StringField(r.fields, "variants"), &ph.variants)) continue;
      ph.variants[0].quality = static_cast<int>(IntField(r.fields, "quality"));
      ph.pixels = StringField(r.fields, "pixels");
      has_hash[it->second] = 1;
    }
  }
  {
    std::vector<std::pair<int64_t, std::string>> todo;
    for (size_t i = 0; i < n; ++i)
      if (!has_hash[i]) todo.emplace_back(es[i].id, StringField(es[i].fields, "path"));
    for (auto& e : HashMany(todo, options_.embed, nullptr)) {
      size_t i = index_of[e.id];
      if (!FromHex(std::get<std::string>(e.fields["variants"]), &hashes[i].variants)) continue;
      hashes[i].variants[0].quality = static_cast<int>(std::get<int64_t>(e.fields["quality"]));
      hashes[i].pixels = std::get<std::string>(e.fields["pixels"]);
      has_hash[i] = 1;
    }
  }

  // Candidates of each picture: neighbour -> (tier, distance, transform); the strongest tier wins.
  struct Candidate {
    DuplicateTier tier;
    float distance;
    int transform;
  };
  std::vector<std::map<size_t, Candidate>> cand(n);
  auto offer = [&](size_t i, size_t j, Candidate c) {
    if (i == j) return;
    auto [it, inserted] = cand[i].emplace(j, c);
    if (!inserted && (c.tier < it->second.tier || (c.tier == it->second.tier && c.distance < it->second.distance)))
      it->second = c;
  };
  // exact: the same decoded pixels.
  std::unordered_map<std::string, std::vector<size_t>> by_pixels;
  for (size_t i = 0; i < n; ++i)
    if (has_hash[i] && !hashes[i].pixels.empty()) by_pixels[hashes[i].pixels].push_back(i);
  for (const auto& [px, members] : by_pixels)
    for (size_t a : members)
      for (size_t b : members) offer(a, b, {DuplicateTier::kExact, 0.f, 0});
  // near-copy: j is a near-copy of i when j's hash is within the radius of one of i's 8 variants (j = t(i)); i is
  // then a near-copy of j by the inverse transform, at the same distance (the variants are exact only up to the
  // hash's own rounding, so the relation is made symmetric). Exhaustive over the pairs of hashes in memory, on every
  // core, with an early exit after the first 128 bits: about 15 s for 100,000 pictures on 2 cores (BENCHMARKS.md).
  if (o.min_tier >= DuplicateTier::kNearCopy) {
    std::vector<size_t> good;
    for (size_t i = 0; i < n; ++i)
      if (has_hash[i] && hashes[i].variants[0].quality >= o.min_quality) good.push_back(i);
    for (const auto& [i, j, bits, t] : NearCopyPairs(hashes, good, o.near_copy_radius)) {
      offer(i, j, {DuplicateTier::kNearCopy, float(bits), t});
      offer(j, i, {DuplicateTier::kNearCopy, float(bits), InverseDihedral(t)});
    }
  }
  // similar: the model's neighbours, 256 pictures a search.
  const int k = o.max_group + 1;
  if (o.min_tier >= DuplicateTier::kSimilar) {
    const int dim = coll->schema().dim;
    for (size_t start = 0; start < n; start += kBatch) {
      const size_t end = std::min(n, start + kBatch);
      SearchRequest req;
      req.queries.reserve((end - start) * size_t(dim));
      for (size_t i = start; i < end; ++i) req.queries.insert(req.queries.end(), es[i].vector.begin(), es[i].vector.end());
      req.k = k;
      DOPPEL_ASSIGN_OR_RETURN(SearchResults res, coll->Search(req));
      for (size_t qi = 0; qi < res.size(); ++qi)
        for (const auto& h : res[qi]) {
          const bool close = smaller_better ? h.distance <= o.similar_threshold : h.distance >= o.similar_threshold;
          auto it = index_of.find(h.id);
          if (close && it != index_of.end()) offer(start + qi, it->second, {DuplicateTier::kSimilar, h.distance, 0});
        }
    }
  }

  // The user's decisions: two pictures one decision keeps both of are not duplicates (never candidates); a picture
  // chosen to keep over others leads its group (and that group is hidden unless show_decided).
  DOPPEL_ASSIGN_OR_RETURN(std::vector<Decision> decisions, LoadDecisions(options_.data_dir));
  std::unordered_map<int64_t, std::vector<const Decision*>> decided;
  for (const auto& d : decisions)
    for (int64_t id : d.ids) decided[id].push_back(&d);
  auto kept_both = [&](int64_t a, int64_t b) {
    auto it = decided.find(a);
    if (it == decided.end()) return false;
    for (const Decision* d : it->second)
      if (d->Keeps(a) && d->Keeps(b)) return true;
    return false;
  };
  for (size_t i = 0; i < n; ++i)
    for (auto it = cand[i].begin(); it != cand[i].end();)
      it = kept_both(es[i].id, es[it->first].id) ? cand[i].erase(it) : std::next(it);
  std::unordered_set<int64_t> keepers;
  for (const auto& d : decisions)
    if (!d.KeepsAll()) keepers.insert(d.keep.begin(), d.keep.end());

  // Representatives in keeper order: a picture the user chose to keep first, then the keeper rules, then the path.
  // The keys are read once (the sort compares n log n times).
  std::vector<int64_t> px(n), bytes(n), mtime(n);
  std::vector<const std::string*> path(n);
  std::vector<char> kept(n);
  for (size_t i = 0; i < n; ++i) {
    px[i] = IntField(es[i].fields, "width") * IntField(es[i].fields, "height");
    bytes[i] = IntField(es[i].fields, "size");
    mtime[i] = IntField(es[i].fields, "mtime");
    auto it = es[i].fields.find("path");
    static const std::string kNone;
    path[i] = it != es[i].fields.end() && std::holds_alternative<std::string>(it->second)
                  ? &std::get<std::string>(it->second) : &kNone;
    kept[i] = keepers.count(es[i].id) > 0;
  }
  struct Rule {
    enum Kind { kLargest, kBiggest, kOldest, kNewest, kPrefer, kAvoid } kind;
    std::string text;
  };
  std::vector<Rule> rules;
  for (const auto& r : o.keep_rules) {
    if (r == "largest") rules.push_back({Rule::kLargest, ""});
    else if (r == "biggest") rules.push_back({Rule::kBiggest, ""});
    else if (r == "oldest") rules.push_back({Rule::kOldest, ""});
    else if (r == "newest") rules.push_back({Rule::kNewest, ""});
    else rules.push_back({r.rfind("prefer:", 0) == 0 ? Rule::kPrefer : Rule::kAvoid, r.substr(r.find(':') + 1)});
  }
  // >0: a is the better keeper by `rule`, <0: b is, 0: the rule does not tell them apart.
  auto by_rule = [&](const Rule& rule, size_t a, size_t b) -> int {
    auto cmp = [](int64_t x, int64_t y) { return x > y ? 1 : x < y ? -1 : 0; };
    switch (rule.kind) {
      case Rule::kLargest: return cmp(px[a], px[b]);
      case Rule::kBiggest: return cmp(bytes[a], bytes[b]);
      case Rule::kOldest: return cmp(mtime[b], mtime[a]);
      case Rule::kNewest: return cmp(mtime[a], mtime[b]);
      case Rule::kPrefer:
      case Rule::kAvoid: {
        const bool ia = path[a]->find(rule.text) != std::string::npos;
        const bool ib = path[b]->find(rule.text) != std::string::npos;
        return (rule.kind == Rule::kPrefer ? 1 : -1) * (int(ia) - int(ib));
      }
    }
    return 0;
  };
  // Which rule decides between a and b (-1: the user's decision; rules.size(): the path) and whether a wins.
  auto decide_at = [&](size_t a, size_t b) -> std::pair<bool, int> {
    if (kept[a] != kept[b]) return {kept[a] != 0, -1};
    for (size_t r = 0; r < rules.size(); ++r)
      if (int c = by_rule(rules[r], a, b); c != 0) return {c > 0, int(r)};
    return {*path[a] < *path[b], int(rules.size())};
  };
  auto decide = [&](size_t a, size_t b) -> std::pair<bool, std::string> {
    auto [wins, r] = decide_at(a, b);
    return {wins, r < 0 ? "your decision" : r == int(rules.size()) ? "path" : o.keep_rules[size_t(r)]};
  };
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return a != b && decide_at(a, b).first; });
  auto member = [&](size_t i, DuplicateTier tier, float distance, int transform) {
    DuplicateMember m;
    m.hit.id = es[i].id;
    m.hit.distance = distance;
    m.hit.path = StringField(es[i].fields, "path");
    m.hit.fields = es[i].fields;
    m.hit.fields.erase("vector");
    m.tier = tier;
    if (tier == DuplicateTier::kNearCopy) m.transform = DihedralName(static_cast<Dihedral>(transform));
    return m;
  };
  std::vector<char> grouped(n, 0);
  std::vector<DuplicateGroup> out;
  for (size_t rep : order) {
    if (grouped[rep]) continue;
    std::vector<std::pair<size_t, Candidate>> picks;
    for (const auto& [j, c] : cand[rep])
      if (!grouped[j]) picks.emplace_back(j, c);
    DuplicateGroup g;
    g.members.push_back(member(rep, DuplicateTier::kExact, 0.f, 0));
    // The same picture under its other paths: exact copies of the representative.
    if (auto paths = catalog_paths.find(es[rep].id); paths != catalog_paths.end())
      for (const auto& p : paths->second)
        if (p != g.members[0].hit.path && int(g.members.size()) < o.max_group) {
          DuplicateMember same = g.members[0];
          same.hit.path = p;
          same.hit.fields["path"] = p;
          g.members.push_back(std::move(same));
        }
    std::sort(picks.begin(), picks.end(), [](const auto& a, const auto& b) {
      if (a.second.tier != b.second.tier) return a.second.tier < b.second.tier;
      return a.second.distance < b.second.distance;
    });
    for (const auto& [j, c] : picks) {
      if (int(g.members.size()) >= o.max_group) break;
      g.members.push_back(member(j, c.tier, c.distance, c.transform));
      grouped[j] = 1;
      // Its other paths (the same bytes elsewhere): shown, since applying a decision moves every one of them.
      if (auto paths = catalog_paths.find(es[j].id); paths != catalog_paths.end())
        for (const auto& p : paths->second)
          if (p != g.members.back().hit.path && int(g.members.size()) < o.max_group) {
            DuplicateMember same = g.members.back();
            same.hit.path = p;
            same.hit.fields["path"] = p;
            g.members.push_back(std::move(same));
          }
    }
    grouped[rep] = 1;
    if (g.members.size() < 2) continue;
    // Resolved: a decision that names every member and keeps the representative (and, when the group shows one
    // picture under several paths, says which of them stay).
    const bool several_paths = std::any_of(g.members.begin() + 1, g.members.end(), [&](const DuplicateMember& m) {
      return m.hit.id == g.members[0].hit.id;
    });
    for (const auto& d : decisions)
      if (d.Keeps(g.members[0].hit.id) && (!several_paths || !d.keep_paths.empty()) &&
          std::all_of(g.members.begin(), g.members.end(), [&](const DuplicateMember& m) { return d.Names(m.hit.id); })) {
        g.decision = "keep";
        for (size_t i = 0; i < d.keep.size(); ++i) g.decision += (i ? "," : " ") + std::to_string(d.keep[i]);
      }
    if (!g.decision.empty() && !o.show_decided) continue;
    auto second = index_of.find(g.members[1].hit.id);
    g.keep_rule = second == index_of.end() || second->second == rep ? "path" : decide(rep, second->second).second;
    out.push_back(std::move(g));
  }
  std::stable_sort(out.begin(), out.end(), [](const DuplicateGroup& a, const DuplicateGroup& b) {
    return a.members.size() > b.members.size();
  });
  for (auto& g : out)
    for (size_t r = 0; r < g.members.size(); ++r) g.members[r].hit.rank = static_cast<int>(r + 1);
  return out;
}

Result<std::vector<DuplicateMember>> Engine::FindCopies(const SearchQuery& q, DuplicateTier tier, int radius, int k) {
  if (tier == DuplicateTier::kSimilar) return Status::InvalidArgument("FindCopies: use Search for the similar tier");
  if (k < 1) return Status::InvalidArgument("k must be at least 1");
  PictureHashes query;
  if (!q.image_file.empty() || !q.upload.empty()) {
    const std::string label = q.image_file.empty() ? q.upload_name : q.image_file;
    DOPPEL_ASSIGN_OR_RETURN(query, HashFile(label, options_.embed, q.image_file.empty() ? &q.upload : nullptr));
  } else {
    int64_t id = q.id;
    if (!q.indexed_path.empty()) {
      auto r = impl_->catalog->Find(fs::absolute(q.indexed_path).lexically_normal().string());
      if (!r.ok() || !*r) return Status::NotFound(q.indexed_path + ": not an indexed path");
      id = (*r)->id;
    }
    if (id == 0) return Status::InvalidArgument("give an image, an upload, an id or an indexed path");
    DOPPEL_ASSIGN_OR_RETURN(std::vector<std::string> paths, impl_->catalog->PathsOf(id));
    if (paths.empty()) return Status::NotFound("no indexed picture with id " + std::to_string(id));
    DOPPEL_ASSIGN_OR_RETURN(query, HashFile(paths[0], options_.embed));
  }
  if (tier == DuplicateTier::kNearCopy && query.variants[0].quality < kMinHashQuality)
    return Status::InvalidArgument("the query image is too flat for a reliable near-copy hash (quality " +
                                   std::to_string(query.variants[0].quality) + ", the least is " +
                                   std::to_string(kMinHashQuality) + ")");
  auto hc = HashCollection(impl_->store.get(), false);
  if (!hc.ok()) return std::vector<DuplicateMember>{};  // nothing hashed yet
  SearchRequest req;
  for (const auto& v : query.variants) req.binary_queries.insert(req.binary_queries.end(), v.bits.begin(), v.bits.end());
  req.k = std::max(k, 16);
  req.output_fields = {"quality", "pixels"};
  DOPPEL_ASSIGN_OR_RETURN(SearchResults res, (*hc)->Search(req));
  std::map<int64_t, std::pair<int, int>> best;  // id -> (bits, transform)
  for (size_t t = 0; t < res.size(); ++t)
    for (const auto& h : res[t]) {
      const bool same_pixels = StringField(h.fields, "pixels") == query.pixels;
      if (tier == DuplicateTier::kExact && !same_pixels) continue;
      if (tier == DuplicateTier::kNearCopy &&
          (h.distance > radius || IntField(h.fields, "quality") < kMinHashQuality))
        continue;
      auto [it, inserted] = best.emplace(h.id, std::make_pair(int(h.distance), int(t)));
      if (!inserted && int(h.distance) < it->second.first) it->second = {int(h.distance), int(t)};
    }
  std::vector<DuplicateMember> out;
  for (const auto& [id, d] : best) {
    DuplicateMember m;
    m.hit.id = id;
    m.hit.distance = float(d.first);
    auto paths = impl_->catalog->PathsOf(id);
    if (paths.ok() && !paths->empty()) m.hit.path = (*paths)[0];
    m.tier = tier;
    m.transform = DihedralName(static_cast<Dihedral>(d.second));
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const DuplicateMember& a, const DuplicateMember& b) {
    return a.hit.distance != b.hit.distance ? a.hit.distance < b.hit.distance : a.hit.id < b.hit.id;
  });
  if (int(out.size()) > k) out.resize(size_t(k));
  for (size_t i = 0; i < out.size(); ++i) out[i].hit.rank = int(i + 1);
  return out;
}

}  // namespace doppel
