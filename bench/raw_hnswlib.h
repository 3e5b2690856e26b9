// Raw hnswlib for the benchmarks that compare the store with it, as namespace hnswlib_raw.
//
// hnswlib 0.6.2 defines non-inline functions in its headers, and libdoppel_store.a contains them too: this renames
// the program's copy so the two do not collide at link time. Include it before anything else that includes hnswlib.
#pragma once

#define hnswlib hnswlib_raw
#define cpuid hnswlib_raw_cpuid
#define xgetbv hnswlib_raw_xgetbv
#define AVXCapable hnswlib_raw_AVXCapable
#define AVX512Capable hnswlib_raw_AVX512Capable
#include <hnswlib/hnswlib.h>
#undef hnswlib
