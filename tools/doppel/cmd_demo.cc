// doppel demo: the built-in pretrained models on the bundled sample photos, side by side.
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "doppel/engine/builtin.h"
#include "engine_flags.h"

namespace doppel::cli {
namespace {

struct DemoArgs {
  EngineFlags engine;
  std::string images = "/usr/share/doc/opencv-doc/examples/data";  // Debian's opencv-doc sample photos
  int k = 5;
};

int RunDemo(const DemoArgs& a) {
  auto opened = a.engine.Open(EngineFlags::Mode::kWrite);
  if (!opened.ok()) return Fail("demo", opened.status());
  Engine& engine = **opened;
  std::printf("doppel demo: data directory %s\n\n", engine.data_dir().c_str());
  std::vector<std::string> models = BuiltinModelNames();
  for (const auto& name : models) {
    if (!engine.GetModel(name).ok()) {
      std::printf("building built-in model %s from nsfwjs 4.4.0 (ImageNet-pretrained layers, 8-bit quantised)...\n",
                  name.c_str());
      auto e = AddBuiltinModel(engine, name);
      if (!e.ok()) return Fail("demo", e.status());
    }
    auto e = engine.GetModel(name);
    std::printf("model %-13s output %s, %s pooling, dim %d\n", name.c_str(), e->spec.output.c_str(),
                PoolingName(e->spec.pool), e->dim);
  }
  if (!std::filesystem::exists(a.images))
    return Fail("demo", Status::NotFound(a.images + ": sample photos missing (bootstrap installs opencv-doc)"));
  std::printf("\nindexing %s with both models...\n", a.images.c_str());
  IndexOptions io;
  auto sum = engine.Index({a.images}, io, nullptr);
  if (!sum.ok()) return Fail("demo", sum.status());
  std::printf("indexed %lld, unchanged %lld, failed %lld in %.1f s\n\n", (long long)sum->counts.indexed,
              (long long)sum->counts.skipped, (long long)sum->counts.failed, sum->counts.seconds);

  // Queries whose set holds related pictures: another view of the same object or scene.
  const char* queries[] = {"Blender_Suzanne1.jpg", "leuvenA.jpg", "aloeL.jpg", "left01.jpg", "basketball1.png"};
  SearchOptions so;
  so.k = a.k;
  for (const char* q : queries) {
    std::string path = (std::filesystem::path(a.images) / q).string();
    if (!std::filesystem::exists(path)) continue;
    SearchQuery query;
    query.indexed_path = path;
    auto c = engine.Compare(query, models, so, false);
    if (!c.ok()) return Fail("demo", c.status());
    PrintComparison(*c, path, a.k);
    std::printf("\n");
  }
  std::printf("Try: doppel search IMAGE --data %s   |   doppel compare IMAGE --models %s,%s --data %s\n",
              engine.data_dir().c_str(), models[0].c_str(), models[1].c_str(), engine.data_dir().c_str());
  return 0;
}

}  // namespace

void RegisterDemo(CLI::App& app, Action* action) {
  auto a = std::make_shared<DemoArgs>();
  CLI::App* demo = app.add_subcommand(
      "demo", "Index the bundled sample photos with the built-in models and show their results side by side");
  a->engine.Add(demo);
  demo->add_option("--images", a->images, "folder of images to index (default: Debian's opencv-doc samples)");
  demo->add_option("-k", a->k, "results per model (default 5)");
  demo->callback([a, action] { *action = [a] { return RunDemo(*a); }; });
}

}  // namespace doppel::cli
