#include "libs/pipeline/pax_writer.h"

#include <sys/sysmacros.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace arca {
namespace {

// ustar field offsets and widths (POSIX.1-2001 pax, "ustar Interchange Format").
constexpr size_t kName = 0, kNameLen = 100;
constexpr size_t kMode = 100, kUid = 108, kGid = 116, kSize = 124, kMtime = 136;
constexpr size_t kChksum = 148, kType = 156, kLink = 157, kLinkLen = 100;
constexpr size_t kMagic = 257, kVersion = 263, kDevMajor = 329, kDevMinor = 337;

// Writes `v` as width-1 octal digits and a NUL; false when it does not fit.
bool PutOctal(std::string* block, size_t off, size_t width, uint64_t v) {
  const size_t digits = width - 1;
  if (digits < 22 && v >> (3 * digits) != 0) return false;
  for (size_t i = digits; i-- > 0;) {
    (*block)[off + i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  (*block)[off + digits] = '\0';
  return true;
}

void PutString(std::string* block, size_t off, size_t width, absl::string_view s) {
  memcpy(block->data() + off, s.data(), std::min(width, s.size()));
}

bool FitsUstar(absl::string_view s, size_t width) {
  if (s.size() > width) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80 || c == '\0') return false;
  }
  return true;
}

std::string UstarHeader(absl::string_view name, char type, uint32_t mode, uint64_t uid,
                        uint64_t gid, uint64_t size, int64_t mtime_s, absl::string_view link,
                        uint64_t rdev) {
  std::string b(kTarBlock, '\0');
  PutString(&b, kName, kNameLen, name);
  PutOctal(&b, kMode, 8, mode & 07777);
  if (!PutOctal(&b, kUid, 8, uid)) PutOctal(&b, kUid, 8, 0);  // pax uid= holds it
  if (!PutOctal(&b, kGid, 8, gid)) PutOctal(&b, kGid, 8, 0);
  if (!PutOctal(&b, kSize, 12, size)) PutOctal(&b, kSize, 12, 0);
  if (mtime_s < 0 || !PutOctal(&b, kMtime, 12, static_cast<uint64_t>(mtime_s))) {
    PutOctal(&b, kMtime, 12, 0);
  }
  b[kType] = type;
  PutString(&b, kLink, kLinkLen, link);
  memcpy(b.data() + kMagic, "ustar", 6);
  memcpy(b.data() + kVersion, "00", 2);
  if (type == '3' || type == '4') {
    PutOctal(&b, kDevMajor, 8, major(rdev));
    PutOctal(&b, kDevMinor, 8, minor(rdev));
  }
  memset(b.data() + kChksum, ' ', 8);
  uint32_t sum = 0;
  for (char c : b) sum += static_cast<unsigned char>(c);
  PutOctal(&b, kChksum, 7, sum);  // six digits, NUL, then the space left above
  return b;
}

absl::string_view BaseName(absl::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

// A name that fits the ustar field for `full` (which the pax path= gives).
std::string ShortName(absl::string_view prefix, absl::string_view full) {
  std::string out = absl::StrCat(prefix, BaseName(full));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) >= 0x80) c = '_';
  }
  if (out.size() > kNameLen) out.resize(kNameLen);
  return out;
}

}  // namespace

std::string PaxRecord(absl::string_view key, absl::string_view value) {
  const size_t body = key.size() + value.size() + 3;  // ' ', '=', '\n'
  size_t len = body + 1;
  while (body + std::to_string(len).size() != len) len = body + std::to_string(len).size();
  return absl::StrCat(len, " ", key, "=", value, "\n");
}

std::string TarPadding(uint64_t data_size) {
  return std::string((kTarBlock - data_size % kTarBlock) % kTarBlock, '\0');
}

std::string TarTrailer() { return std::string(2 * kTarBlock, '\0'); }

std::string PaxTime(int64_t ns) {
  const bool negative = ns < 0;
  // |ns| without overflow for INT64_MIN.
  const uint64_t mag = negative ? uint64_t{0} - static_cast<uint64_t>(ns) : ns;
  std::string out = absl::StrCat(negative ? "-" : "", mag / 1000000000);
  uint64_t frac = mag % 1000000000;
  if (frac != 0) {
    std::string digits = std::to_string(frac);
    digits.insert(0, 9 - digits.size(), '0');
    while (digits.back() == '0') digits.pop_back();
    absl::StrAppend(&out, ".", digits);
  }
  return out;
}

std::string AclText(const google::protobuf::RepeatedPtrField<v1::AclEntry>& acl) {
  std::string out;
  for (const v1::AclEntry& a : acl) {
    std::string tag;
    switch (a.tag()) {
      case 1:
        tag = "user::";
        break;
      case 2:
        tag = absl::StrCat("user:", a.id(), ":");
        break;
      case 4:
        tag = "group::";
        break;
      case 8:
        tag = absl::StrCat("group:", a.id(), ":");
        break;
      case 16:
        tag = "mask::";
        break;
      case 32:
        tag = "other::";
        break;
      default:
        continue;  // ParsePosixAclXattr admits no others
    }
    absl::StrAppend(&out, out.empty() ? "" : ",", tag, (a.perm() & 4) ? "r" : "-",
                    (a.perm() & 2) ? "w" : "-", (a.perm() & 1) ? "x" : "-");
  }
  return out;
}

