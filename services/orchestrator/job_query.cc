#include "services/orchestrator/job_query.h"

#include <cctype>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/time_util.h"
#include "libs/base/fnv1a.h"

namespace arca::services {
namespace {

using google::protobuf::util::TimeUtil;

absl::Status Bad(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// Keeps the first elements of `list` whose sizes (size_of) fit in budget.
template <typename List, typename SizeOf>
void KeepWithin(List* list, size_t budget, SizeOf size_of) {
  size_t used = 0;
  int keep = 0;
  for (; keep < list->size(); ++keep) {
    used += size_of(list->Get(keep));
    if (used > budget) break;
  }
  // DeleteSubrange frees the elements (RemoveLast keeps them for reuse).
  if (list->size() > keep) list->DeleteSubrange(keep, list->size() - keep);
}

// The filter's tokens: words, quoted strings (\" and \\ escapes) and the
// operators = != < <= > >= :.
absl::StatusOr<std::vector<std::pair<std::string, bool>>> Tokens(const std::string& s) {
  std::vector<std::pair<std::string, bool>> out;  // text, quoted
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      ++i;
    } else if (c == '"') {
      std::string v;
      ++i;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          v.push_back(s[i + 1]);
          i += 2;
        } else if (s[i] == '"') {
          closed = true;
          ++i;
          break;
        } else {
          v.push_back(s[i++]);
        }
      }
      if (!closed) return Bad("filter", "a quoted value is not closed");
      out.emplace_back(std::move(v), true);
    } else if (c == '=' || c == ':') {
      out.emplace_back(std::string(1, c), false);
      ++i;
    } else if (c == '!' || c == '<' || c == '>') {
      if (i + 1 < s.size() && s[i + 1] == '=') {
        out.emplace_back(s.substr(i, 2), false);
        i += 2;
      } else if (c == '!') {
        return Bad("filter", "'!' must be followed by '='");
      } else {
        out.emplace_back(std::string(1, c), false);
        ++i;
      }
    } else {
      std::string w;
      while (i < s.size() && !absl::StrContains(" \t\n=!<>\":", s[i])) w.push_back(s[i++]);
      out.emplace_back(std::move(w), false);
    }
  }
  return out;
}

bool IsOperator(const std::string& t) {
  return t == "=" || t == "!=" || t == "<" || t == "<=" || t == ">" || t == ">=" || t == ":";
}

bool Compare(int64_t a, const std::string& op, int64_t b) {
  if (op == "=") return a == b;
  if (op == "!=") return a != b;
  if (op == "<") return a < b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  return a >= b;  // ">="
}

bool CompareText(const std::string& a, const std::string& op, const std::string& b) {
  return op == "=" ? a == b : a != b;
}

std::string RequestKey(const v1::ListJobsRequest& r) {
  return absl::StrCat(Fnv1a64(absl::StrCat(r.filter(), std::string(1, '\0'), r.order_by(),
                                           std::string(1, '\0'), static_cast<int>(r.view()))));
}

}  // namespace

size_t WarningBytes(const v1::Warning& w) { return w.path().size() + w.message().size() + 16; }

void TrimWarnings(v1::Job* job, size_t budget) {
  KeepWithin(job->mutable_warnings(), budget, WarningBytes);
}

void TrimJobLists(v1::Job* job, size_t budget) {
  if (job->has_verify()) {
    KeepWithin(job->mutable_verify()->mutable_problems(), budget,
               [](const std::string& p) { return p.size() + 8; });
  }
  if (job->has_forget()) {
    KeepWithin(job->mutable_forget()->mutable_snapshots(), budget,
               [](const v1::ForgetDecision& d) { return d.ByteSizeLong() + 8; });
  }
  if (job->status().message().size() > kMaxStatusMessageBytes) {
    std::string m = job->status().message().substr(0, kMaxStatusMessageBytes);
    // Do not cut a UTF-8 sequence in two.
    while (!m.empty() && (static_cast<unsigned char>(m.back()) & 0xC0) == 0x80) m.pop_back();
    if (!m.empty() && (static_cast<unsigned char>(m.back()) & 0x80) != 0) m.pop_back();
    job->mutable_status()->set_message(absl::StrCat(m, " [...]"));
  }
}

