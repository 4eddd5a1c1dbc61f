#include "libs/fs/exclude.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "libs/fs/file_system.h"

namespace arca::fs {
namespace {

constexpr size_t kInvalid = static_cast<size_t>(-1);

// Parses the bracket expression of `pattern` starting at `pos` (a '[').
// Returns the index after its closing ']', or kInvalid when it is not
// closed or ends in a lone '\'. Sets *matched to whether byte `ch` is in the
// class (when matched is not null).
size_t ParseClass(absl::string_view pattern, size_t pos, unsigned char ch, bool* matched) {
  size_t i = pos + 1;
  bool negate = false;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    negate = true;
    ++i;
  }
  bool in = false;
  bool first = true;
  for (;;) {
    if (i >= pattern.size()) return kInvalid;
    unsigned char lo = static_cast<unsigned char>(pattern[i]);
    if (lo == ']' && !first) {
      ++i;
      break;
    }
    first = false;
    if (lo == '\\') {
      if (i + 1 >= pattern.size()) return kInvalid;
      lo = static_cast<unsigned char>(pattern[i + 1]);
      i += 2;
    } else {
      ++i;
    }
    unsigned char hi = lo;
    if (i + 1 < pattern.size() && pattern[i] == '-' && pattern[i + 1] != ']') {
      if (pattern[i + 1] == '\\') {
        if (i + 2 >= pattern.size()) return kInvalid;
        hi = static_cast<unsigned char>(pattern[i + 2]);
        i += 3;
      } else {
        hi = static_cast<unsigned char>(pattern[i + 1]);
        i += 2;
      }
    }
    if (lo <= ch && ch <= hi) in = true;
  }
  if (matched != nullptr) *matched = (in != negate);
  return i;
}

// Checks the syntax of one glob component; returns the reason it is invalid
// or an empty string.
std::string GlobSyntaxError(absl::string_view glob) {
  for (size_t i = 0; i < glob.size(); ++i) {
    char c = glob[i];
    if (c == '\\') {
      if (i + 1 >= glob.size()) return "it ends with a lone '\\'";
      ++i;
    } else if (c == '[') {
      size_t next = ParseClass(glob, i, 0, nullptr);
      if (next == kInvalid) {
        return absl::StrCat("'[' at offset ", i, " is not closed by ']'");
      }
      i = next - 1;
    }
  }
  return "";
}

bool HasWildcard(absl::string_view glob) {
  for (size_t i = 0; i < glob.size(); ++i) {
    char c = glob[i];
    if (c == '\\') {
      ++i;
    } else if (c == '*' || c == '?' || c == '[') {
      return true;
    }
  }
  return false;
}

std::string Unescape(absl::string_view glob) {
  std::string out;
  out.reserve(glob.size());
  for (size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] == '\\' && i + 1 < glob.size()) ++i;
    out.push_back(glob[i]);
  }
  return out;
}

}  // namespace

