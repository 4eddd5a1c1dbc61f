#include "libs/fs/exclude.h"

#include <sys/stat.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/fs/test_files.h"

namespace arca::fs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

PathMatcher Make(std::vector<std::string> patterns) {
  absl::StatusOr<PathMatcher> m = PathMatcher::Create(patterns);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : PathMatcher();
}

bool File(const PathMatcher& m, const char* path) { return m.Matches(path, /*is_dir=*/false); }
bool Dir(const PathMatcher& m, const char* path) { return m.Matches(path, /*is_dir=*/true); }

TEST(GlobMatchTest, Wildcards) {
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_TRUE(GlobMatch("*.o", "x.o"));
  EXPECT_TRUE(GlobMatch("*.o", ".o"));
  EXPECT_FALSE(GlobMatch("*.o", "x.oo"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXbYc"));
  EXPECT_TRUE(GlobMatch("a*b*c", "abbbc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXbY"));
  EXPECT_TRUE(GlobMatch("**", "x"));
  EXPECT_TRUE(GlobMatch("?", "x"));
  EXPECT_FALSE(GlobMatch("?", ""));
  EXPECT_FALSE(GlobMatch("?", "xy"));
  EXPECT_TRUE(GlobMatch("file.???", "file.txt"));
  EXPECT_TRUE(GlobMatch("exact", "exact"));
  EXPECT_FALSE(GlobMatch("exact", "exacT"));
}

TEST(GlobMatchTest, Classes) {
  EXPECT_TRUE(GlobMatch("[abc]", "b"));
  EXPECT_FALSE(GlobMatch("[abc]", "d"));
  EXPECT_TRUE(GlobMatch("[a-z]x", "qx"));
  EXPECT_FALSE(GlobMatch("[a-z]x", "Qx"));
  EXPECT_TRUE(GlobMatch("[!a]", "b"));
  EXPECT_FALSE(GlobMatch("[!a]", "a"));
  EXPECT_TRUE(GlobMatch("[^a]", "b"));
  EXPECT_TRUE(GlobMatch("[]]", "]"));
  EXPECT_TRUE(GlobMatch("[!]]", "a"));
  EXPECT_FALSE(GlobMatch("[!]]", "]"));
  EXPECT_TRUE(GlobMatch("[a-]", "-"));
  EXPECT_TRUE(GlobMatch("[\\]]", "]"));
  EXPECT_TRUE(GlobMatch("v[0-9][0-9]", "v42"));
  EXPECT_TRUE(GlobMatch("[\xc0-\xff]*", "\xc3\xa9t\xc3\xa9"));  // bytewise
}

TEST(GlobMatchTest, Escapes) {
  EXPECT_TRUE(GlobMatch("\\*", "*"));
  EXPECT_FALSE(GlobMatch("\\*", "x"));
  EXPECT_TRUE(GlobMatch("a\\?", "a?"));
  EXPECT_FALSE(GlobMatch("a\\?", "ab"));
  EXPECT_TRUE(GlobMatch("\\[x]", "[x]"));
  EXPECT_TRUE(GlobMatch("back\\\\slash", "back\\slash"));
}

TEST(PathMatcherTest, EmptyMatchesNothing) {
  PathMatcher m = Make({});
  EXPECT_TRUE(m.empty());
  EXPECT_FALSE(File(m, "a"));
  PathMatcher def;
  EXPECT_TRUE(def.empty());
  EXPECT_FALSE(Dir(def, "a"));
}

TEST(PathMatcherTest, NameWithoutSlashMatchesAtAnyDepth) {
  PathMatcher m = Make({"*.o", "core"});
  EXPECT_FALSE(m.empty());
  EXPECT_TRUE(File(m, "x.o"));
  EXPECT_TRUE(File(m, "src/x.o"));
  EXPECT_TRUE(File(m, "a/b/c/d/y.o"));
  EXPECT_TRUE(Dir(m, "weird.o"));  // not directory-only
  EXPECT_FALSE(File(m, "x.oc"));
  EXPECT_FALSE(File(m, "x.o/inside"));  // only the last component
  EXPECT_TRUE(File(m, "core"));
  EXPECT_TRUE(Dir(m, "a/core"));
  EXPECT_FALSE(File(m, "core2"));
  EXPECT_FALSE(File(m, "a/score"));
}

TEST(PathMatcherTest, StarDoesNotCrossSlash) {
  PathMatcher m = Make({"src/*.c"});
  EXPECT_TRUE(File(m, "src/a.c"));
  EXPECT_FALSE(File(m, "src/sub/a.c"));
  EXPECT_FALSE(File(m, "x/src/a.c"));  // anchored: '/' in the middle
  PathMatcher q = Make({"a?b"});
  EXPECT_TRUE(File(q, "axb"));
  EXPECT_FALSE(File(q, "a/b"));
}

TEST(PathMatcherTest, LeadingSlashAnchors) {
  PathMatcher m = Make({"/build"});
  EXPECT_TRUE(Dir(m, "build"));
  EXPECT_TRUE(File(m, "build"));
  EXPECT_FALSE(Dir(m, "src/build"));
  EXPECT_FALSE(Dir(m, "build2"));
  PathMatcher deep = Make({"/a/b/c"});
  EXPECT_TRUE(File(deep, "a/b/c"));
  EXPECT_FALSE(File(deep, "a/b"));
  EXPECT_FALSE(File(deep, "a/b/c/d"));
  EXPECT_FALSE(File(deep, "x/a/b/c"));
}

TEST(PathMatcherTest, TrailingSlashMatchesDirectoriesOnly) {
  PathMatcher m = Make({"cache/", "/tmp/"});
  EXPECT_TRUE(Dir(m, "cache"));
  EXPECT_TRUE(Dir(m, "home/u/cache"));
  EXPECT_FALSE(File(m, "cache"));
  EXPECT_FALSE(File(m, "home/u/cache"));
  EXPECT_TRUE(Dir(m, "tmp"));
  EXPECT_FALSE(File(m, "tmp"));
  EXPECT_FALSE(Dir(m, "var/tmp"));
}

TEST(PathMatcherTest, DoubleStar) {
  PathMatcher lead = Make({"**/node_modules"});
  EXPECT_TRUE(Dir(lead, "node_modules"));
  EXPECT_TRUE(Dir(lead, "a/node_modules"));
  EXPECT_TRUE(Dir(lead, "a/b/c/node_modules"));
  EXPECT_FALSE(Dir(lead, "a/node_modules/x"));

  PathMatcher mid = Make({"a/**/b"});
  EXPECT_TRUE(File(mid, "a/b"));
  EXPECT_TRUE(File(mid, "a/x/b"));
  EXPECT_TRUE(File(mid, "a/x/y/z/b"));
  EXPECT_FALSE(File(mid, "a/x/y/z/c"));
  EXPECT_FALSE(File(mid, "x/a/b"));
  EXPECT_FALSE(File(mid, "a/b/c"));

  PathMatcher trail = Make({"a/**"});
  EXPECT_FALSE(Dir(trail, "a"));  // the directory itself stays (empty)
  EXPECT_TRUE(File(trail, "a/x"));
  EXPECT_TRUE(Dir(trail, "a/x/y"));
  EXPECT_FALSE(File(trail, "b/x"));

  PathMatcher all = Make({"**"});
  EXPECT_TRUE(File(all, "x"));
  EXPECT_TRUE(File(all, "x/y/z"));

  PathMatcher two = Make({"**/build/**/*.o"});
  EXPECT_TRUE(File(two, "build/x.o"));
  EXPECT_TRUE(File(two, "p/build/q/r/x.o"));
  EXPECT_FALSE(File(two, "p/build/q/r/x.c"));
  EXPECT_FALSE(File(two, "p/builds/x.o"));

  PathMatcher glob_dirs = Make({"src/**/test_*.cc", "/*/x"});
  EXPECT_TRUE(File(glob_dirs, "src/test_a.cc"));
  EXPECT_TRUE(File(glob_dirs, "src/a/b/test_a.cc"));
  EXPECT_TRUE(File(glob_dirs, "q/x"));
  EXPECT_FALSE(File(glob_dirs, "q/r/x"));

  // "**" inside a component is a plain '*'.
  PathMatcher inner = Make({"a**z"});
  EXPECT_TRUE(File(inner, "d/abcz"));
  EXPECT_FALSE(File(inner, "a/z"));
}

TEST(PathMatcherTest, RootNeverMatches) {
  PathMatcher m = Make({"**", "*"});
  EXPECT_FALSE(Dir(m, ""));
}

TEST(PathMatcherTest, AwkwardNames) {
  PathMatcher m = Make({"with space", "new\nline", "back\\\\slash", "\\#hash", "\\!bang",
                        "\xc3\xa9t\xc3\xa9", "\\*star"});
  EXPECT_TRUE(File(m, "d/with space"));
  EXPECT_TRUE(File(m, "new\nline"));
  EXPECT_TRUE(File(m, "back\\slash"));
  EXPECT_TRUE(File(m, "#hash"));
  EXPECT_TRUE(File(m, "!bang"));
  EXPECT_TRUE(File(m, "x/\xc3\xa9t\xc3\xa9"));
  EXPECT_TRUE(File(m, "*star"));
  EXPECT_FALSE(File(m, "xstar"));
}

TEST(PathMatcherTest, RedundantSlashesAndDots) {
  PathMatcher m = Make({"./a//b/", "/./top"});
  EXPECT_TRUE(Dir(m, "a/b"));
  EXPECT_FALSE(File(m, "a/b"));
  EXPECT_TRUE(File(m, "top"));
  EXPECT_FALSE(File(m, "x/top"));
}

TEST(PathMatcherTest, AnyPatternMatches) {
  PathMatcher m = Make({"*.log", "/secret", "tmp/"});
  EXPECT_TRUE(File(m, "a/b.log"));
  EXPECT_TRUE(File(m, "secret"));
  EXPECT_TRUE(Dir(m, "x/tmp"));
  EXPECT_FALSE(File(m, "x/secret"));
  EXPECT_FALSE(File(m, "x/tmp"));
}

// The examples table of docs/excludes.md, checked.
TEST(PathMatcherTest, DocumentationExamples) {
  const std::vector<std::pair<std::string, bool>> tree = {{"build", true},
                                                          {"build/out.bin", false},
                                                          {"cache", true},
                                                          {"docs", true},
                                                          {"docs/a", true},
                                                          {"docs/a/page.html", false},
                                                          {"docs/top.html", false},
                                                          {"node_modules", true},
                                                          {"node_modules/m.js", false},
                                                          {"src", true},
                                                          {"src/build", true},
                                                          {"src/build/gen.c", false},
                                                          {"src/cache", false},
                                                          {"src/main.c", false},
                                                          {"src/main.o", false},
                                                          {"x.o", false}};
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"*.o", {"src/main.o", "x.o"}},
      {"/build", {"build"}},
      {"build", {"build", "src/build"}},
      {"cache/", {"cache"}},
      {"cache", {"cache", "src/cache"}},
      {"src/*.c", {"src/main.c"}},
      {"src/**/*.c", {"src/build/gen.c", "src/main.c"}},
      {"**/node_modules", {"node_modules"}},
      {"docs/**/*.html", {"docs/a/page.html", "docs/top.html"}},
      {"docs/**", {"docs/a", "docs/a/page.html", "docs/top.html"}},
      {"[a-c]*", {"build", "cache", "docs/a", "src/build", "src/cache"}},
      {"\\*", {}},
  };
  for (const auto& [pattern, want] : cases) {
    PathMatcher m = Make({pattern});
    std::vector<std::string> got;
    for (const auto& [path, is_dir] : tree) {
      if (m.Matches(path, is_dir)) got.push_back(path);
    }
    EXPECT_EQ(got, want) << pattern;
  }
}

