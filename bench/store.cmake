# The vector store benchmark compares doppel_store with raw FAISS and raw hnswlib on the same data.
find_package(faiss REQUIRED)
find_package(OpenMP REQUIRED)
doppel_add_bench(store_search doppel_store faiss OpenMP::OpenMP_CXX)
