#include "doppel/model/spec.h"

#include "doppel/util/file.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace doppel {
namespace {

using nlohmann::json;

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

const EnumName<Filter> kFilters[] = {{Filter::kNearest, "nearest"}, {Filter::kBox, "box"},
                                     {Filter::kBilinear, "bilinear"}, {Filter::kHamming, "hamming"},
                                     {Filter::kBicubic, "bicubic"}, {Filter::kLanczos, "lanczos"}};
const EnumName<ResizeMode> kResizeModes[] = {{ResizeMode::kStretch, "stretch"},
                                             {ResizeMode::kShorterCrop, "shorter-crop"},
                                             {ResizeMode::kLetterbox, "letterbox"}};
const EnumName<ChannelOrder> kOrders[] = {{ChannelOrder::kRGB, "rgb"}, {ChannelOrder::kBGR, "bgr"}};
const EnumName<Pooling> kPoolings[] = {
    {Pooling::kNone, "none"}, {Pooling::kAvg, "avg"}, {Pooling::kMax, "max"}, {Pooling::kGeM, "gem"}};
const EnumName<LayoutHint> kLayouts[] = {
    {LayoutHint::kAuto, "auto"}, {LayoutHint::kNCHW, "nchw"}, {LayoutHint::kNHWC, "nhwc"}};
const EnumName<AlphaMode> kAlphas[] = {{AlphaMode::kCompositeWhite, "white"}, {AlphaMode::kDrop, "drop"}};

template <typename E, size_t N>
const char* NameOf(const EnumName<E> (&table)[N], E v) {
  for (const auto& e : table)
    if (e.value == v) return e.name;
  return "?";
}

template <typename E, size_t N>
Status ParseEnum(const EnumName<E> (&table)[N], const json& j, const char* key, E* out) {
  if (!j.is_string()) return Status::InvalidArgument(std::string("spec key '") + key + "' must be a string");
  std::string s = j.get<std::string>();
  std::string names;
  for (const auto& e : table) {
    if (s == e.name) {
      *out = e.value;
      return Status::OK();
    }
    names += names.empty() ? "" : ", ";
    names += e.name;
  }
  return Status::InvalidArgument(std::string("spec key '") + key + "': unknown value '" + s + "' (one of: " +
                                 names + ")");
}

Status ParseInt(const json& j, const char* key, int lo, int hi, int* out) {
  if (!j.is_number_integer() || j.get<int64_t>() < lo || j.get<int64_t>() > hi)
    return Status::InvalidArgument(std::string("spec key '") + key + "' must be an integer in [" +
                                   std::to_string(lo) + ", " + std::to_string(hi) + "], got " + j.dump());
  *out = j.get<int>();
  return Status::OK();
}

Status ParseFloat(const json& j, const char* key, float* out) {
  if (!j.is_number()) return Status::InvalidArgument(std::string("spec key '") + key + "' must be a number, got " + j.dump());
  *out = j.get<float>();
  return Status::OK();
}

Status ParseTriple(const json& j, const char* key, std::array<float, 3>* out) {
  if (!j.is_array() || j.size() != 3)
    return Status::InvalidArgument(std::string("spec key '") + key + "' must be an array of 3 numbers, got " + j.dump());
  for (int c = 0; c < 3; ++c) DOPPEL_RETURN_IF_ERROR(ParseFloat(j[c], key, &(*out)[c]));
  return Status::OK();
}

// "shrink_on_load": true (JPEG), false, or a list of the formats that shrink ("jpeg", "webp", "heif").
const std::pair<const char*, unsigned> kShrinkFormats[] = {
    {"jpeg", kDraftJpeg}, {"webp", kDraftWebp}, {"heif", kDraftHeif}};

Status ParseShrinkOnLoad(const json& v, PreprocessSpec* p) {
  if (v.is_boolean()) {
    p->shrink_on_load = v.get<bool>();
    p->shrink_formats = kDraftJpeg;
    return Status::OK();
  }
  if (!v.is_array())
    return Status::InvalidArgument("spec key 'shrink_on_load' must be true, false or a list of formats (jpeg, webp, "
                                   "heif), got " + v.dump());
  unsigned bits = 0;
  for (const auto& f : v) {
    unsigned bit = 0;
    for (const auto& [name, b] : kShrinkFormats)
      if (f.is_string() && f.get<std::string>() == name) bit = b;
    if (!bit)
      return Status::InvalidArgument("spec key 'shrink_on_load': unknown format " + f.dump() +
                                     " (the formats that shrink on load: jpeg, webp, heif)");
    bits |= bit;
  }
  p->shrink_on_load = bits != 0;
  p->shrink_formats = bits ? bits : kDraftJpeg;
  return Status::OK();
}

json ToJson(const ModelSpec& s) {
  const PreprocessSpec& p = s.preprocess;
  json j;
  j["preset"] = s.preset;
  j["width"] = p.width;
  j["height"] = p.height;
  j["resize"] = NameOf(kResizeModes, p.resize);
  j["interpolation"] = NameOf(kFilters, p.interpolation);
  j["resize_shorter"] = p.resize_shorter;
  j["pad_value"] = p.pad_value;
  j["channel_order"] = NameOf(kOrders, p.channel_order);
  j["scale"] = p.scale;
  j["mean"] = {p.mean[0], p.mean[1], p.mean[2]};
  j["std"] = {p.std[0], p.std[1], p.std[2]};
  j["alpha"] = NameOf(kAlphas, p.alpha);
  j["exif_orientation"] = p.apply_exif_orientation;
  // Only when on: specs without it keep their canonical form, hence their fingerprints.
  // JPEG alone is `true` (the form before other formats could shrink); more formats are listed, in a fixed order.
  if (p.shrink_on_load && p.shrink_formats == kDraftJpeg) {
    j["shrink_on_load"] = true;
  } else if (p.shrink_on_load) {
    j["shrink_on_load"] = nlohmann::json::array();
    for (const auto& [name, bit] : kShrinkFormats)
      if (p.shrink_formats & bit) j["shrink_on_load"].push_back(name);
  }
  j["input_layout"] = NameOf(kLayouts, s.input_layout);
  j["output"] = s.output;
  j["pool"] = NameOf(kPoolings, s.pool);
  j["gem_p"] = s.gem_p;
  j["output_layout"] = NameOf(kLayouts, s.output_layout);
  j["normalize"] = s.normalize;
  if (s.flip_pool) j["flip_pool"] = true;  // only when on, as shrink_on_load
  return j;
}

}  // namespace

