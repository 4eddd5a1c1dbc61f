#include "libs/archive/metadata_stream.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/archive/little_endian.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/hash/crc32c.h"

namespace arca {
namespace {

using internal_le::AppendU32;
using internal_le::AppendU64;
using internal_le::LoadU32;
using internal_le::LoadU64;
using internal_le::StoreU32;

constexpr size_t kReadSize = 64 << 10;

absl::string_view AbslView(std::string_view s) { return {s.data(), s.size()}; }

std::span<const uint8_t> Bytes(const void* p, size_t n) {
  return {static_cast<const uint8_t*>(p), n};
}

std::string Quoted(std::string_view s) {
  return absl::StrCat("\"", absl::CHexEscape(AbslView(s)), "\"");
}

// Returns "" when `path` is a valid entry path, else what is wrong with it.
std::string PathProblem(std::string_view path) {
  if (path.empty()) return "";
  if (path.find('\0') != std::string_view::npos) return "path contains a NUL byte";
  if (path.front() == '/') return "path is absolute (leading '/')";
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view comp = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (comp.empty()) return "path has an empty component ('//' or trailing '/')";
    if (comp == ".") return "path has a '.' component";
    if (comp == "..") return "path has a '..' component";
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return "";
}

absl::Status Invalid(const v1::Entry& entry, std::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("entry ", Quoted(entry.path()), ": ", AbslView(problem)));
}

absl::Status ValidateRegularPayload(const v1::Entry& entry) {
  const uint64_t size = entry.size();
  const uint64_t length = entry.payload().length();
  if (!entry.sparse()) {
    if (entry.extents_size() > 0) {
      return Invalid(entry, "extents given but the file is not marked sparse");
    }
    if (length != size) {
      return Invalid(entry, absl::StrCat("payload length ", length, " differs from size ", size));
    }
    return absl::OkStatus();
  }
  uint64_t sum = 0;
  uint64_t prev_end = 0;
  for (int i = 0; i < entry.extents_size(); ++i) {
    const v1::Extent& e = entry.extents(i);
    if (e.length() == 0) {
      return Invalid(entry, absl::StrCat("extent ", i, " is empty"));
    }
    if (e.offset() > size || e.length() > size - e.offset()) {
      return Invalid(entry, absl::StrCat("extent ", i, " [", e.offset(), ", +", e.length(),
                                         ") ends beyond size ", size));
    }
    if (i > 0 && e.offset() < prev_end) {
      return Invalid(entry, absl::StrCat("extent ", i, " at ", e.offset(),
                                         " overlaps or precedes the previous "
                                         "extent ending at ",
                                         prev_end));
    }
    prev_end = e.offset() + e.length();
    sum += e.length();  // <= size: extents are disjoint and within size
  }
  if (sum != length) {
    return Invalid(
        entry, absl::StrCat("extents sum to ", sum, " bytes but the payload length is ", length));
  }
  return absl::OkStatus();
}

}  // namespace

int CompareArchiveOrder(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  const auto mismatch = std::mismatch(a.begin(), a.begin() + n, b.begin());
  const size_t i = static_cast<size_t>(mismatch.first - a.begin());
  if (i == n) {
    // One is a prefix of the other: for valid paths the shorter one is an
    // ancestor or a shorter name of the same component, i.e. first.
    return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
  }
  // '/' ends a component: a component that ends first sorts first.
  if (a[i] == '/') return -1;
  if (b[i] == '/') return 1;
  return static_cast<uint8_t>(a[i]) < static_cast<uint8_t>(b[i]) ? -1 : 1;
}

