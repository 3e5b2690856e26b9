#include "weights.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace doppel::keras {
namespace {

using nlohmann::json;

static_assert(std::endian::native == std::endian::little, "TF.js shards are little-endian");

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31) v = mant ? std::nanf("") : INFINITY;
  else v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

Status ReadAll(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return Status::NotFound(path + ": weight shard not found");
    return Status::IOError(path + ": cannot open weight shard");
  }
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  if (f.bad()) return Status::IOError(path + ": read failed");
  return Status::OK();
}

struct StoredType {
  size_t bytes = 0;
  std::string dtype;  // float32, int32, uint8, uint16, float16
  double min = 0, scale = 1;
};

Result<StoredType> StoredTypeOf(const json& w, const std::string& name) {
  StoredType t;
  std::string dtype = w.value("dtype", std::string("float32"));
  if (w.contains("quantization") && w["quantization"].is_object()) {
    const json& q = w["quantization"];
    t.dtype = q.value("dtype", std::string());
    if (t.dtype == "uint8" || t.dtype == "uint16") {
      if (!q.contains("min") || !q.contains("scale") || !q["min"].is_number() || !q["scale"].is_number())
        return Status::InvalidArgument("weight '" + name + "': " + t.dtype + " quantization without min and scale");
      t.min = q["min"].get<double>();
      t.scale = q["scale"].get<double>();
      t.bytes = t.dtype == "uint8" ? 1 : 2;
    } else if (t.dtype == "float16") {
      t.bytes = 2;
    } else {
      return Status::Unsupported("weight '" + name + "': quantization dtype '" + t.dtype + "'");
    }
    if (dtype != "float32")
      return Status::Unsupported("weight '" + name + "': quantised weights of dtype '" + dtype + "'");
    return t;
  }
  if (dtype == "float32" || dtype == "int32") {
    t.dtype = dtype;
    t.bytes = 4;
    return t;
  }
  return Status::Unsupported("weight '" + name + "': dtype '" + dtype + "'");
}

void Decode(const StoredType& t, const unsigned char* p, size_t n, float* out) {
  if (t.dtype == "float32") {
    std::memcpy(out, p, n * 4);
  } else if (t.dtype == "int32") {
    for (size_t i = 0; i < n; ++i) {
      int32_t v;
      std::memcpy(&v, p + 4 * i, 4);
      out[i] = static_cast<float>(v);
    }
  } else if (t.dtype == "uint8") {
    // tfjs-core: float(q) * scale + min, in float32.
    const float scale = static_cast<float>(t.scale), min = static_cast<float>(t.min);
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]) * scale + min;
  } else if (t.dtype == "uint16") {
    const float scale = static_cast<float>(t.scale), min = static_cast<float>(t.min);
    for (size_t i = 0; i < n; ++i) {
      uint16_t q;
      std::memcpy(&q, p + 2 * i, 2);
      out[i] = static_cast<float>(q) * scale + min;
    }
  } else {  // float16
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      out[i] = HalfToFloat(h);
    }
  }
}

}  // namespace

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Status WeightMap::Add(std::string name, WeightTensor t) {
  if (name.size() > 2 && name.compare(name.size() - 2, 2, ":0") == 0) name.resize(name.size() - 2);
  if (!map_.emplace(name, std::move(t)).second)
    return Status::InvalidArgument("weight '" + name + "' appears twice");
  return Status::OK();
}

const WeightTensor* WeightMap::Find(const std::string& layer, const std::string& weight) const {
  const std::string key = layer + "/" + weight;
  auto it = map_.find(key);
  if (it != map_.end()) return &it->second;
  const WeightTensor* found = nullptr;
  const std::string suffix = "/" + key;
  for (const auto& [name, t] : map_) {
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      if (found) return nullptr;  // ambiguous
      found = &t;
    }
  }
  return found;
}

Result<WeightMap> LoadTfjsWeights(const json& manifest, const std::string& dir) {
  WeightMap map;
  if (!manifest.is_array()) return Status::InvalidArgument("weightsManifest is not an array");
  for (size_t g = 0; g < manifest.size(); ++g) {
    const json& group = manifest[g];
    const std::string gname = "weightsManifest[" + std::to_string(g) + "]";
    if (!group.is_object() || !group.contains("paths") || !group["paths"].is_array() || !group.contains("weights") ||
        !group["weights"].is_array())
      return Status::InvalidArgument(gname + " needs paths[] and weights[]");
    // The group's bytes: its shards concatenated. shard_end[i] is the end offset of shard i.
    std::string bytes;
    std::vector<std::string> files;
    std::vector<size_t> shard_end;
    for (const json& p : group["paths"]) {
      if (!p.is_string()) return Status::InvalidArgument(gname + ": a path is not a string");
      const std::string file = (std::filesystem::path(dir) / p.get<std::string>()).string();
      std::string data;
      DOPPEL_RETURN_IF_ERROR(ReadAll(file, &data));
      bytes += data;
      files.push_back(file);
      shard_end.push_back(bytes.size());
    }
    if (files.empty()) return Status::InvalidArgument(gname + " lists no shard files");
    size_t offset = 0;
    for (const json& w : group["weights"]) {
      if (!w.is_object() || !w.contains("name") || !w["name"].is_string() || !w.contains("shape") ||
          !w["shape"].is_array())
        return Status::InvalidArgument(gname + ": a weight entry needs name and shape: " + w.dump().substr(0, 200));
      const std::string name = w["name"].get<std::string>();
      WeightTensor t;
      size_t count = 1;
      for (const json& d : w["shape"]) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0)
          return Status::InvalidArgument("weight '" + name + "': bad shape " + w["shape"].dump());
        t.shape.push_back(d.get<int64_t>());
        count *= static_cast<size_t>(d.get<int64_t>());
      }
      DOPPEL_ASSIGN_OR_RETURN(StoredType st, StoredTypeOf(w, name));
      const size_t need = count * st.bytes;
      if (offset + need > bytes.size()) {
        size_t first = 0;
        while (first + 1 < shard_end.size() && shard_end[first] <= offset) ++first;
        return Status::Corruption(files.back() + ": weight '" + name + "' " + ShapeString(t.shape) + " (" + st.dtype +
                                  ") needs bytes [" + std::to_string(offset) + ", " + std::to_string(offset + need) +
                                  ") of " + gname + " (starting in " +
                                  std::filesystem::path(files[first]).filename().string() + ") but its " +
                                  std::to_string(files.size()) + " shard(s) hold only " +
                                  std::to_string(bytes.size()) + " bytes: truncated shard?");
      }
      t.data.resize(count);
      Decode(st, reinterpret_cast<const unsigned char*>(bytes.data()) + offset, count, t.data.data());
      offset += need;
      map.stored_dtypes.insert(st.dtype);
      DOPPEL_RETURN_IF_ERROR(map.Add(name, std::move(t)));
    }
    if (offset != bytes.size())
      return Status::Corruption(files.back() + ": " + gname + "'s shards hold " + std::to_string(bytes.size()) +
                                " bytes but its weights take " + std::to_string(offset) +
                                "; the manifest does not describe these shards");
  }
  return map;
}

}  // namespace doppel::keras
