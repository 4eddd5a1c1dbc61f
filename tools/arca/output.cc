#include "tools/arca/output.h"

#include <ctime>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"
#include "libs/base/exit_codes.h"

namespace arca::cli {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20) {
      switch (c) {
        case '\n':
          out += "\\n";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\r':
          out += "\\r";
          break;
        default:
          out += absl::StrFormat("\\u%04x", c);
      }
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      // Validate one UTF-8 sequence.
      int len = (c >= 0xf0 && c < 0xf5) ? 4 : (c >= 0xe0) ? 3 : (c >= 0xc2 && c < 0xe0) ? 2 : 0;
      if (c >= 0xf5) len = 0;
      bool valid = len > 0 && i + len <= s.size();
      for (int k = 1; valid && k < len; ++k) {
        valid = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
      }
      if (valid) {
        out.append(s, i, len);
        i += len;
      } else {
        out += absl::StrFormat("\\u%04x", c);
        ++i;
      }
    }
  }
  out += '"';
  return out;
}

std::string ProtoJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(m, &out, opts).ok()) return "null";
  return out;
}

std::string LabelsText(const std::map<std::string, std::string>& labels) {
  std::string out;
  for (const auto& [key, value] : labels)
    absl::StrAppend(&out, out.empty() ? "" : ",", key, "=", value);
  return out;
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrCat(bytes, " B") : absl::StrFormat("%.1f %s", v, units[u]);
}

std::string ModeString(v1::EntryType type, uint32_t mode) {
  std::string s = "----------";
  switch (type) {
    case v1::ENTRY_TYPE_DIRECTORY:
      s[0] = 'd';
      break;
    case v1::ENTRY_TYPE_SYMLINK:
      s[0] = 'l';
      break;
    case v1::ENTRY_TYPE_HARDLINK:
      s[0] = 'h';
      break;
    case v1::ENTRY_TYPE_FIFO:
      s[0] = 'p';
      break;
    case v1::ENTRY_TYPE_CHAR_DEVICE:
      s[0] = 'c';
      break;
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      s[0] = 'b';
      break;
    default:
      break;
  }
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) {
    if (mode & (0400 >> i)) s[1 + i] = rwx[i];
  }
  if (mode & 04000) s[3] = (mode & 0100) ? 's' : 'S';
  if (mode & 02000) s[6] = (mode & 0010) ? 's' : 'S';
  if (mode & 01000) s[9] = (mode & 0001) ? 't' : 'T';
  return s;
}

std::string TimeString(int64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  int64_t ns = unix_ns % 1000000000;
  if (ns < 0) {
    ns += 1000000000;
    --secs;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return absl::StrFormat("%s.%09d", buf, ns);
}

std::string EntryTypeName(v1::EntryType type) {
  switch (type) {
    case v1::ENTRY_TYPE_REGULAR:
      return "file";
    case v1::ENTRY_TYPE_DIRECTORY:
      return "dir";
    case v1::ENTRY_TYPE_SYMLINK:
      return "symlink";
    case v1::ENTRY_TYPE_HARDLINK:
      return "hardlink";
    case v1::ENTRY_TYPE_FIFO:
      return "fifo";
    case v1::ENTRY_TYPE_CHAR_DEVICE:
      return "chardev";
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      return "blockdev";
    default:
      return "unknown";
  }
}

std::string EntryJson(const v1::Entry& e) {
  std::string out =
      absl::StrCat("{\"path\":", JsonString(e.path()), ",\"type\":\"", EntryTypeName(e.type()),
                   "\",\"mode\":", e.mode(), ",\"uid\":", e.uid(), ",\"gid\":", e.gid(),
                   ",\"size\":", e.size(), ",\"mtime_ns\":", e.mtime_ns());
  if (e.type() == v1::ENTRY_TYPE_SYMLINK) {
    absl::StrAppend(&out, ",\"target\":", JsonString(e.symlink_target()));
  }
  if (e.type() == v1::ENTRY_TYPE_HARDLINK) {
    absl::StrAppend(&out, ",\"target\":", JsonString(e.hardlink_target()));
  }
  if (e.type() == v1::ENTRY_TYPE_CHAR_DEVICE || e.type() == v1::ENTRY_TYPE_BLOCK_DEVICE) {
    absl::StrAppend(&out, ",\"rdev\":", e.rdev());
  }
  if (e.sparse()) absl::StrAppend(&out, ",\"sparse\":true");
  if (e.xattrs_size() > 0) absl::StrAppend(&out, ",\"xattrs\":", e.xattrs_size());
  if (e.acl_access_size() + e.acl_default_size() > 0) absl::StrAppend(&out, ",\"acl\":true");
  out += "}";
  return out;
}

std::string WarningJson(const v1::Warning& w) {
  return absl::StrCat("{\"phase\":\"", PhaseName(w.phase()), "\",\"path\":", JsonString(w.path()),
                      ",\"message\":", JsonString(w.message()), "}");
}

std::string S3RequestsJson(const s3::RequestCounts& counts) {
  std::string by_op;
  for (const auto& [op, n] : counts.by_op) {
    absl::StrAppend(&by_op, by_op.empty() ? "" : ",", JsonString(op), ":", n);
  }
  return absl::StrCat("{\"total\":", counts.total, ",\"retries\":", counts.retries,
                      ",\"by_op\":{", by_op, "}}");
}

std::string JsonStrings(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&out, i ? "," : "", JsonString(v[i]));
  return out + "]";
}

void PrintRestoreChanges(uint64_t skipped, uint64_t deleted,
                         const std::vector<std::string>& deleted_paths) {
  for (const std::string& p : deleted_paths) std::cerr << "deleted: " << p << "\n";
  if (deleted > 0) {
    std::cerr << "deleted " << deleted << " entries the snapshot lacks";
    if (deleted_paths.size() >= 1000) {
      std::cerr << " (only the first " << deleted_paths.size() << " removed paths are listed)";
    }
    std::cerr << "\n";
  }
  if (skipped > 0) std::cerr << "kept " << skipped << " existing entries as they were\n";
}

}  // namespace arca::cli