absl::Status ValidateEntry(const v1::Entry& entry) {
  if (std::string p = PathProblem(entry.path()); !p.empty()) {
    return Invalid(entry, p);
  }
  const int type = entry.type();
  if (!v1::EntryType_IsValid(type) || type == v1::ENTRY_TYPE_UNSPECIFIED ||
      type == v1::ENTRY_TYPE_SOCKET) {
    return Invalid(entry, absl::StrCat("type ", type, " is unspecified, unknown or a socket"));
  }
  if ((entry.mode() & ~07777u) != 0) {
    return Invalid(entry, absl::StrFormat("mode %o has bits outside 07777", entry.mode()));
  }
  if (type == v1::ENTRY_TYPE_HARDLINK) {
    const std::string& target = entry.hardlink_target();
    if (target.empty()) return Invalid(entry, "hardlink target is empty");
    if (std::string p = PathProblem(target); !p.empty()) {
      return Invalid(entry, absl::StrCat("hardlink target ", Quoted(target), ": ", p));
    }
    if (CompareArchiveOrder(target, entry.path()) >= 0) {
      return Invalid(entry, absl::StrCat("hardlink target ", Quoted(target),
                                         " is not an earlier entry in archive order"));
    }
  } else if (!entry.hardlink_target().empty()) {
    return Invalid(entry, "hardlink target set on an entry that is not a hardlink");
  }
  if (type == v1::ENTRY_TYPE_SYMLINK) {
    if (entry.symlink_target().empty()) return Invalid(entry, "symlink target is empty");
    if (entry.symlink_target().find('\0') != std::string::npos) {
      return Invalid(entry, "symlink target contains a NUL byte");
    }
  } else if (!entry.symlink_target().empty()) {
    return Invalid(entry, "symlink target set on an entry that is not a symlink");
  }
  const v1::PayloadRef& payload = entry.payload();
  if (payload.offset() + payload.length() < payload.offset()) {
    return Invalid(entry, "payload offset + length overflows");
  }
  if (type == v1::ENTRY_TYPE_REGULAR) {
    RETURN_IF_ERROR(ValidateRegularPayload(entry));
  } else if (payload.length() != 0 || payload.offset() != 0 || entry.extents_size() > 0 ||
             entry.sparse()) {
    return Invalid(entry, "payload, extents or sparse flag on a non-regular entry");
  }
  if (type != v1::ENTRY_TYPE_DIRECTORY && entry.acl_default_size() > 0) {
    return Invalid(entry, "default ACL on a non-directory");
  }
  for (int i = 0; i < entry.xattrs_size(); ++i) {
    const std::string& name = entry.xattrs(i).name();
    if (name.empty() || name.find('\0') != std::string::npos) {
      return Invalid(entry, absl::StrCat("xattr ", i, " has an empty name or a NUL byte"));
    }
    if (i > 0 && !(entry.xattrs(i - 1).name() < name)) {
      return Invalid(entry, absl::StrCat("xattr ", Quoted(name), " is not sorted after ",
                                         Quoted(entry.xattrs(i - 1).name())));
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- writer

void MetadataStreamWriter::WriteHeader(std::string* out) {
  if (state_ != State::kNew) {
    std::fprintf(stderr, "MetadataStreamWriter::WriteHeader called twice\n");
    std::abort();
  }
  const size_t start = out->size();
  out->append(kMetadataStreamMagic.data(), kMetadataStreamMagic.size());
  AppendU32(out, kMetadataStreamVersion);
  AppendU32(out, 0);  // flags
  stream_check_ = Crc32c(Bytes(out->data() + start, kMetadataStreamHeaderSize));
  bytes_written_ += kMetadataStreamHeaderSize;
  state_ = State::kEntries;
}

absl::Status MetadataStreamWriter::Append(const v1::Entry& entry, std::string* out) {
  if (state_ != State::kEntries) {
    return absl::FailedPreconditionError(
        absl::StrCat("metadata stream writer: Append of entry ", Quoted(entry.path()),
                     state_ == State::kNew ? " before WriteHeader" : " after WriteTrailer"));
  }
  RETURN_IF_ERROR(ValidateEntry(entry));
  if (entries_ > 0 && CompareArchiveOrder(last_path_, entry.path()) >= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry ", Quoted(entry.path()), " is not after ", Quoted(last_path_),
                     " in archive order (depth-first, children sorted bytewise)"));
  }
  const size_t size = entry.ByteSizeLong();
  if (size == 0 || size > kMaxMetadataRecordLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry ", Quoted(entry.path()), " serializes to ", size,
                     " bytes; a metadata record holds 1 to ", kMaxMetadataRecordLength, " bytes"));
  }
  const size_t start = out->size();
  out->resize(start + kMetadataRecordPrefixSize + size);
  char* prefix = out->data() + start;
  uint8_t* body = reinterpret_cast<uint8_t*>(prefix + kMetadataRecordPrefixSize);
  entry.SerializeWithCachedSizesToArray(body);
  StoreU32(static_cast<uint32_t>(size), prefix);
  StoreU32(Crc32c(Bytes(body, size)), prefix + 4);
  stream_check_ = Crc32cExtend(stream_check_, Bytes(prefix, kMetadataRecordPrefixSize));
  last_path_ = entry.path();
  ++entries_;
  bytes_written_ += kMetadataRecordPrefixSize + size;
  return absl::OkStatus();
}

