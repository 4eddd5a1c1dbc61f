#include "libs/store/repository_json.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "libs/crypto/repository_key.h"

namespace arca {
namespace {

std::string S(std::string_view v) { return std::string(v); }

std::string ProtoStatusMessage(const google::protobuf::util::Status& st) {
  return std::string(st.message().data(), st.message().size());
}

template <typename Message>
absl::StatusOr<std::string> ToJson(const Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  auto st = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!st.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print ", message.GetTypeName(), " as JSON: ", ProtoStatusMessage(st)));
  }
  out.push_back('\n');
  return out;
}

// Parses JSON into `message`; returns the parser's error text or "".
template <typename Message>
std::string FromJson(std::string_view json, Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message, options);
  if (st.ok()) return "";
  std::string msg = ProtoStatusMessage(st);
  return msg.empty() ? "parse error" : msg;
}

}  // namespace

absl::StatusOr<std::string> ManifestToJson(const v1::Manifest& manifest) {
  return ToJson(manifest);
}

absl::StatusOr<v1::Manifest> ManifestFromJson(std::string_view json, std::string_view name) {
  v1::Manifest m;
  if (std::string err = FromJson(json, &m); !err.empty()) {
    return absl::DataLossError(
        absl::StrCat("manifest ", S(name), " is corrupt (not a valid arca manifest: ",
                     absl::CHexEscape(err.substr(0, 300)), "); run `arca verify`"));
  }
  if (m.format_version() == 0) {
    return absl::DataLossError(
        absl::StrCat("manifest ", S(name), " is corrupt: it has no format_version"));
  }
  if (m.format_version() > kRepositoryFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("manifest ", S(name), " has format ", m.format_version(),
                     ", which is not supported by this arca (supports ", kRepositoryFormatVersion,
                     "); upgrade arca"));
  }
  return m;
}

absl::StatusOr<std::string> RepositoryConfigToJson(const v1::RepositoryConfig& config) {
  return ToJson(config);
}

absl::StatusOr<v1::RepositoryConfig> RepositoryConfigFromJson(std::string_view json,
                                                              std::string_view name) {
  v1::RepositoryConfig c;
  if (std::string err = FromJson(json, &c); !err.empty()) {
    return absl::DataLossError(absl::StrCat(
        "repository config ", S(name),
        " is corrupt (not a valid arca config: ", absl::CHexEscape(err.substr(0, 300)), ")"));
  }
  if (c.format_version() == 0) {
    return absl::DataLossError(
        absl::StrCat("repository config ", S(name), " is corrupt: it has no format_version"));
  }
  if (c.format_version() != kRepositoryFormatVersion &&
      c.format_version() != kEncryptedRepositoryFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "repository format ", c.format_version(), " is not supported by this arca (supports ",
        kRepositoryFormatVersion, " and ", kEncryptedRepositoryFormatVersion, "): ", S(name)));
  }
  const bool encrypted = c.format_version() == kEncryptedRepositoryFormatVersion;
  if (encrypted && c.encryption() != kEncryptionAes256Gcm) {
    return absl::FailedPreconditionError(absl::StrCat(
        "repository config ", S(name), " has encryption '", absl::CHexEscape(c.encryption()),
        "', which this arca does not support (supports ", kEncryptionAes256Gcm, ")"));
  }
  if (!encrypted && !c.encryption().empty()) {
    return absl::DataLossError(absl::StrCat("repository config ", S(name),
                                            " is corrupt: format 1 with encryption set"));
  }
  return c;
}

absl::StatusOr<std::string> KeySlotToJson(const v1::KeySlot& slot) { return ToJson(slot); }

absl::StatusOr<v1::KeySlot> KeySlotFromJson(std::string_view json, std::string_view name,
                                            std::string_view repository_id,
                                            std::string_view expected_id) {
  v1::KeySlot slot;
  if (std::string err = FromJson(json, &slot); !err.empty()) {
    return absl::DataLossError(absl::StrCat("key slot ", S(name), " is corrupt (not JSON: ",
                                            absl::CHexEscape(err.substr(0, 300)), ")"));
  }
  if (absl::Status st = CheckKeySlot(slot, repository_id); !st.ok()) {
    return absl::DataLossError(absl::StrCat(st.message(), ": ", S(name)));
  }
  if (slot.id() != expected_id) {
    return absl::DataLossError(absl::StrCat("key slot ", S(name), " is corrupt: it names slot ",
                                            slot.id(), " but is stored as ", S(expected_id)));
  }
  return slot;
}

}  // namespace arca
