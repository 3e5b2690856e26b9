// Engine: query vectors, search, compare and near-duplicate groups.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "doppel/engine/compare.h"
#include "doppel/store/filter.h"
#include "doppel/util/file.h"
#include "engine_impl.h"

namespace doppel {
namespace fs = std::filesystem;

namespace {

// `row` (dim floats, unit length) blended with `near` (vectors of the same size; others are skipped): row + each
// u weighted by max(0, row . u)^3, normalised, into `out`. The blend of alpha-QE and of DBA (refine.h).
void BlendWithNeighbours(const float* row, size_t dim, const std::vector<const std::vector<float>*>& near,
                         float* out) {
  std::vector<double> sum(row, row + dim);
  for (const std::vector<float>* u : near) {
    if (u->size() != dim) continue;
    double ip = 0;
    for (size_t t = 0; t < dim; ++t) ip += double(row[t]) * (*u)[t];
    const double w = std::pow(std::max(0.0, ip), 3.0);
    for (size_t t = 0; t < dim; ++t) sum[t] += w * (*u)[t];
  }
  double norm = 0;
  for (double x : sum) norm += x * x;
  norm = norm > 0 ? std::sqrt(norm) : 1;
  for (size_t t = 0; t < dim; ++t) out[t] = float(sum[t] / norm);
}

// alpha-QE (SearchOptions::expand): `v` plus its nearest pictures' vectors (`self` excepted), each weighted by
// max(0, similarity)^3, normalised. The similarity is the inner product: the vectors are unit length.
Result<std::vector<float>> ExpandQuery(Collection* coll, const std::vector<float>& v, const SearchOptions& o,
                                       int64_t self) {
  SearchRequest first;
  first.queries = v;
  first.k = o.expand + 1;
  first.filter = o.filter;
  first.ef = o.ef;
  DOPPEL_ASSIGN_OR_RETURN(SearchResults res, coll->Search(first));
  std::vector<int64_t> ids;
  for (const auto& h : res[0])
    if (h.id != self && int(ids.size()) < o.expand) ids.push_back(h.id);
  DOPPEL_ASSIGN_OR_RETURN(std::vector<Entity> near, coll->Get(ids, {"vector"}));
  std::vector<const std::vector<float>*> vs;
  for (const auto& e : near) vs.push_back(&e.vector);
  std::vector<float> out(v.size());
  BlendWithNeighbours(v.data(), v.size(), vs, out.data());
  return out;
}

// Appends a hit found with its other paths listed (Hit::other_paths): as is when collapsing duplicates, else as one
// row per path, all at the same distance.
void AppendHit(Hit h, bool collapse, std::vector<Hit>* out) {
  if (collapse) {
    out->push_back(std::move(h));
    return;
  }
  std::vector<std::string> others = std::move(h.other_paths);
  h.other_paths.clear();
  out->push_back(h);
  for (auto& p : others) {
    Hit copy = h;
    copy.path = std::move(p);
    out->push_back(std::move(copy));
  }
}

std::string PathOf(const std::map<std::string, FieldValue>& fields) {
  auto it = fields.find("path");
  if (it != fields.end() && std::holds_alternative<std::string>(it->second)) return std::get<std::string>(it->second);
  return "";
}


// Exactly one kind of query; the message names what was given.
Status CheckOneQuery(const SearchQuery& q) {
  int given = !q.image_file.empty() + !q.upload.empty() + (q.id != 0) + !q.indexed_path.empty() + !q.vector.empty();
  if (given == 1) return Status::OK();
  if (given == 0) return Status::InvalidArgument("empty query: give an image, an id, an indexed path or a vector");
  return Status::InvalidArgument("a query is one of an image, an id, an indexed path or a vector, not several");
}

}  // namespace

// The query picture's decodes for one search, each with the settings it was made with.
struct Engine::QueryDecodes {
  std::vector<std::pair<DecodeOptions, DecodedImage>> made;
};

Result<std::vector<float>> Engine::QueryVector(const SearchQuery& q, const std::string& name_or_default) {
  return QueryVector(q, name_or_default, nullptr);
}

Result<std::vector<float>> Engine::QueryVector(const SearchQuery& q, const std::string& name_or_default,
                                               QueryDecodes* decodes) {
  DOPPEL_RETURN_IF_ERROR(CheckOneQuery(q));
  DOPPEL_ASSIGN_OR_RETURN(std::string name, ResolveModelName(name_or_default));
  DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<const OnnxModel> model, LoadModel(name));
  if (!q.vector.empty()) {
    if (!q.vector_fingerprint.empty() && q.vector_fingerprint != model->fingerprint())
      return Status::FailedPrecondition("the query vector comes from model fingerprint " + q.vector_fingerprint +
                                        ", model '" + name + "' is " + model->fingerprint() +
                                        ": vectors of different models are not comparable");
    if (int(q.vector.size()) != model->dim())
      return Status::InvalidArgument("query vector has " + std::to_string(q.vector.size()) + " dimensions, model '" +
                                     name + "' gives " + std::to_string(model->dim()));
    std::vector<float> v = q.vector;
    if (model->spec().normalize) L2Normalize(v.data(), int(v.size()));
    return v;
  }
  int64_t id = q.id;
  if (!q.indexed_path.empty()) {
    std::string abs = fs::absolute(q.indexed_path).lexically_normal().string();
    DOPPEL_ASSIGN_OR_RETURN(std::optional<FileRecord> r, impl_->catalog->Find(abs));
    if (!r) return Status::NotFound(abs + ": not an indexed path (index it, or search by image file)");
    id = r->id;
  }
  if (id != 0) {
    DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, impl_->store->GetCollection(name));
    DOPPEL_ASSIGN_OR_RETURN(std::vector<Entity> es, c->Get({id}, {"vector"}));
    if (es.empty()) return Status::NotFound("no picture with id " + std::to_string(id) + " in model '" + name + "'");
    return es[0].vector;
  }
  // As the indexer decodes for this model (alpha, EXIF, shrink-on-load): the same pixels, the same vector.
  DecodeOptions d = DecodeOptionsFor(model->spec().preprocess);
  d.max_file_bytes = options_.embed.max_file_bytes;
  d.max_pixels = options_.embed.max_pixels;
  if (decodes)
    for (const auto& [made_with, img] : decodes->made)
      if (DecodeServes(img, made_with, d)) return model->Embed(img.rgb);
  // An upload is decoded from memory only: its name is a label, never a path to open.
  auto img = !q.upload.empty() ? DecodeImageBuffer(q.upload, q.upload_name.empty() ? "upload" : q.upload_name, d)
                               : DecodeImageFile(q.image_file, d);
  if (!img.ok()) return img.status();
  auto v = model->Embed(img->rgb);
  if (decodes) decodes->made.emplace_back(d, std::move(img).value());
  return v;
}

