// doppel duplicates (find groups; apply decisions into the trash; undo) and doppel review (decide about a group).
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "doppel/api/api.h"
#include "doppel/api/json.h"
#include "engine_flags.h"

namespace doppel::cli {
namespace {

std::string Megabytes(int64_t bytes) {
  char buf[32];
  if (bytes < 1000000)
    std::snprintf(buf, sizeof buf, "%.1f kB", double(bytes) / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.1f MB", double(bytes) / 1e6);
  return buf;
}

struct ReviewArgs {
  EngineFlags engine;
  std::vector<int64_t> ids;
  bool keep_all = false;
  std::vector<int64_t> keep;
  std::vector<std::string> keep_paths;
  bool forget = false;
};

// Decisions about duplicate groups, by picture id (stored against content ids: they survive re-indexing and moves).
int RunReview(const ReviewArgs& a) {
  const bool keeping = !a.keep.empty() || !a.keep_paths.empty();
  if (int(a.keep_all) + int(keeping) + int(a.forget) != 1)
    return Fail("review", Status::InvalidArgument("give exactly one of --keep-all, --keep ID (or --keep-path PATH) "
                                                  "or --forget"));
  auto engine = a.engine.Open(EngineFlags::Mode::kWrite);
  if (!engine.ok()) return Fail("review", engine.status());
  Status st;
  if (a.forget) {
    st = (*engine)->ForgetDuplicateDecisions(a.ids);
  } else {
    DuplicateResolution r;
    r.ids = a.ids;
    r.keep = a.keep_all ? a.ids : a.keep;
    if (!r.ids.empty()) r.ids.insert(r.ids.end(), a.keep.begin(), a.keep.end());  // `--keep X Y`: X is one of them
    r.keep_paths = a.keep_paths;
    st = (*engine)->ResolveDuplicates(r);
  }
  if (!st.ok()) return Fail("review", st);
  std::printf("%s\n", a.forget ? "forgotten: these pictures' groups come back"
                     : keeping ? "recorded: the group is resolved; nothing was moved yet (`doppel duplicates apply` "
                                 "shows what would move into the trash)"
                               : "recorded: these pictures are not duplicates of each other");
  return 0;
}

struct DupArgs {
  EngineFlags engine;
  DuplicateOptions options;
  std::string min_tier = "similar";
  std::string keep_rules;
  bool json = false;
};

int RunDuplicates(const DupArgs& a) {
  auto engine = a.engine.Open(EngineFlags::Mode::kRead);
  if (!engine.ok()) return Fail("duplicates", engine.status());
  auto tier = ParseDuplicateTier(a.min_tier);
  if (!tier.ok()) return Fail("duplicates", tier.status());
  DuplicateOptions o = a.options;
  o.min_tier = *tier;
  if (!a.keep_rules.empty()) o.keep_rules = api::SplitList(a.keep_rules);
  auto model = (*engine)->ResolveModelName(o.model);
  if (!model.ok()) return Fail("duplicates", model.status());
  o.model = *model;
  bool calibrated = true;
  if (o.similar_threshold <= 0) {
    auto t = (*engine)->SimilarThreshold(o.model, &calibrated);
    if (!t.ok()) return Fail("duplicates", t.status());
    o.similar_threshold = *t;
  }
  auto groups = (*engine)->FindDuplicates(o);
  if (!groups.ok()) return Fail("duplicates", groups.status());
  if (a.json) {
    std::cout << api::ToJson(*groups).dump(2) << "\n";
    return 0;
  }
  size_t pictures = 0;
  for (const auto& g : *groups) pictures += g.members.size();
  std::printf("%zu group(s), %zu pictures (tiers down to %s; near-copy within %d bits, similar within %.4f with %s%s)\n",
              groups->size(), pictures, DuplicateTierName(o.min_tier), o.near_copy_radius, o.similar_threshold,
              model->c_str(), calibrated ? "" : ", not calibrated for it");
  int n = 0;
  for (const auto& g : *groups) {
    std::printf("\ngroup %d (%zu pictures)%s\n", ++n, g.members.size(),
                g.decision.empty() ? "" : ("  [decided: " + g.decision + "]").c_str());
    for (size_t i = 0; i < g.members.size(); ++i) {
      const auto& m = g.members[i];
      std::string what = i == 0 ? "keep? (" + g.keep_rule + ")" : DuplicateTierName(m.tier);
      if (!m.transform.empty() && m.transform != "identity") what += " " + m.transform;
      std::string dist = i == 0 ? "" : m.tier == DuplicateTier::kNearCopy ? std::to_string(int(m.hit.distance)) + " bits"
                                                                           : std::to_string(m.hit.distance).substr(0, 6);
      std::printf("  %-22s %-11s %-20lld %s\n", what.c_str(), dist.c_str(), (long long)m.hit.id, m.hit.path.c_str());
    }
  }
  if (!groups->empty())
    std::printf("\nDecide with `doppel review --keep ID IDS...` (or --keep-all), then `doppel duplicates apply`.\n");
  return 0;
}

void PrintMoves(const std::vector<TrashMove>& moves, const char* arrow, bool show_to) {
  for (const auto& m : moves)
    std::printf("  %s %s%s%s\n", arrow, m.from.c_str(), show_to ? "  ->  " : "", show_to ? m.to.c_str() : "");
}

void PrintSkipped(const std::vector<TrashMove>& skipped) {
  if (skipped.empty()) return;
  std::printf("left where they are (%zu):\n", skipped.size());
  for (const auto& m : skipped) std::printf("  %s: %s\n", m.from.c_str(), m.note.c_str());
}

struct ApplyArgs {
  EngineFlags engine;
  bool yes = false;
  bool json = false;
};

int RunApply(const ApplyArgs& a) {
  auto engine = a.engine.Open(a.yes ? EngineFlags::Mode::kWrite : EngineFlags::Mode::kRead);
  if (!engine.ok()) return Fail("duplicates apply", engine.status());
  auto b = (*engine)->ApplyDuplicateDecisions(!a.yes);
  if (!b.ok()) return Fail("duplicates apply", b.status());
  if (a.json) {
    std::cout << api::ToJson(*b).dump(2) << "\n";
    return 0;
  }
  if (!a.yes) {
    std::printf("dry run: %zu file(s), %s, would move into the trash (%s/trash; nothing is deleted)\n",
                b->moves.size(), Megabytes(b->bytes).c_str(), (*engine)->data_dir().c_str());
    PrintMoves(b->moves, "would move", false);
    PrintSkipped(b->skipped);
    if (!b->moves.empty()) std::printf("Run `doppel duplicates apply --yes` to move them.\n");
    return 0;
  }
  if (b->moves.empty()) {
    std::printf("nothing to move: no decision leaves a duplicate behind\n");
  } else {
    std::printf("moved %zu file(s), %s, into the trash as batch %s\n", b->moves.size(), Megabytes(b->bytes).c_str(),
                b->name.c_str());
    PrintMoves(b->moves, "moved", true);
    std::printf("Undo with `doppel duplicates undo` (or `undo %s`).\n", b->name.c_str());
  }
  PrintSkipped(b->skipped);
  return 0;
}

struct UndoArgs {
  EngineFlags engine;
  std::string name;
  bool list = false;
  bool json = false;
};

int RunUndo(const UndoArgs& a) {
  auto engine = a.engine.Open(a.list ? EngineFlags::Mode::kRead : EngineFlags::Mode::kWrite);
  if (!engine.ok()) return Fail("duplicates undo", engine.status());
  if (a.list) {
    auto all = (*engine)->ListTrash();
    if (!all.ok()) return Fail("duplicates undo", all.status());
    if (a.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& b : *all) j.push_back(api::ToJson(b));
      std::cout << nlohmann::json{{"batches", j}}.dump(2) << "\n";
      return 0;
    }
    if (all->empty()) std::printf("the trash is empty\n");
    for (const auto& b : *all)
      std::printf("%-20s %-9s %s  %zu file(s), %s\n", b.name.c_str(), b.state.c_str(), b.created.c_str(),
                  b.moves.size(), Megabytes(b.bytes).c_str());
    return 0;
  }
  auto b = (*engine)->UndoTrash(a.name);
  if (!b.ok()) return Fail("duplicates undo", b.status());
  if (a.json) {
    std::cout << api::ToJson(*b).dump(2) << "\n";
    return 0;
  }
  std::printf("batch %s: moved %zu file(s) back, indexed %lld again\n", b->name.c_str(), b->moves.size(),
              (long long)b->reindexed);
  PrintMoves(b->moves, "restored", false);
  PrintSkipped(b->skipped);
  return 0;
}

}  // namespace

void RegisterDuplicates(CLI::App& app, Action* action) {
  auto da = std::make_shared<DupArgs>();
  CLI::App* dup = app.add_subcommand("duplicates", "Groups of duplicate images in tiers; apply decisions; undo");
  da->engine.Add(dup);
  dup->add_option("--model,-m", da->options.model, "the similar tier's model (default: the default model)");
  dup->add_option("--min-tier", da->min_tier, "weakest tier shown: exact, near-copy or similar (default similar)");
  dup->add_option("--threshold", da->options.similar_threshold,
                  "similar tier: largest distance (L2 metric: squared, on unit vectors) or smallest similarity "
                  "(IP/COSINE) to the representative (default: the model's calibrated one, see `doppel model "
                  "threshold`; 0.009 for the built-in default model)");
  dup->add_option("--radius", da->options.near_copy_radius,
                  "near-copy tier: largest Hamming distance of the 256-bit hashes (default " +
                      std::to_string(kNearCopyRadius) + ")");
  dup->add_option("--max-group", da->options.max_group, "largest group, representative included (default 50)");
  dup->add_option("--keep-rules", da->keep_rules,
                  "how the copy to keep is chosen, rules in order: largest,biggest,oldest,newest,prefer:TEXT,"
                  "avoid:TEXT (default largest,biggest; the path decides last); shown, never applied");
  dup->add_flag("--show-decided", da->options.show_decided, "also groups resolved with `doppel review --keep`");
  dup->add_flag("--json", da->json, "print JSON");

  auto aa = std::make_shared<ApplyArgs>();
  CLI::App* apply = dup->add_subcommand(
      "apply", "Carry out the review decisions: a dry run unless --yes; files move into the data directory's trash");
  aa->engine.Add(apply);
  apply->add_flag("--yes", aa->yes, "really move the files (default: only show what would move)");
  apply->add_flag("--json", aa->json, "print JSON");
  apply->callback([aa, action] { *action = [aa] { return RunApply(*aa); }; });

  auto ua = std::make_shared<UndoArgs>();
  CLI::App* undo = dup->add_subcommand("undo", "Move a batch of trashed files back and index them again");
  ua->engine.Add(undo);
  undo->add_option("batch", ua->name, "the batch (default: the latest applied one; see --list)");
  undo->add_flag("--list", ua->list, "list the trash's batches");
  undo->add_flag("--json", ua->json, "print JSON");
  undo->callback([ua, action] { *action = [ua] { return RunUndo(*ua); }; });

  // CLI11 runs this after a subcommand's callback: leave the subcommand's action in place.
  dup->callback([da, action, apply, undo] {
    if (apply->parsed() || undo->parsed()) return;
    *action = [da] { return RunDuplicates(*da); };
  });

  auto ra = std::make_shared<ReviewArgs>();
  CLI::App* rev = app.add_subcommand(
      "review", "Decide about a duplicate group (by picture ids): keep some, or keep all (not duplicates)");
  ra->engine.Add(rev);
  rev->add_option("ids", ra->ids, "the pictures' ids (from `doppel duplicates --json`)");
  rev->add_flag("--keep-all", ra->keep_all, "they are not duplicates: never group them again");
  rev->add_option("--keep", ra->keep, "keep this one (repeatable); the others are duplicates to trash on apply")
      ->allow_extra_args(false);
  rev->add_option("--keep-path", ra->keep_paths,
                  "a picture stored under several paths (the same bytes): keep this path, trash its others on apply "
                  "(repeatable)")
      ->allow_extra_args(false);
  rev->add_flag("--forget", ra->forget, "forget the decisions naming these pictures");
  rev->callback([ra, action] { *action = [ra] { return RunReview(*ra); }; });
}

}  // namespace doppel::cli
