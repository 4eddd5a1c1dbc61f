#include "libs/pipeline/progress.h"

namespace arca {

ProgressSample Progress::Read() const {
  ProgressSample s;
  s.done = done_.load(std::memory_order_acquire);
  s.phase = static_cast<v1::Phase>(phase_.load(kOrder));
  s.files_done = files_done_.load(kOrder);
  s.bytes_done = bytes_done_.load(kOrder);
  s.bytes_total = bytes_total_.load(kOrder);
  s.files_total = files_total_.load(kOrder);
  s.entries = entries_.load(kOrder);
  s.chunks_done = chunks_done_.load(kOrder);
  s.chunks_total = chunks_total_.load(kOrder);
  s.warnings = warnings_.load(kOrder);
  return s;
}

}  // namespace arca
