# The large-collection server benchmark: cpp-httplib with the library's own macros (see src/server/CMakeLists.txt).
pkg_check_modules(HTTPLIB_BENCH_SCALE REQUIRED IMPORTED_TARGET cpp-httplib)
doppel_add_bench(serve_scale doppel_server doppel_engine doppel_model doppel_modelgen PkgConfig::VIPS
  PkgConfig::HTTPLIB_BENCH_SCALE)
