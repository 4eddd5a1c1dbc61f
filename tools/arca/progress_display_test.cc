// The progress display's formatting and drawing, with a fake clock and a
// captured output.
#include "tools/arca/progress_display.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace arca::cli {
namespace {

// Parses one JSON object (fails the test if it is not valid JSON).
google::protobuf::Struct ParseJson(const std::string& text) {
  google::protobuf::Struct out;
  auto st = google::protobuf::util::JsonStringToMessage(text, &out);
  EXPECT_TRUE(st.ok()) << st.ToString() << " in " << text;
  return out;
}

TEST(ProgressMode, TerminalFlagsAndJson) {
  EXPECT_EQ(ChooseProgressMode(false, false, false, true), ProgressMode::kLine);
  EXPECT_EQ(ChooseProgressMode(false, false, true, true), ProgressMode::kJson);
  EXPECT_EQ(ChooseProgressMode(false, false, false, false), ProgressMode::kOff);
  EXPECT_EQ(ChooseProgressMode(false, false, true, false), ProgressMode::kOff);
  EXPECT_EQ(ChooseProgressMode(true, false, false, false), ProgressMode::kLine);
  EXPECT_EQ(ChooseProgressMode(true, false, true, false), ProgressMode::kJson);
  EXPECT_EQ(ChooseProgressMode(false, true, false, true), ProgressMode::kOff);
  EXPECT_EQ(ChooseProgressMode(true, true, true, true), ProgressMode::kOff);
}

TEST(ProgressFormat, EtaAndRate) {
  EXPECT_EQ(FormatEta(absl::Seconds(0)), "0s");
  EXPECT_EQ(FormatEta(absl::Seconds(45)), "45s");
  EXPECT_EQ(FormatEta(absl::Seconds(245)), "4m05s");
  EXPECT_EQ(FormatEta(absl::Seconds(2 * 3600 + 3 * 60 + 59)), "2h03m");
  EXPECT_EQ(FormatEta(absl::Hours(200)), ">99h");
  EXPECT_EQ(FormatRate(0), "0 B/s");
  EXPECT_EQ(FormatRate(1536), "1.5 KiB/s");
  EXPECT_EQ(FormatRate(85.25 * 1024 * 1024), "85.2 MiB/s");
}

TEST(ProgressFormat, EtaAndPercentOnlyWithATotal) {
  ProgressSample s;
  s.bytes_done = 25;
  EXPECT_FALSE(EstimateEta(s, 10).has_value());
  EXPECT_FALSE(Percent(s).has_value());
  s.bytes_total = 100;
  ASSERT_TRUE(EstimateEta(s, 10).has_value());
  EXPECT_EQ(*EstimateEta(s, 10), absl::Seconds(7.5));
  EXPECT_FALSE(EstimateEta(s, 0).has_value());
  EXPECT_DOUBLE_EQ(*Percent(s), 25.0);
  s.bytes_done = 150;  // the total was an estimate
  EXPECT_DOUBLE_EQ(*Percent(s), 100.0);
  EXPECT_FALSE(EstimateEta(s, 10).has_value());
}

TEST(RateWindow, SlidesOverTheLastSeconds) {
  RateWindow w(absl::Seconds(5));
  absl::Time t = absl::FromUnixSeconds(1000);
  EXPECT_EQ(w.BytesPerSecond(), 0);
  w.Add(t, 0);
  EXPECT_EQ(w.BytesPerSecond(), 0);
  for (int i = 1; i <= 10; ++i) w.Add(t + absl::Seconds(i), uint64_t{10} * i << 20);
  EXPECT_DOUBLE_EQ(w.BytesPerSecond(), 10.0 * (1 << 20));
  // A stall: after a full window without bytes the rate is 0.
  for (int i = 11; i <= 16; ++i) w.Add(t + absl::Seconds(i), uint64_t{100} << 20);
  EXPECT_EQ(w.BytesPerSecond(), 0);
  // Faster again: only the window counts, not the whole run's average.
  w.Add(t + absl::Seconds(17), uint64_t{150} << 20);
  EXPECT_NEAR(w.BytesPerSecond(), 50.0 * (1 << 20) / 5, 1);
}

TEST(ProgressFormat, LineShowsEverythingItKnows) {
  ProgressSample s;
  s.phase = v1::PHASE_COLLECTION;
  s.files_done = 1204;
  s.bytes_done = uint64_t{512} << 20;
  s.bytes_total = uint64_t{1229} << 20;
  s.warnings = 2;
  EXPECT_EQ(FormatProgressLine("backup", s, 85.25 * (1 << 20), 120),
            "backup collection  1204 files  512.0 MiB/1.2 GiB  41%  85.2 MiB/s  ETA 8s  "
            "2 warnings");
  // Too long for 80 columns: the warning count goes first.
  EXPECT_EQ(FormatProgressLine("backup", s, 85.25 * (1 << 20), 79),
            "backup collection  1204 files  512.0 MiB/1.2 GiB  41%  85.2 MiB/s  ETA 8s");
  s.bytes_total = 0;
  s.warnings = 0;
  EXPECT_EQ(FormatProgressLine("backup", s, 0, 79), "backup collection  1204 files  512.0 MiB");
  EXPECT_EQ(FormatProgressLine("backup", ProgressSample(), 0, 79), "backup starting  0 files  0 B");
  ProgressSample v;
  v.phase = v1::PHASE_VERIFICATION;
  v.chunks_done = 10;
  v.chunks_total = 40;
  v.bytes_done = 1000;
  v.bytes_total = 4000;
  v.done = true;
  EXPECT_EQ(FormatProgressLine("verify", v, 0, 79),
            "verify done  10/40 chunks  1000 B/3.9 KiB  25%");
  EXPECT_EQ(FormatProgressLine("verify", v, 0, 79, /*stopped=*/true),
            "verify stopped  10/40 chunks  1000 B/3.9 KiB  25%");
  v.done = false;
  EXPECT_EQ(FormatProgressLine("verify", v, 0, 79), "verify  10/40 chunks  1000 B/3.9 KiB  25%");
}

TEST(ProgressFormat, LineFitsEightyColumnsWhateverTheNumbers) {
  ProgressSample s;
  s.phase = v1::PHASE_COLLECTION;
  s.files_done = 123456789012;
  s.files_total = 999999999999;
  s.bytes_done = uint64_t{1000} << 40;
  s.bytes_total = uint64_t{1023} << 40;
  s.warnings = 123456789;
  for (size_t width : {79u, 60u, 40u, 20u}) {
    std::string line = FormatProgressLine("restore", s, 1023.0 * (1 << 20), width);
    EXPECT_LE(line.size(), width) << line;
    EXPECT_EQ(line, std::string("restore collection  123456789012/999999999999 files  "
                                "1000.0 TiB/1023.0 TiB")
                        .substr(0, width));
  }
  EXPECT_EQ(FormatProgressLine("restore", s, 1023.0 * (1 << 20), 200),
            "restore collection  123456789012/999999999999 files  1000.0 TiB/1023.0 TiB  97%  "
            "1023.0 MiB/s  ETA 6h32m  123456789 warnings");
}

TEST(ProgressFormat, JsonLineParses) {
  ProgressSample s;
  s.phase = v1::PHASE_RESTORE;
  s.files_done = 3;
  s.files_total = 5;
  s.bytes_done = 300;
  s.bytes_total = 1000;
  s.entries = 7;
  s.warnings = 1;
  google::protobuf::Struct j =
      ParseJson(FormatProgressJson("restore", s, 100, absl::Milliseconds(2500)));
  const auto& f = j.fields();
  EXPECT_EQ(f.at("type").string_value(), "progress");
  EXPECT_EQ(f.at("command").string_value(), "restore");
  EXPECT_EQ(f.at("phase").string_value(), "restore");
  EXPECT_FALSE(f.at("done").bool_value());
  EXPECT_EQ(f.at("elapsed_seconds").number_value(), 2.5);
  EXPECT_EQ(f.at("files").number_value(), 3);
  EXPECT_EQ(f.at("files_total").number_value(), 5);
  EXPECT_EQ(f.at("bytes").number_value(), 300);
  EXPECT_EQ(f.at("bytes_total").number_value(), 1000);
  EXPECT_EQ(f.at("entries").number_value(), 7);
  EXPECT_EQ(f.at("warnings").number_value(), 1);
  EXPECT_EQ(f.at("bytes_per_second").number_value(), 100);
  EXPECT_EQ(f.at("eta_seconds").number_value(), 7);
  EXPECT_EQ(f.at("percent").number_value(), 30);
  EXPECT_TRUE(f.at("chunks_total").has_null_value());
  // Unknown totals are null.
  s.bytes_total = 0;
  google::protobuf::Struct u = ParseJson(FormatProgressJson("backup", s, 0, absl::ZeroDuration()));
  EXPECT_TRUE(u.fields().at("bytes_total").has_null_value());
  EXPECT_TRUE(u.fields().at("eta_seconds").has_null_value());
  EXPECT_TRUE(u.fields().at("percent").has_null_value());
}

// A display on a fake clock writing into a string.
struct Harness {
  explicit Harness(ProgressMode mode) {
    ProgressDisplayOptions o;
    o.mode = mode;
    o.command = "backup";
    o.now = [this] { return now; };
    o.write = [this](absl::string_view s) { out.append(s.data(), s.size()); };
    progress.SetPhase(v1::PHASE_COLLECTION);
    progress.SetBytesTotal(4000);
    display = std::make_unique<ProgressDisplay>(&progress, o);
  }
  void Advance(absl::Duration d) { now += d; }
  absl::Time now = absl::FromUnixSeconds(1000);
  std::string out;
  Progress progress;
  std::unique_ptr<ProgressDisplay> display;
};

TEST(ProgressDisplay, LineIsRewrittenInPlaceAndWarningsGetTheirOwnLine) {
  Harness h(ProgressMode::kLine);
  h.progress.AddFiles(1);
  h.progress.AddBytes(1000);
  h.Advance(absl::Seconds(1));
  h.display->Tick();
  // The rate counts from the start.
  EXPECT_EQ(h.out, "\rbackup collection  1 files  1000 B/3.9 KiB  25%  1000 B/s  ETA 3s\033[K");
  h.out.clear();
  h.progress.AddBytes(1000);
  h.Advance(absl::Seconds(1));
  h.display->Tick();
  EXPECT_EQ(h.out, "\rbackup collection  1 files  2.0 KiB/3.9 KiB  50%  1000 B/s  ETA 2s\033[K");
  h.out.clear();
  h.display->PrintLine("warning: a: unreadable");
  // Cleared, printed on its own line, then the progress line again.
  EXPECT_EQ(h.out,
            "\r\033[Kwarning: a: unreadable\nbackup collection  1 files  2.0 KiB/3.9 KiB  50%  "
            "1000 B/s  ETA 2s\033[K");
  h.out.clear();
  h.progress.AddBytes(2000);
  h.progress.AddFiles(1);
  h.progress.MarkDone();
  h.Advance(absl::Seconds(2));
  h.display->Finish();
  EXPECT_EQ(h.out, "\rbackup done  2 files  3.9 KiB/3.9 KiB  100%  1000 B/s\033[K\n");
  h.out.clear();
  h.display->Finish();  // idempotent
  h.display->Tick();    // nothing after the end
  EXPECT_EQ(h.out, "");
  h.display->PrintLine("after");
  EXPECT_EQ(h.out, "after\n");
}

TEST(ProgressDisplay, JsonLinesAtMostOneASecondThenTheFinalOne) {
  Harness h(ProgressMode::kJson);
  for (int i = 0; i < 8; ++i) {
    h.progress.AddBytes(100);
    h.Advance(absl::Milliseconds(250));
    h.display->Tick();
  }
  h.progress.AddFiles(3);
  h.display->Finish();
  std::vector<std::string> lines = absl::StrSplit(h.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << h.out;  // at 0.25 s, 1.25 s, and the final one
  for (const std::string& l : lines) ParseJson(l);
  google::protobuf::Struct last = ParseJson(lines.back());
  EXPECT_TRUE(last.fields().at("done").bool_value());
  EXPECT_EQ(last.fields().at("bytes").number_value(), 800);
  EXPECT_EQ(last.fields().at("files").number_value(), 3);
  EXPECT_EQ(last.fields().at("elapsed_seconds").number_value(), 2);
  EXPECT_FALSE(ParseJson(lines[0]).fields().at("done").bool_value());
}

TEST(ProgressDisplay, OffPrintsNothingButPrintLine) {
  Harness h(ProgressMode::kOff);
  h.display->Start();
  h.progress.AddBytes(10);
  h.display->Tick();
  h.display->PrintLine("warning: x");
  h.display->Finish();
  EXPECT_EQ(h.out, "warning: x\n");
}

TEST(ProgressDisplay, ThreadSamplesUntilFinished) {
  Progress progress;
  std::string out;
  absl::Mutex mu;
  ProgressDisplayOptions o;
  o.mode = ProgressMode::kLine;
  o.command = "verify";
  o.interval = absl::Milliseconds(10);
  o.write = [&](absl::string_view s) {
    absl::MutexLock l(&mu);
    out.append(s.data(), s.size());
  };
  ProgressDisplay d(&progress, o);
  d.Start();
  progress.AddChunks(5);
  absl::SleepFor(absl::Milliseconds(100));
  d.Finish();
  absl::MutexLock l(&mu);
  EXPECT_NE(out.find("\rverify"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
  EXPECT_NE(out.find("verify done  5 chunks"), std::string::npos) << out;
}

}  // namespace
}  // namespace arca::cli
