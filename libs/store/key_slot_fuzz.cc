// Fuzz target: KeySlotFromJson must never crash on any input, and whatever
// it accepts (a slot that passes CheckKeySlot: bounded scrypt parameters,
// sizes, ids) must survive a JSON round trip unchanged
// (json_round_trip_fuzz.h). Run by //libs/testing:fuzz_driver over
// testdata/key_slot_corpus (slots of the repository and id below).
#include <cstddef>
#include <cstdint>

#include "libs/store/json_round_trip_fuzz.h"
#include "libs/store/repository_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return arca::testing::JsonRoundTripFuzz(
      data, size,
      [](std::string_view json, const char* name) {
        return arca::KeySlotFromJson(json, name, "86d7f3e0518d54911a1d57e415eb20be",
                                     "3c9bba27c7d1ef4f");
      },
      [](const arca::v1::KeySlot& s) { return arca::KeySlotToJson(s); });
}