bool GlobMatch(absl::string_view pattern, absl::string_view name) {
  size_t p = 0;
  size_t n = 0;
  size_t star_p = kInvalid;  // pattern index after the last '*'
  size_t star_n = 0;         // name index that '*' is matched up to
  while (n < name.size()) {
    if (p < pattern.size()) {
      char c = pattern[p];
      if (c == '*') {
        while (p < pattern.size() && pattern[p] == '*') ++p;
        star_p = p;
        star_n = n;
        continue;
      }
      if (c == '?') {
        ++p;
        ++n;
        continue;
      }
      if (c == '[') {
        bool matched = false;
        size_t next = ParseClass(pattern, p, static_cast<unsigned char>(name[n]), &matched);
        if (next != kInvalid && matched) {
          p = next;
          ++n;
          continue;
        }
      } else {
        if (c == '\\' && p + 1 < pattern.size()) {
          c = pattern[p + 1];
          if (c == name[n]) {
            p += 2;
            ++n;
            continue;
          }
        } else if (c == name[n]) {
          ++p;
          ++n;
          continue;
        }
      }
    }
    // Mismatch: let the last '*' swallow one more byte.
    if (star_p == kInvalid) return false;
    p = star_p;
    n = ++star_n;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::StatusOr<PathMatcher::Pattern> PathMatcher::Compile(const std::string& source) {
  auto invalid = [&source](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid pattern '", source, "': ", why));
  };
  if (source.empty()) return invalid("the pattern is empty");
  if (source[0] == '!') {
    return invalid(
        "negation ('!' at the start) is not supported; write '\\!' to match a "
        "name starting with '!'");
  }
  Pattern p;
  p.source = source;
  absl::string_view s = source;
  while (!s.empty() && s.back() == '/') {
    p.dir_only = true;
    s.remove_suffix(1);
  }
  if (!s.empty() && s.front() == '/') {
    p.anchored = true;
    while (!s.empty() && s.front() == '/') s.remove_prefix(1);
  }
  if (s.find('/') != absl::string_view::npos) p.anchored = true;

  std::vector<absl::string_view> parts;
  while (!s.empty()) {
    size_t slash = s.find('/');
    absl::string_view part = s.substr(0, slash);
    // Empty ("a//b") and "." components name the same directory.
    if (!part.empty() && part != ".") parts.push_back(part);
    if (slash == absl::string_view::npos) break;
    s.remove_prefix(slash + 1);
  }
  if (parts.empty()) return invalid("it names no file (only '/' or '.')");

  for (absl::string_view part : parts) {
    Component c;
    if (p.anchored && part == "**") {
      if (!p.components.empty() && p.components.back().kind == Component::Kind::kGlobStar) {
        continue;  // "**/**" is "**"
      }
      c.kind = Component::Kind::kGlobStar;
    } else {
      std::string error = GlobSyntaxError(part);
      if (!error.empty()) return invalid(error);
      if (HasWildcard(part)) {
        c.kind = Component::Kind::kGlob;
        c.text = std::string(part);
      } else {
        c.kind = Component::Kind::kLiteral;
        c.text = Unescape(part);
      }
    }
    p.components.push_back(std::move(c));
  }
  // A trailing "/**" matches everything inside, not the directory itself:
  // "a/**" is "a", one component, then zero or more.
  if (p.components.size() > 1 && p.components.back().kind == Component::Kind::kGlobStar) {
    Component any;
    any.kind = Component::Kind::kAny;
    p.components.insert(p.components.end() - 1, std::move(any));
  }
  return p;
}

absl::StatusOr<PathMatcher> PathMatcher::Create(const std::vector<std::string>& patterns) {
  PathMatcher matcher;
  matcher.patterns_.reserve(patterns.size());
  for (const std::string& source : patterns) {
    absl::StatusOr<Pattern> p = Compile(source);
    if (!p.ok()) return p.status();
    if (p->anchored) matcher.any_anchored_ = true;
    matcher.patterns_.push_back(*std::move(p));
  }
  return matcher;
}

absl::StatusOr<std::vector<std::string>> PathMatcher::ReadPatternFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "cannot read pattern file", path);
  std::string content;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoToStatus(err, "cannot read pattern file", path);
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);

  std::vector<std::string> patterns;
  absl::string_view rest = content;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    absl::string_view line = rest.substr(0, nl);
    rest = nl == absl::string_view::npos ? absl::string_view() : rest.substr(nl + 1);
    // Trim trailing blanks unless the last one is escaped by an odd number
    // of backslashes.
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      size_t backslashes = 0;
      for (size_t i = line.size() - 1; i > 0 && line[i - 1] == '\\'; --i) {
        ++backslashes;
      }
      if (backslashes % 2 == 1) break;
      line.remove_suffix(1);
    }
    if (line.empty() || line.front() == '#') continue;
    patterns.emplace_back(line);
  }
  return patterns;
}

bool PathMatcher::MatchComponent(const Component& c, absl::string_view name) {
  switch (c.kind) {
    case Component::Kind::kLiteral:
      return name == c.text;
    case Component::Kind::kGlob:
      return GlobMatch(c.text, name);
    case Component::Kind::kAny:
    case Component::Kind::kGlobStar:
      return true;
  }
  return false;
}

bool PathMatcher::MatchPattern(const Pattern& p, absl::Span<const absl::string_view> parts) {
  const std::vector<Component>& comps = p.components;
  size_t pi = 0;
  size_t ni = 0;
  size_t star_p = kInvalid;  // component index after the last "**"
  size_t star_n = 0;
  while (ni < parts.size()) {
    if (pi < comps.size()) {
      if (comps[pi].kind == Component::Kind::kGlobStar) {
        star_p = ++pi;
        star_n = ni;
        continue;
      }
      if (MatchComponent(comps[pi], parts[ni])) {
        ++pi;
        ++ni;
        continue;
      }
    }
    if (star_p == kInvalid) return false;
    pi = star_p;
    ni = ++star_n;
  }
  while (pi < comps.size() && comps[pi].kind == Component::Kind::kGlobStar) {
    ++pi;
  }
  return pi == comps.size();
}

bool PathMatcher::Matches(absl::string_view rel_path, bool is_dir) const {
  if (rel_path.empty() || patterns_.empty()) return false;
  size_t last_slash = rel_path.rfind('/');
  absl::string_view base =
      last_slash == absl::string_view::npos ? rel_path : rel_path.substr(last_slash + 1);
  absl::InlinedVector<absl::string_view, 32> parts;
  if (any_anchored_) {
    absl::string_view s = rel_path;
    for (;;) {
      size_t slash = s.find('/');
      parts.push_back(s.substr(0, slash));
      if (slash == absl::string_view::npos) break;
      s.remove_prefix(slash + 1);
    }
  }
  for (const Pattern& p : patterns_) {
    if (p.dir_only && !is_dir) continue;
    if (p.anchored ? MatchPattern(p, absl::MakeConstSpan(parts))
                   : MatchComponent(p.components.front(), base)) {
      return true;
    }
  }
  return false;
}

bool MatchesSelfOrAncestor(const PathMatcher& m, absl::string_view p, bool is_dir) {
  if (p.empty()) return true;
  size_t pos = 0;
  while (true) {
    size_t slash = p.find('/', pos);
    if (slash == absl::string_view::npos) return m.Matches(p, is_dir);
    if (m.Matches(p.substr(0, slash), true)) return true;
    pos = slash + 1;
  }
}

}  // namespace arca::fs
