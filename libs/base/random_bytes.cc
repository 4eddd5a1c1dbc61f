#include "libs/base/random_bytes.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>

namespace arca {

void FillRandom(void* out, size_t n) {
  auto* p = static_cast<uint8_t*>(out);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::getrandom(p + got, n - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r < 0 && errno != EINTR) {
      thread_local std::mt19937_64 rng(std::random_device{}());
      for (; got < n; ++got) p[got] = static_cast<uint8_t>(rng());
    }
  }
}

}  // namespace arca
