# Duplicates on a large collection: the engine against raw FAISS (binary) and raw hnswlib in the same run.
find_package(faiss REQUIRED)
find_package(OpenMP REQUIRED)
doppel_add_bench(dedup_scale doppel_engine doppel_model doppel_modelgen doppel_store faiss OpenMP::OpenMP_CXX
  PkgConfig::VIPS)
