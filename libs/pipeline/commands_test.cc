#include "libs/pipeline/commands.h"

#include "gtest/gtest.h"

namespace arca {
namespace {

TEST(ParseCommandSpec, SplitsNameAndCommand) {
  absl::StatusOr<CommandSpec> s = ParseCommandSpec("uname=uname -a", true);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->name, "uname");
  EXPECT_EQ(s->command_line, "uname -a");
  EXPECT_TRUE(s->critical);
}

TEST(ParseCommandSpec, RejectsBadSpecs) {
  for (const char* bad : {"noequals", "=cmd", "name=", "a/b=ls", "..=ls"}) {
    absl::StatusOr<CommandSpec> s = ParseCommandSpec(bad, false);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.status().message().find("--command"), std::string::npos) << bad;
  }
}

TEST(ParseCommandsFile, ReadsNamesAndCommandLinesSkippingCommentsAndBlanks) {
  absl::StatusOr<CommandCatalog> c = ParseCommandsFile(
      "# the node's commands\n"
      "\n"
      "packages=dpkg -l | sort\n"
      "  uname = uname -a  \n"
      "   # indented comment\n"
      "eq=echo a=b",
      "/etc/arca/commands");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, (CommandCatalog{
                    {"packages", "dpkg -l | sort"}, {"uname", "uname -a"}, {"eq", "echo a=b"}}));
  EXPECT_TRUE(ParseCommandsFile("", "f")->empty());
}

TEST(ParseCommandsFile, RejectsMalformedLinesNamingTheLine) {
  struct Case {
    const char* content;
    const char* message;
  } cases[] = {
      {"a=ls\nno equals here\n", "f:2: expected NAME=COMMAND LINE, got 'no equals here'"},
      {"=ls\n", "f:1: invalid command name '': use letters"},
      {"# c\nbad/name=ls\n", "f:2: invalid command name 'bad/name'"},
      {"empty=\n", "f:1: command 'empty' has an empty command line"},
      {"a=ls\n\na=id\n", "f:3: command 'a' is defined twice"},
  };
  for (const Case& k : cases) {
    absl::StatusOr<CommandCatalog> c = ParseCommandsFile(k.content, "f");
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << k.content;
    EXPECT_NE(c.status().message().find(k.message), std::string::npos) << c.status();
  }
}

TEST(ResolveCommands, TakesCommandLinesFromTheCatalogAndCriticalFromTheRequest) {
  const CommandCatalog catalog = {{"uname", "uname -a"}, {"pkgs", "dpkg -l"}};
  absl::StatusOr<std::vector<CommandSpec>> r =
      ResolveCommands({{"pkgs", "", true}, {"uname", "", false}}, catalog);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "pkgs");
  EXPECT_EQ((*r)[0].command_line, "dpkg -l");
  EXPECT_TRUE((*r)[0].critical);
  EXPECT_EQ((*r)[1].command_line, "uname -a");
  EXPECT_FALSE((*r)[1].critical);
}

TEST(ResolveCommands, RefusesCommandLinesUnknownNamesAndRepeats) {
  const CommandCatalog catalog = {{"uname", "uname -a"}};
  absl::StatusOr<std::vector<CommandSpec>> line =
      ResolveCommands({{"uname", "id", false}}, catalog);
  EXPECT_EQ(line.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(line.status().message().find(
                "the collector runs only commands from its --commands-file; send the name"),
            std::string::npos)
      << line.status();
  absl::StatusOr<std::vector<CommandSpec>> unknown =
      ResolveCommands({{"uname", "", false}, {"rootkit", "", false}}, catalog);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(unknown.status().message().find(
                "unknown command 'rootkit': the collector's --commands-file defines uname"),
            std::string::npos)
      << unknown.status();
  absl::StatusOr<std::vector<CommandSpec>> none = ResolveCommands({{"x", "", false}}, {});
  EXPECT_NE(none.status().message().find("defines no commands"), std::string::npos)
      << none.status();
  EXPECT_EQ(ResolveCommands({{"uname", "", false}, {"uname", "", true}}, catalog).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveCommands({{"a/b", "", false}}, catalog).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RunCommand, CapturesStdoutStderrAndStatus) {
  absl::StatusOr<CommandOutput> out = RunCommand({"t", "echo hello; echo oops >&2; exit 7", false});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->stdout_data, "hello\n");
  EXPECT_EQ(out->stderr_tail, "oops\n");
  EXPECT_EQ(out->exit_status, 7);
}

TEST(RunCommand, SignalGives128PlusSignal) {
  absl::StatusOr<CommandOutput> out = RunCommand({"t", "kill -9 $$", false});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->exit_status, 128 + 9);
}

TEST(RunCommand, OutputLimitIsAnError) {
  absl::StatusOr<CommandOutput> out = RunCommand({"big", "head -c 100000 /dev/zero", false}, 1000);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(out.status().message().find("big"), std::string::npos);
}

}  // namespace
}  // namespace arca
