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

TEST(RunCommand, CapturesStdoutStderrAndStatus) {
  absl::StatusOr<CommandOutput> out =
      RunCommand({"t", "echo hello; echo oops >&2; exit 7", false});
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
  absl::StatusOr<CommandOutput> out =
      RunCommand({"big", "head -c 100000 /dev/zero", false}, 1000);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(out.status().message().find("big"), std::string::npos);
}

}  // namespace
}  // namespace arca