// The query picture's own id, when the query names an indexed picture and the options leave it out; else 0.
int64_t Engine::Impl::SelfId(const SearchQuery& q, const SearchOptions& o) const {
  if (!o.exclude_query || (q.id == 0 && q.indexed_path.empty())) return 0;
  if (q.id) return q.id;
  auto r = catalog->Find(fs::absolute(q.indexed_path).lexically_normal().string());
  return r.ok() && *r ? (*r)->id : 0;
}

// What every search checks before it embeds anything: k, expand, and the filter against the collection's schema.
static Status CheckSearchOptions(const SearchOptions& o, const Collection& coll) {
  if (o.k < 1) return Status::InvalidArgument("k must be at least 1, got " + std::to_string(o.k));
  if (o.expand < 0 || o.expand > 100) return Status::InvalidArgument("expand must be in 0..100");
  if ((o.whiten || o.dba) && coll.schema().vector_type != VectorType::kFloat32)
    return Status::InvalidArgument(std::string(o.whiten ? "whiten" : "dba") + ": collection '" +
                                   coll.schema().name + "' does not hold float vectors");
  if (o.dba && (o.whiten || o.expand > 0))
    return Status::InvalidArgument("dba re-ranks the plain search's best hits: not with whiten or expand");
  // A bad filter is refused before any image is decoded or embedded.
  if (o.filter.find_first_not_of(" \t\r\n") != std::string::npos) {
    DOPPEL_RETURN_IF_ERROR(ParseFilter(o.filter, coll.schema()).status());
  }
  return Status::OK();
}

Result<std::vector<Hit>> Engine::Search(const SearchQuery& q, const std::string& name_or_default,
                                        const SearchOptions& o) {
  return Search(q, name_or_default, o, nullptr);
}

