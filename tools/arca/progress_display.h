// The CLI's live progress for backup, restore and verify: samples a
// Progress (libs/pipeline/progress.h) every ~250 ms from its own thread and
// draws it on stderr, either as one line rewritten in place (a terminal) or
// as JSON lines (`--json`). Remote mode relays the orchestrator's progress
// events into a Progress and uses the same display.
//
// Line mode: "\r" + the line + clear-to-end-of-line, at most width-1
// columns; a final newline on Finish(). JSON mode: one object per line,
//   {"type":"progress","command":"backup","phase":"collection","done":false,
//    "elapsed_seconds":1.5,"files":12,"files_total":null,"bytes":123,
//    "bytes_total":456,"entries":15,"chunks":0,"chunks_total":null,
//    "warnings":0,"bytes_per_second":82.0,"eta_seconds":4.0,"percent":26.9}
// (unknown totals, ETA and percent are null; "phase" is a PhaseName() or
// "starting" before one is known; "command" is "job" for a remote `watch`),
// at most one a second while running, and always a last one with
// "done":true and the final counters.
//
// Thread-safety: PrintLine() and Finish() may be called from any thread
// while the sampling thread runs; all output goes through one mutex, so a
// warning printed with PrintLine() never lands inside the progress line.
#ifndef ARCA_TOOLS_ARCA_PROGRESS_DISPLAY_H_
#define ARCA_TOOLS_ARCA_PROGRESS_DISPLAY_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/pipeline/progress.h"

namespace arca::cli {

enum class ProgressMode { kOff, kLine, kJson };

// --no-progress: off. --progress: JSON lines with --json, else the line,
// even when stderr is not a terminal. Neither: the same, but only when
// stderr is a terminal (else off).
ProgressMode ChooseProgressMode(bool progress_flag, bool no_progress_flag, bool json,
                                bool stderr_is_terminal);

// Bytes per second over the last `window` of samples (a sliding window).
class RateWindow {
 public:
  explicit RateWindow(absl::Duration window = absl::Seconds(5)) : window_(window) {}
  // Samples must come with non-decreasing times.
  void Add(absl::Time now, uint64_t bytes);
  // 0 until two samples at least 100 ms apart.
  double BytesPerSecond() const;

 private:
  absl::Duration window_;
  std::deque<std::pair<absl::Time, uint64_t>> samples_;
};

// "12.3 MiB/s".
std::string FormatRate(double bytes_per_second);
// "45s", "4m05s", "2h03m", ">99h".
std::string FormatEta(absl::Duration eta);
// Time left at `bytes_per_second` when the total is known, not yet reached
// and the rate is positive; nullopt otherwise.
std::optional<absl::Duration> EstimateEta(const ProgressSample& s, double bytes_per_second);
// 0..100 when the total is known (capped at 100: totals are estimates).
std::optional<double> Percent(const ProgressSample& s);

// One progress line without control characters, at most `width` columns
// (parts are dropped, least useful first, to fit), e.g.
//   "backup collection  1204 files  512.0 MiB/1.2 GiB  41%  85.2 MiB/s  ETA 9s"
// A done sample reads "backup done ...", or "backup stopped ..." when
// `stopped` (failed or cancelled before the end).
std::string FormatProgressLine(absl::string_view command, const ProgressSample& s,
                               double bytes_per_second, size_t width, bool stopped = false);
// One JSON object (no newline): the format in the file comment.
std::string FormatProgressJson(absl::string_view command, const ProgressSample& s,
                               double bytes_per_second, absl::Duration elapsed);

struct ProgressDisplayOptions {
  ProgressMode mode = ProgressMode::kOff;
  std::string command;  // "backup", "restore", "verify"
  absl::Duration interval = absl::Milliseconds(250);
  absl::Duration json_interval = absl::Seconds(1);
  size_t width = 80;  // terminal columns; lines use at most width-1
  // Clock and output: real time and stderr unless replaced (tests).
  std::function<absl::Time()> now;
  std::function<void(absl::string_view)> write;
};

class ProgressDisplay {
 public:
  // progress is not owned and must outlive the display.
  ProgressDisplay(const Progress* progress, ProgressDisplayOptions options);
  ~ProgressDisplay();  // Finish()
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  // Starts the sampling thread (nothing in mode kOff).
  void Start();
  // One sample and redraw (what the thread does every interval; tests call
  // it directly with a fake clock).
  void Tick();
  // Prints `line` (no newline) on a line of its own: line mode clears the
  // progress line first and redraws it after; other modes just print it.
  void PrintLine(absl::string_view line);
  // Stops the thread, draws the final state (line mode: then a newline,
  // "stopped" instead of "done" when !completed; JSON: the "done" line).
  // Idempotent: later calls do nothing.
  void Finish(bool completed = true);

  ProgressMode mode() const { return options_.mode; }

 private:
  void Draw(bool final, bool completed = true) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Loop();

  const Progress* progress_;
  ProgressDisplayOptions options_;
  absl::Time start_;
  absl::Mutex mu_;
  RateWindow rate_ ABSL_GUARDED_BY(mu_);
  std::string line_ ABSL_GUARDED_BY(mu_);  // what is on the terminal now
  absl::Time last_json_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Columns of the terminal on fd (80 when unknown).
size_t TerminalWidth(int fd);

// Options for a display on stderr: the mode from the flags and whether
// stderr is a terminal (ChooseProgressMode), its width.
ProgressDisplayOptions StderrDisplayOptions(std::string command, bool progress_flag,
                                            bool no_progress_flag, bool json);

}  // namespace arca::cli

#endif  // ARCA_TOOLS_ARCA_PROGRESS_DISPLAY_H_
