// Fuzz target: RepositoryConfigFromJson must never crash on any input, and
// whatever it accepts must survive a JSON round trip unchanged
// (json_round_trip_fuzz.h). Run by //libs/testing:fuzz_driver over
// testdata/config_corpus (CI: ASan+UBSan).
#include <cstddef>
#include <cstdint>

#include "libs/store/json_round_trip_fuzz.h"
#include "libs/store/repository.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return arca::testing::JsonRoundTripFuzz(
      data, size,
      [](std::string_view json, const char* name) {
        return arca::RepositoryConfigFromJson(json, name);
      },
      [](const arca::v1::RepositoryConfig& c) { return arca::RepositoryConfigToJson(c); });
}
