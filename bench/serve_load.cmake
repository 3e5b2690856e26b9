# The server load benchmark links cpp-httplib with the library's own macros (see src/server/CMakeLists.txt).
pkg_check_modules(HTTPLIB_BENCH REQUIRED IMPORTED_TARGET cpp-httplib)
doppel_add_bench(serve_load doppel_server doppel_engine doppel_model PkgConfig::VIPS PkgConfig::HTTPLIB_BENCH)
