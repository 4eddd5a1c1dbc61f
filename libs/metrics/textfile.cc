#include "libs/metrics/textfile.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace arca::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// ---- parsing ---------------------------------------------------------------

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

bool ParseDouble(const std::string& token, double* out) {
  if (token.empty()) return false;
  // strtod accepts "Nan", "+Inf", "-Inf" case-insensitively, like the format.
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(token.c_str(), &end);
  if (end != token.c_str() + token.size()) return false;
  *out = v;
  return true;
}

// Sorted "name\0value\0..." key of a label set; a histogram's `le` excluded.
std::string LabelKey(std::vector<ClientMetric::Label> labels, bool histogram) {
  std::sort(labels.begin(), labels.end());
  std::string key;
  for (const auto& l : labels) {
    if (histogram && l.name == "le") continue;
    key.append(l.name).push_back('\0');
    key.append(l.value).push_back('\0');
  }
  return key;
}

class TextParser {
 public:
  absl::StatusOr<std::vector<MetricFamily>> Parse(const std::string& text) {
    size_t pos = 0;
    int line_no = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      const std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      ++line_no;
      if (line.empty()) continue;
      absl::Status st = line[0] == '#' ? Comment(line) : Sample(line);
      if (!st.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": ", st.message()));
      }
    }
    for (MetricFamily& f : families_) {
      if (f.type != MetricType::Histogram) continue;
      for (ClientMetric& m : f.metric) {
        std::sort(m.histogram.bucket.begin(), m.histogram.bucket.end(),
                  [](const ClientMetric::Bucket& a, const ClientMetric::Bucket& b) {
                    return a.upper_bound < b.upper_bound;
                  });
      }
    }
    return std::move(families_);
  }

 private:
  absl::Status Comment(const std::string& line) {
    // "# HELP name text" / "# TYPE name type"; other comments are ignored.
    if (line.rfind("# HELP ", 0) != 0 && line.rfind("# TYPE ", 0) != 0) {
      return absl::OkStatus();
    }
    const bool is_type = line[2] == 'T';
    const size_t name_start = 7;
    size_t name_end = line.find(' ', name_start);
    if (name_end == std::string::npos) name_end = line.size();
    const std::string name = line.substr(name_start, name_end - name_start);
    const std::string rest = name_end < line.size() ? line.substr(name_end + 1) : "";
    if (name.empty() || !IsNameStart(name[0]) ||
        !std::all_of(name.begin(), name.end(), IsNameChar)) {
      return absl::InvalidArgumentError(absl::StrCat("bad metric name '", name, "'"));
    }
    if (!is_type) {
      help_[name] = rest;
      if (auto it = index_.find(name); it != index_.end()) families_[it->second].help = rest;
      return absl::OkStatus();
    }
    MetricType type;
    if (rest == "counter") {
      type = MetricType::Counter;
    } else if (rest == "gauge") {
      type = MetricType::Gauge;
    } else if (rest == "histogram") {
      type = MetricType::Histogram;
    } else if (rest == "untyped") {
      type = MetricType::Untyped;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unsupported type '", rest, "' of ", name));
    }
    if (index_.count(name) > 0) {
      return absl::InvalidArgumentError(absl::StrCat("second TYPE line for ", name));
    }
    index_[name] = families_.size();
    MetricFamily family;
    family.name = name;
    family.type = type;
    if (auto it = help_.find(name); it != help_.end()) family.help = it->second;
    families_.push_back(std::move(family));
    return absl::OkStatus();
  }

  absl::Status Sample(const std::string& line) {
    size_t i = 0;
    if (!IsNameStart(line[0])) return absl::InvalidArgumentError("bad metric name");
    while (i < line.size() && IsNameChar(line[i])) ++i;
    const std::string name = line.substr(0, i);
    std::vector<ClientMetric::Label> labels;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        const size_t start = i;
        while (i < line.size() && IsNameChar(line[i])) ++i;
        if (i == start || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          return absl::InvalidArgumentError(absl::StrCat("malformed labels of ", name));
        }
        ClientMetric::Label label;
        label.name = line.substr(start, i - start);
        i += 2;
        bool closed = false;
        while (i < line.size()) {
          const char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c != '\\') {
            label.value.push_back(c);
            continue;
          }
          if (i >= line.size()) break;
          const char e = line[i++];
          if (e == 'n') {
            label.value.push_back('\n');
          } else if (e == '\\' || e == '"') {
            label.value.push_back(e);
          } else {
            return absl::InvalidArgumentError(absl::StrCat("bad escape in a label of ", name));
          }
        }
        if (!closed) {
          return absl::InvalidArgumentError(absl::StrCat("unterminated label value of ", name));
        }
        labels.push_back(std::move(label));
        if (i < line.size() && line[i] == ',') ++i;
      }
    }
    if (i >= line.size() || line[i] != ' ') {
      return absl::InvalidArgumentError(absl::StrCat("no value for ", name));
    }
    ++i;
    size_t value_end = line.find(' ', i);
    if (value_end == std::string::npos) value_end = line.size();
    double value = 0;
    if (!ParseDouble(line.substr(i, value_end - i), &value)) {
      return absl::InvalidArgumentError(absl::StrCat("bad value of ", name));
    }
    // A trailing timestamp, if any, is ignored.

    if (auto it = index_.find(name); it != index_.end()) {
      MetricFamily& f = families_[it->second];
      if (f.type == MetricType::Histogram) {
        return absl::InvalidArgumentError(
            absl::StrCat("histogram ", name, " sample without _bucket/_sum/_count"));
      }
      ClientMetric& m = Series(f, labels);
      switch (f.type) {
        case MetricType::Counter:
          if (!(value >= 0)) {
            return absl::InvalidArgumentError(absl::StrCat("negative or NaN counter ", name));
          }
          m.counter.value = value;
          break;
        case MetricType::Gauge:
          m.gauge.value = value;
          break;
        default:
          m.untyped.value = value;
      }
      return absl::OkStatus();
    }
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const size_t n = std::strlen(suffix);
      if (name.size() <= n || name.compare(name.size() - n, n, suffix) != 0) continue;
      auto it = index_.find(name.substr(0, name.size() - n));
      if (it == index_.end() || families_[it->second].type != MetricType::Histogram) continue;
      ClientMetric& m = Series(families_[it->second], labels);
      const bool is_sum = suffix[1] == 's';
      if (!is_sum && !(value >= 0 && value <= 9.007199254740992e15)) {
        return absl::InvalidArgumentError(absl::StrCat("bad count in ", name));
      }
      if (is_sum) {
        m.histogram.sample_sum = value;
      } else if (suffix[1] == 'c') {
        m.histogram.sample_count = static_cast<uint64_t>(value);
      } else {
        auto le = std::find_if(labels.begin(), labels.end(),
                               [](const ClientMetric::Label& l) { return l.name == "le"; });
        double bound = 0;
        if (le == labels.end() || !ParseDouble(le->value, &bound) || std::isnan(bound)) {
          return absl::InvalidArgumentError(absl::StrCat("bucket of ", name, " without le"));
        }
        ClientMetric::Bucket bucket;
        bucket.upper_bound = bound;
        bucket.cumulative_count = static_cast<uint64_t>(value);
        m.histogram.bucket.push_back(bucket);
      }
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat("sample ", name, " without a TYPE line"));
  }

  // The series of `family` with `labels` (le ignored), created if new.
  ClientMetric& Series(MetricFamily& family, const std::vector<ClientMetric::Label>& labels) {
    const bool histogram = family.type == MetricType::Histogram;
    const std::string key = family.name + '\0' + LabelKey(labels, histogram);
    auto [it, inserted] = series_.emplace(key, family.metric.size());
    if (inserted) {
      ClientMetric m;
      for (const auto& l : labels) {
        if (!histogram || l.name != "le") m.label.push_back(l);
      }
      std::sort(m.label.begin(), m.label.end());
      family.metric.push_back(std::move(m));
    }
    return family.metric[it->second];
  }

  std::vector<MetricFamily> families_;
  std::map<std::string, size_t> index_;  // family name → families_ index
  std::map<std::string, std::string> help_;
  std::map<std::string, size_t> series_;  // family + label key → metric index
};

