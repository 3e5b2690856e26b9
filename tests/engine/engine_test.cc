// The engine as a library for many callers: the stored default model, read-only opens beside a writer, the writer
// lock naming its holder, uploads that are never opened as paths, and index jobs (progress, one at a time, cancel).
#include "doppel/engine/engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <mutex>
#include <nlohmann/json.hpp>

#include "doppel/api/api.h"
#include "doppel/api/json.h"
#include "doppel/engine/whitening.h"
#include "engine/engine_fixture.h"

namespace doppel {
namespace {

namespace fs = std::filesystem;

// Holds an index job inside its first progress report (so it is running for sure) until Release().
class JobGate {
 public:
  ProgressFn Progress() {
    return [this](const IndexProgress&) {
      std::unique_lock<std::mutex> l(mu_);
      if (entered_) return;
      entered_ = true;
      cv_.notify_all();
      cv_.wait(l, [&] { return released_; });
    };
  }
  void WaitUntilHeld() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return entered_; });
  }
  void Release() {
    {
      std::lock_guard<std::mutex> l(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false, released_ = false;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.file("data");
    model_file_ = dir_.file("m.onnx");
    testing::WriteRandomModel(model_file_, 1);
  }
  std::unique_ptr<Engine> Open(bool read_only = false) {
    EngineOptions o;
    o.data_dir = data_;
    o.read_only = read_only;
    auto e = Engine::Open(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  }
  void Add(Engine& e, const std::string& name) {
    auto r = e.AddModel(name, model_file_, testing::RandomModelSpec());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  testing::TempDir dir_;
  std::string data_, model_file_;
};

TEST_F(EngineTest, DefaultModelIsStoredAndFollowsRemovals) {
  {
    auto e = Open();
    EXPECT_EQ(e->DefaultModel(), "");
    EXPECT_EQ(e->ResolveModelName("").status().code(), Status::Code::kFailedPrecondition);
    Add(*e, "zeta");
    EXPECT_EQ(e->DefaultModel(), "zeta") << "the first model becomes the default";
    Add(*e, "alpha");
    EXPECT_EQ(e->DefaultModel(), "zeta") << "not the alphabetically first";
    EXPECT_EQ(*e->ResolveModelName(""), "zeta");
    EXPECT_EQ(e->GetModel("")->name, "zeta");
    EXPECT_EQ(e->SetDefaultModel("nope").code(), Status::Code::kNotFound);
    ASSERT_TRUE(e->SetDefaultModel("alpha").ok());
  }
  {
    auto e = Open();
    EXPECT_EQ(e->DefaultModel(), "alpha") << "stored in the registry";
    auto st = e->GetStatus();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->default_model, "alpha");
    nlohmann::json j = api::ToJson(*st);
    EXPECT_EQ(j["default_model"], "alpha");
    ASSERT_TRUE(e->RemoveModel("alpha").ok());
    EXPECT_EQ(e->DefaultModel(), "zeta") << "the default went away: the first remaining model";
    ASSERT_TRUE(e->RemoveModel("zeta").ok());
    EXPECT_EQ(e->DefaultModel(), "");
  }
}

TEST_F(EngineTest, ReadersOpenBesideTheWriterAndSeeWhatWasCommitted) {
  auto photos = testing::SamplePhotos(6);
  auto files = testing::WriteCopies(photos, dir_.file("imgs"), "p", 1);
  auto w = Open();
  Add(*w, "m");
  ASSERT_TRUE(w->Index({files[0], files[1], files[2]}, IndexOptions()).ok());

  // A second writer (another process, or another open in this one) is refused, naming who holds the lock.
  EngineOptions o;
  o.data_dir = data_;
  auto second = Engine::Open(o);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.status().message();

  // A reader works while the writer holds the directory, and sees what was committed when it opened.
  auto r = Open(/*read_only=*/true);
  ASSERT_TRUE(r);
  auto st = r->GetStatus();
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_TRUE(st->read_only);
  ASSERT_EQ(st->models.size(), 1u);
  EXPECT_EQ(st->models[0].count, 3);
  EXPECT_EQ(st->files, 3);
  SearchQuery q;
  q.indexed_path = files[1];
  SearchOptions so;
  so.k = 3;
  auto hits = r->Search(q, "", so);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits->size(), 3u);
  EXPECT_EQ((*hits)[0].path, files[1]);
  // Readers never write.
  EXPECT_EQ(r->Index({files[3]}, IndexOptions()).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(r->RemoveIds({(*hits)[0].id}).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(r->SetDefaultModel("m").code(), Status::Code::kFailedPrecondition);

  // More commits: a new reader sees them, with correct results from both the snapshot and the newer rows.
  ASSERT_TRUE(w->Index({files[3], files[4], files[5]}, IndexOptions()).ok());
  ASSERT_TRUE(w->RemovePaths({files[0]}).ok());
  auto r2 = Open(true);
  st = r2->GetStatus();
  EXPECT_EQ(st->models[0].count, 5);
  for (size_t i = 1; i < files.size(); ++i) {
    SearchQuery qi;
    qi.indexed_path = files[i];
    so.k = 10;
    auto h = r2->Search(qi, "m", so);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    ASSERT_EQ(h->size(), 5u) << "every live picture, none removed";
    EXPECT_EQ((*h)[0].path, files[i]);
    for (const auto& x : *h) EXPECT_NE(x.path, files[0]) << "a removed picture came back";
  }
  // A reader of a directory that does not exist says so.
  EngineOptions none;
  none.data_dir = dir_.file("nothing-here");
  none.read_only = true;
  auto missing = Engine::Open(none);
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(fs::exists(none.data_dir)) << "a reader creates nothing";
}

// A whitened search is the plain search's shortlist ordered by the inner product of PCA-whitened vectors, the
// whitening learned from the collection's own vectors: the same as doing that by hand. The whitening is learned
// again once the collection has grown by a quarter.
TEST_F(EngineTest, WhitenedSearchReRanksByWhitenedSimilarityLearnedFromTheCollection) {
  auto photos = testing::SamplePhotos(8);
  ASSERT_GE(photos.size(), 8u);
  testing::WriteCopies(std::vector<std::string>(photos.begin(), photos.begin() + 4), dir_.file("imgs"), "p", 1);
  auto e = Open();
  Add(*e, "m");
  ASSERT_TRUE(e->Index({dir_.file("imgs")}, IndexOptions()).ok());
  SearchQuery q;
  q.image_file = photos[5];  // not indexed
  // By hand: every stored vector (in id order, as the engine learns from them), whitened, scored against the
  // whitened query, best first.
  auto by_hand = [&]() -> std::vector<std::pair<int64_t, float>> {
    SearchOptions all;
    all.k = 100;
    auto hits = e->Search(q, "m", all);
    EXPECT_TRUE(hits.ok());
    std::map<int64_t, std::vector<float>> vecs;
    for (const auto& h : *hits) {
      SearchQuery by_id;
      by_id.id = h.id;
      vecs[h.id] = *e->QueryVector(by_id, "m");
    }
    std::vector<float> rows;
    for (const auto& [id, v] : vecs) rows.insert(rows.end(), v.begin(), v.end());
    const int dim = int(vecs.begin()->second.size());
    auto w = Whitening::Fit(rows.data(), int64_t(vecs.size()), dim, kSearchWhitenPower);
    EXPECT_TRUE(w.ok());
    const std::vector<float> wq = w->Apply(*e->QueryVector(q, "m"));
    std::vector<std::pair<int64_t, float>> scored;
    for (const auto& [id, v] : vecs) {
      const std::vector<float> wv = w->Apply(v);
      float s = 0;
      for (size_t t = 0; t < wv.size(); ++t) s += wq[t] * wv[t];
      scored.emplace_back(id, s);
    }
    std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    return scored;
  };
  SearchOptions whiten;
  whiten.k = 3;
  whiten.whiten = true;
  for (int round = 0; round < 2; ++round) {
    const auto want = by_hand();
    auto got = e->Search(q, "m", whiten);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), 3u);
    for (size_t i = 0; i < got->size(); ++i) {
      EXPECT_EQ((*got)[i].id, want[i].first) << "round " << round << " rank " << i;
      EXPECT_NEAR((*got)[i].distance, 2 - 2 * want[i].second, 1e-4) << "L2 collection: squared L2 of unit vectors";
      EXPECT_EQ((*got)[i].rank, int(i + 1));
    }
    // Twice as many pictures: the whitening the engine keeps must be learned again to match.
    testing::WriteCopies(std::vector<std::string>(photos.begin() + 4, photos.begin() + 8), dir_.file("more"), "q", 1);
    ASSERT_TRUE(e->Index({dir_.file("more")}, IndexOptions()).ok());
  }
}

// The learned whitening is kept with the collection (DATA/whitening/NAME.bin: the model fingerprint and the size it
// was learned at, then the transform) by whichever process learned it, and another process (a read-only engine: a
// CLI search) uses it instead of learning it again; one of another model, or a damaged file, is not used; removing the model removes it.
TEST_F(EngineTest, WhiteningIsKeptWithTheCollectionAndReadByOtherProcesses) {
  auto photos = testing::SamplePhotos(9);
  ASSERT_GE(photos.size(), 9u);
  testing::WriteCopies(std::vector<std::string>(photos.begin(), photos.begin() + 8), dir_.file("imgs"), "p", 1);
  auto e = Open();
  Add(*e, "m");
  ASSERT_TRUE(e->Index({dir_.file("imgs")}, IndexOptions()).ok());
  SearchQuery q;
  q.image_file = photos[8];
  SearchOptions whiten;
  whiten.k = 8;
  whiten.whiten = true;
  auto ids = [](const Result<std::vector<Hit>>& hits) {
    std::vector<int64_t> out;
    EXPECT_TRUE(hits.ok()) << hits.status().ToString();
    if (hits.ok())
      for (const auto& h : *hits) out.push_back(h.id);
    return out;
  };
  const std::vector<int64_t> learned = ids(e->Search(q, "m", whiten));
  ASSERT_EQ(learned.size(), 8u);
  const std::string file = data_ + "/whitening/m.bin";
  ASSERT_TRUE(fs::exists(file)) << "the writer keeps what it learned";
  fs::remove(file);
  {
    auto reader = Open(/*read_only=*/true);  // a CLI search: it learns the same whitening and keeps it too
    EXPECT_EQ(ids(reader->Search(q, "m", whiten)), learned);
    EXPECT_TRUE(fs::exists(file));
  }

  // A stored whitening learned from other vectors: the reader must rank by it, which shows it read the file.
  const int dim = e->ListModels()[0].dim;
  std::mt19937 rng(7);
  std::normal_distribution<float> g;
  std::vector<float> other(size_t(40) * dim);
  for (auto& x : other) x = g(rng);
  auto planted = Whitening::Fit(other.data(), 40, dim, kSearchWhitenPower);
  ASSERT_TRUE(planted.ok());
  auto write = [&](const std::string& fingerprint, const std::string& body) {
    testing::WriteFile(file, nlohmann::json{{"fingerprint", fingerprint}, {"count", 8}}.dump() + "\n" + body);
  };
  const std::string fingerprint = e->ListModels()[0].fingerprint;
  write(fingerprint, planted->Serialize());
  std::vector<std::pair<float, int64_t>> by_planted;
  const std::vector<float> wq = planted->Apply(*e->QueryVector(q, "m"));
  for (int64_t id : learned) {
    SearchQuery by_id;
    by_id.id = id;
    const std::vector<float> wv = planted->Apply(*e->QueryVector(by_id, "m"));
    float s = 0;
    for (size_t t = 0; t < wv.size(); ++t) s += wq[t] * wv[t];
    by_planted.emplace_back(s, id);
  }
  std::stable_sort(by_planted.begin(), by_planted.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<int64_t> want;
  for (const auto& [s, id] : by_planted) want.push_back(id);
  ASSERT_NE(want, learned) << "the planted whitening must order these pictures otherwise for the test to tell";
  {
    auto reader = Open(/*read_only=*/true);
    EXPECT_EQ(ids(reader->Search(q, "m", whiten)), want);
  }
  // Another model's whitening and a damaged file are not used: the reader learns its own, as the writer did.
  for (const std::string& body : {planted->Serialize(), std::string("not a whitening")}) {
    write(body == "not a whitening" ? fingerprint : "another model", body);
    auto reader = Open(/*read_only=*/true);
    EXPECT_EQ(ids(reader->Search(q, "m", whiten)), learned);
  }
  auto bad = Whitening::Deserialize("not a whitening");
  EXPECT_EQ(bad.status().code(), Status::Code::kCorruption);
  ASSERT_TRUE(e->RemoveModel("m").ok());
  EXPECT_FALSE(fs::exists(file)) << "learned from vectors that are gone";
}

// Database-side augmentation at search time: the shortlist ordered by the query's similarity to each picture's
// vector blended with its 3 nearest other pictures (weights similarity^3), as refine.h's DatabaseAugment does to a
// whole collection; a query by id is blended the same way, an image query is not. Checked by hand over every
// picture (fewer than the shortlist).
TEST_F(EngineTest, AugmentedSearchRanksByEachPictureBlendedWithItsNeighbours) {
  auto photos = testing::SamplePhotos(10);
  ASSERT_GE(photos.size(), 10u);
  testing::WriteCopies(std::vector<std::string>(photos.begin(), photos.begin() + 9), dir_.file("imgs"), "p", 1);
  auto e = Open();
  Add(*e, "m");
  ASSERT_TRUE(e->Index({dir_.file("imgs")}, IndexOptions()).ok());
  std::map<int64_t, std::vector<float>> vecs;
  {
    SearchQuery any;
    any.image_file = photos[0];
    SearchOptions all;
    all.k = 100;
    auto hits = e->Search(any, "m", all);
    ASSERT_TRUE(hits.ok());
    for (const auto& h : *hits) {
      SearchQuery by_id;
      by_id.id = h.id;
      vecs[h.id] = *e->QueryVector(by_id, "m");
    }
  }
  ASSERT_GE(vecs.size(), 9u);
  auto dot = [](const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (size_t t = 0; t < a.size(); ++t) s += double(a[t]) * b[t];
    return s;
  };
  auto augment = [&](int64_t own, const std::vector<float>& v) {
    std::vector<std::pair<double, int64_t>> near;
    for (const auto& [id, u] : vecs)
      if (id != own) near.emplace_back(dot(v, u), id);
    std::sort(near.rbegin(), near.rend());
    std::vector<double> sum(v.begin(), v.end());
    for (size_t n = 0; n < 3; ++n)
      for (size_t t = 0; t < v.size(); ++t) sum[t] += std::pow(std::max(0.0, near[n].first), 3.0) * vecs[near[n].second][t];
    double norm = 0;
    for (double x : sum) norm += x * x;
    std::vector<float> out(v.size());
    for (size_t t = 0; t < v.size(); ++t) out[t] = float(sum[t] / std::sqrt(norm));
    return out;
  };
  SearchOptions dba;
  dba.k = 4;
  dba.dba = true;
  SearchQuery by_image, by_id;
  by_image.image_file = photos[9];  // not indexed: not blended
  by_id.id = vecs.begin()->first;   // indexed: blended like every picture
  for (const SearchQuery* q : {&by_image, &by_id}) {
    std::vector<float> qv = *e->QueryVector(*q, "m");
    if (q->id) qv = augment(q->id, qv);
    std::vector<std::pair<double, int64_t>> want;
    for (const auto& [id, v] : vecs) want.emplace_back(dot(qv, augment(id, v)), id);
    std::sort(want.rbegin(), want.rend());
    auto got = e->Search(*q, "m", dba);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), 4u);
    for (size_t i = 0; i < got->size(); ++i) {
      EXPECT_EQ((*got)[i].id, want[i].second) << (q->id ? "by id" : "by image") << " rank " << i;
      EXPECT_NEAR((*got)[i].distance, 2 - 2 * want[i].first, 1e-4);
    }
  }
  // One re-ranking at a time, one model.
  SearchOptions both = dba;
  both.whiten = true;
  EXPECT_EQ(e->Search(by_id, "m", both).status().code(), Status::Code::kInvalidArgument);
  SearchOptions expanded = dba;
  expanded.expand = 2;
  EXPECT_EQ(e->Search(by_id, "m", expanded).status().code(), Status::Code::kInvalidArgument);
}