Result<std::vector<Hit>> Engine::Search(const SearchQuery& q, const std::string& name_or_default,
                                        const SearchOptions& o, QueryDecodes* decodes) {
  DOPPEL_ASSIGN_OR_RETURN(std::string name, ResolveModelName(name_or_default));
  DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> coll, impl_->store->GetCollection(name));
  DOPPEL_RETURN_IF_ERROR(CheckSearchOptions(o, *coll));
  DOPPEL_ASSIGN_OR_RETURN(std::vector<float> v, QueryVector(q, name, decodes));
  const int64_t self = impl_->SelfId(q, o);
  if (o.expand > 0) {
    DOPPEL_ASSIGN_OR_RETURN(v, ExpandQuery(coll.get(), v, o, self));
  }
  if (o.whiten) return impl_->SearchWhitened(coll, v, self, o);
  if (o.dba) {
    SearchOptions own = o;
    own.exclude_query = true;  // the query's own picture, whether or not the hits leave it out
    return impl_->SearchAugmented(coll, v, impl_->SelfId(q, own), self, o);
  }
  return impl_->SearchVector(coll.get(), v, self, o);
}

namespace {

// A stored whitening: a JSON line {"fingerprint", "count"} (the model whose vectors it was learned from, the
// collection's size then), then Whitening::Serialize's bytes.
struct StoredWhitening {
  std::string fingerprint;
  int64_t count = 0;
  std::shared_ptr<const Whitening> whitening;
};

Result<StoredWhitening> ReadStoredWhitening(const std::string& path) {
  DOPPEL_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path, int64_t(256) << 20));
  const size_t eol = bytes.find('\n');
  if (eol == std::string::npos) return Status::Corruption(path + ": no header");
  nlohmann::json h = nlohmann::json::parse(bytes.substr(0, eol), nullptr, false);
  if (!h.is_object() || !h.contains("fingerprint") || !h["fingerprint"].is_string() || !h.contains("count") ||
      !h["count"].is_number_integer())
    return Status::Corruption(path + ": bad header");
  StoredWhitening s;
  s.fingerprint = h["fingerprint"].get<std::string>();
  s.count = h["count"].get<int64_t>();
  auto w = Whitening::Deserialize(std::string_view(bytes).substr(eol + 1));
  if (!w.ok()) return w.status().WithContext(path);
  s.whitening = std::make_shared<const Whitening>(std::move(w).value());
  return s;
}

Status WriteStoredWhitening(const std::string& path, const std::string& fingerprint, int64_t count,
                            const Whitening& w) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return Status::IOError(path + ": " + ec.message());
  std::string bytes = nlohmann::json{{"fingerprint", fingerprint}, {"count", count}}.dump() + "\n";
  bytes += w.Serialize();
  return WriteFileAtomic(path, bytes);
}

}  // namespace

Result<std::shared_ptr<const Whitening>> Engine::Impl::WhiteningFor(const std::shared_ptr<Collection>& coll) {
  DOPPEL_ASSIGN_OR_RETURN(int64_t count, coll->Count());
  const std::string& name = coll->schema().name;
  // Learned again once the collection has grown or shrunk by a quarter since.
  auto current = [count](int64_t at) { return 4 * count <= 5 * at && 4 * count >= 3 * at; };
  std::lock_guard<std::mutex> l(whiten_mu);
  FittedWhitening& f = whitenings[name];
  const bool same = f.whitening && f.collection.lock() == coll;
  if (same && current(f.count)) return f.whitening;
  auto fp = coll->GetMetadata(kFingerprintKey);
  const std::string fingerprint = fp.ok() ? *fp : "";
  // Kept with the collection by this or another process: used when it was learned from this model's vectors.
  if (!whiten_dir.empty()) {
    auto stored = ReadStoredWhitening(WhiteningPath(name));
    if (stored.ok() && stored->fingerprint == fingerprint && current(stored->count) &&
        stored->whitening->dim() == coll->schema().dim) {
      f.collection = coll;
      f.whitening = stored->whitening;
      f.count = stored->count;
      return f.whitening;
    }
  }
  QueryRequest q;
  q.limit = kWhitenFitRows;
  q.output_fields = {"vector"};
  DOPPEL_ASSIGN_OR_RETURN(std::vector<Entity> rows, coll->Query(q));
  const int dim = coll->schema().dim;
  std::vector<float> x;
  x.reserve(rows.size() * size_t(dim));
  int64_t n = 0;
  for (const auto& e : rows)
    if (int(e.vector.size()) == dim) {
      x.insert(x.end(), e.vector.begin(), e.vector.end());
      ++n;
    }
  auto w = Whitening::Fit(x.data(), n, dim, kSearchWhitenPower);
  if (!w.ok()) return w.status().WithContext("whiten: collection '" + name + "'");
  f.collection = coll;
  f.whitening = std::make_shared<const Whitening>(std::move(w).value());
  f.count = count;
  // Best effort: a search does not fail because the file could not be written (it is learned again next time).
  if (!whiten_dir.empty())
    (void)WriteStoredWhitening(WhiteningPath(name), fingerprint, count, *f.whitening);
  return f.whitening;
}