// ---- file handling ---------------------------------------------------------

absl::Status ErrnoError(int err, const std::string& what) {
  const std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::FailedPreconditionError(msg);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Reads `path` into *content. *exists = false when there is no file.
absl::Status ReadPrevious(const std::string& path, bool* exists, std::string* content) {
  *exists = false;
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(errno, absl::StrCat("cannot read the previous metrics textfile ", path,
                                          " (to carry its counters forward)"));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("metrics textfile ", path,
                     " exists and is not a regular file; remove it or choose "
                     "another --metrics-textfile"));
  }
  char buf[65536];
  while (true) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, absl::StrCat("cannot read the previous metrics textfile ", path));
    }
    if (n == 0) break;
    content->append(buf, static_cast<size_t>(n));
  }
  *exists = true;
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, const std::string& data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, what);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<MetricFamily>> ParseMetricsText(const std::string& text) {
  return TextParser().Parse(text);
}

std::vector<MetricFamily> MergeCarriedForward(const std::vector<MetricFamily>& previous,
                                              std::vector<MetricFamily> current) {
  std::map<std::string, const MetricFamily*> by_name;
  for (const MetricFamily& f : previous) by_name[f.name] = &f;
  // Families only the previous file has are kept as they were: prometheus-cpp
  // does not export a registered family without series (e.g.
  // arca_last_success_timestamp_seconds after a failed run).
  std::map<std::string, bool> in_current;
  for (const MetricFamily& c : current) in_current[c.name] = true;
  const size_t current_families = current.size();
  for (const MetricFamily& p : previous) {
    if (!in_current.count(p.name)) current.push_back(p);
  }
  for (size_t f = 0; f < current_families; ++f) {
    MetricFamily& c = current[f];
    auto it = by_name.find(c.name);
    if (it == by_name.end() || it->second->type != c.type) continue;
    const MetricFamily& p = *it->second;
    std::map<std::string, size_t> index;
    const bool histogram = c.type == MetricType::Histogram;
    for (size_t i = 0; i < c.metric.size(); ++i) {
      index[LabelKey(c.metric[i].label, histogram)] = i;
    }
    for (const ClientMetric& pm : p.metric) {
      auto found = index.find(LabelKey(pm.label, histogram));
      if (found == index.end()) {
        c.metric.push_back(pm);
        continue;
      }
      ClientMetric& m = c.metric[found->second];
      if (c.type == MetricType::Counter) {
        m.counter.value += pm.counter.value;
      } else if (c.type == MetricType::Histogram) {
        auto& cb = m.histogram.bucket;
        const auto& pb = pm.histogram.bucket;
        const bool same_bounds =
            cb.size() == pb.size() &&
            std::equal(cb.begin(), cb.end(), pb.begin(),
                       [](const ClientMetric::Bucket& a, const ClientMetric::Bucket& b) {
                         return a.upper_bound == b.upper_bound;
                       });
        if (!same_bounds) continue;
        for (size_t i = 0; i < cb.size(); ++i) cb[i].cumulative_count += pb[i].cumulative_count;
        m.histogram.sample_count += pm.histogram.sample_count;
        m.histogram.sample_sum += pm.histogram.sample_sum;
      }
      // Gauges and untyped: the current value wins.
    }
  }
  return current;
}

