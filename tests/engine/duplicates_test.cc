// Engine::FindDuplicates: tiers (exact pixels, near-copies in any rotation or mirror, similar), the transform
// found, flat images kept out of the near-copy tier, representative groups that do not chain, the group size cap,
// hashes kept in step with removals.
#include <gtest/gtest.h>
#include <vips/vips.h>

#include <chrono>
#include <set>

#include "doppel/image/decode.h"
#include "doppel/image/phash.h"
#include "doppel/image/picture_hash.h"
#include "doppel/store/store.h"
#include "doppel/util/file.h"
#include "doppel/util/hash.h"
#include "engine/engine_fixture.h"

namespace doppel {
namespace {

namespace fs = std::filesystem;

class Duplicates : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteRandomModel(dir_.file("m.onnx"), 1);
    EngineOptions o;
    o.data_dir = dir_.file("data");
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
    ASSERT_TRUE(engine_->AddModel("m", dir_.file("m.onnx"), testing::RandomModelSpec()).ok());
    fs::create_directories(dir_.file("imgs"));
  }
  ImageU8 Photo(size_t i, int width) {
    auto photos = testing::SamplePhotos(i + 1);
    DecodeOptions d;
    auto img = DecodeImageFile(photos[i], d);
    EXPECT_TRUE(img.ok());
    ImageU8 out(width, width * img->rgb.height / img->rgb.width, 3);
    // Nearest-neighbour resample: enough to make a distinct size.
    for (int y = 0; y < out.height; ++y)
      for (int x = 0; x < out.width; ++x)
        for (int c = 0; c < 3; ++c)
          out.at(x, y, c) = img->rgb.at(x * img->rgb.width / out.width, y * img->rgb.height / out.height, c);
    return out;
  }
  std::string Write(const ImageU8& img, const std::string& name, int q = 90) {
    std::string p = dir_.file("imgs/" + name);
    testing::WriteImage(img, p, q);
    return p;
  }
  std::vector<DuplicateGroup> Find(DuplicateTier min_tier, float threshold = kSimilarThreshold) {
    auto s = engine_->Index({dir_.file("imgs")}, IndexOptions());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    DuplicateOptions o;
    o.min_tier = min_tier;
    o.similar_threshold = threshold;
    auto g = engine_->FindDuplicates(o);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : std::vector<DuplicateGroup>{};
  }
  static std::string Name(const DuplicateMember& m) { return fs::path(m.hit.path).filename().string(); }