absl::StatusOr<PaxMember> EncodePaxMember(const v1::Entry& e) {
  PaxMember m;
  std::string path = e.path().empty() ? "./" : e.path();
  char type;
  absl::string_view link;
  switch (e.type()) {
    case v1::ENTRY_TYPE_REGULAR:
      type = '0';
      break;
    case v1::ENTRY_TYPE_DIRECTORY:
      type = '5';
      if (path.back() != '/') path += '/';
      break;
    case v1::ENTRY_TYPE_SYMLINK:
      type = '2';
      link = e.symlink_target();
      break;
    case v1::ENTRY_TYPE_HARDLINK:
      type = '1';
      link = e.hardlink_target();
      break;
    case v1::ENTRY_TYPE_FIFO:
      type = '6';
      break;
    case v1::ENTRY_TYPE_CHAR_DEVICE:
      type = '3';
      break;
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      type = '4';
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "'", path, "': entry type ", e.type(), " has no tar form (sockets are never stored)"));
  }
  std::string records;
  std::string ustar_name = path;
  if (type == '0') {
    m.payload_bytes = e.payload().length();
    if (e.sparse()) {
      std::vector<std::pair<uint64_t, uint64_t>> map;
      uint64_t sum = 0, end = 0;
      for (const v1::Extent& x : e.extents()) {
        if (x.offset() < end || x.offset() + x.length() > e.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat("'", path, "': sparse extents overlap or pass the size ", e.size()));
        }
        map.emplace_back(x.offset(), x.length());
        sum += x.length();
        end = x.offset() + x.length();
      }
      if (sum != m.payload_bytes) {
        return absl::InvalidArgumentError(absl::StrCat("'", path, "': extents hold ", sum,
                                                       " bytes, the payload ", m.payload_bytes));
      }
      if (end < e.size() || map.empty()) map.emplace_back(e.size(), 0);
      std::string text = absl::StrCat(map.size(), "\n");
      for (const auto& [off, len] : map) absl::StrAppend(&text, off, "\n", len, "\n");
      m.data_prefix = text + TarPadding(text.size());
      absl::StrAppend(&records, PaxRecord("GNU.sparse.major", "1"),
                      PaxRecord("GNU.sparse.minor", "0"), PaxRecord("GNU.sparse.name", path),
                      PaxRecord("GNU.sparse.realsize", std::to_string(e.size())));
      ustar_name = ShortName("GNUSparseFile.0/", path);
    } else if (m.payload_bytes != e.size()) {
      return absl::InvalidArgumentError(absl::StrCat("'", path, "': payload of ", m.payload_bytes,
                                                     " bytes for a size of ", e.size()));
    }
    m.data_size = m.data_prefix.size() + m.payload_bytes;
  }
  if (ustar_name == path && !FitsUstar(path, kNameLen)) {
    absl::StrAppend(&records, PaxRecord("path", path));
    ustar_name = ShortName("", path);
  }
  if (!FitsUstar(link, kLinkLen)) {
    absl::StrAppend(&records, PaxRecord("linkpath", link));
    link = link.substr(0, 0);
  }
  if (e.uid() > 07777777) absl::StrAppend(&records, PaxRecord("uid", std::to_string(e.uid())));
  if (e.gid() > 07777777) absl::StrAppend(&records, PaxRecord("gid", std::to_string(e.gid())));
  if (m.data_size > 077777777777) {
    absl::StrAppend(&records, PaxRecord("size", std::to_string(m.data_size)));
  }
  const int64_t mtime_s =
      e.mtime_ns() >= 0 ? e.mtime_ns() / 1000000000 : -((-(e.mtime_ns() + 1)) / 1000000000) - 1;
  if (e.mtime_ns() % 1000000000 != 0 || mtime_s < 0 || mtime_s > 077777777777) {
    absl::StrAppend(&records, PaxRecord("mtime", PaxTime(e.mtime_ns())));
  }
  if (e.atime_ns() != 0) absl::StrAppend(&records, PaxRecord("atime", PaxTime(e.atime_ns())));
  for (const v1::Xattr& x : e.xattrs()) {
    absl::StrAppend(&records, PaxRecord(absl::StrCat("SCHILY.xattr.", x.name()), x.value()));
  }
  if (!e.acl_access().empty()) {
    absl::StrAppend(&records, PaxRecord("SCHILY.acl.access", AclText(e.acl_access())));
  }
  if (!e.acl_default().empty()) {
    absl::StrAppend(&records, PaxRecord("SCHILY.acl.default", AclText(e.acl_default())));
  }
  if (!records.empty()) {
    m.header = UstarHeader(ShortName("PaxHeaders/", path), 'x', 0644, 0, 0, records.size(),
                           std::max<int64_t>(mtime_s, 0), "", 0);
    absl::StrAppend(&m.header, records, TarPadding(records.size()));
  }
  absl::StrAppend(&m.header, UstarHeader(ustar_name, type, e.mode(), e.uid(), e.gid(), m.data_size,
                                         mtime_s, link, e.rdev()));
  return m;
}

}  // namespace arca
