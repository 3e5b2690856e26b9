# Shrink-on-load against full decoding for the built-in models (issue 15), on three labelled sets of large JPEGs.
doppel_add_bench(shrink_quality doppel_eval doppel_engine doppel_keras doppel_model PkgConfig::VIPS)