Result<std::vector<Hit>> Engine::Impl::Rerank(const std::shared_ptr<Collection>& coll, const std::vector<float>& v,
                                              int64_t self, const SearchOptions& o, const ShortlistScore& score) {
  const int dim = coll->schema().dim;
  // The distance the collection's metric gives unit vectors with that similarity: L2 (squared) 2 - 2 s; IP and
  // cosine s itself.
  const bool l2 = coll->schema().metric == Metric::kL2;
  // The shortlist: the plain search's best pictures, one row per picture.
  SearchOptions wide = o;
  wide.k = std::max(4 * o.k, kWhitenShortlist);
  wide.collapse_duplicates = true;
  DOPPEL_ASSIGN_OR_RETURN(std::vector<Hit> pool, SearchVector(coll.get(), v, self, wide));
  std::vector<int64_t> ids;
  for (const auto& h : pool) ids.push_back(h.id);
  DOPPEL_ASSIGN_OR_RETURN(std::vector<Entity> es, coll->Get(ids, {"vector"}));
  std::unordered_map<int64_t, const std::vector<float>*> vec;
  for (const auto& e : es)
    if (int(e.vector.size()) == dim) vec[e.id] = &e.vector;
  std::vector<float> x;
  x.reserve(pool.size() * size_t(dim));
  std::vector<size_t> kept;  // pool rows with a vector (a picture removed meanwhile has none)
  std::vector<int64_t> kept_ids;
  for (size_t i = 0; i < pool.size(); ++i) {
    auto it = vec.find(pool[i].id);
    if (it == vec.end()) continue;
    x.insert(x.end(), it->second->begin(), it->second->end());
    kept.push_back(i);
    kept_ids.push_back(pool[i].id);
  }
  DOPPEL_ASSIGN_OR_RETURN(std::vector<float> sims, score(kept_ids, x));
  std::vector<std::pair<float, size_t>> order;  // (similarity, pool row)
  for (size_t j = 0; j < kept.size() && j < sims.size(); ++j) order.emplace_back(sims[j], kept[j]);
  // Best first; ties keep the plain search's order.
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<Hit> out;
  int pictures = 0;
  for (const auto& [s, i] : order) {
    if (pictures++ >= o.k) break;
    Hit h = std::move(pool[i]);
    h.distance = l2 ? 2 - 2 * s : s;
    AppendHit(std::move(h), o.collapse_duplicates, &out);
  }
  for (size_t i = 0; i < out.size(); ++i) out[i].rank = static_cast<int>(i + 1);
  return out;
}

Result<std::vector<Hit>> Engine::Impl::SearchWhitened(const std::shared_ptr<Collection>& coll,
                                                      const std::vector<float>& v, int64_t self,
                                                      const SearchOptions& o) {
  DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<const Whitening> w, WhiteningFor(coll));
  if (int(v.size()) != w->dim()) return Status::InvalidArgument("whiten: the query vector has the wrong size");
  const std::vector<float> wq = w->Apply(v);
  return Rerank(coll, v, self, o, [&](const std::vector<int64_t>& ids, const std::vector<float>& x) {
    std::vector<float> wx(ids.size() * size_t(w->dim_out()));
    w->Apply(x.data(), int64_t(ids.size()), wx.data());
    std::vector<float> s(ids.size(), 0.0f);
    for (size_t j = 0; j < ids.size(); ++j)
      for (int t = 0; t < w->dim_out(); ++t) s[j] += wq[size_t(t)] * wx[j * size_t(w->dim_out()) + size_t(t)];
    return Result<std::vector<float>>(std::move(s));
  });
}