namespace {

// Splits `path` into its directory and file name and opens the directory.
absl::Status OpenTextfileDir(const std::string& path, std::string* dir, std::string* base,
                             int* dir_fd) {
  const size_t slash = path.rfind('/');
  *dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  *base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base->empty() || *base == "." || *base == "..") {
    return absl::InvalidArgumentError(absl::StrCat("metrics textfile path '", path,
                                                   "' names a directory; pass a file such as "
                                                   "/var/lib/node_exporter/textfile/arca.prom"));
  }
  *dir_fd = open(dir->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (*dir_fd < 0) {
    return ErrnoError(errno,
                      absl::StrCat("cannot open directory ", *dir, " of metrics textfile ", path,
                                   "; create it or choose another --metrics-textfile"));
  }
  return absl::OkStatus();
}

absl::Status TempFileError(int err, const std::string& dir, const std::string& path) {
  return ErrnoError(
      err, absl::StrCat("cannot create a temporary file in ", dir, " for metrics textfile ", path,
                        "; make the directory writable or choose another "
                        "--metrics-textfile"));
}

}  // namespace

absl::Status CheckMetricsTextfilePath(const std::string& path) {
  std::string dir, base;
  int raw_dir_fd = -1;
  if (absl::Status st = OpenTextfileDir(path, &dir, &base, &raw_dir_fd); !st.ok()) return st;
  Fd dir_fd(raw_dir_fd);
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("metrics textfile ", path,
                     " exists and is not a regular file; remove it or choose "
                     "another --metrics-textfile"));
  }
  std::string tmp = absl::StrCat(dir, "/.", base, ".tmp.XXXXXX");
  const int fd = mkstemp(tmp.data());
  if (fd < 0) return TempFileError(errno, dir, path);
  close(fd);
  unlink(tmp.c_str());
  return absl::OkStatus();
}

