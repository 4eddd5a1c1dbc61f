// The names of the files in a leaf directory chunks/ab/cd/ of a local
// repository (docs/formats/repository.md, "Chunks"): pure parsing and
// formatting, no I/O.
#ifndef ARCA_LIBS_STORE_CHUNK_FILE_NAME_H_
#define ARCA_LIBS_STORE_CHUNK_FILE_NAME_H_

#include <string>
#include <string_view>

#include "libs/hash/digest.h"

namespace arca {

enum class ChunkFileKind {
  kChunk,    // "<64 lower-case hex>": the stored chunk
  kBad,      // "<64 hex>.bad": moved aside after failing verification
  kGcAside,  // ".gc-<64 hex>": renamed by a gc that may have been interrupted
  kTemp,     // ".tmp-<anything>": a chunk being written (or left by a crash)
  kOther,    // not a name of the layout: ignored by every reader
};

struct ChunkFileName {
  ChunkFileKind kind = ChunkFileKind::kOther;
  Digest digest;  // set for kChunk, kBad and kGcAside
};

// Classifies `name`. Only lower-case hex is a digest: upper case, other
// lengths or any extra character make the name kOther (or kTemp when it
// starts with ".tmp-").
ChunkFileName ParseChunkFileName(std::string_view name);

// The file name of `digest` as `kind` (kChunk, kBad or kGcAside; any other
// kind gives ""). ParseChunkFileName(FormatChunkFileName(k, d)) is {k, d}.
std::string FormatChunkFileName(ChunkFileKind kind, const Digest& digest);

}  // namespace arca

#endif  // ARCA_LIBS_STORE_CHUNK_FILE_NAME_H_
