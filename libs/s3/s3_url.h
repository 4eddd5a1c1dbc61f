// URL pieces of S3 requests, already in SigV4 canonical form (curl 7.88's
// CURLOPT_AWS_SIGV4 signs the path and query exactly as given: it neither
// re-encodes nor sorts them). Pure functions.
#ifndef ARCA_LIBS_S3_S3_URL_H_
#define ARCA_LIBS_S3_S3_URL_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace arca::s3 {

// RFC 3986 percent-encoding with upper-case hex: A-Z a-z 0-9 - . _ ~ kept,
// every other byte %XX; '/' kept when `keep_slash` (object key paths).
std::string UriEncode(std::string_view text, bool keep_slash);

// "a=1&b=x%2Fy": names and values UriEncode'd, pairs sorted by name then
// value (the SigV4 canonical query string). An empty value still gets '='.
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> params);

// True if `bucket` is a valid S3 bucket name: 3-63 characters of a-z 0-9 . -,
// starting and ending with a letter or digit, no "..", not an IPv4 address.
bool ValidBucketName(std::string_view bucket);

}  // namespace arca::s3

#endif  // ARCA_LIBS_S3_S3_URL_H_