  testing::TempDir dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(Duplicates, RotatedAndMirroredCopiesAreNearCopiesWithTheirTransform) {
  ImageU8 big = Photo(0, 640);
  Write(big, "original.jpg");
  ImageU8 small = Photo(0, 480);  // smaller: the original is the representative (largest resolution)
  Write(ApplyDihedral(small, Dihedral::kRot90), "turned.jpg");
  Write(ApplyDihedral(small, Dihedral::kMirror), "mirrored.jpg");
  Write(ApplyDihedral(small, Dihedral::kRot180), "upside-down.jpg");
  Write(small, "recompressed.jpg", 20);
  Write(Photo(3, 640), "other.jpg");  // another photo
  auto groups = Find(DuplicateTier::kNearCopy);
  ASSERT_EQ(groups.size(), 1u);
  const auto& g = groups[0].members;
  ASSERT_EQ(g.size(), 5u) << "the original and its four copies, not the other photo";
  EXPECT_EQ(Name(g[0]), "original.jpg");
  std::map<std::string, std::string> transform;
  for (size_t i = 1; i < g.size(); ++i) {
    EXPECT_EQ(g[i].tier, DuplicateTier::kNearCopy) << Name(g[i]);
    EXPECT_LE(g[i].hit.distance, kNearCopyRadius);
    transform[Name(g[i])] = g[i].transform;
  }
  EXPECT_EQ(transform["turned.jpg"], DihedralName(Dihedral::kRot90));
  EXPECT_EQ(transform["mirrored.jpg"], DihedralName(Dihedral::kMirror));
  EXPECT_EQ(transform["upside-down.jpg"], DihedralName(Dihedral::kRot180));
  EXPECT_EQ(transform["recompressed.jpg"], DihedralName(Dihedral::kIdentity));
}

TEST_F(Duplicates, SamePixelsInTwoFormatsAreExactAndFlatImagesAreNotNearCopies) {
  ImageU8 p = Photo(1, 320);
  Write(p, "picture.png");
  // The same pixels as lossless WebP: other bytes, other content id, same decoded pixels.
  VipsImage* v = vips_image_new_from_memory_copy(p.pixels.data(), p.pixels.size(), p.width, p.height, 3,
                                                 VIPS_FORMAT_UCHAR);
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(vips_webpsave(v, dir_.file("imgs/picture.webp").c_str(), "lossless", TRUE, nullptr), 0);
  g_object_unref(v);
  // Two different flat images: a naive hash calls them identical; the quality score keeps them out.
  ImageU8 blue(300, 200, 3), grey(300, 200, 3);
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 300; ++x) {
      blue.at(x, y, 0) = 20, blue.at(x, y, 1) = 40, blue.at(x, y, 2) = 200;
      grey.at(x, y, 0) = grey.at(x, y, 1) = grey.at(x, y, 2) = uint8_t(120 + (x + y) % 2);
    }
  Write(blue, "blue.png");
  Write(grey, "grey.png");
  auto groups = Find(DuplicateTier::kNearCopy);
  ASSERT_EQ(groups.size(), 1u);
  ASSERT_EQ(groups[0].members.size(), 2u);
  std::set<std::string> names = {Name(groups[0].members[0]), Name(groups[0].members[1])};
  EXPECT_EQ(names, (std::set<std::string>{"picture.png", "picture.webp"}));
  EXPECT_EQ(groups[0].members[1].tier, DuplicateTier::kExact);
  auto exact_only = engine_->FindDuplicates([] {
    DuplicateOptions o;
    o.min_tier = DuplicateTier::kExact;
    return o;
  }());
  ASSERT_TRUE(exact_only.ok());
  EXPECT_EQ(exact_only->size(), 1u);
}

TEST_F(Duplicates, GroupsDoNotChainAndRespectTheirSize) {
  // A and C are different photos, B their blend: B is close to both, A and C are far apart.
  ImageU8 a = Photo(0, 400), c = Photo(2, 400);
  ImageU8 b = a;
  const int h = std::min(a.height, c.height);
  a.height = c.height = b.height = h;
  a.pixels.resize(size_t(400) * h * 3);
  c.pixels.resize(a.pixels.size());
  b.pixels.resize(a.pixels.size());
  for (size_t i = 0; i < b.pixels.size(); ++i) b.pixels[i] = uint8_t((a.pixels[i] + c.pixels[i]) / 2);
  Write(a, "a.png");
  Write(b, "b.png");
  Write(c, "c.png");
  auto s = engine_->Index({dir_.file("imgs")}, IndexOptions());
  ASSERT_TRUE(s.ok());
  auto dist = [&](const std::string& x, const std::string& y) {
    SearchQuery q;
    q.indexed_path = dir_.file("imgs/" + x);
    SearchOptions so;
    so.k = 3;
    auto hits = engine_->Search(q, "", so);
    for (const auto& hit : *hits)
      if (fs::path(hit.path).filename() == y) return hit.distance;
    return 1e9f;
  };
  const float ab = dist("a.png", "b.png"), bc = dist("b.png", "c.png"), ac = dist("a.png", "c.png");
  ASSERT_LT(std::max(ab, bc), ac) << "the blend is closer to each than they are to each other";
  const float threshold = (std::max(ab, bc) + ac) / 2;  // joins a-b and b-c, not a-c
  DuplicateOptions o;
  o.similar_threshold = threshold;
  auto groups = engine_->FindDuplicates(o);
  ASSERT_TRUE(groups.ok());
  for (const auto& g : *groups) {
    std::set<std::string> names;
    for (const auto& m : g.members) names.insert(Name(m));
    EXPECT_FALSE(names.count("a.png") && names.count("c.png")) << "a chain a~b~c became one group";
    for (size_t i = 1; i < g.members.size(); ++i) EXPECT_LE(g.members[i].hit.distance, threshold);
  }
  // With a threshold that joins everything, the cap holds.
  o.similar_threshold = 4;
  o.max_group = 2;
  groups = engine_->FindDuplicates(o);
  ASSERT_TRUE(groups.ok());
  for (const auto& g : *groups) EXPECT_LE(g.members.size(), 2u);
}

