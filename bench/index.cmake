doppel_add_bench(index doppel_engine doppel_model doppel_modelgen PkgConfig::VIPS)
