// Fuzz target: the parsers of a repository's small on-disk records that are
// not JSON (docs/formats/repository.md): chunk file names (chunk, ".bad",
// ".gc-", ".tmp-"), writer lock files' text and their temp file names. None
// may crash on any input, and whatever they accept must format back to the
// same record. Run by //libs/testing:fuzz_driver over
// testdata/names_corpus (CI: ASan+UBSan).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "libs/store/chunk_file_name.h"
#include "libs/store/writer_lock.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void ChunkFileNames(std::string_view input) {
  const arca::ChunkFileName parsed = arca::ParseChunkFileName(input);
  switch (parsed.kind) {
    case arca::ChunkFileKind::kChunk:
    case arca::ChunkFileKind::kBad:
    case arca::ChunkFileKind::kGcAside:
      Check(arca::FormatChunkFileName(parsed.kind, parsed.digest) == input);
      break;
    case arca::ChunkFileKind::kTemp:
      Check(input.substr(0, 5) == ".tmp-");
      break;
    case arca::ChunkFileKind::kOther:
      break;
  }
}

void LockText(std::string_view input) {
  arca::WriterLockInfo first;
  arca::ParseWriterLockText(input, &first);
  const std::string text =
      arca::FormatWriterLockText(first.pid, first.host, first.start_unix_ns, first.description);
  arca::WriterLockInfo again;
  arca::ParseWriterLockText(text, &again);
  Check(again.pid == first.pid && again.host == first.host &&
        again.start_unix_ns == first.start_unix_ns && again.description == first.description);
}

void LockTempNames(std::string_view input) {
  const std::optional<arca::WriterLockTempNameParts> parts = arca::ParseWriterLockTempName(input);
  if (parts.has_value()) {
    Check(parts->pid > 0 && !parts->host_tag.empty() && !parts->random.empty() &&
          parts->random.find('-') == std::string::npos);
    const std::string name =
        absl::StrCat(".tmp-", parts->pid, "-", parts->host_tag, "-", parts->random);
    const std::optional<arca::WriterLockTempNameParts> again = arca::ParseWriterLockTempName(name);
    Check(again.has_value() && again->pid == parts->pid && again->host_tag == parts->host_tag &&
          again->random == parts->random);
  }
  // Any host name gives a tag that is a safe file-name part, and the names
  // the writer makes from it parse back.
  const std::string tag = arca::WriterLockTempHostTag(input);
  Check(!tag.empty() && tag.size() <= 64);
  for (char c : tag) {
    Check((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '-' || c == '_');
  }
  const int64_t pid = 1 + static_cast<int64_t>(input.size());
  const std::optional<arca::WriterLockTempNameParts> made =
      arca::ParseWriterLockTempName(arca::WriterLockTempName(pid, input));
  Check(made.has_value() && made->pid == pid && made->host_tag == tag);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  ChunkFileNames(input);
  LockText(input);
  LockTempNames(input);
  return 0;
}