v1::Job JobInView(const v1::Job& job, v1::JobView view, v1::JobView default_view) {
  if (view == v1::JOB_VIEW_UNSPECIFIED) view = default_view;
  if (view == v1::JOB_VIEW_FULL) return job;
  v1::Job out = job;
  out.clear_warnings();
  if (out.has_verify()) out.mutable_verify()->clear_problems();
  if (out.has_forget()) out.mutable_forget()->clear_snapshots();
  return out;
}

int64_t JobCreateUnixNs(const v1::Job& job) {
  if (job.has_create_time()) return TimeUtil::TimestampToNanoseconds(job.create_time());
  return job.start_unix_ns();
}

absl::StatusOr<JobFilter> JobFilter::Parse(const std::string& filter) {
  JobFilter out;
  if (filter.size() > 4096) return Bad("filter", "longer than 4096 bytes");
  absl::StatusOr<std::vector<std::pair<std::string, bool>>> tokens = Tokens(filter);
  if (!tokens.ok()) return tokens.status();
  const auto& t = *tokens;
  size_t i = 0;
  while (i < t.size()) {
    if (i + 2 >= t.size()) {
      return Bad("filter", absl::StrCat("incomplete comparison at '", t[i].first,
                                        "': expected FIELD OPERATOR VALUE"));
    }
    Term term;
    term.field = t[i].first;
    term.op = t[i + 1].first;
    term.value = t[i + 2].first;
    if (t[i].second || t[i + 1].second || !IsOperator(term.op)) {
      return Bad("filter", absl::StrCat("expected FIELD OPERATOR VALUE at '", t[i].first, " ",
                                        t[i + 1].first, "'"));
    }
    const bool equality = term.op == "=" || term.op == "!=";
    if (term.field == "state") {
      std::string name = absl::AsciiStrToUpper(term.value);
      if (!absl::StartsWith(name, "JOB_STATE_")) name = "JOB_STATE_" + name;
      v1::JobState s;
      if (!equality || !v1::JobState_Parse(name, &s) || s == v1::JOB_STATE_UNSPECIFIED) {
        return Bad("filter", absl::StrCat("state takes = or != and one of QUEUED, PENDING, "
                                          "RUNNING, SUCCEEDED, SUCCEEDED_WITH_WARNINGS, FAILED, "
                                          "CANCELLED (got '",
                                          term.op, " ", term.value, "')"));
      }
      term.enum_value = s;
    } else if (term.field == "type") {
      std::string name = absl::AsciiStrToUpper(term.value);
      if (!absl::StartsWith(name, "JOB_TYPE_")) name = "JOB_TYPE_" + name;
      v1::JobType ty;
      if (!equality || !v1::JobType_Parse(name, &ty) || ty == v1::JOB_TYPE_UNSPECIFIED) {
        return Bad("filter", absl::StrCat("type takes = or != and one of BACKUP, RESTORE, VERIFY, "
                                          "FORGET, GC (got '",
                                          term.op, " ", term.value, "')"));
      }
      term.enum_value = ty;
    } else if (term.field == "group" || term.field == "snapshot" || term.field == "request_id") {
      if (!equality) return Bad("filter", absl::StrCat(term.field, " takes = or !="));
    } else if (absl::StartsWith(term.field, "labels.") && term.field.size() > 7) {
      if (term.op == ":") {
        if (term.value != "*") return Bad("filter", "labels.KEY:* is the only use of ':'");
      } else if (!equality) {
        return Bad("filter", absl::StrCat(term.field, " takes =, != or :*"));
      }
    } else if (term.field == "create_time" || term.field == "end_time") {
      if (term.op == ":") return Bad("filter", absl::StrCat(term.field, " does not take ':'"));
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, term.value, &term.time, &err)) {
        return Bad("filter", absl::StrCat(term.field, ": '", term.value,
                                          "' is not an RFC 3339 time such as "
                                          "\"2026-12-01T00:00:00Z\""));
      }
    } else {
      return Bad("filter",
                 absl::StrCat("unknown field '", term.field,
                              "': use state, type, group, snapshot, request_id, labels.KEY, "
                              "create_time or end_time"));
    }
    out.terms_.push_back(std::move(term));
    i += 3;
    if (i < t.size()) {
      if (t[i].second || t[i].first != "AND") {
        return Bad("filter", absl::StrCat("expected AND between comparisons, got '", t[i].first,
                                          "' (OR and NOT are not supported)"));
      }
      ++i;
      if (i == t.size()) return Bad("filter", "AND at the end");
    }
  }
  return out;
}