TEST_F(Duplicates, KeeperRulesChooseTheCopyToKeepAndSayWhich) {
  ImageU8 p = Photo(1, 480);
  fs::create_directories(dir_.file("imgs/best"));
  fs::create_directories(dir_.file("imgs/other"));
  const std::string fine = Write(p, "other/fine.jpg", 95), rough = Write(p, "best/rough.jpg", 40);
  // The rough copy is the older file.
  fs::last_write_time(rough, fs::last_write_time(fine) - std::chrono::hours(24));
  auto s = engine_->Index({dir_.file("imgs")}, IndexOptions());
  ASSERT_TRUE(s.ok());
  auto keeper = [&](std::vector<std::string> rules) -> std::pair<std::string, std::string> {
    DuplicateOptions o;
    o.min_tier = DuplicateTier::kNearCopy;
    o.keep_rules = std::move(rules);
    auto g = engine_->FindDuplicates(o);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    if (!g.ok() || g->size() != 1) return {"", ""};
    return {Name((*g)[0].members[0]), (*g)[0].keep_rule};
  };
  EXPECT_EQ(keeper({"largest", "biggest"}), std::make_pair(std::string("fine.jpg"), std::string("biggest")))
      << "same resolution: the larger file";
  EXPECT_EQ(keeper({"oldest"}), std::make_pair(std::string("rough.jpg"), std::string("oldest")));
  EXPECT_EQ(keeper({"prefer:/best/", "biggest"}), std::make_pair(std::string("rough.jpg"), std::string("prefer:/best/")));
  EXPECT_EQ(keeper({"avoid:/other/"}), std::make_pair(std::string("rough.jpg"), std::string("avoid:/other/")));
  DuplicateOptions bad;
  bad.keep_rules = {"prettiest"};
  auto r = engine_->FindDuplicates(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'prettiest'"), std::string::npos);
  // Nothing was applied: both files are still there.
  EXPECT_TRUE(fs::exists(fine) && fs::exists(rough));
}

TEST_F(Duplicates, DecisionsStickAcrossReindexAndMoves) {
  ImageU8 p = Photo(0, 480);
  Write(p, "a.jpg");
  Write(ApplyDihedral(Photo(0, 400), Dihedral::kMirror), "b.jpg");
  auto groups = Find(DuplicateTier::kNearCopy);
  ASSERT_EQ(groups.size(), 1u);
  std::vector<int64_t> ids;
  for (const auto& m : groups[0].members) ids.push_back(m.hit.id);
  // "Not duplicates": the group does not come back, not even after a move and a re-index.
  ASSERT_TRUE(engine_->DecideDuplicates(ids, DuplicateDecision::kKeepAll).ok());
  EXPECT_TRUE(Find(DuplicateTier::kNearCopy).empty());
  fs::create_directories(dir_.file("imgs/moved"));
  fs::rename(dir_.file("imgs/b.jpg"), dir_.file("imgs/moved/renamed.jpg"));
  IndexOptions prune;
  prune.prune = true;
  ASSERT_TRUE(engine_->Index({dir_.file("imgs")}, prune).ok());
  EXPECT_TRUE(Find(DuplicateTier::kNearCopy).empty()) << "the decision is by content, not by path";
  // Forgetting brings it back; "keep the smaller one" resolves it, shown on request with that one first.
  ASSERT_TRUE(engine_->ForgetDuplicateDecisions({ids[1]}).ok());
  ASSERT_EQ(Find(DuplicateTier::kNearCopy).size(), 1u);
  ASSERT_TRUE(engine_->DecideDuplicates(ids, DuplicateDecision::kKeep, ids[1]).ok());
  {
    auto again = Find(DuplicateTier::kNearCopy);
    std::string seen;
    for (const auto& g : again)
      for (const auto& m : g.members) seen += std::to_string(m.hit.id) + " " + m.hit.path + "; ";
    EXPECT_TRUE(again.empty()) << "a resolved group is not shown again: " << seen << " ids " << ids[0] << " " << ids[1];
  }
  DuplicateOptions o;
  o.min_tier = DuplicateTier::kNearCopy;
  o.show_decided = true;
  auto shown = engine_->FindDuplicates(o);
  ASSERT_TRUE(shown.ok());
  ASSERT_EQ(shown->size(), 1u);
  EXPECT_EQ((*shown)[0].members[0].hit.id, ids[1]);
  EXPECT_EQ((*shown)[0].decision, "keep " + std::to_string(ids[1]));
  EXPECT_EQ((*shown)[0].keep_rule, "your decision");
  // Bad decisions are refused.
  EXPECT_EQ(engine_->DecideDuplicates({ids[0]}, DuplicateDecision::kKeepAll).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(engine_->DecideDuplicates(ids, DuplicateDecision::kKeep, 12345).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(engine_->DecideDuplicates({ids[0], 999}, DuplicateDecision::kKeepAll).code(), Status::Code::kNotFound);
}

// The index job makes each new picture's near-copy record in its pipeline (no pass over the files after the last
// commit), exactly the record the rule gives for the file; records of the old rule are dropped and made again, and
// a picture that lacks one gets it from the next run.
TEST(DuplicateRecords, MadeInThePipelineByTheRuleAndRebuiltForAnOldRule) {
  testing::TempDir dir;
  testing::WriteRandomModel(dir.file("m.onnx"), 1);
  fs::create_directories(dir.file("imgs"));
  std::vector<std::string> files;
  for (const auto& p : testing::SamplePhotos(3)) {
    files.push_back(dir.file("imgs/" + fs::path(p).filename().string()));
    fs::copy_file(p, files.back());
  }
  auto store = OpenLocalStore(dir.file("data/store"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::shared_ptr<VectorStore> shared = std::move(store).value();
  // A data directory of an older doppel: records of rule 1.
  CollectionSchema old;
  old.name = "doppel_phash";
  old.vector_type = VectorType::kBinary;
  old.dim = kPerceptualHashBits;
  old.metric = Metric::kHamming;
  old.index = IndexSpec::Parse("FLAT").value();
  ASSERT_TRUE(shared->CreateCollection(old).ok());
  EngineOptions o;
  o.data_dir = dir.file("data");
  o.store = shared;
  auto engine = Engine::Open(o);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ASSERT_TRUE((*engine)->AddModel("m", dir.file("m.onnx"), testing::RandomModelSpec()).ok());

  auto sum = (*engine)->Index({dir.file("imgs")}, IndexOptions());
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  EXPECT_EQ(sum->counts.indexed, 3);
  EXPECT_EQ(sum->hashed, 3) << "every new picture's record comes from the pipeline";
  EXPECT_EQ(sum->hash_decodes, 3) << "the test model does not decode by the record's rule: a decode of its own";
  EXPECT_EQ(sum->hashed_after, 0) << "no second pass over the files";
  EXPECT_FALSE(*shared->HasCollection("doppel_phash")) << "records of the old rule are dropped";
  auto hc = shared->GetCollection("doppel_phash2");
  ASSERT_TRUE(hc.ok());
  QueryRequest q;
  q.output_fields = {"pixels", "variants", "quality", "vector"};
  auto rows = (*hc)->Query(q);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  std::map<int64_t, Entity> by_id;
  for (auto& r : *rows) by_id[r.id] = r;
  for (const auto& f : files) {
    auto want = HashPictureFile(f, int64_t(1) << 30, int64_t(1) << 28);
    ASSERT_TRUE(want.ok());
    auto id = ContentId(Sha256Hex(*ReadFileBytes(f, int64_t(1) << 30)));
    ASSERT_TRUE(by_id.count(id)) << f;
    const Entity& e = by_id[id];
    EXPECT_EQ(std::get<std::string>(e.fields.at("pixels")), want->pixels) << f;
    EXPECT_EQ(std::get<int64_t>(e.fields.at("quality")), want->variants[0].quality) << f;
    EXPECT_EQ(e.binary_vector, std::vector<uint8_t>(want->variants[0].bits.begin(), want->variants[0].bits.end()))
        << f;
  }
  // A picture without a record (lost, or indexed before records existed) gets it from the next run.
  ASSERT_TRUE((*hc)->Delete({rows->front().id}).ok());
  auto again = (*engine)->Index({dir.file("imgs")}, IndexOptions());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->counts.indexed, 0);
  EXPECT_EQ(again->hashed, 0);
  EXPECT_EQ(again->hashed_after, 1);
  EXPECT_EQ(*(*hc)->Count(), 3);
}

TEST_F(Duplicates, HashesFollowRemovals) {
  ImageU8 p = Photo(0, 400);
  const std::string x = Write(p, "x.png");
  Write(ApplyDihedral(p, Dihedral::kRot270), "y.png");
  ASSERT_EQ(Find(DuplicateTier::kNearCopy).size(), 1u);
  ASSERT_TRUE(engine_->RemovePaths({x}).ok());
  DuplicateOptions o;
  o.min_tier = DuplicateTier::kNearCopy;
  auto after = engine_->FindDuplicates(o);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty()) << "a removed picture leaves no group behind";
}

// Applying decisions: what a decision does not keep moves into the trash (bytes intact, never deleted), the catalog
// and collections forget it, and undo brings back the same bytes and indexes them again. A changed file, a picture
// another decision keeps and a decision whose keeper is gone are left alone.
TEST_F(Duplicates, ApplyMovesIntoTheTrashAndUndoRestoresTheBytes) {
  ImageU8 p = Photo(0, 480);
  const std::string a = Write(p, "a.jpg");
  const std::string b = Write(ApplyDihedral(Photo(0, 400), Dihedral::kMirror), "b.jpg");
  fs::create_directories(dir_.file("imgs/backup"));
  const std::string a2 = dir_.file("imgs/backup/a.jpg");
  fs::copy_file(a, a2);  // the same bytes under a second path
  const std::string other = Write(Photo(3, 400), "other.jpg");
  auto groups = Find(DuplicateTier::kNearCopy);
  ASSERT_EQ(groups.size(), 1u);
  ASSERT_EQ(groups[0].members.size(), 3u);
  const int64_t ida = groups[0].members[0].hit.id;
  EXPECT_EQ(groups[0].members[1].hit.id, ida) << "the same bytes elsewhere: the representative again";
  const int64_t idb = groups[0].members[2].hit.id;
  const std::string bytes_a = testing::ReadFile(a2), bytes_b = testing::ReadFile(b);
  const auto mtime_b = fs::last_write_time(b);

  // Keep a.jpg (this path); b and the backup copy are duplicates.
  DuplicateResolution r;
  r.ids = {ida, idb};
  r.keep = {ida};
  r.keep_paths = {a};
  ASSERT_TRUE(engine_->ResolveDuplicates(r).ok());
  EXPECT_TRUE(Find(DuplicateTier::kNearCopy).empty()) << "resolved";

  // Dry run: the plan, and nothing moved.
  auto plan = engine_->ApplyDuplicateDecisions(true);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->state, "dry-run");
  std::set<std::string> planned;
  for (const auto& m : plan->moves) planned.insert(m.from);
  EXPECT_EQ(planned, (std::set<std::string>{a2, b}));
  EXPECT_EQ(plan->bytes, int64_t(bytes_a.size() + bytes_b.size()));
  EXPECT_TRUE(fs::exists(a2) && fs::exists(b));
  EXPECT_FALSE(fs::exists(dir_.file("data/trash")));

  // Apply.
  auto done = engine_->ApplyDuplicateDecisions(false);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->state, "applied");
  ASSERT_EQ(done->moves.size(), 2u);
  EXPECT_TRUE(done->skipped.empty());
  EXPECT_FALSE(fs::exists(a2));
  EXPECT_FALSE(fs::exists(b));
  EXPECT_TRUE(fs::exists(a) && fs::exists(other));
  for (const auto& m : done->moves) {
    ASSERT_EQ(m.to.rfind(dir_.file("data/trash/" + done->name + "/files/"), 0), 0u) << m.to;
    EXPECT_EQ(testing::ReadFile(m.to), m.from == b ? bytes_b : bytes_a) << "moved, bytes intact";
  }
  EXPECT_TRUE(fs::exists(dir_.file("data/trash/" + done->name + "/journal.json")));
  EXPECT_EQ(engine_->GetPicture(idb).status().code(), Status::Code::kNotFound) << "the collections forgot b";
  auto pa = engine_->GetPicture(ida);
  ASSERT_TRUE(pa.ok());
  EXPECT_EQ(pa->paths, std::vector<std::string>{a}) << "the kept picture keeps only the kept path";
  DuplicateOptions show;
  show.min_tier = DuplicateTier::kNearCopy;
  show.show_decided = true;
  EXPECT_TRUE(engine_->FindDuplicates(show)->empty()) << "nothing left to group";
  // Re-indexing the folder does not bring them back (the trash is in the data directory, never walked).
  auto re = engine_->Index({dir_.path().string()}, IndexOptions());
  ASSERT_TRUE(re.ok());
  EXPECT_EQ(engine_->GetPicture(idb).status().code(), Status::Code::kNotFound);
  bool data_dir_ignored = false;
  for (const auto& [path, why] : re->ignored_files)
    data_dir_ignored = data_dir_ignored || (path == dir_.file("data") && why.find("data directory") != std::string::npos);
  EXPECT_TRUE(data_dir_ignored);
  auto list = engine_->ListTrash();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].state, "applied");

  // Undo: the same bytes and times back at the same paths, indexed again; the decision still holds.
  auto undo = engine_->UndoTrash();
  ASSERT_TRUE(undo.ok()) << undo.status().ToString();
  EXPECT_EQ(undo->moves.size(), 2u);
  EXPECT_EQ(undo->reindexed, 2);
  EXPECT_EQ(testing::ReadFile(b), bytes_b);
  EXPECT_EQ(testing::ReadFile(a2), bytes_a);
  EXPECT_EQ(fs::last_write_time(b), mtime_b);
  ASSERT_TRUE(engine_->GetPicture(idb).ok());
  EXPECT_EQ(engine_->GetPicture(ida)->paths.size(), 2u);
  EXPECT_TRUE(Find(DuplicateTier::kNearCopy).empty()) << "still resolved";
  EXPECT_EQ(engine_->FindDuplicates(show)->size(), 1u);
  EXPECT_EQ(engine_->UndoTrash().status().code(), Status::Code::kNotFound) << "nothing left to undo";
  EXPECT_EQ((*engine_->ListTrash())[0].state, "undone");

  // Left alone: a file changed since it was indexed...
  testing::WriteImage(Photo(5, 300), b, 90);
  auto changed = engine_->ApplyDuplicateDecisions(true);
  ASSERT_TRUE(changed.ok());
  ASSERT_EQ(changed->skipped.size(), 1u);
  EXPECT_EQ(changed->skipped[0].from, b);
  EXPECT_NE(changed->skipped[0].note.find("changed"), std::string::npos) << changed->skipped[0].note;
  testing::WriteFile(b, bytes_b);
  // ...a picture another decision keeps...
  ASSERT_TRUE(Find(DuplicateTier::kNearCopy).empty());
  int64_t id_other = 0;
  {
    SearchQuery q;
    q.indexed_path = other;
    auto copies = engine_->FindCopies(q, DuplicateTier::kExact, 0, 1);
    ASSERT_TRUE(copies.ok() && !copies->empty());
    id_other = (*copies)[0].hit.id;
  }
  ASSERT_TRUE(engine_->ResolveDuplicates({{idb, id_other}, {idb, id_other}, {}}).ok());
  auto guarded = engine_->ApplyDuplicateDecisions(true);
  ASSERT_TRUE(guarded.ok());
  std::set<std::string> moving;
  for (const auto& m : guarded->moves) moving.insert(m.from);
  EXPECT_EQ(moving, std::set<std::string>{a2}) << "b is kept by the other decision";
  // ...and every duplicate of a decision whose kept copy is gone.
  const std::string saved_a = testing::ReadFile(a);
  fs::remove(a);
  auto orphan = engine_->ApplyDuplicateDecisions(true);
  ASSERT_TRUE(orphan.ok());
  EXPECT_TRUE(orphan->moves.empty()) << "never trash the only copies left";
  testing::WriteFile(a, saved_a);
}

