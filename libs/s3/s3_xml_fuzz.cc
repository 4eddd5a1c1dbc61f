// Fuzz target: the S3 XML parsers (s3_xml.h) on untrusted bytes. None may
// crash; a parsed listing's keys must survive XmlEscape and a DeleteObjects
// body round trip. Run by //libs/testing:fuzz_driver over testdata/xml_corpus
// (CI: ASan+UBSan).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libs/s3/s3_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto page = arca::s3::ParseListObjectsV2(input);
  (void)arca::s3::ParseErrorDocument(input);
  (void)arca::s3::ParseDeleteResult(input);
  (void)arca::s3::ParseIso8601(input);
  if (page.ok()) {
    std::string result = "<DeleteResult>";
    std::vector<std::string> keys;
    for (const auto& o : page->objects) {
      keys.push_back(o.key);
      result += "<Error><Key>" + arca::s3::XmlEscape(o.key) + "</Key><Code>C</Code></Error>";
    }
    result += "</DeleteResult>";
    auto errors = arca::s3::ParseDeleteResult(result);
    if (!errors.ok() || errors->size() != keys.size()) std::abort();
    for (size_t i = 0; i < keys.size(); ++i) {
      if ((*errors)[i].key != keys[i]) std::abort();
    }
  }
  return 0;
}
