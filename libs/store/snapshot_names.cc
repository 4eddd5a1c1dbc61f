#include "libs/store/snapshot_names.h"

#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "libs/hash/digest.h"

namespace arca {
namespace {

bool IsNameByte(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-';
}

void AppendEscaped(unsigned char c, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out->push_back('%');
  out->push_back(kHex[c >> 4]);
  out->push_back(kHex[c & 15]);
}

}  // namespace

// A group is one directory name we created (or a user typed): no '/', no NUL,
// not hidden (temp names start with '.'), not too long.
bool IsValidGroupName(std::string_view g) {
  if (g.empty() || g.size() > 255 || g[0] == '.') return false;
  return g.find('/') == std::string_view::npos && g.find('\0') == std::string_view::npos;
}

// "YYYYMMDDTHHMMSS.nnnnnnnnnZ".
bool IsValidSnapshotTimeName(std::string_view t) {
  if (t.size() != 26 || t[8] != 'T' || t[15] != '.' || t[25] != 'Z') return false;
  for (size_t i = 0; i < 25; ++i) {
    if (i == 8 || i == 15) continue;
    if (t[i] < '0' || t[i] > '9') return false;
  }
  return true;
}

absl::StatusOr<std::string> SnapshotTimeName(int64_t unix_ns) {
  if (unix_ns < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("snapshot time ", unix_ns, " ns is before 1970; pass 0 for now"));
  }
  time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  int64_t nanos = unix_ns % 1000000000;
  struct tm tm;
  if (gmtime_r(&secs, &tm) == nullptr || tm.tm_year + 1900 > 9999) {
    return absl::InvalidArgumentError(
        absl::StrCat("snapshot time ", unix_ns, " ns is out of range"));
  }
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02d.%09lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(nanos));
  return std::string(buf);
}

std::string SnapshotGroupName(std::string_view host, std::string_view source) {
  std::string out;
  for (unsigned char c : host) {
    if (IsNameByte(c) && !(out.empty() && c == '.')) {  // never a hidden name
      out.push_back(static_cast<char>(c));
    } else {
      AppendEscaped(c, &out);
    }
  }
  if (!source.empty() && source[0] == '/') {
    out.push_back('_');
    source.remove_prefix(1);
  } else {
    out.push_back('+');
  }
  for (unsigned char c : source) {
    if (c == '/') {
      out.push_back('_');
    } else if (IsNameByte(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      AppendEscaped(c, &out);
    }
  }
  if (out.size() > 200) {
    const std::string hash = Sha256(out).Hex().substr(0, 32);
    out = absl::StrCat(out.substr(0, 160), "~", hash);
  }
  return out;
}

}  // namespace arca