bool JobFilter::Matches(const v1::Job& job) const {
  for (const Term& t : terms_) {
    bool ok = true;
    if (t.field == "state") {
      ok = Compare(job.state(), t.op, t.enum_value);
    } else if (t.field == "type") {
      ok = Compare(job.type(), t.op, t.enum_value);
    } else if (t.field == "group") {
      ok = CompareText(job.group(), t.op, t.value);
    } else if (t.field == "snapshot") {
      ok = CompareText(job.snapshot(), t.op, t.value);
    } else if (t.field == "request_id") {
      ok = CompareText(job.request_id(), t.op, t.value);
    } else if (absl::StartsWith(t.field, "labels.")) {
      const std::string key = t.field.substr(7);
      auto it = job.labels().find(key);
      if (t.op == ":") {
        ok = it != job.labels().end();
      } else {
        const bool equal = it != job.labels().end() && it->second == t.value;
        ok = t.op == "=" ? equal : !equal;
      }
    } else if (t.field == "create_time") {
      ok = Compare(JobCreateUnixNs(job), t.op, absl::ToUnixNanos(t.time));
    } else if (t.field == "end_time") {
      ok = job.end_unix_ns() != 0 && Compare(job.end_unix_ns(), t.op, absl::ToUnixNanos(t.time));
    }
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<bool> ParseJobOrderDescending(const std::string& order_by) {
  std::vector<std::string> words =
      absl::StrSplit(order_by, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (words.empty() || (words.size() == 1 && words[0] == "create_time") ||
      (words.size() == 2 && words[0] == "create_time" && words[1] == "asc")) {
    return false;
  }
  if (words.size() == 2 && words[0] == "create_time" && words[1] == "desc") return true;
  return Bad("order_by", absl::StrCat("'", order_by.substr(0, 100),
                                      "' is not supported: use \"create_time\" or "
                                      "\"create_time desc\""));
}

std::string EncodeJobPageToken(const JobPageCursor& cursor, const v1::ListJobsRequest& request) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("j1|", RequestKey(request), "|", cursor.create_unix_ns, "|", cursor.id));
}

absl::StatusOr<JobPageCursor> DecodeJobPageToken(const std::string& token,
                                                 const v1::ListJobsRequest& request) {
  std::string raw;
  const absl::Status bad =
      Bad("page_token",
          "not a token of this orchestrator's ListJobs: pass next_page_token as "
          "returned, with the same filter, order_by and view");
  if (token.size() > 512 || !absl::WebSafeBase64Unescape(token, &raw)) return bad;
  std::vector<std::string> parts = absl::StrSplit(raw, absl::MaxSplits('|', 3));
  JobPageCursor c;
  if (parts.size() != 4 || parts[0] != "j1" || !absl::SimpleAtoi(parts[2], &c.create_unix_ns)) {
    return bad;
  }
  if (parts[1] != RequestKey(request)) {
    return Bad("page_token",
               "belongs to a request with another filter, order_by or view: start again "
               "without page_token");
  }
  c.id = parts[3];
  return c;
}

}  // namespace arca::services
