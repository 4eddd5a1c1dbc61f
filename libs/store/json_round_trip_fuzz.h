// The body of the JSON fuzz targets of libs/store (config_fuzz,
// manifest_fuzz): the parser must never crash on any input, may refuse it
// only with DATA_LOSS or FAILED_PRECONDITION, and whatever it accepts must
// survive a JSON round trip unchanged (compared as deterministic protobuf
// bytes). Anything else aborts, which the fuzz driver reports.
#ifndef ARCA_LIBS_STORE_JSON_ROUND_TRIP_FUZZ_H_
#define ARCA_LIBS_STORE_JSON_ROUND_TRIP_FUZZ_H_

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"

namespace arca::testing {

inline std::string DeterministicBytes(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

// from_json(std::string_view json, const char* name) -> absl::StatusOr<M>;
// to_json(const M&) -> absl::StatusOr<std::string>.
template <typename FromJson, typename ToJson>
int JsonRoundTripFuzz(const uint8_t* data, size_t size, FromJson from_json, ToJson to_json) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = from_json(input, "fuzz-input");
  if (!parsed.ok()) {
    // Only the documented codes.
    if (parsed.status().code() != absl::StatusCode::kDataLoss &&
        parsed.status().code() != absl::StatusCode::kFailedPrecondition) {
      std::abort();
    }
    return 0;
  }
  auto json = to_json(*parsed);
  if (!json.ok()) std::abort();
  auto again = from_json(*json, "round-trip");
  if (!again.ok()) std::abort();
  if (DeterministicBytes(*again) != DeterministicBytes(*parsed)) std::abort();
  return 0;
}

}  // namespace arca::testing

#endif  // ARCA_LIBS_STORE_JSON_ROUND_TRIP_FUZZ_H_
