// Small string helpers for test assertions.
#pragma once

#include <string>

namespace doppel::testing {

// Whether `part` occurs anywhere in `s`.
inline bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace doppel::testing
