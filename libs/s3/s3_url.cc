#include "libs/s3/s3_url.h"

#include <algorithm>

namespace arca::s3 {

std::string UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    bool unreserved = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') ||
                      u == '-' || u == '.' || u == '_' || u == '~';
    if (unreserved || (keep_slash && u == '/')) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    }
  }
  return out;
}

std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> params) {
  for (auto& [name, value] : params) {
    name = UriEncode(name, false);
    value = UriEncode(value, false);
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

bool ValidBucketName(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(bucket.front()) || !alnum(bucket.back())) return false;
  bool all_digits_and_dots = true;
  int dots = 0;
  for (size_t i = 0; i < bucket.size(); ++i) {
    char c = bucket[i];
    if (!alnum(c) && c != '.' && c != '-') return false;
    if (c == '.' && i > 0 && bucket[i - 1] == '.') return false;
    if (c == '.') ++dots;
    if (!(c == '.' || (c >= '0' && c <= '9'))) all_digits_and_dots = false;
  }
  return !(all_digits_and_dots && dots == 3);  // looks like an IPv4 address
}

}  // namespace arca::s3