// Query expansion searches again with the query blended with its nearest pictures (weights similarity^3): the
// same as doing that by hand with the stored vectors and a search by vector.
TEST_F(EngineTest, QueryExpansionIsTheQueryBlendedWithItsNeighbours) {
  auto photos = testing::SamplePhotos(6);
  testing::WriteCopies(photos, dir_.file("imgs"), "p", 1);
  auto e = Open();
  Add(*e, "m");
  ASSERT_TRUE(e->Index({dir_.file("imgs")}, IndexOptions()).ok());
  SearchQuery q;
  q.image_file = photos[3];
  SearchOptions plain;
  plain.k = 12;
  auto first = e->Search(q, "m", plain);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto v = e->QueryVector(q, "m");
  ASSERT_TRUE(v.ok());
  std::vector<double> blend(v->begin(), v->end());
  for (int i = 0; i < 2; ++i) {
    SearchQuery by_id;
    by_id.id = (*first)[size_t(i)].id;
    auto n = e->QueryVector(by_id, "m");
    ASSERT_TRUE(n.ok());
    double ip = 0;
    for (size_t t = 0; t < v->size(); ++t) ip += double((*v)[t]) * (*n)[t];
    for (size_t t = 0; t < v->size(); ++t) blend[t] += std::pow(std::max(0.0, ip), 3.0) * (*n)[t];
  }
  double norm = 0;
  for (double x : blend) norm += x * x;
  SearchQuery by_vector;
  for (double x : blend) by_vector.vector.push_back(float(x / std::sqrt(norm)));
  auto manual = e->Search(by_vector, "m", plain);
  SearchOptions expand = plain;
  expand.expand = 2;
  auto expanded = e->Search(q, "m", expand);
  ASSERT_TRUE(manual.ok() && expanded.ok());
  ASSERT_EQ(expanded->size(), manual->size());
  for (size_t i = 0; i < manual->size(); ++i) {
    EXPECT_EQ((*expanded)[i].id, (*manual)[i].id) << "rank " << i;
    EXPECT_NEAR((*expanded)[i].distance, (*manual)[i].distance, 1e-4);
  }
  expand.expand = -1;
  EXPECT_EQ(e->Search(q, "m", expand).status().code(), Status::Code::kInvalidArgument);
}

