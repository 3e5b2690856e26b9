// Keras HDF5 files written by model.save() (Keras 2 / tf.keras "h5" format):
//   /                 attrs model_config (JSON string), keras_version, backend
//   /model_weights    attr layer_names (strings)
//   /model_weights/L  attr weight_names (e.g. "conv2d/kernel:0"); datasets at those paths relative to the group
// Weights are stored as "<L>/<last path component without :0>", e.g. "conv2d/kernel". Strings may be fixed-length
// (Keras writes numpy bytes) or variable-length (h5py str); both are read. Without libhdf5 at build time the
// reader reports Unsupported.
#include "source.h"

#ifdef DOPPEL_HAVE_HDF5
#include <hdf5.h>

#include <nlohmann/json.hpp>
#include <vector>
#endif

namespace doppel::keras {

#ifndef DOPPEL_HAVE_HDF5

Result<KerasSource> ReadHdf5Model(const std::string& path) {
  return Status::Unsupported(path + ": doppel was built without libhdf5 (apt-get install libhdf5-dev, rebuild)");
}

#else

namespace {

// Owns one HDF5 identifier; closes it with the matching H5?close.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// Silences HDF5's automatic error printing for the lifetime of the object (restores the previous handler).
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The strings of attribute `name` on `obj` (a scalar gives one string).
Result<std::vector<std::string>> ReadStrings(hid_t obj, const char* name, const std::string& where) {
  if (H5Aexists(obj, name) <= 0) return Status::NotFound(where + ": no attribute '" + name + "'");
  Handle attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  Handle space(H5Aget_space(attr.get()), H5Sclose);
  if (!attr.ok() || !type.ok() || !space.ok()) return Status::Corruption(where + ": cannot open attribute " + name);
  if (H5Tget_class(type.get()) != H5T_STRING)
    return Status::InvalidArgument(where + ": attribute '" + name + "' is not a string");
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) return Status::Corruption(where + ": attribute '" + name + "' has no extent");
  std::vector<std::string> out;
  if (n == 0) return out;  // e.g. weight_names of a layer without weights
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
    if (H5Aread(attr.get(), mem.get(), ptrs.data()) < 0)
      return Status::Corruption(where + ": cannot read attribute '" + name + "'");
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
  } else {
    const size_t size = H5Tget_size(type.get());
    std::vector<char> buf(size * static_cast<size_t>(n) + 1, 0);
    if (H5Aread(attr.get(), type.get(), buf.data()) < 0)
      return Status::Corruption(where + ": cannot read attribute '" + name + "'");
    for (hssize_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * size, size);
      s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));  // NUL-padded
      out.push_back(std::move(s));
    }
  }
  return out;
}

Result<WeightTensor> ReadDataset(hid_t group, const std::string& path, const std::string& where) {
  Handle ds(H5Dopen2(group, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) return Status::NotFound(where + ": weight dataset '" + path + "' not found");
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_FLOAT && H5Tget_class(type.get()) != H5T_INTEGER)
    return Status::Unsupported(where + ": weight dataset '" + path + "' is not numeric");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) return Status::Corruption(where + ": weight dataset '" + path + "' has no shape");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  WeightTensor t;
  size_t count = 1;
  for (hsize_t d : dims) {
    t.shape.push_back(static_cast<int64_t>(d));
    count *= static_cast<size_t>(d);
  }
  t.data.resize(count);
  // HDF5 converts float16/float64/ints to native float.
  if (count && H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data.data()) < 0)
    return Status::Corruption(where + ": cannot read weight dataset '" + path + "'");
  return t;
}

std::string DtypeName(hid_t ds_type) {
  if (H5Tget_class(ds_type) == H5T_FLOAT) return "float" + std::to_string(8 * H5Tget_size(ds_type));
  return "int" + std::to_string(8 * H5Tget_size(ds_type));
}

}  // namespace

Result<KerasSource> ReadHdf5Model(const std::string& path) {
  QuietErrors quiet;
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) return Status::IOError(path + ": cannot open as HDF5");
  KerasSource src;
  src.format = "keras-hdf5";
  auto config = ReadStrings(file.get(), "model_config", path);
  if (!config.ok())
    return Status::InvalidArgument(path + ": no model_config attribute (a weights-only file from save_weights()?)");
  if (config->size() != 1) return Status::InvalidArgument(path + ": model_config is not one string");
  try {
    src.model_config = nlohmann::json::parse((*config)[0]);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": model_config is not valid JSON: " + e.what());
  }
  auto version = ReadStrings(file.get(), "keras_version", path);
  if (version.ok() && version->size() == 1) src.keras_version = (*version)[0];

  // Weights live under /model_weights (model.save()) or, in older files, at the root.
  const bool nested = H5Lexists(file.get(), "model_weights", H5P_DEFAULT) > 0;
  Handle root(H5Gopen2(file.get(), nested ? "model_weights" : "/", H5P_DEFAULT), H5Gclose);
  if (!root.ok()) return Status::Corruption(path + ": cannot open the model_weights group");
  DOPPEL_ASSIGN_OR_RETURN(std::vector<std::string> layers,
                          ReadStrings(root.get(), "layer_names", path + ": model_weights"));
  for (const std::string& layer : layers) {
    const std::string where = path + ": layer '" + layer + "'";
    Handle g(H5Gopen2(root.get(), layer.c_str(), H5P_DEFAULT), H5Gclose);
    if (!g.ok()) return Status::Corruption(where + ": listed in layer_names but has no group");
    DOPPEL_ASSIGN_OR_RETURN(std::vector<std::string> names, ReadStrings(g.get(), "weight_names", where));
    for (const std::string& wname : names) {
      DOPPEL_ASSIGN_OR_RETURN(WeightTensor t, ReadDataset(g.get(), wname, where));
      Handle ds(H5Dopen2(g.get(), wname.c_str(), H5P_DEFAULT), H5Dclose);
      Handle type(H5Dget_type(ds.get()), H5Tclose);
      src.weights.stored_dtypes.insert(DtypeName(type.get()));
      const size_t slash = wname.rfind('/');
      DOPPEL_RETURN_IF_ERROR(
          src.weights.Add(layer + "/" + (slash == std::string::npos ? wname : wname.substr(slash + 1)), std::move(t))
              .WithContext(where));
    }
  }
  return src;
}

#endif  // DOPPEL_HAVE_HDF5

}  // namespace doppel::keras
