// Keras HDF5 (model.save()): not yet implemented.
#include "source.h"

namespace doppel::keras {

Result<KerasSource> ReadHdf5Model(const std::string& path) {
  return Status::Unsupported(path + ": Keras HDF5 import is not built yet");
}

}  // namespace doppel::keras