void MetadataStreamWriter::WriteTrailer(std::string* out) {
  if (state_ != State::kEntries) {
    std::fprintf(stderr, "MetadataStreamWriter::WriteTrailer called %s\n",
                 state_ == State::kNew ? "before WriteHeader" : "twice");
    std::abort();
  }
  const size_t start = out->size();
  AppendU32(out, kMetadataTrailerMarker);
  AppendU32(out, 0);  // reserved
  AppendU64(out, entries_);
  AppendU32(out, stream_check_);
  AppendU32(out, Crc32c(Bytes(out->data() + start, kMetadataStreamTrailerSize - 4)));
  bytes_written_ += kMetadataStreamTrailerSize;
  state_ = State::kDone;
}

// ---------------------------------------------------------------- sources

absl::StatusOr<size_t> StringByteSource::Read(std::span<uint8_t> buf) {
  const size_t n = std::min(buf.size(), data_.size() - pos_);
  if (n > 0) std::memcpy(buf.data(), data_.data() + pos_, n);
  pos_ += n;
  return n;
}

// ---------------------------------------------------------------- reader

MetadataStreamReader::MetadataStreamReader(ByteSource* source) : source_(source) {}

absl::Status MetadataStreamReader::Fail(absl::Status status) {
  error_ = status;
  return status;
}

absl::Status MetadataStreamReader::Corrupt(std::string_view what, uint64_t at) {
  return Fail(
      absl::DataLossError(absl::StrCat("metadata stream: ", AbslView(what), " at byte ", at)));
}

absl::StatusOr<bool> MetadataStreamReader::Fill(size_t n) {
  if (available() >= n) return true;
  // Compact, and give back the memory of an earlier large record.
  const size_t have = available();
  if (buf_pos_ > 0) {
    if (have > 0) std::memmove(buf_.data(), buf_.data() + buf_pos_, have);
    buf_pos_ = 0;
    buf_end_ = have;
  }
  if (buf_.size() > 4 * kReadSize && n <= kReadSize) {
    buf_.resize(kReadSize);
    buf_.shrink_to_fit();
  }
  const size_t want = std::max(n, kReadSize);
  if (buf_.size() < want) buf_.resize(want);
  while (buf_end_ < n && !source_done_) {
    std::span<uint8_t> space(buf_.data() + buf_end_, buf_.size() - buf_end_);
    absl::StatusOr<size_t> got = source_->Read(space);
    if (!got.ok()) {
      return Fail(WithMessage(
          got.status(), absl::StrCat("metadata stream: reading at byte ", offset_ + buf_end_, ": ",
                                     got.status().message())));
    }
    if (*got > space.size()) {
      return Fail(absl::InternalError(absl::StrCat("metadata stream: byte source returned ", *got,
                                                   " bytes for a ", space.size(), "-byte buffer")));
    }
    if (*got == 0) source_done_ = true;
    buf_end_ += *got;
  }
  return buf_end_ >= n;
}

absl::Status MetadataStreamReader::ReadHeader() {
  ASSIGN_OR_RETURN(bool full, Fill(kMetadataStreamHeaderSize));
  if (!full) {
    if (available() == 0) return Corrupt("empty stream (no header)", 0);
    return Corrupt(absl::StrCat("truncated header (", available(), " of ",
                                kMetadataStreamHeaderSize, " bytes)"),
                   0);
  }
  const uint8_t* h = data();
  if (std::memcmp(h, kMetadataStreamMagic.data(), kMetadataStreamMagic.size()) != 0) {
    return Corrupt("bad magic (not a metadata stream)", 0);
  }
  const uint32_t version = LoadU32(h + 8);
  if (version == 0) return Corrupt("invalid version 0", 8);
  if (version > kMetadataStreamVersion) {
    return Fail(absl::FailedPreconditionError(
        absl::StrCat("metadata stream version ", version, " is newer than this arca supports (",
                     kMetadataStreamVersion, "): upgrade arca")));
  }
  const uint32_t flags = LoadU32(h + 12);
  if (flags != 0) {
    return Corrupt(absl::StrFormat("unknown header flags 0x%08x", flags), 12);
  }
  stream_check_ = Crc32c(Bytes(h, kMetadataStreamHeaderSize));
  Consume(kMetadataStreamHeaderSize);
  header_done_ = true;
  return absl::OkStatus();
}