TEST(PathMatcherTest, InvalidPatternsNameThePattern) {
  struct Case {
    std::string pattern;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"foo[ab", "'[' at offset 3 is not closed"},
           {"src/[", "not closed"},
           {"[!", "not closed"},
           {"trailing\\", "lone '\\'"},
           {"", "empty"},
           {"/", "names no file"},
           {"!negated", "negation"},
       }) {
    absl::StatusOr<PathMatcher> m = PathMatcher::Create({"ok", c.pattern});
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << c.pattern;
    EXPECT_THAT(m.status().message(), HasSubstr("invalid pattern '" + c.pattern + "'"));
    EXPECT_THAT(m.status().message(), HasSubstr(c.why));
  }
}

TEST(PathMatcherTest, ReadPatternFile) {
  const std::string dir = test::MakeScratchDir("patterns");
  const std::string path = dir + "/excludes";
  test::WriteFile(path,
                  "# comment\n"
                  "*.tmp\n"
                  "\n"
                  "   \n"
                  "/build/   \n"
                  "cache/\r\n"
                  "keep\\ \n"
                  "\\#literal\n"
                  "  indented\n"
                  "last-without-newline");
  absl::StatusOr<std::vector<std::string>> patterns = PathMatcher::ReadPatternFile(path);
  ASSERT_TRUE(patterns.ok()) << patterns.status();
  EXPECT_THAT(*patterns, ElementsAre("*.tmp", "/build/", "cache/", "keep\\ ", "\\#literal",
                                     "  indented", "last-without-newline"));
  absl::StatusOr<PathMatcher> m = PathMatcher::Create(*patterns);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->Matches("a/x.tmp", false));
  EXPECT_TRUE(m->Matches("build", true));
  EXPECT_FALSE(m->Matches("src/build", true));
  EXPECT_TRUE(m->Matches("keep ", false));
  EXPECT_TRUE(m->Matches("#literal", false));
  EXPECT_TRUE(m->Matches("  indented", false));
}

TEST(PathMatcherTest, ReadPatternFileErrors) {
  const std::string dir = test::MakeScratchDir("patterns");
  absl::StatusOr<std::vector<std::string>> missing = PathMatcher::ReadPatternFile(dir + "/missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("cannot read pattern file " + dir + "/missing"));
  absl::StatusOr<std::vector<std::string>> is_dir = PathMatcher::ReadPatternFile(dir);
  EXPECT_EQ(is_dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(is_dir.status().message(), HasSubstr(dir));
}

}  // namespace
}  // namespace arca::fs
