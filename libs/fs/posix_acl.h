// The Linux POSIX ACL extended-attribute format (system.posix_acl_access and
// system.posix_acl_default), decoded into and encoded from v1::AclEntry.
//
// Format (little-endian, <linux/posix_acl_xattr.h>):
//   u32 version (= 2), then per entry { u16 tag, u16 perm, u32 id }.
// Tags: ACL_USER_OBJ=1, ACL_USER=2, ACL_GROUP_OBJ=4, ACL_GROUP=8,
// ACL_MASK=16, ACL_OTHER=32; perm is rwx (4, 2, 1). The id is meaningful
// only for ACL_USER / ACL_GROUP; the kernel writes ACL_UNDEFINED_ID (-1) for
// the others. In v1::AclEntry the id of those other tags is 0.
//
// Thread-safety: pure functions.
#ifndef ARCA_LIBS_FS_POSIX_ACL_H_
#define ARCA_LIBS_FS_POSIX_ACL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "arca/v1/common.pb.h"
#include "google/protobuf/repeated_field.h"

namespace arca::fs {

inline constexpr absl::string_view kAclAccessXattr = "system.posix_acl_access";
inline constexpr absl::string_view kAclDefaultXattr = "system.posix_acl_default";

// Decodes `value` (untrusted bytes) into `out` (cleared first).
// InvalidArgument saying what is wrong (length, version, unknown tag, bad
// perm) when malformed; `out` is then empty. A header without entries
// decodes to an empty list.
absl::Status ParsePosixAclXattr(absl::string_view value,
                                google::protobuf::RepeatedPtrField<v1::AclEntry>* out);

// Encodes `entries` in the xattr format, for setting the ACL back: sorted by
// (tag, id), the order the kernel requires, with ACL_UNDEFINED_ID as the id
// of tags other than ACL_USER / ACL_GROUP. An empty list encodes to the
// header alone (callers that mean "no ACL" remove the xattr instead).
std::string EncodePosixAclXattr(const google::protobuf::RepeatedPtrField<v1::AclEntry>& entries);

}  // namespace arca::fs

#endif  // ARCA_LIBS_FS_POSIX_ACL_H_
