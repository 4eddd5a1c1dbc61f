#include "tools/arca/progress_display.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "libs/base/exit_codes.h"
#include "tools/arca/output.h"

namespace arca::cli {

ProgressMode ChooseProgressMode(bool progress_flag, bool no_progress_flag, bool json,
                                bool stderr_is_terminal) {
  if (no_progress_flag) return ProgressMode::kOff;
  if (!progress_flag && !stderr_is_terminal) return ProgressMode::kOff;
  return json ? ProgressMode::kJson : ProgressMode::kLine;
}

void RateWindow::Add(absl::Time now, uint64_t bytes) {
  samples_.emplace_back(now, bytes);
  // Keep one sample at or before the window's start, so the rate covers the
  // whole window.
  while (samples_.size() > 2 && samples_[1].first <= now - window_) samples_.pop_front();
}

double RateWindow::BytesPerSecond() const {
  if (samples_.size() < 2) return 0;
  const auto& [t0, b0] = samples_.front();
  const auto& [t1, b1] = samples_.back();
  const double secs = absl::ToDoubleSeconds(t1 - t0);
  if (secs < 0.1 || b1 < b0) return 0;
  return static_cast<double>(b1 - b0) / secs;
}

std::string FormatRate(double bytes_per_second) {
  return absl::StrCat(HumanBytes(static_cast<uint64_t>(std::max(0.0, bytes_per_second))), "/s");
}

std::string FormatEta(absl::Duration eta) {
  int64_t secs = absl::ToInt64Seconds(eta + absl::Milliseconds(500));
  if (secs < 0) secs = 0;
  if (secs < 60) return absl::StrCat(secs, "s");
  if (secs < 3600) return absl::StrFormat("%dm%02ds", secs / 60, secs % 60);
  if (secs < 100 * 3600) return absl::StrFormat("%dh%02dm", secs / 3600, (secs % 3600) / 60);
  return ">99h";
}

std::optional<absl::Duration> EstimateEta(const ProgressSample& s, double bytes_per_second) {
  if (s.done || s.bytes_total == 0 || s.bytes_done >= s.bytes_total || bytes_per_second <= 0) {
    return std::nullopt;
  }
  return absl::Seconds(static_cast<double>(s.bytes_total - s.bytes_done) / bytes_per_second);
}

std::optional<double> Percent(const ProgressSample& s) {
  if (s.bytes_total == 0) return std::nullopt;
  return std::min(100.0,
                  100.0 * static_cast<double>(s.bytes_done) / static_cast<double>(s.bytes_total));
}

namespace {

std::string Counted(uint64_t done, uint64_t total, absl::string_view unit) {
  return total > 0 ? absl::StrCat(done, "/", total, " ", unit) : absl::StrCat(done, " ", unit);
}

bool IsVerify(absl::string_view command) { return command == "verify"; }

// "starting" before the first phase is known (remote mode).
std::string PhaseLabel(v1::Phase phase) {
  return phase == v1::PHASE_UNSPECIFIED ? "starting" : PhaseName(phase);
}

std::string JsonOptional(uint64_t v) { return v == 0 ? "null" : absl::StrCat(v); }

}  // namespace

std::string FormatProgressLine(absl::string_view command, const ProgressSample& s,
                               double bytes_per_second, size_t width, bool stopped) {
  // Parts in display order; `drop` ranks which go first when it is too long
  // (0 = never).
  struct Part {
    std::string text;
    int drop;
  };
  std::vector<Part> parts;
  // The phase, unless it is the command's only one ("restore", "verify").
  const bool own_phase = (command == "verify" && s.phase == v1::PHASE_VERIFICATION) ||
                         (command == "restore" && s.phase == v1::PHASE_RESTORE);
  parts.push_back({s.done      ? absl::StrCat(command, stopped ? " stopped" : " done")
                   : own_phase ? std::string(command)
                               : absl::StrCat(command, " ", PhaseLabel(s.phase)),
                   0});
  parts.push_back({IsVerify(command) ? Counted(s.chunks_done, s.chunks_total, "chunks")
                                     : Counted(s.files_done, s.files_total, "files"),
                   0});
  parts.push_back({s.bytes_total > 0
                       ? absl::StrCat(HumanBytes(s.bytes_done), "/", HumanBytes(s.bytes_total))
                       : HumanBytes(s.bytes_done),
                   0});
  if (std::optional<double> pct = Percent(s)) {
    parts.push_back({absl::StrFormat("%d%%", static_cast<int>(*pct)), 3});
  }
  if (bytes_per_second > 0) parts.push_back({FormatRate(bytes_per_second), 2});
  if (std::optional<absl::Duration> eta = EstimateEta(s, bytes_per_second)) {
    parts.push_back({absl::StrCat("ETA ", FormatEta(*eta)), 4});
  }
  if (s.warnings > 0) {
    parts.push_back({absl::StrCat(s.warnings, IsVerify(command) ? " problems" : " warnings"), 1});
  }
  auto join = [&] {
    std::string out;
    for (const Part& p : parts) {
      if (p.drop < 0) continue;
      absl::StrAppend(&out, out.empty() ? "" : "  ", p.text);
    }
    return out;
  };
  std::string line = join();
  for (int rank = 1; line.size() > width && rank <= 4; ++rank) {
    for (Part& p : parts) {
      if (p.drop == rank) p.drop = -1;
    }
    line = join();
  }
  if (line.size() > width) line.resize(width);
  return line;
}

std::string FormatProgressJson(absl::string_view command, const ProgressSample& s,
                               double bytes_per_second, absl::Duration elapsed) {
  std::optional<absl::Duration> eta = EstimateEta(s, bytes_per_second);
  std::optional<double> pct = Percent(s);
  return absl::StrCat(
      "{\"type\":\"progress\",\"command\":", JsonString(std::string(command)), ",\"phase\":\"",
      PhaseLabel(s.phase), "\",\"done\":", s.done ? "true" : "false",
      ",\"elapsed_seconds\":", absl::StrFormat("%.3f", absl::ToDoubleSeconds(elapsed)),
      ",\"files\":", s.files_done, ",\"files_total\":", JsonOptional(s.files_total),
      ",\"bytes\":", s.bytes_done, ",\"bytes_total\":", JsonOptional(s.bytes_total),
      ",\"entries\":", s.entries, ",\"chunks\":", s.chunks_done,
      ",\"chunks_total\":", JsonOptional(s.chunks_total), ",\"warnings\":", s.warnings,
      ",\"bytes_per_second\":", absl::StrFormat("%.0f", std::max(0.0, bytes_per_second)),
      ",\"eta_seconds\":", eta ? absl::StrFormat("%.1f", absl::ToDoubleSeconds(*eta)) : "null",
      ",\"percent\":", pct ? absl::StrFormat("%.1f", *pct) : "null", "}");
}

ProgressDisplay::ProgressDisplay(const Progress* progress, ProgressDisplayOptions options)
    : progress_(progress), options_(std::move(options)) {
  if (!options_.now) options_.now = [] { return absl::Now(); };
  if (!options_.write) {
    options_.write = [](absl::string_view s) {
      std::fwrite(s.data(), 1, s.size(), stderr);
      std::fflush(stderr);
    };
  }
  if (options_.width < 20) options_.width = 20;
  start_ = options_.now();
  rate_.Add(start_, progress_->Read().bytes_done);
}

ProgressDisplay::~ProgressDisplay() { Finish(); }

void ProgressDisplay::Start() {
  if (options_.mode == ProgressMode::kOff || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void ProgressDisplay::Loop() {
  while (true) {
    {
      absl::MutexLock l(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.interval);
      if (stop_) return;
    }
    Tick();
  }
}

void ProgressDisplay::Tick() {
  absl::MutexLock l(&mu_);
  if (finished_ || options_.mode == ProgressMode::kOff) return;
  Draw(/*final=*/false);
}

void ProgressDisplay::Draw(bool final, bool completed) {
  const absl::Time now = options_.now();
  ProgressSample s = progress_->Read();
  if (final) s.done = true;
  rate_.Add(now, s.bytes_done);
  const absl::Duration elapsed = now - start_;
  double rate = rate_.BytesPerSecond();
  if (final) {
    const double secs = absl::ToDoubleSeconds(elapsed);
    rate = secs > 0 ? static_cast<double>(s.bytes_done) / secs : 0;
  }
  if (options_.mode == ProgressMode::kLine) {
    std::string line =
        FormatProgressLine(options_.command, s, rate, options_.width - 1, !completed);
    options_.write(absl::StrCat("\r", line, "\033[K", final ? "\n" : ""));
    line_ = final ? "" : std::move(line);
  } else if (options_.mode == ProgressMode::kJson) {
    if (!final && now - last_json_ < options_.json_interval) return;
    last_json_ = now;
    options_.write(absl::StrCat(FormatProgressJson(options_.command, s, rate, elapsed), "\n"));
  }
}

void ProgressDisplay::PrintLine(absl::string_view line) {
  absl::MutexLock l(&mu_);
  if (options_.mode == ProgressMode::kLine && !line_.empty()) {
    options_.write(absl::StrCat("\r\033[K", line, "\n", line_, "\033[K"));
  } else {
    options_.write(absl::StrCat(line, "\n"));
  }
}

void ProgressDisplay::Finish(bool completed) {
  {
    absl::MutexLock l(&mu_);
    if (finished_) return;
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock l(&mu_);
  finished_ = true;
  if (options_.mode != ProgressMode::kOff) Draw(/*final=*/true, completed);
}

size_t TerminalWidth(int fd) {
  struct winsize ws = {};
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

ProgressDisplayOptions StderrDisplayOptions(std::string command, bool progress_flag,
                                            bool no_progress_flag, bool json) {
  ProgressDisplayOptions o;
  o.mode = ChooseProgressMode(progress_flag, no_progress_flag, json, isatty(STDERR_FILENO) == 1);
  o.command = std::move(command);
  o.width = TerminalWidth(STDERR_FILENO);
  return o;
}

}  // namespace arca::cli