absl::Status MetadataStreamReader::ReadTrailer() {
  const uint64_t at = offset_;
  ASSIGN_OR_RETURN(bool full, Fill(kMetadataStreamTrailerSize));
  if (!full) {
    return Corrupt(absl::StrCat("truncated trailer (", available(), " of ",
                                kMetadataStreamTrailerSize, " bytes)"),
                   at);
  }
  const uint8_t* t = data();
  const uint32_t stored_crc = LoadU32(t + 20);
  const uint32_t crc = Crc32c(Bytes(t, kMetadataStreamTrailerSize - 4));
  if (stored_crc != crc) {
    return Corrupt(
        absl::StrFormat("trailer CRC mismatch (stored 0x%08x, computed 0x%08x)", stored_crc, crc),
        at);
  }
  if (const uint32_t reserved = LoadU32(t + 4); reserved != 0) {
    return Corrupt(absl::StrCat("trailer reserved field is ", reserved, ", expected 0"), at);
  }
  if (const uint64_t count = LoadU64(t + 8); count != entries_) {
    return Corrupt(absl::StrCat("entry count mismatch: the trailer says ", count,
                                ", the stream holds ", entries_),
                   at);
  }
  if (const uint32_t check = LoadU32(t + 16); check != stream_check_) {
    return Corrupt(absl::StrFormat("stream check mismatch (stored 0x%08x, computed "
                                   "0x%08x): records missing, reordered or foreign",
                                   check, stream_check_),
                   at);
  }
  Consume(kMetadataStreamTrailerSize);
  ASSIGN_OR_RETURN(bool more, Fill(1));
  if (more) return Corrupt("unexpected bytes after the trailer", offset_);
  finished_ = true;
  return absl::OkStatus();
}

absl::StatusOr<bool> MetadataStreamReader::Next(v1::Entry* entry) {
  if (!error_.ok()) return error_;
  if (finished_) return false;
  if (!header_done_) RETURN_IF_ERROR(ReadHeader());

  const uint64_t at = offset_;
  ASSIGN_OR_RETURN(bool full, Fill(kMetadataRecordPrefixSize));
  if (!full) {
    if (available() == 0) {
      return Corrupt(absl::StrCat("missing trailer (the stream ends after ", entries_, " entries)"),
                     at);
    }
    return Corrupt(absl::StrCat("truncated record header (", available(), " of ",
                                kMetadataRecordPrefixSize, " bytes)"),
                   at);
  }
  const uint32_t length = LoadU32(data());
  if (length == kMetadataTrailerMarker) {
    RETURN_IF_ERROR(ReadTrailer());
    return false;
  }
  if (length == 0) return Corrupt("record length 0", at);
  if (length > kMaxMetadataRecordLength) {
    return Corrupt(absl::StrCat("record length ", length, " exceeds the limit of ",
                                kMaxMetadataRecordLength, " bytes"),
                   at);
  }
  const uint32_t stored_crc = LoadU32(data() + 4);
  ASSIGN_OR_RETURN(full, Fill(kMetadataRecordPrefixSize + length));
  if (!full) {
    return Corrupt(absl::StrCat("truncated record (", available(), " of ",
                                kMetadataRecordPrefixSize + length, " bytes)"),
                   at);
  }
  const uint8_t* body = data() + kMetadataRecordPrefixSize;
  const uint32_t crc = Crc32c(Bytes(body, length));
  if (crc != stored_crc) {
    return Corrupt(
        absl::StrFormat("record CRC mismatch (stored 0x%08x, computed 0x%08x)", stored_crc, crc),
        at);
  }
  if (!entry->ParseFromArray(body, static_cast<int>(length))) {
    return Corrupt(absl::StrCat("unparsable entry (", length, " bytes)"), at);
  }
  if (absl::Status s = ValidateEntry(*entry); !s.ok()) {
    return Corrupt(absl::StrCat("invalid entry (", s.message(), ")"), at);
  }
  if (entries_ > 0 && CompareArchiveOrder(last_path_, entry->path()) >= 0) {
    return Corrupt(absl::StrCat("entry ", Quoted(entry->path()), " is not after ",
                                Quoted(last_path_), " in archive order"),
                   at);
  }
  stream_check_ = Crc32cExtend(stream_check_, Bytes(data(), kMetadataRecordPrefixSize));
  Consume(kMetadataRecordPrefixSize + length);
  last_path_ = entry->path();
  ++entries_;
  return true;
}

}  // namespace arca
