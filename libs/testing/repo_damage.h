// Test helpers that damage a local repository on purpose (docs/formats/
// repository.md): find a chunk file, flip one of its bits.
#ifndef ARCA_LIBS_TESTING_REPO_DAMAGE_H_
#define ARCA_LIBS_TESTING_REPO_DAMAGE_H_

#include <string>

namespace arca::testing {

// The chunk file of the first chunk of the first metadata.aidx found under
// REPO/snapshots (an index entry is 40 bytes from offset 40: offset and
// length, then the 32-byte digest), or "" when there is none.
std::string FirstMetadataChunkFile(const std::string& repo);

// Flips the lowest bit of the middle byte of the file at `path`.
void FlipMiddleBit(const std::string& path);

}  // namespace arca::testing

#endif  // ARCA_LIBS_TESTING_REPO_DAMAGE_H_
