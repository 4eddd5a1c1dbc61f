#include "libs/store/retention.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace arca {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// UTC "YYYY-MM-DDTHH:MM:SS[.f]" → Unix ns (through absl, independent of the
// calendar code under test).
int64_t T(const std::string& utc) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, utc + "Z", &t, &err)) << utc << ": " << err;
  return absl::ToUnixNanos(t);
}

std::string Name(int64_t ns) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

constexpr int64_t kHour = int64_t{3600} * 1000000000;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kFarFuture = int64_t{4102444800} * 1000000000;  // 2100-01-01

std::vector<RetentionSnapshot> Snaps(const std::vector<std::string>& times,
                                     const std::string& group = "g") {
  std::vector<RetentionSnapshot> out;
  for (const std::string& t : times) out.push_back({group + "/" + t, group, T(t)});
  return out;
}

// The one group's decisions.
std::vector<RetentionDecision> Decide(std::vector<RetentionSnapshot> snaps,
                                      const RetentionPolicy& p, int64_t now = kFarFuture) {
  absl::StatusOr<std::vector<RetentionGroup>> r = ApplyRetention(std::move(snaps), p, now);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok() || r->empty()) return {};
  EXPECT_EQ(r->size(), 1u);
  return (*r)[0].decisions;
}

// Times (as T() input, seconds precision) of the kept snapshots, oldest first.
std::vector<std::string> Kept(const std::vector<RetentionDecision>& ds) {
  std::vector<std::string> out;
  for (const RetentionDecision& d : ds) {
    if (d.keep) out.push_back(Name(d.snapshot.time_unix_ns));
  }
  return out;
}

std::string Reasons(const RetentionDecision& d, const RetentionPolicy& p) {
  std::string out;
  for (const KeepReason& r : d.reasons)
    absl::StrAppend(&out, out.empty() ? "" : ", ", KeepReasonText(r, p));
  return out;
}

// --- Durations -------------------------------------------------------------

TEST(RetentionDurationTest, ParsesEveryUnit) {
  EXPECT_EQ(*ParseRetentionDuration("30d"), (RetentionDuration{0, 0, 0, 30, 0}));
  EXPECT_EQ(*ParseRetentionDuration("12h"), (RetentionDuration{0, 0, 0, 0, 12}));
  EXPECT_EQ(*ParseRetentionDuration("2w"), (RetentionDuration{0, 0, 2, 0, 0}));
  EXPECT_EQ(*ParseRetentionDuration("1y2m"), (RetentionDuration{1, 2, 0, 0, 0}));
  EXPECT_EQ(*ParseRetentionDuration("1y5m3w7d2h"), (RetentionDuration{1, 5, 3, 7, 2}));
  EXPECT_EQ(*ParseRetentionDuration("0d"), RetentionDuration{});
  EXPECT_EQ(*ParseRetentionDuration("1000000h"), (RetentionDuration{0, 0, 0, 0, 1000000}));
}

TEST(RetentionDurationTest, ToStringIsCanonical) {
  EXPECT_EQ(ParseRetentionDuration("1y5m7d2h")->ToString(), "1y5m7d2h");
  EXPECT_EQ(ParseRetentionDuration("007d")->ToString(), "7d");
  EXPECT_EQ(ParseRetentionDuration("0y2w")->ToString(), "2w");
  EXPECT_EQ(RetentionDuration{}.ToString(), "0h");
}

TEST(RetentionDurationTest, RejectsMalformedText) {
  for (const char* bad : {"", "5", "d", "1x", "1d1d", "1d2y", "1 d", "-1d", "+1d", "1.5d", "1D",
                          "1000001d", "99999999999999999999d", "1d ", "1dh"}) {
    absl::StatusOr<RetentionDuration> d = ParseRetentionDuration(bad);
    ASSERT_FALSE(d.ok()) << "'" << bad << "' parsed";
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(d.status().message(), HasSubstr(absl::StrCat("invalid duration '", bad, "'")));
    EXPECT_THAT(d.status().message(), HasSubstr("e.g. 30d"));
  }
  EXPECT_THAT(ParseRetentionDuration("1d1d").status().message(),
              HasSubstr("unit 'd' repeated or out of order"));
  EXPECT_THAT(ParseRetentionDuration("1q").status().message(), HasSubstr("unknown unit 'q'"));
  EXPECT_THAT(ParseRetentionDuration("12").status().message(),
              HasSubstr("the last number has no unit"));
}

// --- Policy validation -----------------------------------------------------