const char* PoolingName(Pooling p) { return NameOf(kPoolings, p); }
const char* FilterName(Filter f) { return NameOf(kFilters, f); }

Result<ModelSpec> SpecFromPreset(const std::string& preset) {
  DOPPEL_ASSIGN_OR_RETURN(PreprocessSpec p, PresetSpec(preset));
  ModelSpec s;
  s.preset = preset;
  s.preprocess = p;
  return s;
}

Result<ModelSpec> SpecFromJson(const std::string& json_text, const ModelSpec& base) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("spec is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return Status::InvalidArgument("spec must be a JSON object");
  ModelSpec s = base;
  if (j.contains("preset")) {
    if (!j["preset"].is_string()) return Status::InvalidArgument("spec key 'preset' must be a string");
    std::string name = j["preset"].get<std::string>();
    if (!name.empty()) {
      DOPPEL_ASSIGN_OR_RETURN(ModelSpec from, SpecFromPreset(name));
      // The preset replaces the preprocessing; output selection in `base` is kept.
      s.preset = from.preset;
      s.preprocess = from.preprocess;
    } else {
      s.preset.clear();
    }
  }
  PreprocessSpec& p = s.preprocess;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    const char* key = k.c_str();
    if (k == "preset") continue;
    if (k == "width") DOPPEL_RETURN_IF_ERROR(ParseInt(v, key, 1, 16384, &p.width));
    else if (k == "height") DOPPEL_RETURN_IF_ERROR(ParseInt(v, key, 1, 16384, &p.height));
    else if (k == "size") {
      int n = 0;
      DOPPEL_RETURN_IF_ERROR(ParseInt(v, key, 1, 16384, &n));
      p.width = p.height = n;
    } else if (k == "resize") DOPPEL_RETURN_IF_ERROR(ParseEnum(kResizeModes, v, key, &p.resize));
    else if (k == "interpolation") DOPPEL_RETURN_IF_ERROR(ParseEnum(kFilters, v, key, &p.interpolation));
    else if (k == "resize_shorter") DOPPEL_RETURN_IF_ERROR(ParseInt(v, key, 0, 16384, &p.resize_shorter));
    else if (k == "pad_value") {
      int n = 0;
      DOPPEL_RETURN_IF_ERROR(ParseInt(v, key, 0, 255, &n));
      p.pad_value = static_cast<uint8_t>(n);
    } else if (k == "channel_order") DOPPEL_RETURN_IF_ERROR(ParseEnum(kOrders, v, key, &p.channel_order));
    else if (k == "scale") DOPPEL_RETURN_IF_ERROR(ParseFloat(v, key, &p.scale));
    else if (k == "mean") DOPPEL_RETURN_IF_ERROR(ParseTriple(v, key, &p.mean));
    else if (k == "std") {
      DOPPEL_RETURN_IF_ERROR(ParseTriple(v, key, &p.std));
      for (float x : p.std)
        if (x == 0.0f) return Status::InvalidArgument("spec key 'std' must not contain 0");
    } else if (k == "alpha") DOPPEL_RETURN_IF_ERROR(ParseEnum(kAlphas, v, key, &p.alpha));
    else if (k == "exif_orientation") {
      if (!v.is_boolean()) return Status::InvalidArgument("spec key 'exif_orientation' must be true or false");
      p.apply_exif_orientation = v.get<bool>();
    } else if (k == "shrink_on_load") {
      DOPPEL_RETURN_IF_ERROR(ParseShrinkOnLoad(v, &p));
    } else if (k == "input_layout") DOPPEL_RETURN_IF_ERROR(ParseEnum(kLayouts, v, key, &s.input_layout));
    else if (k == "output") {
      if (!v.is_string()) return Status::InvalidArgument("spec key 'output' must be a tensor name (string)");
      s.output = v.get<std::string>();
    } else if (k == "pool") DOPPEL_RETURN_IF_ERROR(ParseEnum(kPoolings, v, key, &s.pool));
    else if (k == "gem_p") {
      DOPPEL_RETURN_IF_ERROR(ParseFloat(v, key, &s.gem_p));
      if (!(s.gem_p > 0)) return Status::InvalidArgument("spec key 'gem_p' must be > 0");
    } else if (k == "output_layout") DOPPEL_RETURN_IF_ERROR(ParseEnum(kLayouts, v, key, &s.output_layout));
    else if (k == "normalize") {
      if (!v.is_boolean()) return Status::InvalidArgument("spec key 'normalize' must be true or false");
      s.normalize = v.get<bool>();
    } else if (k == "flip_pool") {
      if (!v.is_boolean()) return Status::InvalidArgument("spec key 'flip_pool' must be true or false");
      s.flip_pool = v.get<bool>();
    } else {
      return Status::InvalidArgument("unknown spec key '" + k + "'");
    }
  }
  return s;
}

std::string SpecToCanonicalJson(const ModelSpec& spec) { return ToJson(spec).dump(); }
std::string SpecToPrettyJson(const ModelSpec& spec) { return ToJson(spec).dump(2); }

std::string SidecarPath(const std::string& model_path) {
  std::filesystem::path p(model_path);
  if (p.extension() == ".onnx") p.replace_extension();
  return p.string() + ".doppel.json";
}

Result<ModelSpec> LoadSidecar(const std::string& model_path, const ModelSpec& base) {
  std::string path = SidecarPath(model_path);
  auto text = ReadFileBytes(path, int64_t(1) << 20);
  if (!text.ok() && text.status().code() == Status::Code::kNotFound) return base;
  if (!text.ok()) return text.status();
  auto r = SpecFromJson(*text, base);
  if (!r.ok()) return r.status().WithContext(path);
  return r;
}

Status WriteSidecar(const std::string& model_path, const ModelSpec& spec) {
  std::string path = SidecarPath(model_path);
  std::ofstream f(path);
  f << SpecToPrettyJson(spec) << "\n";
  if (!f) return Status::IOError(path + ": cannot write");
  return Status::OK();
}

}  // namespace doppel