namespace {

// Database-side augmentation of `ids.size()` pictures of `coll` (their vectors `x`, row-major): each replaced by the
// normalised sum of itself and its kDbaNeighbours nearest other pictures of the whole collection, each weighted by
// max(0, similarity)^3 (refine.h's DatabaseAugment, on the collection). One batched search for all of them.
constexpr int kDbaNeighbours = 3;
Result<std::vector<float>> Augment(Collection* coll, const std::vector<int64_t>& ids, const std::vector<float>& x,
                                   int ef) {
  const size_t dim = size_t(coll->schema().dim);
  std::vector<float> out = x;
  if (ids.empty()) return out;
  SearchRequest req;
  req.queries = x;
  req.k = kDbaNeighbours + 1;
  req.ef = ef;
  DOPPEL_ASSIGN_OR_RETURN(SearchResults res, coll->Search(req));
  std::vector<std::vector<int64_t>> near(ids.size());
  std::vector<int64_t> wanted;
  for (size_t i = 0; i < ids.size() && i < res.size(); ++i)
    for (const auto& h : res[i])
      if (h.id != ids[i] && int(near[i].size()) < kDbaNeighbours) {
        near[i].push_back(h.id);
        wanted.push_back(h.id);
      }
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  DOPPEL_ASSIGN_OR_RETURN(std::vector<Entity> es, coll->Get(wanted, {"vector"}));
  std::unordered_map<int64_t, const std::vector<float>*> vec;
  for (const auto& e : es)
    if (e.vector.size() == dim) vec[e.id] = &e.vector;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::vector<const std::vector<float>*> vs;
    for (int64_t n : near[i])
      if (auto it = vec.find(n); it != vec.end()) vs.push_back(it->second);  // else removed meanwhile
    BlendWithNeighbours(x.data() + i * dim, dim, vs, out.data() + i * dim);
  }
  return out;
}

}  // namespace

Result<std::vector<Hit>> Engine::Impl::SearchAugmented(const std::shared_ptr<Collection>& coll,
                                                       const std::vector<float>& v, int64_t query_id, int64_t self,
                                                       const SearchOptions& o) {
  const size_t dim = size_t(coll->schema().dim);
  if (v.size() != dim) return Status::InvalidArgument("dba: the query vector has the wrong size");
  // An indexed picture is augmented as every picture of the collection is; an image from outside is not.
  std::vector<float> q = v;
  if (query_id != 0) {
    DOPPEL_ASSIGN_OR_RETURN(q, Augment(coll.get(), {query_id}, v, o.ef));
  }
  return Rerank(coll, v, self, o, [&](const std::vector<int64_t>& ids, const std::vector<float>& x)
                                      -> Result<std::vector<float>> {
    DOPPEL_ASSIGN_OR_RETURN(std::vector<float> a, Augment(coll.get(), ids, x, o.ef));
    std::vector<float> s(ids.size(), 0.0f);
    for (size_t j = 0; j < ids.size(); ++j)
      for (size_t t = 0; t < dim; ++t) s[j] += q[t] * a[j * dim + t];
    return s;
  });
}

