// The XML documents of the S3 API the client reads and writes, parsed with
// libexpat: ListObjectsV2 results, error documents, DeleteObjects requests and
// results. Pure functions, no I/O.
//
// The input is untrusted (any server, or a proxy in between): documents with a
// DOCTYPE (hence any entity declaration) are refused, nesting depth, node count
// and size are bounded, numbers are range-checked, and a missing required field
// is an error rather than a default. Every error is InvalidArgument naming the
// document and what is wrong.
//
// Thread-safety: all functions are thread-safe.
#ifndef ARCA_LIBS_S3_S3_XML_H_
#define ARCA_LIBS_S3_S3_XML_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/s3/s3_client.h"

namespace arca::s3 {

// Largest document accepted (a 1000-key listing is about 300 KiB).
inline constexpr size_t kMaxXmlBytes = 64 << 20;

// <Error><Code>NoSuchKey</Code><Message>...</Message></Error>
struct S3ErrorDocument {
  std::string code;     // "" if the document has none
  std::string message;  // "" if the document has none
};

// One <Error> of a DeleteObjects result.
struct DeleteError {
  std::string key;
  std::string code;
  std::string message;
};

// A <ListBucketResult> (ListObjectsV2). Key and Size are required in each
// <Contents>; LastModified (ISO-8601) and ETag (quotes removed) are optional.
// IsTruncated true requires a NextContinuationToken.
absl::StatusOr<ListPage> ParseListObjectsV2(std::string_view xml);

// An <Error> document.
absl::StatusOr<S3ErrorDocument> ParseErrorDocument(std::string_view xml);

// A <DeleteResult>: its <Error> entries (the <Deleted> ones are checked and
// dropped). An empty document body is not accepted.
absl::StatusOr<std::vector<DeleteError>> ParseDeleteResult(std::string_view xml);

// The <Delete> request body for `keys` (1..1000, the caller splits), quiet
// mode. InvalidArgument for a key that XML 1.0 cannot carry (control
// characters other than tab, LF, CR; invalid UTF-8).
absl::StatusOr<std::string> BuildDeleteObjectsBody(const std::vector<std::string>& keys);

// `text` with & < > " ' and tab/LF/CR escaped (the latter so that a parser's
// whitespace normalisation cannot change a key).
std::string XmlEscape(std::string_view text);

// "2026-12-05T21:49:12.123Z" (also without fraction, or with +hh:mm) → Unix
// nanoseconds. InvalidArgument on anything else.
absl::StatusOr<int64_t> ParseIso8601(std::string_view text);

}  // namespace arca::s3

#endif  // ARCA_LIBS_S3_S3_XML_H_
