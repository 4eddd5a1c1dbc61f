#include "libs/pipeline/archive_sink.h"

#include <algorithm>
#include <cstring>

#include "libs/base/status_macros.h"

namespace arca {

absl::Status ArchiveSink::AppendPayload(std::span<const uint8_t> data) {
  constexpr size_t kStep = 4u << 20;
  while (!data.empty()) {
    size_t n = std::min(data.size(), kStep);
    std::memcpy(ReservePayload(n), data.data(), n);
    RETURN_IF_ERROR(CommitPayload(n));
    data = data.subspan(n);
  }
  return absl::OkStatus();
}

}  // namespace arca
