#include "libs/store/retention.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/base/labels.h"

namespace arca {
namespace {

constexpr int64_t kNsPerHour = int64_t{3600} * 1000000000;
constexpr int64_t kNsPerDay = 24 * kNsPerHour;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }

// Proleptic Gregorian calendar <-> days since 1970-01-01 (H. Hinnant's
// algorithms, valid for any int64 range we use).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t year;
  int64_t month;  // 1..12
  int64_t day;    // 1..31
};

Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return {yoe + era * 400 + (m <= 2), m, d};
}

// The bucket keys: equal exactly when two times fall in the same UTC hour,
// day, ISO week, month or year; increasing with time.
int64_t HourKey(int64_t ns) { return FloorDiv(ns, kNsPerHour); }
int64_t DayKey(int64_t ns) { return FloorDiv(ns, kNsPerDay); }
int64_t WeekKey(int64_t ns) {
  const int64_t day = DayKey(ns);
  const int64_t weekday = FloorMod(day + 3, 7);  // Monday = 0; 1970-01-01 was a Thursday
  const int64_t thursday = day - weekday + 3;    // its week's year is the ISO year
  const int64_t iso_year = CivilFromDays(thursday).year;
  const int64_t week = (thursday - DaysFromCivil(iso_year, 1, 1)) / 7 + 1;
  return iso_year * 100 + week;
}
int64_t MonthKey(int64_t ns) {
  const Civil c = CivilFromDays(DayKey(ns));
  return c.year * 12 + (c.month - 1);
}
int64_t YearKey(int64_t ns) { return CivilFromDays(DayKey(ns)).year; }

// reference - d, as Go's reference.AddDate(-y, -m, -d).Add(-h hours) in UTC.
// Clamped to the lowest int64 when it is earlier than int64 nanoseconds
// reach (every snapshot is then within).
int64_t SubtractDuration(int64_t reference_ns, const RetentionDuration& d) {
  int64_t day = DayKey(reference_ns);
  int64_t ns_of_day = reference_ns - day * kNsPerDay;
  const Civil c = CivilFromDays(day);
  int64_t month0 = c.year * 12 + (c.month - 1) - int64_t{d.years} * 12 - d.months;
  const int64_t year = FloorDiv(month0, 12);
  const int64_t month = FloorMod(month0, 12) + 1;
  // Day overflow normalises like Go's time.Date (day 31 of a 30-day month is
  // the 1st of the next).
  day = DaysFromCivil(year, month, 1) + (c.day - 1) - int64_t{d.weeks} * 7 - d.days;
  day -= d.hours / 24;
  ns_of_day -= int64_t{d.hours % 24} * kNsPerHour;
  if (ns_of_day < 0) {
    ns_of_day += kNsPerDay;
    day -= 1;
  }
  constexpr int64_t kMinDay = std::numeric_limits<int64_t>::min() / kNsPerDay + 1;
  if (day <= kMinDay) return std::numeric_limits<int64_t>::min();
  return day * kNsPerDay + ns_of_day;
}

const char* RuleName(RetentionRule rule) {
  switch (rule) {
    case RetentionRule::kLast:
      return "last";
    case RetentionRule::kHourly:
      return "hourly";
    case RetentionRule::kDaily:
      return "daily";
    case RetentionRule::kWeekly:
      return "weekly";
    case RetentionRule::kMonthly:
      return "monthly";
    case RetentionRule::kYearly:
      return "yearly";
    case RetentionRule::kWithin:
      return "within";
    case RetentionRule::kLabelMismatch:
      return "label mismatch";
  }
  return "?";
}

struct CountRule {
  RetentionRule rule;
  const char* field;
  int count;
  int64_t (*key)(int64_t ns);  // nullptr: the snapshot's position (keep_last)
};

std::vector<CountRule> CountRules(const RetentionPolicy& p) {
  return {{RetentionRule::kLast, "keep_last", p.keep_last, nullptr},
          {RetentionRule::kHourly, "keep_hourly", p.keep_hourly, &HourKey},
          {RetentionRule::kDaily, "keep_daily", p.keep_daily, &DayKey},
          {RetentionRule::kWeekly, "keep_weekly", p.keep_weekly, &WeekKey},
          {RetentionRule::kMonthly, "keep_monthly", p.keep_monthly, &MonthKey},
          {RetentionRule::kYearly, "keep_yearly", p.keep_yearly, &YearKey}};
}