TEST_F(Duplicates, ReadOnlyEnginesPlanButNeverMove) {
  Write(Photo(0, 480), "a.jpg");
  Write(ApplyDihedral(Photo(0, 400), Dihedral::kRot90), "b.jpg");
  auto groups = Find(DuplicateTier::kNearCopy);
  ASSERT_EQ(groups.size(), 1u);
  ASSERT_TRUE(engine_->DecideDuplicates({groups[0].members[0].hit.id, groups[0].members[1].hit.id},
                                        DuplicateDecision::kKeep, groups[0].members[0].hit.id)
                  .ok());
  EngineOptions ro;
  ro.data_dir = dir_.file("data");
  ro.read_only = true;
  auto reader = Engine::Open(ro);
  ASSERT_TRUE(reader.ok());
  auto plan = (*reader)->ApplyDuplicateDecisions(true);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->moves.size(), 1u);
  EXPECT_EQ((*reader)->ApplyDuplicateDecisions(false).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ((*reader)->UndoTrash().status().code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(fs::exists(dir_.file("imgs/b.jpg")));
}

// The similar tier's threshold is stored with each model (calibrated on a labelled set) and used when none is given;
// a model without one falls back to the built-in default model's, and says so.
TEST_F(Duplicates, TheSimilarThresholdIsStoredWithTheModel) {
  Write(Photo(0, 300), "a.png");
  Write(Photo(3, 300), "b.png");
  bool calibrated = true;
  auto t = engine_->SimilarThreshold("m", &calibrated);
  ASSERT_TRUE(t.ok());
  EXPECT_FLOAT_EQ(*t, kSimilarThreshold);
  EXPECT_FALSE(calibrated);
  ASSERT_TRUE(engine_->SetSimilarThreshold("m", 4.0f).ok());  // every pair of unit vectors is within 4
  DuplicateOptions o;  // threshold 0: the model's
  ASSERT_TRUE(engine_->Index({dir_.file("imgs")}, IndexOptions()).ok());
  auto loose = engine_->FindDuplicates(o);
  ASSERT_TRUE(loose.ok());
  ASSERT_EQ(loose->size(), 1u);
  EXPECT_EQ((*loose)[0].members[1].tier, DuplicateTier::kSimilar);
  ASSERT_TRUE(engine_->SetSimilarThreshold("m", 1e-6f).ok());
  EXPECT_TRUE(engine_->FindDuplicates(o)->empty());
  EXPECT_EQ(engine_->SetSimilarThreshold("m", -1).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(engine_->SetSimilarThreshold("nope", 0.1f).code(), Status::Code::kNotFound);
  // Stored in the registry: another process sees it.
  engine_.reset();
  EngineOptions ro;
  ro.data_dir = dir_.file("data");
  ro.read_only = true;
  auto reader = Engine::Open(ro);
  ASSERT_TRUE(reader.ok());
  auto again = (*reader)->SimilarThreshold("m", &calibrated);
  ASSERT_TRUE(again.ok());
  EXPECT_FLOAT_EQ(*again, 1e-6f);
  EXPECT_TRUE(calibrated);
}

}  // namespace
}  // namespace doppel
