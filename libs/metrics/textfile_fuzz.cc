// Fuzz target of the textfile parser (the previous file read back for
// carry-forward is bytes from disk): ParseMetricsText must never crash, and
// whatever it accepts must merge and serialise to text it accepts again
// with the same families. Run deterministically by //libs/testing:fuzz_driver
// over testdata/textfile_corpus; under --config=asan any UB aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "libs/metrics/textfile.h"
#include "prometheus/text_serializer.h"

namespace {

[[noreturn]] void Fail(const std::string& what, const std::string& input,
                       const std::string& output) {
  std::fprintf(stderr, "textfile_fuzz: %s\n--- input ---\n%s\n--- serialised ---\n%s\n",
               what.c_str(), input.c_str(), output.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto parsed = arca::metrics::ParseMetricsText(text);
  if (!parsed.ok()) return 0;
  // Merging with itself must keep every family (same names, same types).
  auto merged = arca::metrics::MergeCarriedForward(*parsed, *parsed);
  if (merged.size() != parsed->size()) Fail("merge changed the families", text, "");
  const std::string out = prometheus::TextSerializer().Serialize(merged);
  auto again = arca::metrics::ParseMetricsText(out);
  if (!again.ok()) Fail(std::string(again.status().message()), text, out);
  if (again->size() != merged.size()) Fail("round trip changed the families", text, out);
  for (size_t i = 0; i < merged.size(); ++i) {
    if ((*again)[i].name != merged[i].name || (*again)[i].type != merged[i].type ||
        (*again)[i].metric.size() != merged[i].metric.size()) {
      Fail("round trip changed family " + merged[i].name, text, out);
    }
  }
  return 0;
}