// Newest first: later time, then larger id.
bool NewerFirst(const RetentionSnapshot& a, const RetentionSnapshot& b) {
  if (a.time_unix_ns != b.time_unix_ns) return a.time_unix_ns > b.time_unix_ns;
  return a.id > b.id;
}

// One group, `list` sorted newest first; decisions in the same order.
std::vector<RetentionDecision> ApplyToGroup(std::vector<RetentionSnapshot> list,
                                            const RetentionPolicy& policy, int64_t now_unix_ns) {
  std::optional<int64_t> within_threshold;
  if (!policy.keep_within.IsZero()) {
    std::optional<int64_t> reference;
    for (const RetentionSnapshot& s : list) {
      if (s.time_unix_ns <= now_unix_ns) {
        reference = s.time_unix_ns;  // the newest not in the future (sorted)
        break;
      }
    }
    within_threshold = reference ? SubtractDuration(*reference, policy.keep_within)
                                 : std::numeric_limits<int64_t>::min();
  }
  struct Bucket {
    CountRule rule;
    int left;                     // kRetentionUnlimited stays so
    std::optional<int64_t> last;  // key of the last bucket kept
  };
  std::vector<Bucket> buckets;
  for (const CountRule& r : CountRules(policy)) {
    if (r.count != 0) buckets.push_back({r, r.count, std::nullopt});
  }
  std::vector<RetentionDecision> out;
  out.reserve(list.size());
  for (size_t nr = 0; nr < list.size(); ++nr) {
    RetentionDecision d;
    d.snapshot = std::move(list[nr]);
    const int64_t t = d.snapshot.time_unix_ns;
    const bool is_oldest = nr + 1 == list.size();
    if (within_threshold && t > *within_threshold) {
      d.reasons.push_back({RetentionRule::kWithin, false});
    }
    for (Bucket& b : buckets) {
      if (b.left == 0) continue;
      const int64_t key = b.rule.key ? b.rule.key(t) : static_cast<int64_t>(nr);
      const bool new_bucket = !b.last || *b.last != key;
      if (!new_bucket && !is_oldest) continue;
      d.reasons.push_back({b.rule.rule, /*oldest=*/!new_bucket});
      b.last = key;
      if (b.left > 0) --b.left;
    }
    d.keep = !d.reasons.empty();
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

std::string RetentionDuration::ToString() const {
  std::string out;
  for (auto [n, unit] : {std::pair{years, 'y'}, std::pair{months, 'm'}, std::pair{weeks, 'w'},
                         std::pair{days, 'd'}, std::pair{hours, 'h'}}) {
    if (n != 0) absl::StrAppend(&out, n, std::string(1, unit));
  }
  return out.empty() ? "0h" : out;
}

absl::StatusOr<RetentionDuration> ParseRetentionDuration(std::string_view text_view) {
  const std::string text(text_view);
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid duration '", text, "': ", why,
                     " (use numbers with units y, m, w, d, h in that order, e.g. 30d, 12h, 2w, "
                     "1y2m)"));
  };
  if (text.empty()) return bad("empty");
  RetentionDuration d;
  static constexpr char kUnits[] = "ymwdh";
  int* fields[] = {&d.years, &d.months, &d.weeks, &d.days, &d.hours};
  size_t next_unit = 0;  // units must come in kUnits order, each once
  size_t i = 0;
  while (i < text.size()) {
    int64_t n = 0;
    const size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > kMaxRetentionDurationUnit) {
        return bad(absl::StrCat("a number is larger than ", kMaxRetentionDurationUnit));
      }
      ++i;
    }
    if (i == start) return bad(absl::StrCat("expected a number at offset ", start));
    if (i == text.size()) return bad("the last number has no unit");
    const char* unit = std::char_traits<char>::find(kUnits, 5, text[i]);
    if (unit == nullptr) {
      return bad(absl::StrCat("unknown unit '", text.substr(i, 1), "'"));
    }
    const size_t u = static_cast<size_t>(unit - kUnits);
    if (u < next_unit) {
      return bad(absl::StrCat("unit '", text.substr(i, 1), "' repeated or out of order"));
    }
    *fields[u] = static_cast<int>(n);
    next_unit = u + 1;
    ++i;
  }
  return d;
}

