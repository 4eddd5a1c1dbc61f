// The version of arca, reported by `arca version`-style output and the
// arca_build_info metric. Bump it with every release.
#ifndef ARCA_LIBS_BASE_VERSION_H_
#define ARCA_LIBS_BASE_VERSION_H_

namespace arca {

inline constexpr char kArcaVersion[] = "0.1.0";

}  // namespace arca

#endif  // ARCA_LIBS_BASE_VERSION_H_
