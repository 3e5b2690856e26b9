# Finds the ONNX Runtime unpacked by scripts/bootstrap.sh (library from npm onnxruntime-node, C/C++ API headers from
# Debian 13 libonnxruntime-dev) and defines the imported target OnnxRuntime::OnnxRuntime.
# Hint: ONNXRUNTIME_ROOT (default: <source>/third_party/onnxruntime).
set(ONNXRUNTIME_ROOT "${PROJECT_SOURCE_DIR}/third_party/onnxruntime" CACHE PATH "ONNX Runtime folder (lib/, include/)")
find_path(OnnxRuntime_INCLUDE_DIR onnxruntime_cxx_api.h PATHS "${ONNXRUNTIME_ROOT}/include" NO_DEFAULT_PATH)
find_library(OnnxRuntime_LIBRARY NAMES onnxruntime PATHS "${ONNXRUNTIME_ROOT}/lib" NO_DEFAULT_PATH)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OnnxRuntime
  REQUIRED_VARS OnnxRuntime_LIBRARY OnnxRuntime_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "run scripts/bootstrap.sh first (as root)")
if(OnnxRuntime_FOUND AND NOT TARGET OnnxRuntime::OnnxRuntime)
  add_library(OnnxRuntime::OnnxRuntime SHARED IMPORTED)
  get_filename_component(_ort_libdir "${OnnxRuntime_LIBRARY}" DIRECTORY)
  set_target_properties(OnnxRuntime::OnnxRuntime PROPERTIES
    IMPORTED_LOCATION "${_ort_libdir}/libonnxruntime.so.1"
    IMPORTED_SONAME "libonnxruntime.so.1"
    INTERFACE_INCLUDE_DIRECTORIES "${OnnxRuntime_INCLUDE_DIR}")
  set(OnnxRuntime_LIBRARY_DIR "${_ort_libdir}")
endif()
