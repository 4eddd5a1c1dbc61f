// Synthetic entries for tests, fuzz seeds and benchmarks (testonly).
#ifndef ARCA_LIBS_ARCHIVE_TEST_ENTRIES_H_
#define ARCA_LIBS_ARCHIVE_TEST_ENTRIES_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "arca/v1/common.pb.h"

namespace arca::testing {

// The first `n` entries (n >= 1) of a deterministic synthetic tree, in
// archive order, each valid for ValidateEntry: the root, then directories
// nesting up to 3 levels, each with entries of every storable type
// (regular incl. empty and sparse files, symlinks, hardlinks to an earlier
// file, fifos, devices, directories), awkward names (non-UTF-8 bytes,
// newline, backslash, 255 bytes, "a-b" next to "a/..."), xattrs and ACLs.
// Regular files' payload refs are contiguous from offset 0.
std::vector<v1::Entry> MakeTestEntries(size_t n, uint64_t seed = 1);

}  // namespace arca::testing

#endif  // ARCA_LIBS_ARCHIVE_TEST_ENTRIES_H_