// The quality profile: several models searched as one. Its ranking is that of the models' unit vectors
// concatenated (the mean of their cosine similarities), checked here by brute force over every picture; a picture
// one model lacks is left out; the profile resolves to the built-in models by name and says what is missing.
TEST_F(EngineTest, FusedSearchRanksByTheConcatenatedVectors) {
  auto photos = testing::SamplePhotos(6);
  auto files = testing::WriteCopies(photos, dir_.file("imgs"), "p", 2);
  auto e = Open();
  // Random models under the built-ins' names (the profile goes by name).
  Add(*e, "mobilenet_v2");
  EXPECT_EQ(api::SearchModels(*e, "", "", "quality").status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(api::SearchModels(*e, "", "", "quality").status().message().find("add-builtin inception_v3"),
            std::string::npos);
  testing::WriteRandomModel(dir_.file("b.onnx"), 2);
  ASSERT_TRUE(e->AddModel("inception_v3", dir_.file("b.onnx"), testing::RandomModelSpec()).ok());
  ASSERT_TRUE(e->Index({dir_.file("imgs")}, IndexOptions()).ok());
  // One more picture, indexed by the first model only: it has no fused vector.
  fs::create_directories(dir_.file("extra"));
  const std::vector<std::string> extra = {dir_.file("extra/x.jpg")};
  testing::WriteEditedCopy(photos[3], extra[0], 0.6);
  IndexOptions only_first;
  only_first.models = {"mobilenet_v2"};
  ASSERT_TRUE(e->Index({dir_.file("extra")}, only_first).ok());

  auto names = api::SearchModels(*e, "", "", "quality");
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, (std::vector<std::string>{"mobilenet_v2", "inception_v3"}));
  EXPECT_EQ(api::SearchModels(*e, "", "", "best").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(*api::SearchModels(*e, "", "", ""), std::vector<std::string>{"mobilenet_v2"});

  SearchQuery q;
  q.image_file = photos[3];
  SearchOptions o;
  o.k = 5;
  auto fused = e->SearchFused(q, *names, o);
  ASSERT_TRUE(fused.ok()) << fused.status().ToString();
  ASSERT_EQ(fused->size(), 5u);
  // Brute force: every picture's vectors in both models, against the query's.
  std::vector<std::vector<float>> qv;
  for (const auto& n : *names) qv.push_back(*e->QueryVector(q, n));
  std::vector<std::pair<double, int64_t>> all;
  for (const auto& f : files) {
    const int64_t id = testing::FileContentId(f);
    double mean = 0;
    for (size_t m = 0; m < names->size(); ++m) {
      SearchQuery by_id;
      by_id.id = id;
      auto v = e->QueryVector(by_id, (*names)[m]);
      ASSERT_TRUE(v.ok());
      double ip = 0;
      for (size_t t = 0; t < v->size(); ++t) ip += double(qv[m][t]) * (*v)[t];
      mean += ip / double(names->size());
    }
    all.emplace_back(mean, id);
  }
  std::sort(all.rbegin(), all.rend());
  for (size_t i = 0; i < fused->size(); ++i) {
    EXPECT_EQ((*fused)[i].id, all[i].second) << "rank " << i;
    EXPECT_NEAR((*fused)[i].distance, 2.0 - 2.0 * all[i].first, 1e-4);
    EXPECT_EQ((*fused)[i].rank, int(i + 1));
    EXPECT_NE((*fused)[i].id, testing::FileContentId(extra[0])) << "not embedded by every model";
  }
  // The extra picture is the first model's best hit, yet not a fused one.
  auto single = e->Search(q, "mobilenet_v2", o);
  ASSERT_TRUE(single.ok());
  bool extra_found = false;
  for (const auto& h : *single) extra_found |= h.id == testing::FileContentId(extra[0]);
  EXPECT_TRUE(extra_found);
  // Errors.
  EXPECT_EQ(e->SearchFused(q, {"mobilenet_v2"}, o).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(e->SearchFused(q, {"mobilenet_v2", "mobilenet_v2"}, o).status().code(), Status::Code::kInvalidArgument);
  o.filter = "no_such_field == 1";
  EXPECT_EQ(e->SearchFused(q, *names, o).status().code(), Status::Code::kInvalidArgument);
  // k counts pictures, as a plain search does: every picture under a second path, not collapsed, gives k pictures
  // in two rows each.
  fs::create_directories(dir_.file("again"));
  for (const auto& f : files) fs::copy_file(f, dir_.file("again/" + fs::path(f).filename().string()));
  ASSERT_TRUE(e->Index({dir_.file("again")}, IndexOptions()).ok());
  o.filter.clear();
  o.k = 3;
  o.collapse_duplicates = false;
  auto rows = e->SearchFused(q, *names, o);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  std::set<int64_t> pictures;
  for (const auto& h : *rows) pictures.insert(h.id);
  EXPECT_EQ(pictures.size(), 3u);
  EXPECT_EQ(rows->size(), 6u);
  auto plain = e->Search(q, "mobilenet_v2", o);
  ASSERT_TRUE(plain.ok());
  std::set<int64_t> plain_pictures;
  for (const auto& h : *plain) plain_pictures.insert(h.id);
  EXPECT_EQ(plain_pictures.size(), 3u) << "as the plain search counts";
}

TEST_F(EngineTest, UploadsAreNeverOpenedAsPaths) {
  auto photos = testing::SamplePhotos(3);
  auto files = testing::WriteCopies(photos, dir_.file("imgs"), "p", 1);
  auto e = Open();
  Add(*e, "m");
  ASSERT_TRUE(e->Index({dir_.file("imgs")}, IndexOptions()).ok());
  // An upload named like a server path: the name is only a label; the bytes are what is searched.
  api::QueryInput in;
  in.upload = testing::ReadFile(files[2]);
  in.upload_name = "/etc/shadow";
  auto q = api::BuildQuery(in, api::Caller::kRemote);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  auto hits = e->Search(*q, "m", SearchOptions());
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  EXPECT_EQ((*hits)[0].path, files[2]);
  EXPECT_NEAR((*hits)[0].distance, 0.0, 1e-5);
  // Garbage bytes under a path-like name: an error about the upload, and the file is not read.
  in.upload = "not an image at all";
  in.upload_name = files[2];
  auto bad = e->Search(*api::BuildQuery(in, api::Caller::kRemote), "m", SearchOptions());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument) << bad.status().ToString();
  // Remote callers cannot name a file on the server at all.
  api::QueryInput path_in;
  path_in.image_file = files[2];
  auto refused = api::BuildQuery(path_in, api::Caller::kRemote);
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("uploaded"), std::string::npos);
  EXPECT_TRUE(api::BuildQuery(path_in, api::Caller::kLocal).ok());
  // Exactly one kind of query.
  api::QueryInput two;
  two.id = 5;
  two.indexed_path = files[0];
  EXPECT_EQ(api::BuildQuery(two, api::Caller::kLocal).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(api::BuildQuery(api::QueryInput(), api::Caller::kLocal).status().code(),
            Status::Code::kInvalidArgument);
}

TEST_F(EngineTest, IndexJobsReportProgressRunOneAtATimeAndCancel) {
  auto photos = testing::SamplePhotos(12);
  auto files = testing::WriteCopies(photos, dir_.file("imgs"), "p", 2);
  auto e = Open();
  Add(*e, "m");
  // A job held inside its first progress report: it is running for sure.
  JobGate gate;
  IndexOptions io;
  io.commit_every = 4;
  auto job = e->StartIndex({dir_.file("imgs")}, io, gate.Progress());
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  gate.WaitUntilHeld();
  EXPECT_FALSE((*job)->Done());
  auto second = e->StartIndex({dir_.file("imgs")}, io);
  EXPECT_EQ(second.status().code(), Status::Code::kFailedPrecondition) << "one index job at a time";
  // Searches and status work while the job runs.
  EXPECT_TRUE(e->GetStatus().ok());
  (*job)->Cancel();
  gate.Release();
  auto sum = (*job)->Wait();
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  EXPECT_TRUE(sum->cancelled);
  EXPECT_LT(sum->counts.indexed, int64_t(files.size())) << "cancelled before the first chunk";
  // What a cancelled job committed is consistent; the next run does the rest.
  auto again = e->Index({dir_.file("imgs")}, io);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->cancelled);
  EXPECT_EQ(again->counts.indexed + again->counts.skipped, int64_t(files.size()));
  auto st = e->GetStatus();
  EXPECT_EQ(st->models[0].count, int64_t(files.size()));
  EXPECT_EQ(st->files, int64_t(files.size()));
  auto progress = e->StartIndex({dir_.file("imgs")}, io);
  ASSERT_TRUE(progress.ok());
  ASSERT_TRUE((*progress)->Wait().ok());
  EXPECT_EQ((*progress)->Progress().done, int64_t(files.size()));
}