Result<std::vector<Hit>> Engine::Impl::SearchVector(Collection* coll, const std::vector<float>& v, int64_t self,
                                                    const SearchOptions& o) {
  SearchRequest req;
  req.queries = v;
  req.k = o.k + (self ? 1 : 0);
  req.filter = o.filter;
  req.output_fields = {"path", "size", "mtime", "width", "height", "hash", "format"};
  req.ef = o.ef;
  DOPPEL_ASSIGN_OR_RETURN(SearchResults res, coll->Search(req));
  // Never silently fewer than k: an approximate index that came back short is asked again exhaustively.
  if (int(res[0].size()) < req.k) {
    DOPPEL_ASSIGN_OR_RETURN(int64_t matching, coll->Count(o.filter));
    if (int64_t(res[0].size()) < std::min<int64_t>(req.k, matching)) {
      req.ef = static_cast<int>(std::min<int64_t>(std::max<int64_t>(matching, req.k), 1 << 20));
      DOPPEL_ASSIGN_OR_RETURN(res, coll->Search(req));
    }
  }
  std::vector<Hit> hits;
  std::vector<int64_t> ids;
  for (auto& h : res[0]) {
    if (h.id == self) continue;
    if (int(hits.size()) >= o.k) break;
    Hit x;
    x.id = h.id;
    x.distance = h.distance;
    x.path = PathOf(h.fields);
    x.fields = std::move(h.fields);
    ids.push_back(h.id);
    hits.push_back(std::move(x));
  }
  DOPPEL_ASSIGN_OR_RETURN(auto paths, catalog->PathsOfMany(ids));
  std::vector<Hit> out;
  for (auto& h : hits) {
    auto& ps = paths[h.id];
    if (!ps.empty() && std::find(ps.begin(), ps.end(), h.path) == ps.end()) h.path = ps[0];
    if (o.collapse_duplicates) {
      for (const auto& p : ps)
        if (p != h.path) h.other_paths.push_back(p);
      out.push_back(std::move(h));
    } else {
      // One row per path of the picture, all at the same distance.
      out.push_back(h);
      for (const auto& p : ps)
        if (p != h.path) {
          Hit copy = h;
          copy.path = p;
          out.push_back(std::move(copy));
        }
    }
  }
  for (size_t i = 0; i < out.size(); ++i) out[i].rank = static_cast<int>(i + 1);
  return out;
}

Result<std::vector<Hit>> Engine::SearchFused(const SearchQuery& q, const std::vector<std::string>& names,
                                             const SearchOptions& o) {
  if (names.size() < 2) return Status::InvalidArgument("a fused search needs at least two models");
  if (o.whiten) return Status::InvalidArgument("whiten re-ranks a one-model search, not a fused one");
  if (o.dba) return Status::InvalidArgument("dba re-ranks a one-model search, not a fused one");
  for (size_t i = 0; i < names.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (names[i] == names[j]) return Status::InvalidArgument("model '" + names[i] + "' named twice");
  std::vector<std::shared_ptr<Collection>> colls;
  for (const auto& n : names) {
    DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<const OnnxModel> m, LoadModel(n));
    if (!m->spec().normalize)
      return Status::InvalidArgument("model '" + n + "' does not L2-normalise its vectors: it cannot be fused");
    DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, impl_->store->GetCollection(n));
    if (c->schema().vector_type != VectorType::kFloat32)
      return Status::InvalidArgument("collection '" + n + "' does not hold float vectors");
    DOPPEL_RETURN_IF_ERROR(CheckSearchOptions(o, *c));
    colls.push_back(std::move(c));
  }
  const int64_t self = impl_->SelfId(q, o);
  // Candidates: each model's nearest `pool` pictures (one row per picture).
  SearchOptions each = o;
  each.k = std::max(4 * o.k, kFusedPool);
  each.collapse_duplicates = true;
  std::vector<std::vector<float>> qv;
  std::vector<int64_t> ids;
  std::unordered_map<int64_t, Hit> first_seen;
  // Score = the inner product of the concatenated unit vectors / sqrt(models): the mean of each model's cosine
  // similarity. A candidate some model has not embedded (yet) has no fused vector and is left out. A model's own
  // candidates have their similarity from its search (the metric's distance of unit vectors: L2 2 - 2 s; IP and
  // cosine s); the others' vectors are fetched.
  std::unordered_map<int64_t, double> score;
  std::unordered_map<int64_t, int> models_with;
  std::vector<std::unordered_set<int64_t>> found(names.size());
  QueryDecodes decodes;  // one decode of the query picture for the models that decode it alike
  for (size_t m = 0; m < names.size(); ++m) {
    DOPPEL_ASSIGN_OR_RETURN(std::vector<float> v, QueryVector(q, names[m], &decodes));
    if (o.expand > 0) {
      DOPPEL_ASSIGN_OR_RETURN(v, ExpandQuery(colls[m].get(), v, o, self));
    }
    DOPPEL_ASSIGN_OR_RETURN(std::vector<Hit> hits, impl_->SearchVector(colls[m].get(), v, self, each));
    const bool l2 = colls[m]->schema().metric == Metric::kL2;
    for (auto& h : hits) {
      found[m].insert(h.id);
      score[h.id] += (l2 ? 1.0 - h.distance / 2.0 : double(h.distance)) / double(names.size());
      ++models_with[h.id];
      if (first_seen.emplace(h.id, h).second) ids.push_back(h.id);
    }
    qv.push_back(std::move(v));
  }
  for (size_t m = 0; m < names.size(); ++m) {
    std::vector<int64_t> missing;
    for (int64_t id : ids)
      if (!found[m].count(id)) missing.push_back(id);
    if (missing.empty()) continue;
    DOPPEL_ASSIGN_OR_RETURN(std::vector<Entity> es, colls[m]->Get(missing, {"vector"}));
    for (const auto& e : es) {
      if (e.vector.size() != qv[m].size()) continue;
      double ip = 0;
      for (size_t i = 0; i < e.vector.size(); ++i) ip += double(qv[m][i]) * e.vector[i];
      score[e.id] += ip / double(names.size());
      ++models_with[e.id];
    }
  }
  std::vector<int64_t> ranked;
  for (int64_t id : ids)
    if (models_with[id] == int(names.size())) ranked.push_back(id);
  std::stable_sort(ranked.begin(), ranked.end(), [&](int64_t a, int64_t b) { return score[a] > score[b]; });
  std::vector<Hit> out;
  int pictures = 0;  // k counts pictures, as a plain search does (without collapsing, a picture is a row per path)
  for (int64_t id : ranked) {
    if (pictures++ >= o.k) break;
    Hit h = std::move(first_seen[id]);
    h.distance = float(2.0 - 2.0 * score[id]);  // squared L2 of the concatenation, scaled to unit length
    AppendHit(std::move(h), o.collapse_duplicates, &out);
  }
  for (size_t i = 0; i < out.size(); ++i) out[i].rank = static_cast<int>(i + 1);
  return out;
}