absl::Status WriteJobTextfile(
    const std::string& path, const JobOutcome& outcome,
    std::optional<std::chrono::system_clock::time_point> group_last_success,
    const TextfileOptions& options) {
  prometheus::Registry registry;
  JobMetrics metrics(registry);
  RecordJobResult(metrics, outcome);
  if (group_last_success.has_value()) {
    NoteLastSuccess(metrics, outcome.group, *group_last_success);
  }
  return WriteMetricsTextfile(registry, path, options);
}

absl::Status WriteMetricsTextfile(const prometheus::Registry& registry, const std::string& path,
                                  const TextfileOptions& options) {
  std::string dir, base;
  int raw_dir_fd = -1;
  if (absl::Status st = OpenTextfileDir(path, &dir, &base, &raw_dir_fd); !st.ok()) return st;
  Fd dir_fd(raw_dir_fd);
  // Serialises read-merge-write of concurrent writers (threads and processes).
  while (flock(dir_fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) {
      return ErrnoError(
          errno, absl::StrCat("cannot lock directory ", dir, " to write metrics textfile ", path));
    }
  }

  std::vector<MetricFamily> families = registry.Collect();
  if (options.carry_forward) {
    bool exists = false;
    std::string previous;
    if (absl::Status st = ReadPrevious(path, &exists, &previous); !st.ok()) return st;
    if (exists) {
      std::string warning;
      const std::string marker_line = std::string(kTextfileMarker) + "\n";
      if (previous.rfind(marker_line, 0) != 0) {
        warning = absl::StrCat("metrics textfile ", path, " was not written by arca (no '",
                               kTextfileMarker,
                               "' first line); replacing it without carrying values forward");
      } else {
        absl::StatusOr<std::vector<MetricFamily>> parsed = ParseMetricsText(previous);
        if (parsed.ok()) {
          families = MergeCarriedForward(*parsed, std::move(families));
        } else {
          warning = absl::StrCat("metrics textfile ", path, " cannot be parsed (",
                                 parsed.status().message(),
                                 "); replacing it without carrying values forward");
        }
      }
      if (!warning.empty()) {
        if (options.warn) {
          options.warn(warning);
        } else {
          std::cerr << "warning: " << warning << std::endl;
        }
      }
    }
  }
  const std::string text =
      absl::StrCat(kTextfileMarker, "\n", prometheus::TextSerializer().Serialize(families));

  std::string tmp = absl::StrCat(dir, "/.", base, ".tmp.XXXXXX");
  Fd fd(mkstemp(tmp.data()));
  if (fd.get() < 0) return TempFileError(errno, dir, path);
  absl::Status st = WriteAll(fd.get(), text,
                             absl::StrCat("cannot write ", tmp, " (metrics textfile ", path, ")"));
  if (st.ok() && fchmod(fd.get(), 0644) != 0) {
    st = ErrnoError(errno, absl::StrCat("cannot chmod ", tmp, " (metrics textfile ", path, ")"));
  }
  if (st.ok() && fsync(fd.get()) != 0) {
    st = ErrnoError(errno, absl::StrCat("cannot fsync ", tmp, " (metrics textfile ", path, ")"));
  }
  if (st.ok() && close(fd.release()) != 0) {
    st = ErrnoError(errno, absl::StrCat("cannot close ", tmp, " (metrics textfile ", path, ")"));
  }
  if (st.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    st = ErrnoError(errno, absl::StrCat("cannot rename ", tmp, " to metrics textfile ", path));
  }
  if (!st.ok()) {
    unlink(tmp.c_str());
    return st;
  }
  if (fsync(dir_fd.get()) != 0) {
    return ErrnoError(errno, absl::StrCat("cannot fsync directory ", dir,
                                          " after writing metrics textfile ", path));
  }
  return absl::OkStatus();
}

}  // namespace arca::metrics
