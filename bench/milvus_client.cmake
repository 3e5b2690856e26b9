# The Milvus client benchmark runs against the tests' in-process fake Milvus (tests/milvus), labelled as such.
doppel_add_bench(milvus_client doppel_milvus doppel_engine doppel_model doppel_modelgen doppel_fake_milvus
  PkgConfig::VIPS)
