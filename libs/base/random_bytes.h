// Random bytes from the kernel (getrandom(2)) for ids and names that must
// not collide across processes and hosts (job ids, request ids, temp
// names). Not for keys.
#ifndef ARCA_LIBS_BASE_RANDOM_BYTES_H_
#define ARCA_LIBS_BASE_RANDOM_BYTES_H_

#include <cstddef>

namespace arca {

// Fills `n` bytes at `out`. Retries interrupted calls; if the kernel cannot
// give them (no getrandom), falls back to a per-thread generator seeded from
// std::random_device. Thread-safe.
void FillRandom(void* out, size_t n);

}  // namespace arca

#endif  // ARCA_LIBS_BASE_RANDOM_BYTES_H_
