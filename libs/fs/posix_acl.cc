#include "libs/fs/posix_acl.h"

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"

namespace arca::fs {
namespace {

constexpr uint32_t kVersion = 2;
constexpr uint32_t kUndefinedId = 0xFFFFFFFFu;
constexpr uint32_t kTagUser = 0x02;
constexpr uint32_t kTagGroup = 0x08;

uint32_t LoadLe16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | static_cast<uint32_t>(u[1]) << 8;
}

uint32_t LoadLe32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | static_cast<uint32_t>(u[1]) << 8 |
         static_cast<uint32_t>(u[2]) << 16 | static_cast<uint32_t>(u[3]) << 24;
}

void AppendLe16(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v & 0xFF));
  out->push_back(static_cast<char>((v >> 8) & 0xFF));
}

void AppendLe32(std::string* out, uint32_t v) {
  AppendLe16(out, v & 0xFFFF);
  AppendLe16(out, v >> 16);
}

bool KnownTag(uint32_t tag) {
  switch (tag) {
    case 0x01:
    case 0x02:
    case 0x04:
    case 0x08:
    case 0x10:
    case 0x20:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::Status ParsePosixAclXattr(absl::string_view value,
                                google::protobuf::RepeatedPtrField<v1::AclEntry>* out) {
  out->Clear();
  if (value.size() < 4 || (value.size() - 4) % 8 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed POSIX ACL: length ", value.size(), " is not 4 + a multiple of 8"));
  }
  uint32_t version = LoadLe32(value.data());
  if (version != kVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed POSIX ACL: version ", version, ", expected ", kVersion));
  }
  size_t count = (value.size() - 4) / 8;
  out->Reserve(static_cast<int>(count));
  for (size_t i = 0; i < count; ++i) {
    const char* p = value.data() + 4 + 8 * i;
    uint32_t tag = LoadLe16(p);
    uint32_t perm = LoadLe16(p + 2);
    uint32_t id = LoadLe32(p + 4);
    if (!KnownTag(tag) || (perm & ~7u) != 0) {
      out->Clear();
      return absl::InvalidArgumentError(
          absl::StrCat("malformed POSIX ACL: entry ", i, " has tag ", tag, " and perm ", perm,
                       " (tags are 1, 2, 4, 8, 16, 32; perm at most 7)"));
    }
    v1::AclEntry* e = out->Add();
    e->set_tag(tag);
    e->set_perm(perm);
    e->set_id(tag == kTagUser || tag == kTagGroup ? id : 0);
  }
  return absl::OkStatus();
}

std::string EncodePosixAclXattr(const google::protobuf::RepeatedPtrField<v1::AclEntry>& entries) {
  // The kernel accepts entries only in (tag, id) order.
  std::vector<std::tuple<uint32_t, uint32_t, uint32_t>> sorted;  // tag, id, perm
  sorted.reserve(entries.size());
  for (const v1::AclEntry& e : entries) {
    sorted.emplace_back(
        e.tag(), e.tag() == kTagUser || e.tag() == kTagGroup ? e.id() : kUndefinedId, e.perm());
  }
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  out.reserve(4 + 8 * sorted.size());
  AppendLe32(&out, kVersion);
  for (const auto& [tag, id, perm] : sorted) {
    AppendLe16(&out, tag);
    AppendLe16(&out, perm);
    AppendLe32(&out, id);
  }
  return out;
}

}  // namespace arca::fs
