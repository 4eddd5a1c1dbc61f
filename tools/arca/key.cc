#include "tools/arca/key.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tools/arca/output.h"
#include "tools/arca/secrets.h"

namespace arca::cli {
namespace {

int Fail(const absl::Status& st, int code) {
  std::cerr << "arca: " << st.message() << " (exit " << code << ")\n";
  return code;
}

std::string Utc(int64_t ns) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

}  // namespace

int ListKeys(Repository& repo, bool json) {
  if (!repo.encrypted()) {
    return Fail(absl::FailedPreconditionError(absl::StrCat(
                    repo.path(), " is not encrypted: it has no keys")),
                4);
  }
  absl::StatusOr<std::vector<v1::KeySlot>> slots = repo.ListKeySlots();
  if (!slots.ok()) return Fail(slots.status(), absl::IsDataLoss(slots.status()) ? 8 : 4);
  if (json) {
    std::string out;
    for (const v1::KeySlot& s : *slots) {
      absl::StrAppend(&out, out.empty() ? "" : ",", "{\"id\":", JsonString(s.id()),
                      ",\"kind\":", JsonString(s.kind()), ",\"label\":", JsonString(s.label()),
                      ",\"created_unix_ns\":", s.created_unix_ns(), ",\"kdf\":",
                      JsonString(s.kdf()));
      if (s.kdf() == "scrypt") {
        absl::StrAppend(&out, ",\"scrypt\":{\"n\":", s.scrypt_n(), ",\"r\":", s.scrypt_r(),
                        ",\"p\":", s.scrypt_p(), "}");
      }
      absl::StrAppend(&out, ",\"current\":", s.id() == repo.unlocked_slot_id() ? "true" : "false",
                      "}");
    }
    std::cout << "{\"fingerprint\":" << JsonString(repo.key() ? repo.key()->fingerprint() : "")
              << ",\"slots\":[" << out << "]}\n";
    return 0;
  }
  for (const v1::KeySlot& s : *slots) {
    std::cout << (s.id() == repo.unlocked_slot_id() ? "*" : " ") << s.id() << "  " << s.kind()
              << "  " << Utc(s.created_unix_ns()) << "  " << s.label() << "\n";
  }
  return 0;
}

int AddKey(Repository& repo, const AddKeyOptions& options) {
  if (!repo.encrypted() || repo.key() == nullptr) {
    return Fail(absl::FailedPreconditionError(absl::StrCat(
                    repo.path(), " is not encrypted: it has no keys")),
                4);
  }
  v1::KeySlot slot;
  if (options.new_key_file.has_value()) {
    const KeyFileSecret secret = GenerateKeyFileSecret();
    if (absl::Status st = WriteKeyFile(*options.new_key_file, secret); !st.ok()) {
      return Fail(st, 2);
    }
    slot = MakeKeyFileSlot(*repo.key(), repo.config().repository_id(), secret, options.label);
    if (absl::Status st = repo.AddKeySlot(slot); !st.ok()) {
      ::unlink(options.new_key_file->c_str());
      return Fail(st, 4);
    }
    std::cout << "added key-file slot " << slot.id() << " (key file " << *options.new_key_file
              << ")\n";
    return 0;
  }
  absl::StatusOr<v1::KeySlot> made = MakePasswordSlot(
      *repo.key(), repo.config().repository_id(), options.new_password, options.scrypt,
      options.label);
  if (!made.ok()) return Fail(made.status(), 2);
  if (absl::Status st = repo.AddKeySlot(*made); !st.ok()) return Fail(st, 4);
  std::cout << "added password slot " << made->id() << "\n";
  return 0;
}

int RemoveKey(Repository& repo, const std::string& id) {
  absl::Status st = repo.RemoveKeySlot(id);
  if (absl::IsNotFound(st) || absl::IsFailedPrecondition(st)) return Fail(st, 2);
  if (!st.ok()) return Fail(st, absl::IsDataLoss(st) ? 8 : 4);
  std::cout << "removed key slot " << id << "\n";
  return 0;
}

}  // namespace arca::cli