TEST(RetentionPolicyTest, EmptyPolicyIsRefused) {
  for (RetentionPolicy p : {RetentionPolicy{}, RetentionPolicy{.keep_within = {0, 0, 0, 0, 0}}}) {
    absl::Status st = ValidateRetentionPolicy(p);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(st.message(), HasSubstr("retention policy is empty"));
    EXPECT_THAT(st.message(), HasSubstr("remove every snapshot"));
    // ApplyRetention decides nothing with it, even for no snapshots.
    EXPECT_EQ(ApplyRetention(Snaps({"2020-01-01T00:00:00"}), p, kFarFuture).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ApplyRetention({}, p, kFarFuture).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(RetentionPolicyTest, CountsBelowUnlimitedAreRefused) {
  absl::Status st = ValidateRetentionPolicy({.keep_last = 1, .keep_weekly = -2});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("keep_weekly is -2"));
  EXPECT_TRUE(ValidateRetentionPolicy({.keep_daily = kRetentionUnlimited}).ok());
  EXPECT_TRUE(ValidateRetentionPolicy({.keep_within = {0, 0, 0, 0, 1}}).ok());
  EXPECT_TRUE(ValidateRetentionPolicy({.keep_yearly = 1}).ok());
}

TEST(RetentionPolicyTest, Describe) {
  EXPECT_EQ(DescribeRetentionPolicy({.keep_last = 2, .keep_daily = -1, .keep_weekly = 4}),
            "keep 2 last, all daily, 4 weekly snapshots");
  EXPECT_EQ(DescribeRetentionPolicy({.keep_last = 1, .keep_within = {0, 0, 0, 30, 0}}),
            "keep 1 last snapshots and all within 30d of the newest");
  EXPECT_EQ(DescribeRetentionPolicy({.keep_within = {1, 2, 0, 0, 0}}),
            "keep all within 1y2m of the newest");
}

// --- restic's documented examples -----------------------------------------

// restic docs, "Removing snapshots according to a policy": one backup every
// Sunday for 12 weeks; `forget --keep-daily 4` keeps the last four Sundays.
TEST(RetentionResticExamples, TwelveSundaysKeepDaily4) {
  const std::vector<std::string> sundays = {
      "2019-09-01T11:00:00", "2019-09-08T11:00:00", "2019-09-15T11:00:00", "2019-09-22T11:00:00",
      "2019-09-29T11:00:00", "2019-10-06T11:00:00", "2019-10-13T11:00:00", "2019-10-20T11:00:00",
      "2019-10-27T11:00:00", "2019-11-03T11:00:00", "2019-11-10T11:00:00", "2019-11-17T11:00:00"};
  RetentionPolicy p{.keep_daily = 4};
  std::vector<RetentionDecision> ds = Decide(Snaps(sundays), p);
  ASSERT_EQ(ds.size(), 12u);
  EXPECT_THAT(Kept(ds), ElementsAre("2019-10-27T11:00:00", "2019-11-03T11:00:00",
                                    "2019-11-10T11:00:00", "2019-11-17T11:00:00"));
  for (const RetentionDecision& d : ds) {
    if (d.keep) EXPECT_EQ(Reasons(d, p), "daily snapshot");
    if (!d.keep) EXPECT_TRUE(d.reasons.empty());
  }
}

// restic docs: "suppose you make one backup every day for 100 years. Then
// forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly 75
// would keep the most recent 7 daily snapshots and 4 last-day-of-the-week
// ones (since the 7 dailies already include 1 weekly). Additionally, 12 or 11
// last-day-of-the-month snapshots ... And finally 75 or 74 last-day-of-the-
// year snapshots". 36,525 snapshots, ending on Sunday 2019-11-17 (times
// before 1970 are negative: the buckets floor correctly).
TEST(RetentionResticExamples, HundredYearsOfDailies) {
  std::vector<RetentionSnapshot> snaps;
  const int64_t last = T("2019-11-17T11:00:00");
  for (int i = 0; i < 36525; ++i) {
    const int64_t t = last - int64_t{i} * kDay;
    snaps.push_back({absl::StrCat("g/", i), "g", t});
  }
  std::shuffle(snaps.begin(), snaps.end(), std::mt19937_64(5));
  RetentionPolicy p{.keep_daily = 7, .keep_weekly = 5, .keep_monthly = 12, .keep_yearly = 75};
  std::vector<RetentionDecision> ds = Decide(snaps, p);
  ASSERT_EQ(ds.size(), 36525u);
  std::map<RetentionRule, int> per_rule;
  std::set<std::string> kept;
  for (const RetentionDecision& d : ds) {
    for (const KeepReason& r : d.reasons) {
      ++per_rule[r.rule];
      EXPECT_FALSE(r.oldest);  // every rule runs out before the oldest
    }
    if (d.keep) kept.insert(Name(d.snapshot.time_unix_ns).substr(0, 10));
  }
  EXPECT_EQ(per_rule[RetentionRule::kDaily], 7);
  EXPECT_EQ(per_rule[RetentionRule::kWeekly], 5);
  EXPECT_EQ(per_rule[RetentionRule::kMonthly], 12);
  EXPECT_EQ(per_rule[RetentionRule::kYearly], 75);
  // 7 dailies (11-11..11-17), 4 more Sundays (the 5th weekly is 11-17),
  // 11 more month ends (November's is 11-17), 73 more year ends (2019's is
  // 11-17, 2018-12-31 is also December 2018's month end).
  EXPECT_EQ(kept.size(), 7u + 4u + 11u + 73u);
  // Dailies 11-11..11-17 (11-16 a Saturday among them), Sundays back to
  // 10-20, month ends back to December 2018, year ends back to 1945.
  for (const char* day : {"2019-11-11", "2019-11-16", "2019-11-17", "2019-11-10", "2019-10-20",
                          "2019-10-31", "2019-01-31", "2018-12-31", "1945-12-31"}) {
    EXPECT_TRUE(kept.count(day)) << day;
  }
  for (const char* day : {"2019-11-09", "2019-10-13", "2018-11-30", "1944-12-31"}) {
    EXPECT_FALSE(kept.count(day)) << day;
  }
}

// --- Rules one by one ------------------------------------------------------

TEST(RetentionTest, KeepLastKeepsTheNewest) {
  RetentionPolicy p{.keep_last = 2};
  std::vector<RetentionDecision> ds = Decide(Snaps({"2020-01-01T00:00:00", "2020-01-02T00:00:00",
                                                    "2020-01-03T00:00:00", "2020-01-04T00:00:00"}),
                                             p);
  EXPECT_THAT(Kept(ds), ElementsAre("2020-01-03T00:00:00", "2020-01-04T00:00:00"));
  EXPECT_EQ(Reasons(ds[3], p), "last snapshot");
  EXPECT_EQ(Reasons(ds[2], p), "last snapshot");
}

TEST(RetentionTest, KeepLastMoreThanThereAreKeepsAllWithoutOldestMark) {
  RetentionPolicy p{.keep_last = 10};
  std::vector<RetentionDecision> ds =
      Decide(Snaps({"2020-01-01T00:00:00", "2020-01-01T00:00:01"}), p);
  EXPECT_EQ(Kept(ds).size(), 2u);
  EXPECT_EQ(Reasons(ds[0], p), "last snapshot");  // never "oldest last snapshot"
}

TEST(RetentionTest, HourlyBucketsAreUtcHours) {
  RetentionPolicy p{.keep_hourly = 2};
  std::vector<RetentionDecision> ds =
      Decide(Snaps({"2020-01-01T09:00:00", "2020-01-01T10:00:00", "2020-01-01T10:59:59",
                    "2020-01-01T11:00:00", "2020-01-01T11:30:00"}),
             p);
  EXPECT_THAT(Kept(ds), ElementsAre("2020-01-01T10:59:59", "2020-01-01T11:30:00"));
}

TEST(RetentionTest, DailyKeepsTheNewestOfEachDayAndSkipsEmptyDays) {
  RetentionPolicy p{.keep_daily = 3};
  std::vector<RetentionDecision> ds =
      Decide(Snaps({"2020-01-01T08:00:00", "2020-01-01T23:59:59", "2020-01-05T00:00:00",
                    "2020-01-05T12:00:00", "2020-01-09T01:00:00", "2020-01-10T00:00:00"}),
             p);
  // Days without a snapshot (01-02..01-04, 01-06..01-08) do not count.
  EXPECT_THAT(Kept(ds),
              ElementsAre("2020-01-05T12:00:00", "2020-01-09T01:00:00", "2020-01-10T00:00:00"));
}

TEST(RetentionTest, DayBoundaryIsUtcMidnight) {
  RetentionPolicy p{.keep_daily = 1};
  // One ns before midnight is the previous day.
  std::vector<RetentionSnapshot> s = {{"g/a", "g", T("2020-01-02T00:00:00") - 1},
                                      {"g/b", "g", T("2020-01-02T00:00:00")}};
  std::vector<RetentionDecision> ds = Decide(s, p);
  EXPECT_FALSE(ds[0].keep);
  EXPECT_TRUE(ds[1].keep);
}

TEST(RetentionTest, WeeksAreIsoWeeksMondayToSunday) {
  RetentionPolicy p{.keep_weekly = 10};
  // 2020-12-28 (Mon) .. 2021-01-03 (Sun) is ISO week 53 of 2020;
  // 2021-01-04 (Mon) starts week 1 of 2021. 2024-12-30 (Mon) .. 2025-01-05
  // (Sun) is week 1 of 2025 across the year change.
  std::vector<RetentionDecision> ds =
      Decide(Snaps({"2020-12-27T23:00:00", "2020-12-28T00:00:00", "2020-12-31T12:00:00",
                    "2021-01-03T23:59:59", "2021-01-04T00:00:00", "2024-12-29T10:00:00",
                    "2024-12-30T10:00:00", "2025-01-01T10:00:00", "2025-01-05T10:00:00"}),
             p);
  EXPECT_THAT(Kept(ds),
              ElementsAre("2020-12-27T23:00:00", "2021-01-03T23:59:59", "2021-01-04T00:00:00",
                          "2024-12-29T10:00:00", "2025-01-05T10:00:00"));
}

TEST(RetentionTest, MonthlyAndYearly) {
  RetentionPolicy p{.keep_monthly = 2, .keep_yearly = 2};
  std::vector<RetentionDecision> ds =
      Decide(Snaps({"2018-06-01T00:00:00", "2018-12-31T23:00:00", "2019-01-31T00:00:00",
                    "2019-02-01T00:00:00", "2019-02-28T00:00:00", "2019-03-01T00:00:00"}),
             p);
  EXPECT_THAT(Kept(ds),
              ElementsAre("2018-12-31T23:00:00", "2019-02-28T00:00:00", "2019-03-01T00:00:00"));
  EXPECT_EQ(Reasons(ds[5], p), "monthly snapshot, yearly snapshot");
  EXPECT_EQ(Reasons(ds[4], p), "monthly snapshot");
  EXPECT_EQ(Reasons(ds[1], p), "yearly snapshot");
}

TEST(RetentionTest, OldestIsKeptWhenARuleHasCountsLeft) {
  RetentionPolicy p{.keep_daily = 5};
  // Two days with snapshots, fewer than 5: the group's oldest is kept too.
  std::vector<RetentionDecision> ds = Decide(Snaps({"2020-01-01T01:00:00", "2020-01-01T02:00:00",
                                                    "2020-01-01T03:00:00", "2020-01-02T01:00:00"}),
                                             p);
  EXPECT_THAT(Kept(ds),
              ElementsAre("2020-01-01T01:00:00", "2020-01-01T03:00:00", "2020-01-02T01:00:00"));
  EXPECT_EQ(Reasons(ds[0], p), "oldest daily snapshot");
  EXPECT_EQ(ds[0].reasons, (std::vector<KeepReason>{{RetentionRule::kDaily, true}}));
  EXPECT_EQ(Reasons(ds[2], p), "daily snapshot");
}

TEST(RetentionTest, OldestIsNotKeptWhenTheRuleIsExhausted) {
  RetentionPolicy p{.keep_daily = 2};
  std::vector<RetentionDecision> ds =
      Decide(Snaps({"2020-01-01T01:00:00", "2020-01-01T03:00:00", "2020-01-02T01:00:00"}), p);
  EXPECT_THAT(Kept(ds), ElementsAre("2020-01-01T03:00:00", "2020-01-02T01:00:00"));
}

TEST(RetentionTest, OldestStartingItsOwnBucketIsAPlainKeep) {
  RetentionPolicy p{.keep_daily = 5};
  std::vector<RetentionDecision> ds =
      Decide(Snaps({"2020-01-01T01:00:00", "2020-01-02T01:00:00"}), p);
  EXPECT_EQ(Reasons(ds[0], p), "daily snapshot");
}

TEST(RetentionTest, UnlimitedKeepsEveryBucketAndTheOldest) {
  RetentionPolicy p{.keep_daily = kRetentionUnlimited};
  std::vector<RetentionDecision> ds =
      Decide(Snaps({"2000-01-01T01:00:00", "2000-01-01T02:00:00", "2010-05-01T01:00:00",
                    "2010-05-01T02:00:00", "2020-01-02T01:00:00"}),
             p);
  EXPECT_THAT(Kept(ds), ElementsAre("2000-01-01T01:00:00", "2000-01-01T02:00:00",
                                    "2010-05-01T02:00:00", "2020-01-02T01:00:00"));
  EXPECT_EQ(Reasons(ds[0], p), "oldest daily snapshot");
}

TEST(RetentionTest, RulesAreOredAndEveryMatchingRuleIsListed) {
  RetentionPolicy p{.keep_last = 1,
                    .keep_hourly = 1,
                    .keep_daily = 2,
                    .keep_weekly = 1,
                    .keep_monthly = 1,
                    .keep_yearly = 1,
                    .keep_within = {0, 0, 0, 0, 1}};
  std::vector<RetentionDecision> ds =
      Decide(Snaps({"2020-01-01T01:00:00", "2020-01-03T01:00:00", "2020-01-03T01:30:00"}), p);
  EXPECT_EQ(Reasons(ds[2], p),
            "within 1h, last snapshot, hourly snapshot, daily snapshot, weekly snapshot, "
            "monthly snapshot, yearly snapshot");
  EXPECT_EQ(Reasons(ds[1], p), "within 1h");
  EXPECT_EQ(Reasons(ds[0], p), "daily snapshot");
}

// --- keep-within -----------------------------------------------------------

TEST(RetentionWithinTest, RelativeToTheNewestSnapshotNotNow) {
  RetentionPolicy p{.keep_within = *ParseRetentionDuration("2d")};
  // "now" is years later: still the newest snapshot is the reference.
  std::vector<RetentionDecision> ds =
      Decide(Snaps({"2020-01-01T00:00:00", "2020-01-08T00:00:00", "2020-01-08T00:00:01",
                    "2020-01-09T12:00:00", "2020-01-10T00:00:00"}),
             p, T("2030-01-01T00:00:00"));
  // Threshold 2020-01-08T00:00:00 exactly: strictly after is within.
  EXPECT_THAT(Kept(ds),
              ElementsAre("2020-01-08T00:00:01", "2020-01-09T12:00:00", "2020-01-10T00:00:00"));
  EXPECT_EQ(Reasons(ds[4], p), "within 2d");
}

TEST(RetentionWithinTest, SnapshotsInTheFutureAreNotTheReferenceAndAreKept) {
  RetentionPolicy p{.keep_within = *ParseRetentionDuration("1d")};
  const int64_t now = T("2020-01-10T00:00:00");
  std::vector<RetentionDecision> ds = Decide(Snaps({"2020-01-08T00:00:00", "2020-01-09T06:00:00",
                                                    "2020-01-09T12:00:00", "2020-03-01T00:00:00"}),
                                             p, now);
  // Reference 2020-01-09T12:00 (the newest not after now), threshold 01-08T12.
  EXPECT_THAT(Kept(ds),
              ElementsAre("2020-01-09T06:00:00", "2020-01-09T12:00:00", "2020-03-01T00:00:00"));
}

TEST(RetentionWithinTest, AllInTheFutureKeepsAll) {
  RetentionPolicy p{.keep_within = *ParseRetentionDuration("1h")};
  std::vector<RetentionDecision> ds =
      Decide(Snaps({"2020-01-01T00:00:00", "2021-01-01T00:00:00"}), p, T("2019-01-01T00:00:00"));
  EXPECT_EQ(Kept(ds).size(), 2u);
}

TEST(RetentionWithinTest, CalendarArithmetic) {
  struct Case {
    const char* reference;
    const char* duration;
    const char* threshold;  // kept iff strictly after
  };
  for (const Case& c : std::vector<Case>{
           {"2020-03-31T10:00:00", "1m", "2020-03-02T10:00:00"},  // "Feb 31" 2020 = Mar 2
           {"2021-03-31T10:00:00", "1m", "2021-03-03T10:00:00"},  // "Feb 31" 2021 = Mar 3
           {"2020-02-29T10:00:00", "1y", "2019-03-01T10:00:00"},  // "2019-02-29" = Mar 1
           {"2020-01-15T10:00:00", "1y2m", "2018-11-15T10:00:00"},
           {"2020-01-15T10:00:00", "2w", "2020-01-01T10:00:00"},
           {"2020-01-15T10:00:00", "1w1d", "2020-01-07T10:00:00"},
           {"2020-01-01T01:00:00", "2h", "2019-12-31T23:00:00"},
           {"2020-01-01T01:00:00", "49h", "2019-12-30T00:00:00"},
           {"2020-01-15T10:00:00", "1y5m7d2h", "2018-08-08T08:00:00"},
       }) {
    RetentionPolicy p{.keep_within = *ParseRetentionDuration(c.duration)};
    const int64_t threshold = T(c.threshold);
    std::vector<RetentionSnapshot> s = {{"g/a", "g", threshold - 1},
                                        {"g/b", "g", threshold},
                                        {"g/c", "g", threshold + 1},
                                        {"g/ref", "g", T(c.reference)}};
    std::vector<RetentionDecision> ds = Decide(s, p);
    ASSERT_EQ(ds.size(), 4u);
    EXPECT_FALSE(ds[0].keep) << c.reference << " - " << c.duration;
    EXPECT_FALSE(ds[1].keep) << c.reference << " - " << c.duration;
    EXPECT_TRUE(ds[2].keep) << c.reference << " - " << c.duration;
    EXPECT_TRUE(ds[3].keep);
  }
}

TEST(RetentionWithinTest, HugeDurationKeepsEverythingWithoutOverflow) {
  RetentionPolicy p{.keep_within = *ParseRetentionDuration("1000000y1000000h")};
  std::vector<RetentionSnapshot> s = {
      {"g/a", "g", 0}, {"g/b", "g", T("2200-01-01T00:00:00")}, {"g/c", "g", -kDay * 365 * 200}};
  EXPECT_EQ(Kept(Decide(s, p)).size(), 3u);
}

// --- Ties, groups, edge cases ------------------------------------------------

TEST(RetentionTest, EqualTimesAreOrderedByIdDescending) {
  RetentionPolicy p{.keep_last = 1};
  std::vector<RetentionSnapshot> s = {{"g/b", "g", 100}, {"g/a", "g", 100}, {"g/c", "g", 100}};
  std::vector<RetentionDecision> ds = Decide(s, p);
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(ds[0].snapshot.id, "g/a");  // oldest first
  EXPECT_EQ(ds[2].snapshot.id, "g/c");
  EXPECT_FALSE(ds[0].keep);
  EXPECT_FALSE(ds[1].keep);
  EXPECT_TRUE(ds[2].keep);  // the "newest" of equal times: largest id

  RetentionPolicy daily{.keep_daily = 1};
  ds = Decide(s, daily);
  EXPECT_TRUE(ds[2].keep);
  EXPECT_EQ(Kept(ds).size(), 1u);  // the rule is exhausted: no "oldest"
}

TEST(RetentionTest, GroupsAreIndependentAndSorted) {
  std::vector<RetentionSnapshot> s = Snaps({"2020-01-01T00:00:00", "2020-01-02T00:00:00"}, "b");
  for (RetentionSnapshot& x :
       Snaps({"2019-01-01T00:00:00", "2019-01-02T00:00:00", "2019-01-03T00:00:00"}, "a")) {
    s.push_back(x);
  }
  absl::StatusOr<std::vector<RetentionGroup>> r = ApplyRetention(s, {.keep_last = 1}, kFarFuture);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].group, "a");
  EXPECT_EQ((*r)[1].group, "b");
  EXPECT_THAT(Kept((*r)[0].decisions), ElementsAre("2019-01-03T00:00:00"));
  EXPECT_THAT(Kept((*r)[1].decisions), ElementsAre("2020-01-02T00:00:00"));
}