absl::Status ValidateRetentionPolicy(const RetentionPolicy& policy) {
  bool any = !policy.keep_within.IsZero();
  for (const CountRule& r : CountRules(policy)) {
    if (r.count < kRetentionUnlimited) {
      return absl::InvalidArgumentError(absl::StrCat("retention policy ", r.field, " is ", r.count,
                                                     ": use a count >= 0, or ", kRetentionUnlimited,
                                                     " for unlimited"));
    }
    if (r.count != 0) any = true;
  }
  if (!any) {
    return absl::InvalidArgumentError(
        "retention policy is empty (every keep count is 0 and keep_within is zero): it would "
        "remove every snapshot; set at least one rule");
  }
  return absl::OkStatus();
}

std::string DescribeRetentionPolicy(const RetentionPolicy& policy) {
  std::vector<std::string> parts;
  for (const CountRule& r : CountRules(policy)) {
    if (r.count == kRetentionUnlimited) {
      parts.push_back(absl::StrCat("all ", RuleName(r.rule)));
    } else if (r.count > 0) {
      parts.push_back(absl::StrCat(r.count, " ", RuleName(r.rule)));
    }
  }
  std::string out = "keep";
  if (!parts.empty()) absl::StrAppend(&out, " ", absl::StrJoin(parts, ", "), " snapshots");
  if (!policy.keep_within.IsZero()) {
    absl::StrAppend(&out, parts.empty() ? "" : " and", " all within ",
                    policy.keep_within.ToString(), " of the newest");
  }
  return out;
}

std::string DescribeLabelSelector(const LabelSelector& selector) {
  if (selector.empty()) return "";
  std::vector<std::string> parts;
  for (const auto& [key, value] : selector) parts.push_back(absl::StrCat(key, "=", value));
  return absl::StrCat(" among snapshots labelled ", absl::StrJoin(parts, ", "));
}

std::string KeepReasonText(const KeepReason& reason, const RetentionPolicy& policy) {
  if (reason.rule == RetentionRule::kWithin) {
    return absl::StrCat("within ", policy.keep_within.ToString());
  }
  if (reason.rule == RetentionRule::kLabelMismatch) return RuleName(reason.rule);
  return absl::StrCat(reason.oldest ? "oldest " : "", RuleName(reason.rule), " snapshot");
}

absl::StatusOr<std::vector<RetentionGroup>> ApplyRetention(std::vector<RetentionSnapshot> snapshots,
                                                           const RetentionPolicy& policy,
                                                           int64_t now_unix_ns,
                                                           const LabelSelector& selector) {
  if (absl::Status st = ValidateRetentionPolicy(policy); !st.ok()) return st;
  std::map<std::string, std::vector<RetentionSnapshot>> by_group;
  std::map<std::string, std::vector<RetentionSnapshot>> not_considered;
  for (RetentionSnapshot& s : snapshots) {
    std::string group = s.group;
    by_group[group];  // a group of only mismatching snapshots is listed too
    auto& target = HasLabels(s.labels, selector) ? by_group : not_considered;
    target[std::move(group)].push_back(std::move(s));
  }
  std::vector<RetentionGroup> out;
  out.reserve(by_group.size());
  for (auto& [group, list] : by_group) {
    std::sort(list.begin(), list.end(), NewerFirst);
    RetentionGroup g;
    g.group = group;
    g.decisions = ApplyToGroup(std::move(list), policy, now_unix_ns);
    if (auto it = not_considered.find(group); it != not_considered.end()) {
      for (RetentionSnapshot& s : it->second) {
        RetentionDecision d;
        d.snapshot = std::move(s);
        d.keep = true;
        d.reasons.push_back({RetentionRule::kLabelMismatch, false});
        g.decisions.push_back(std::move(d));
      }
      std::sort(g.decisions.begin(), g.decisions.end(),
                [](const RetentionDecision& a, const RetentionDecision& b) {
                  return NewerFirst(a.snapshot, b.snapshot);
                });
    }
    std::reverse(g.decisions.begin(), g.decisions.end());  // oldest first
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace arca
