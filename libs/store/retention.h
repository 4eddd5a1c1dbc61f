// Retention policy for `arca forget`: which snapshots of each group to keep.
// Pure logic (no I/O, no clock): the caller passes the snapshots and "now".
//
// The rules are restic's `forget` rules (restic docs "Removing backup
// snapshots", internal/restic/snapshot_policy.go), evaluated per group:
//
//   - The snapshots of a group are walked newest first (by time, then by id
//     descending, so equal times have a fixed order).
//   - keep_last N keeps the N newest snapshots.
//   - keep_hourly/daily/weekly/monthly/yearly N: calendar buckets in UTC
//     (hour; day; ISO 8601 week, Monday 00:00 to Sunday 23:59:59, numbered
//     within its ISO week-year, as Go's time.ISOWeek; month; year). The
//     newest snapshot of each of the N newest buckets that hold a snapshot
//     is kept. Only buckets with snapshots count, never empty hours/days.
//   - "Oldest" rule: when a bucket rule still has count left at the group's
//     oldest snapshot (fewer than N buckets exist), that oldest snapshot is
//     kept too, marked `oldest` ("oldest daily snapshot"), so the history
//     kept is as long as possible.
//   - kRetentionUnlimited (-1) keeps every bucket ("unlimited" in restic).
//   - keep_within D keeps every snapshot whose time is strictly after
//     (reference - D), where the reference is the group's newest snapshot
//     that is not in the future (time <= now), not now itself. D is
//     subtracted in calendar terms (years, months, then days, then hours, in
//     UTC, with Go AddDate's normalisation: 31 March - 1 month = 3 March in
//     a non-leap year). Snapshots in the future are therefore always kept;
//     if every snapshot is in the future, keep_within keeps them all.
//   - A snapshot is kept if any rule keeps it (the rules are ORed); every
//     rule that kept it is listed.
//   - A label selector (`arca forget --label KEY=VALUE`), when given, picks
//     the snapshots the policy applies to: those with every selected label.
//     The rules above run per group among those only (so "keep_last 2" keeps
//     the 2 newest matching snapshots of each group); every other snapshot
//     is kept with the reason kLabelMismatch ("label mismatch").
//
// Differences from restic, on purpose: buckets are in UTC (restic uses the
// time zone each snapshot was recorded in); durations also accept weeks
// ("2w" = 14 days); restic's --keep-tag and --keep-within-{hourly,...} have
// no counterpart.
//
// Thread-safety: pure functions.
#ifndef ARCA_LIBS_STORE_RETENTION_H_
#define ARCA_LIBS_STORE_RETENTION_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace arca {

// A keep-within duration: calendar units, each 0..kMaxRetentionDurationUnit.
struct RetentionDuration {
  int years = 0;
  int months = 0;
  int weeks = 0;  // 7 days each
  int days = 0;
  int hours = 0;

  bool IsZero() const { return years == 0 && months == 0 && weeks == 0 && days == 0 && hours == 0; }
  // Canonical text, e.g. "1y2m" or "30d"; "0h" for the zero duration.
  std::string ToString() const;
  bool operator==(const RetentionDuration&) const = default;
};

inline constexpr int kMaxRetentionDurationUnit = 1000000;

// Parses a keep-within duration. Grammar:
//   duration := term+
//   term     := digits unit
//   unit     := 'y' (years) | 'm' (months) | 'w' (weeks) | 'd' (days) | 'h' (hours)
// units in that order, each at most once, no spaces or signs, each number
// 0..kMaxRetentionDurationUnit. E.g. "30d", "12h", "2w", "1y2m", "1y5m7d2h".
// Errors: InvalidArgument naming the text and what is wrong.
absl::StatusOr<RetentionDuration> ParseRetentionDuration(std::string_view text);

// A count that keeps every bucket.
inline constexpr int kRetentionUnlimited = -1;

struct RetentionPolicy {
  int keep_last = 0;  // 0 = rule off, > 0 = N, kRetentionUnlimited = all
  int keep_hourly = 0;
  int keep_daily = 0;
  int keep_weekly = 0;
  int keep_monthly = 0;
  int keep_yearly = 0;
  RetentionDuration keep_within;  // zero = rule off
};

// OK when the policy has at least one rule and every count is >= -1.
// Errors: InvalidArgument "retention policy is empty ..." (a policy without
// a rule would remove every snapshot: refused, as restic does);
// InvalidArgument naming the field for a count below -1.
absl::Status ValidateRetentionPolicy(const RetentionPolicy& policy);

// "keep 2 last, all daily, 4 weekly snapshots and all within 30d of the newest".
std::string DescribeRetentionPolicy(const RetentionPolicy& policy);

// Labels a snapshot must all have for the policy to consider it (ApplyRetention).
using LabelSelector = std::map<std::string, std::string>;

// " among snapshots labelled a=b, c=d" (to append to the policy's
// description), or "" for the empty selector.
std::string DescribeLabelSelector(const LabelSelector& selector);

// kLabelMismatch is not a policy rule: the snapshot was not considered
// (the label selector did not match it), so it is kept.
enum class RetentionRule {
  kLast,
  kHourly,
  kDaily,
  kWeekly,
  kMonthly,
  kYearly,
  kWithin,
  kLabelMismatch
};

// Why a snapshot is kept: the rule, and for bucket rules whether it was kept
// only as the group's oldest snapshot (the "oldest" rule above).
struct KeepReason {
  RetentionRule rule;
  bool oldest = false;
  bool operator==(const KeepReason&) const = default;
};

// "last snapshot", "daily snapshot", "oldest weekly snapshot",
// "within 30d" (the policy's keep_within), as restic words them;
// "label mismatch" for kLabelMismatch.
std::string KeepReasonText(const KeepReason& reason, const RetentionPolicy& policy);

struct RetentionSnapshot {
  std::string id;
  std::string group;
  int64_t time_unix_ns = 0;
  std::map<std::string, std::string> labels;  // Manifest.labels
};

struct RetentionDecision {
  RetentionSnapshot snapshot;
  bool keep = false;
  std::vector<KeepReason> reasons;  // empty iff !keep; in restic's order:
                                    // within, last, hourly, ..., yearly;
                                    // or only kLabelMismatch
};

struct RetentionGroup {
  std::string group;
  std::vector<RetentionDecision> decisions;  // oldest first (time, then id)
};

// Applies `policy` to each group of `snapshots` independently, among the
// snapshots that have every label of `selector` (empty: all of them; the
// others are kept, kLabelMismatch). Returns one RetentionGroup per group
// that has snapshots, sorted by group name; every input snapshot appears
// exactly once. `now_unix_ns` only chooses the keep_within reference
// (snapshots after it are "in the future"); the reference is the newest
// matching snapshot. Errors: those of ValidateRetentionPolicy (nothing is
// decided). The selector's syntax is the caller's to check (CheckLabels).
absl::StatusOr<std::vector<RetentionGroup>> ApplyRetention(std::vector<RetentionSnapshot> snapshots,
                                                           const RetentionPolicy& policy,
                                                           int64_t now_unix_ns,
                                                           const LabelSelector& selector = {});

}  // namespace arca

#endif  // ARCA_LIBS_STORE_RETENTION_H_