TEST_F(EngineTest, AddingAModelToAnIndexedLibraryRunsOnlyThatModel) {
  auto photos = testing::SamplePhotos(6);
  auto files = testing::WriteCopies(photos, dir_.file("imgs"), "p", 2);
  const int64_t n = int64_t(files.size());
  auto e = Open();
  Add(*e, "a");
  IndexOptions io;
  io.commit_every = 4;
  auto first = e->Index({dir_.file("imgs")}, io);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->embedded.at("a"), n);
  // A second model: each picture is embedded with it alone; model a, which holds them all, runs on none.
  const std::string b_file = dir_.file("b.onnx");
  testing::WriteRandomModel(b_file, 2);
  ASSERT_TRUE(e->AddModel("b", b_file, testing::RandomModelSpec()).ok());
  auto second = e->Index({dir_.file("imgs")}, io);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->embedded.at("a"), 0);
  EXPECT_EQ(second->embedded.at("b"), n);
  EXPECT_EQ(second->counts.indexed, n);
  EXPECT_TRUE(second->failures.empty());
  auto st = e->GetStatus();
  ASSERT_TRUE(st.ok());
  for (const auto& m : st->models) EXPECT_EQ(m.count, n) << m.model.name;
  // Model b's vectors are its own: each picture finds itself first.
  for (const auto& f : {files[0], files[5]}) {
    SearchQuery q;
    q.image_file = f;
    auto hits = e->Search(q, "b", SearchOptions{});
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    ASSERT_FALSE(hits->empty());
    EXPECT_EQ((*hits)[0].path, fs::absolute(f).lexically_normal().string());
    EXPECT_LT((*hits)[0].distance, 1e-4);
  }
  // Nothing is left to do.
  auto third = e->Index({dir_.file("imgs")}, io);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->counts.indexed, 0);
  EXPECT_EQ(third->counts.skipped, n);
  EXPECT_EQ(third->embedded.at("a") + third->embedded.at("b"), 0);
}

