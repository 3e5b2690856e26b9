# Retrieval refinements (issue 16) on three labelled sets, with the built-in default model.
doppel_add_bench(refine_quality doppel_eval doppel_engine doppel_keras doppel_model PkgConfig::VIPS)
