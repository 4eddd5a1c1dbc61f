#include "services/uploader/commit_time.h"

#include "gtest/gtest.h"

namespace arca::services {
namespace {

TEST(ParseDurationFlag, SecondsOrUnits) {
  EXPECT_EQ(*ParseDurationFlag("max-clock-skew", "600"), absl::Seconds(600));
  EXPECT_EQ(*ParseDurationFlag("max-clock-skew", "600s"), absl::Seconds(600));
  EXPECT_EQ(*ParseDurationFlag("max-clock-skew", "10m"), absl::Minutes(10));
  EXPECT_EQ(*ParseDurationFlag("max-clock-skew", "1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDurationFlag("max-clock-skew", "0"), absl::ZeroDuration());
}

TEST(ParseDurationFlag, RefusesGarbageAndNegative) {
  for (const char* bad : {"", "ten", "10 m", "inf", "5x"}) {
    absl::StatusOr<absl::Duration> d = ParseDurationFlag("max-clock-skew", bad);
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(d.status().message(),
              std::string("invalid --max-clock-skew '") + bad +
                  "': expected seconds (600) or a duration with units (10m, 600s, 1h30m)");
  }
  absl::StatusOr<absl::Duration> neg = ParseDurationFlag("max-clock-skew", "-5m");
  ASSERT_FALSE(neg.ok());
  EXPECT_EQ(neg.status().message(),
            "invalid --max-clock-skew '-5m': the duration must not be negative");
}

TEST(CheckSnapshotTime, AcceptsThePastAndTheSkew) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  EXPECT_TRUE(CheckSnapshotTime(0, now, absl::Minutes(10)).ok());
  EXPECT_TRUE(CheckSnapshotTime(absl::ToUnixNanos(now), now, absl::Minutes(10)).ok());
  EXPECT_TRUE(
      CheckSnapshotTime(absl::ToUnixNanos(now + absl::Minutes(10)), now, absl::Minutes(10)).ok());
}

TEST(CheckSnapshotTime, RefusesBeyondTheSkewNamingBothClocksAndTheFlag) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);  // 2027-01-15T08:00:00Z
  absl::Status st = CheckSnapshotTime(absl::ToUnixNanos(now + absl::Minutes(10) + absl::Seconds(1)),
                                      now, absl::Minutes(10));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(),
            "commit: the snapshot's time 2027-01-15T08:10:01.000Z is 10m1s ahead of the "
            "uploader's clock (2027-01-15T08:00:00.000Z), more than --max-clock-skew=10m: fix "
            "the clock of the host that made the snapshot (or the uploader's), or raise "
            "--max-clock-skew; no snapshot was written");
  // A snapshot dated 2255 (issue 10's forged `latest`).
  const int64_t y2255 =
      absl::ToUnixNanos(absl::FromCivil(absl::CivilSecond(2255, 1, 1), absl::UTCTimeZone()));
  EXPECT_EQ(CheckSnapshotTime(y2255, now, absl::Minutes(10)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckSnapshotTime(absl::ToUnixNanos(now) + 1, now, absl::ZeroDuration()).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace arca::services