TEST_F(EngineTest, ACommitThatFailsStopsTheJobAndWaitReturnsTheError) {
  auto photos = testing::SamplePhotos(8);
  testing::WriteCopies(photos, dir_.file("imgs"), "p", 3);
  auto e = Open();
  Add(*e, "m");
  // The job is held in its first progress report (before any commit) while its only model is removed: its first
  // commit fails, which must stop reading and embedding and end the job with that error.
  JobGate gate;
  IndexOptions io;
  io.commit_every = 2;
  auto job = e->StartIndex({dir_.file("imgs")}, io, gate.Progress());
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  gate.WaitUntilHeld();
  ASSERT_TRUE(e->RemoveModel("m").ok());
  gate.Release();
  auto sum = (*job)->Wait();
  ASSERT_FALSE(sum.ok());
  EXPECT_EQ(sum.status().code(), Status::Code::kFailedPrecondition) << sum.status().ToString();
  EXPECT_NE(sum.status().message().find("removed"), std::string::npos) << sum.status().ToString();
  EXPECT_TRUE((*job)->Done());
  EXPECT_EQ(e->GetStatus()->files, 0) << "nothing was committed";
}

TEST_F(EngineTest, OnePictureUnderSeveralPathsInOneRunIsEmbeddedOnceWithAllItsPaths) {
  auto photos = testing::SamplePhotos(6);
  auto files = testing::WriteCopies(photos, dir_.file("imgs"), "p", 1);
  // Two more byte-identical copies of each, next to it in walk order: they are read while it is being embedded.
  std::vector<std::string> all;
  for (size_t i = 0; i < files.size(); ++i) {
    all.push_back(files[i]);
    for (const char* suffix : {"-a.jpg", "-b.jpg"}) {
      std::string copy = files[i].substr(0, files[i].size() - 4) + suffix;
      fs::copy_file(files[i], copy);
      all.push_back(copy);
    }
  }
  auto e = Open();
  Add(*e, "m");
  IndexOptions io;
  io.commit_every = 2;
  auto sum = e->Index({dir_.file("imgs")}, io);
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  EXPECT_EQ(sum->embedded.at("m"), int64_t(files.size()));
  EXPECT_EQ(sum->counts.indexed, int64_t(files.size()));
  EXPECT_EQ(sum->duplicates, int64_t(2 * files.size()));
  EXPECT_EQ(sum->counts.done, int64_t(all.size()));
  auto st = e->GetStatus();
  EXPECT_EQ(st->files, int64_t(all.size())) << "every path is catalogued";
  EXPECT_EQ(st->models[0].count, int64_t(files.size()));
  for (size_t i = 0; i < files.size(); ++i) {
    auto pic = e->GetPicture(testing::FileContentId(files[i]));
    ASSERT_TRUE(pic.ok()) << pic.status().ToString();
    EXPECT_EQ(pic->paths.size(), 3u) << files[i];
  }
  // The copies' catalog rows carry the picture's size, as the original's do.
  SearchQuery q;
  q.indexed_path = all[1];
  auto hits = e->Search(q, "", SearchOptions{});
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].other_paths.size(), 2u);
  auto again = e->Index({dir_.file("imgs")}, io);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->counts.skipped, int64_t(all.size())) << "nothing left to do";
}

}  // namespace
}  // namespace doppel