Result<Picture> Engine::GetPicture(int64_t id) {
  Picture p;
  p.id = id;
  DOPPEL_ASSIGN_OR_RETURN(p.paths, impl_->catalog->PathsOf(id));
  if (p.paths.empty()) return Status::NotFound("no indexed picture with id " + std::to_string(id));
  DOPPEL_ASSIGN_OR_RETURN(std::optional<FileRecord> r, impl_->catalog->Find(p.paths[0]));
  if (r) {
    p.fields["path"] = r->path;
    p.fields["size"] = r->size;
    p.fields["mtime"] = r->mtime_ns / 1000000000;
    p.fields["width"] = int64_t(r->width);
    p.fields["height"] = int64_t(r->height);
    p.fields["hash"] = r->hash;
    p.fields["format"] = r->format;
  }
  return p;
}

Result<Comparison> Engine::Compare(const SearchQuery& q, const std::vector<std::string>& names,
                                   const SearchOptions& o, bool fuse) {
  if (names.size() < 2) return Status::InvalidArgument("compare needs at least two models");
  Comparison cmp;
  cmp.models = names;
  std::vector<std::vector<int64_t>> lists;
  QueryDecodes decodes;  // one decode of the query picture for the models that decode it alike
  for (const auto& n : names) {
    DOPPEL_ASSIGN_OR_RETURN(std::vector<Hit> hits, Search(q, n, o, &decodes));
    std::vector<int64_t> ids;
    Comparison::Scale s;
    if (!hits.empty()) {
      s.min = s.max = hits[0].distance;
      double sum = 0;
      for (const auto& h : hits) {
        ids.push_back(h.id);
        s.min = std::min(s.min, h.distance);
        s.max = std::max(s.max, h.distance);
        sum += h.distance;
      }
      s.mean = static_cast<float>(sum / hits.size());
    }
    lists.push_back(ids);
    cmp.distance_scales.push_back(s);
    cmp.hits.push_back(std::move(hits));
  }
  cmp.overlap = OverlapAtK(lists[0], lists[1], o.k);
  cmp.rank_correlation = SharedRankCorrelation(lists[0], lists[1]);
  if (fuse) {
    std::unordered_map<int64_t, const Hit*> any;
    for (const auto& hs : cmp.hits)
      for (const auto& h : hs) any.emplace(h.id, &h);
    int rank = 0;
    for (const auto& f : ReciprocalRankFusion(lists)) {
      if (rank >= o.k) break;
      Hit h = *any[f.id];
      h.rank = ++rank;
      h.distance = static_cast<float>(f.score);
      cmp.fused.push_back(std::move(h));
    }
  }
  return cmp;
}


}  // namespace doppel
