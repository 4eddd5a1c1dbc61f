// Fuzz target: RepositoryConfigFromJson must never crash on any input, and
// whatever it accepts must survive a JSON round trip unchanged. Run by
// //libs/testing:fuzz_driver over testdata/config_corpus (CI: ASan+UBSan).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "libs/store/repository.h"

namespace {

std::string Deterministic(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = arca::RepositoryConfigFromJson(input, "fuzz-input");
  if (!parsed.ok()) {
    // Only the documented codes.
    if (parsed.status().code() != absl::StatusCode::kDataLoss &&
        parsed.status().code() != absl::StatusCode::kFailedPrecondition) {
      std::abort();
    }
    return 0;
  }
  auto json = arca::RepositoryConfigToJson(*parsed);
  if (!json.ok()) std::abort();
  auto again = arca::RepositoryConfigFromJson(*json, "round-trip");
  if (!again.ok()) std::abort();
  if (Deterministic(*again) != Deterministic(*parsed)) std::abort();
  return 0;
}
