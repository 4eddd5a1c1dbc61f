#include "libs/base/labels.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace arca {
namespace {

bool AlphaNum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// 1..63 of [A-Za-z0-9._-], alphanumeric at both ends.
bool IsName(std::string_view s) {
  if (s.empty() || s.size() > 63 || !AlphaNum(s.front()) || !AlphaNum(s.back())) return false;
  for (char c : s) {
    if (!AlphaNum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

// RFC 1123 subdomain: lower-case labels of 1..63 [a-z0-9-], alphanumeric at
// both ends, joined by ".", at most 253 in all.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string_view part =
        s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (part.empty() || part.size() > 63) return false;
    for (char c : part) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    if (part.front() == '-' || part.back() == '-') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string Shown(std::string_view s) {
  return s.size() > 80 ? absl::StrCat(std::string(s.substr(0, 80)), "...") : std::string(s);
}

}  // namespace

absl::Status CheckLabelKey(std::string_view key, std::string_view field) {
  const size_t slash = key.find('/');
  const std::string_view name = slash == std::string_view::npos ? key : key.substr(slash + 1);
  const bool ok =
      IsName(name) && (slash == std::string_view::npos || IsDnsSubdomain(key.substr(0, slash)));
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      std::string(field), ": invalid label key '", Shown(key),
      "': expected [PREFIX/]NAME, NAME 1..63 characters of [A-Za-z0-9._-] starting and ending "
      "with a letter or digit, PREFIX a lower-case DNS subdomain (Kubernetes label syntax)"));
}

absl::Status CheckLabelValue(std::string_view key, std::string_view value, std::string_view field) {
  if (value.empty() || IsName(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      std::string(field), ": invalid value '", Shown(value), "' of label '", Shown(key),
      "': expected at most 63 characters of [A-Za-z0-9._-] starting and ending with a letter or "
      "digit, or empty (Kubernetes label syntax)"));
}

absl::StatusOr<std::map<std::string, std::string>> ParseLabelFlags(
    const std::vector<std::string>& items, std::string_view flag) {
  std::map<std::string, std::string> labels;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(flag), " '", item, "': expected KEY=VALUE"));
    }
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    auto [it, added] = labels.emplace(key, value);
    if (!added && it->second != value) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(flag), " '", item, "': the key '",
                                                     key,
                                                     "' is given twice with different values"));
    }
  }
  if (absl::Status st = CheckLabels(labels, flag); !st.ok()) return st;
  return labels;
}

}  // namespace arca
