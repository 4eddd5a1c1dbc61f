#include "libs/store/chunk_file_name.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/store/file_io.h"

namespace arca {
namespace {

constexpr absl::string_view kGcPrefix = ".gc-";
constexpr absl::string_view kBadSuffix = ".bad";

int LowerHexNibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool ParseHexDigest(absl::string_view hex, Digest* out) {
  if (hex.size() != 2 * out->bytes.size()) return false;
  for (size_t i = 0; i < out->bytes.size(); ++i) {
    const int hi = LowerHexNibble(hex[2 * i]);
    const int lo = LowerHexNibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace

ChunkFileName ParseChunkFileName(std::string_view name_sv) {
  const absl::string_view name(name_sv.data(), name_sv.size());
  ChunkFileName out;
  if (absl::StartsWith(name, kTempPrefix)) {
    out.kind = ChunkFileKind::kTemp;
  } else if (absl::StartsWith(name, kGcPrefix)) {
    if (ParseHexDigest(name.substr(kGcPrefix.size()), &out.digest)) {
      out.kind = ChunkFileKind::kGcAside;
    }
  } else if (absl::EndsWith(name, kBadSuffix)) {
    if (ParseHexDigest(name.substr(0, name.size() - kBadSuffix.size()), &out.digest)) {
      out.kind = ChunkFileKind::kBad;
    }
  } else if (ParseHexDigest(name, &out.digest)) {
    out.kind = ChunkFileKind::kChunk;
  }
  return out;
}

std::string FormatChunkFileName(ChunkFileKind kind, const Digest& digest) {
  switch (kind) {
    case ChunkFileKind::kChunk:
      return digest.Hex();
    case ChunkFileKind::kBad:
      return absl::StrCat(digest.Hex(), kBadSuffix);
    case ChunkFileKind::kGcAside:
      return absl::StrCat(kGcPrefix, digest.Hex());
    case ChunkFileKind::kTemp:
    case ChunkFileKind::kOther:
      break;
  }
  return "";
}

}  // namespace arca
