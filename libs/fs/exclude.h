// Exclude (and restore --include) patterns: gitignore-like globs matched
// against paths relative to the source root. docs/excludes.md is the user
// documentation with examples.
//
// Pattern syntax:
//   *        any run of characters within one path component (never '/')
//   ?        exactly one byte that is not '/'
//   [abc] [a-z] [!a] [^a]   one byte from (or not from) a class; ']' first in
//            a class is literal; '\' escapes inside a class
//   \c       the character c literally (e.g. "\*", "\[", "\ ", "\!")
//   **       as a whole component: zero or more components. "**/x" matches x
//            at any depth, "a/**/b" matches a/b, a/x/b, a/x/y/b; a trailing
//            "a/**" matches everything inside a (not a itself). "**" next to
//            other characters ("a**") is a plain "*".
//   a pattern with no '/' except a trailing one matches the name at any depth
//   ("*.o" matches x.o and src/y/z.o); one with a leading '/' or a '/' in the
//   middle is anchored at the source root ("/build", "src/*.o").
//   a trailing '/' matches directories only ("cache/").
// Matching is case-sensitive and bytewise (names need not be UTF-8). Leading
// dots are not special. A leading '!' (gitignore negation) is not supported
// and is rejected; write "\!" for a name starting with '!'.
//
// A matched directory excludes everything below it: the walker does not
// descend into it. Matches() itself checks only the given path, not its
// ancestors (restore --include includes a path when it or an ancestor
// matches: MatchesSelfOrAncestor).
#ifndef ARCA_LIBS_FS_EXCLUDE_H_
#define ARCA_LIBS_FS_EXCLUDE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace arca::fs {

// A compiled set of patterns; a path matches when any pattern matches.
// Immutable after Create and thread-safe; cheap to move.
class PathMatcher {
 public:
  // An empty matcher (matches nothing).
  PathMatcher() = default;

  // Compiles `patterns`. InvalidArgument naming the pattern for an empty
  // pattern, an unclosed '[', a trailing '\', or a leading '!'.
  static absl::StatusOr<PathMatcher> Create(const std::vector<std::string>& patterns);

  // The patterns in file `path`, one per line: blank lines and lines
  // starting with '#' are ignored; trailing spaces, tabs and '\r' are
  // trimmed unless escaped with '\'. NotFound / PermissionDenied naming the
  // file when it cannot be read.
  static absl::StatusOr<std::vector<std::string>> ReadPatternFile(const std::string& path);

  // Whether `rel_path` ('/'-separated, relative to the source root, no
  // leading '/') matches a pattern; `is_dir`: the entry is a directory. The
  // root itself ("") never matches.
  bool Matches(absl::string_view rel_path, bool is_dir) const;

  // No patterns.
  bool empty() const { return patterns_.empty(); }

 private:
  // One path component of a pattern.
  struct Component {
    enum class Kind {
      kLiteral,   // exact bytes (escapes resolved) in `text`
      kGlob,      // wildcard glob (validated) in `text`
      kAny,       // any single component (from a trailing "/**")
      kGlobStar,  // "**": zero or more components
    };
    Kind kind = Kind::kLiteral;
    std::string text;
  };
  struct Pattern {
    std::string source;  // as given, for messages
    bool dir_only = false;
    // True: match `components` against the whole path; false: a single
    // component matched against the last component of the path.
    bool anchored = false;
    std::vector<Component> components;
  };

  static absl::StatusOr<Pattern> Compile(const std::string& source);
  static bool MatchComponent(const Component& c, absl::string_view name);
  static bool MatchPattern(const Pattern& p, absl::Span<const absl::string_view> parts);

  std::vector<Pattern> patterns_;
  bool any_anchored_ = false;
};

// Whether glob `pattern` (one component: *, ?, [...], \ escapes; no '/')
// matches `name`. The pattern must be valid (see PathMatcher::Create).
bool GlobMatch(absl::string_view pattern, absl::string_view name);

// Whether `rel_path` or one of its ancestor directories matches `m`
// (restore --include: a matched directory brings everything below it).
// The root "" always does.
bool MatchesSelfOrAncestor(const PathMatcher& m, absl::string_view rel_path, bool is_dir);

}  // namespace arca::fs

#endif  // ARCA_LIBS_FS_EXCLUDE_H_
