// `arca verify`: proves a repository (or one snapshot) is intact. Re-reads
// every referenced chunk (CRC32C, decompression, SHA-256, length), checks
// each snapshot's manifest and index checksums, parses every metadata
// stream and checks every payload reference against its stream. A chunk
// that fails is moved aside (RepositoryChunkSource: self-healing), so the
// next backup of its data stores it again.
#ifndef ARCA_LIBS_PIPELINE_VERIFY_H_
#define ARCA_LIBS_PIPELINE_VERIFY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "libs/base/exit_codes.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/progress.h"
#include "libs/store/repository.h"

namespace arca {

struct VerifyResult {
  absl::Status status;                      // first problem, or OK
  ExitCode exit_code = ExitCode::kSuccess;  // 0, 2 unknown snapshot, 8 corruption, 130
  uint64_t snapshots = 0;
  uint64_t chunks = 0;  // unique chunks checked
  uint64_t bytes = 0;   // plaintext bytes checked
  uint64_t entries = 0;
  // One line per problem, naming the snapshot and the file or digest.
  std::vector<std::string> problems;
  // Snapshot id → paths of its files whose data lies in a missing or
  // corrupt chunk (in archive order); only snapshots with damaged files.
  std::map<std::string, std::vector<std::string>> damaged_files;
  // Chunk files moved aside after failing verification (this run or an
  // earlier one: chunks/ab/cd/<hex>.bad), kept for inspection. Not a problem
  // by themselves: once a backup stored the data again, the snapshots that
  // reference the digest verify.
  std::vector<std::string> bad_chunk_files;
};

// snapshot: an id, "latest", or "" for every snapshot. workers: decoding
// threads (0 = cores). progress: live counters (progress.h) or null; phase
// verification; chunks_done / bytes_done of chunks_total / bytes_total
// (unique chunks and their plaintext bytes, known once the indexes are
// read), entries parsed, problems as warnings; marked done on return.
VerifyResult RunVerify(Repository& repo, absl::string_view snapshot, const CancelToken* cancel,
                       int workers = 0, Progress* progress = nullptr);

// `arca verify` of an encrypted repository without its key: checks what a
// reader without the key can — the clear frame of every stored chunk
// (header, lengths, CRC32C, kind: CheckSealedChunkFrame) and of every file
// of every visible snapshot (Repository::CheckSnapshotFrames). It cannot
// tell a chunk's content from its name or find missing chunks (the indexes
// are sealed). chunks = blobs checked, snapshots = snapshot files checked,
// bytes = stored bytes read; exit 8 on any problem. Damaged blobs are not
// moved aside (without the key a flipped bit inside the ciphertext is
// found only by a verify with it).
VerifyResult RunVerifyWithoutKey(Repository& repo, const CancelToken* cancel,
                                 Progress* progress = nullptr);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_VERIFY_H_