TEST(RetentionTest, NoSnapshotsNoGroups) {
  absl::StatusOr<std::vector<RetentionGroup>> r = ApplyRetention({}, {.keep_last = 1}, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(RetentionTest, SingleSnapshotIsAlwaysKeptByACountRule) {
  for (RetentionPolicy p : {RetentionPolicy{.keep_last = 1}, RetentionPolicy{.keep_hourly = 1},
                            RetentionPolicy{.keep_yearly = 3}}) {
    EXPECT_EQ(Kept(Decide(Snaps({"2020-01-01T00:00:00"}), p)).size(), 1u);
  }
}

TEST(RetentionTest, LabelSelectorAppliesThePolicyAmongMatchingSnapshotsOnly) {
  // Group g: daily (env=prod) at 01..04, one unlabelled and one env=dev in
  // between and after; group h has only env=dev snapshots.
  std::vector<RetentionSnapshot> s =
      Snaps({"2020-01-01T00:00:00", "2020-01-02T00:00:00", "2020-01-03T00:00:00",
             "2020-01-04T00:00:00", "2020-01-05T00:00:00", "2020-01-06T00:00:00"});
  for (int i : {0, 1, 2, 4}) s[i].labels = {{"env", "prod"}, {"tier", "db"}};
  s[5].labels = {{"env", "dev"}};
  for (RetentionSnapshot& x : Snaps({"2021-01-01T00:00:00"}, "h")) {
    x.labels = {{"env", "dev"}};
    s.push_back(x);
  }
  const RetentionPolicy p{.keep_last = 2};
  absl::StatusOr<std::vector<RetentionGroup>> r =
      ApplyRetention(s, p, kFarFuture, {{"env", "prod"}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);  // h is listed although none of it matched
  const std::vector<RetentionDecision>& g = (*r)[0].decisions;
  ASSERT_EQ(g.size(), 6u);
  // Oldest first; the 2 newest prod ones (03, 05) kept by keep_last, the
  // other prod ones (01, 02) removed, 04 and 06 kept as not considered.
  EXPECT_FALSE(g[0].keep);
  EXPECT_FALSE(g[1].keep);
  EXPECT_THAT(g[2].reasons, ElementsAre(KeepReason{RetentionRule::kLast, false}));
  EXPECT_THAT(g[3].reasons, ElementsAre(KeepReason{RetentionRule::kLabelMismatch, false}));
  EXPECT_THAT(g[4].reasons, ElementsAre(KeepReason{RetentionRule::kLast, false}));
  EXPECT_THAT(g[5].reasons, ElementsAre(KeepReason{RetentionRule::kLabelMismatch, false}));
  EXPECT_EQ(KeepReasonText(g[5].reasons[0], p), "label mismatch");
  EXPECT_EQ(DescribeLabelSelector({}), "");
  EXPECT_EQ(DescribeLabelSelector({{"env", "prod"}, {"a", ""}}),
            " among snapshots labelled a=, env=prod");
  EXPECT_EQ((*r)[1].group, "h");
  ASSERT_EQ((*r)[1].decisions.size(), 1u);
  EXPECT_TRUE((*r)[1].decisions[0].keep);

  // Every selected label must match: env=prod and tier=db is 01, 02, 03, 05
  // too; tier=web matches nothing, so nothing is removed.
  r = ApplyRetention(s, p, kFarFuture, {{"env", "prod"}, {"tier", "web"}});
  ASSERT_TRUE(r.ok());
  for (const RetentionGroup& group : *r) {
    for (const RetentionDecision& d : group.decisions) EXPECT_TRUE(d.keep) << d.snapshot.id;
  }
  // No selector: the policy sees every snapshot (05 and 06 kept).
  EXPECT_THAT(
      Kept(Decide(Snaps({"2020-01-01T00:00:00", "2020-01-02T00:00:00", "2020-01-03T00:00:00"}), p)),
      ElementsAre("2020-01-02T00:00:00", "2020-01-03T00:00:00"));
}

TEST(RetentionTest, LabelSelectorOldestRuleUsesTheOldestMatchingSnapshot) {
  // keep_daily 5 with only 2 matching days: the oldest matching snapshot is
  // kept as "oldest daily", not the group's oldest (which does not match).
  std::vector<RetentionSnapshot> s = Snaps(
      {"2020-01-01T00:00:00", "2020-01-02T00:00:00", "2020-01-02T12:00:00", "2020-01-03T00:00:00"});
  s[1].labels = s[2].labels = s[3].labels = {{"k", "v"}};
  absl::StatusOr<std::vector<RetentionGroup>> r =
      ApplyRetention(s, {.keep_daily = 5}, kFarFuture, {{"k", "v"}});
  ASSERT_TRUE(r.ok());
  const std::vector<RetentionDecision>& g = (*r)[0].decisions;
  ASSERT_EQ(g.size(), 4u);
  EXPECT_THAT(g[0].reasons, ElementsAre(KeepReason{RetentionRule::kLabelMismatch, false}));
  EXPECT_THAT(g[1].reasons, ElementsAre(KeepReason{RetentionRule::kDaily, true}));
  EXPECT_THAT(g[2].reasons, ElementsAre(KeepReason{RetentionRule::kDaily, false}));
  EXPECT_THAT(g[3].reasons, ElementsAre(KeepReason{RetentionRule::kDaily, false}));
}

// restic's rules restated: for a count rule with N (or unlimited) and B
// buckets holding snapshots, the newest snapshot of each of the min(N, B)
// newest buckets is kept; if N is unlimited or N > B, the group's oldest
// snapshot is kept too.
std::set<std::string> Model(std::vector<RetentionSnapshot> s, const RetentionPolicy& p,
                            int64_t now) {
  std::sort(s.begin(), s.end(), [](const auto& a, const auto& b) {
    return a.time_unix_ns != b.time_unix_ns ? a.time_unix_ns > b.time_unix_ns : a.id > b.id;
  });
  std::set<std::string> keep;
  auto key_of = [](RetentionRule r, int64_t ns, size_t nr) -> std::string {
    const absl::Time t = absl::FromUnixNanos(ns);
    const absl::TimeZone utc = absl::UTCTimeZone();
    switch (r) {
      case RetentionRule::kLast:
        return absl::StrCat(nr);
      case RetentionRule::kHourly:
        return absl::FormatTime("%Y-%m-%d %H", t, utc);
      case RetentionRule::kDaily:
        return absl::FormatTime("%Y-%m-%d", t, utc);
      case RetentionRule::kWeekly:
        return absl::FormatTime("%G-%V", t, utc);  // ISO 8601 year and week
      case RetentionRule::kMonthly:
        return absl::FormatTime("%Y-%m", t, utc);
      default:
        return absl::FormatTime("%Y", t, utc);
    }
  };
  const std::pair<RetentionRule, int> rules[] = {
      {RetentionRule::kLast, p.keep_last},       {RetentionRule::kHourly, p.keep_hourly},
      {RetentionRule::kDaily, p.keep_daily},     {RetentionRule::kWeekly, p.keep_weekly},
      {RetentionRule::kMonthly, p.keep_monthly}, {RetentionRule::kYearly, p.keep_yearly}};
  for (auto [rule, n] : rules) {
    if (n == 0 || s.empty()) continue;
    std::vector<std::string> buckets;  // newest first
    std::map<std::string, std::string> newest;
    for (size_t i = 0; i < s.size(); ++i) {
      std::string k = key_of(rule, s[i].time_unix_ns, i);
      if (!newest.count(k)) {
        newest[k] = s[i].id;
        buckets.push_back(k);
      }
    }
    const size_t take = n < 0 ? buckets.size() : std::min<size_t>(n, buckets.size());
    for (size_t i = 0; i < take; ++i) keep.insert(newest[buckets[i]]);
    if (n < 0 || static_cast<size_t>(n) > buckets.size()) keep.insert(s.back().id);
  }
  if (!p.keep_within.IsZero() && !s.empty()) {
    // Only day/hour durations here: the threshold is plain arithmetic.
    int64_t ref = std::numeric_limits<int64_t>::min();
    for (const auto& x : s) {
      if (x.time_unix_ns <= now) {
        ref = x.time_unix_ns;
        break;
      }
    }
    const int64_t span =
        (p.keep_within.weeks * 7 + p.keep_within.days) * kDay + p.keep_within.hours * kHour;
    for (const auto& x : s) {
      if (ref == std::numeric_limits<int64_t>::min() || x.time_unix_ns > ref - span) {
        keep.insert(x.id);
      }
    }
  }
  return keep;
}

TEST(RetentionPropertyTest, MatchesTheModelOnRandomHistories) {
  std::mt19937_64 rng(12);
  for (int round = 0; round < 300; ++round) {
    std::vector<RetentionSnapshot> s;
    const int n = static_cast<int>(rng() % (round < 20 ? 5000 : 300)) + 1;
    const int64_t start = T("2015-01-01T00:00:00");
    const int64_t span = static_cast<int64_t>(rng() % 4 + 1) * 400 * kDay;
    for (int i = 0; i < n; ++i) {
      // Some equal times to exercise the id tie-break.
      const int64_t t = start + static_cast<int64_t>(rng() % static_cast<uint64_t>(span)) /
                                    (rng() % 5 == 0 ? kHour : 1) * (rng() % 5 == 0 ? kHour : 1);
      s.push_back({absl::StrCat("g/", i), "g", t});
    }
    auto count = [&] {
      const int r = static_cast<int>(rng() % 8);
      return r == 7 ? kRetentionUnlimited : (r < 3 ? 0 : static_cast<int>(rng() % 40));
    };
    RetentionPolicy p{.keep_last = count(),
                      .keep_hourly = count(),
                      .keep_daily = count(),
                      .keep_weekly = count(),
                      .keep_monthly = count(),
                      .keep_yearly = count()};
    if (rng() % 3 == 0) {
      p.keep_within.days = static_cast<int>(rng() % 60);
      p.keep_within.hours = static_cast<int>(rng() % 30);
    }
    if (!ValidateRetentionPolicy(p).ok()) continue;
    const int64_t now = start + static_cast<int64_t>(rng() % static_cast<uint64_t>(span));
    const std::set<std::string> want = Model(s, p, now);
    std::vector<RetentionDecision> ds = Decide(s, p, now);
    ASSERT_EQ(ds.size(), s.size());
    std::set<std::string> got;
    for (size_t i = 0; i < ds.size(); ++i) {
      if (ds[i].keep) got.insert(ds[i].snapshot.id);
      EXPECT_EQ(ds[i].keep, !ds[i].reasons.empty());
      if (i > 0) {
        EXPECT_LE(ds[i - 1].snapshot.time_unix_ns, ds[i].snapshot.time_unix_ns);
      }
    }
    ASSERT_EQ(got, want) << "round " << round << ": " << DescribeRetentionPolicy(p);
  }
}

}  // namespace
}  // namespace arca
