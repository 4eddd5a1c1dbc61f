// arca key list|add|remove: the key slots of an encrypted repository
// (docs/formats/encryption.md). The caller parses the flags and opens (and
// unlocks) the repository.
#ifndef ARCA_TOOLS_ARCA_KEY_H_
#define ARCA_TOOLS_ARCA_KEY_H_

#include <optional>
#include <string>

#include "libs/crypto/kdf.h"
#include "libs/store/repository.h"

namespace arca::cli {

// Prints one line per slot "ID  KIND  CREATED  LABEL" (the slot that
// unlocked this command marked with '*'), or with `json` one document
// {"slots":[{"id","kind","label","created_unix_ns","kdf","scrypt":{n,r,p},
// "current"}]}. Returns 0, 4 for a plaintext repository, 8 for a corrupt slot.
int ListKeys(Repository& repo, bool json);

struct AddKeyOptions {
  // Create a key file at this path (mode 0600, must not exist) and a slot
  // for it; otherwise a password slot with `new_password`.
  std::optional<std::string> new_key_file;
  std::string new_password;
  ScryptParams scrypt;
  std::string label;
};
// Adds a slot holding the repository's key (repo must be unlocked). Prints
// the new slot's id. Returns 0; 2 when the key file exists; 4 for a
// plaintext repository or a write failure.
int AddKey(Repository& repo, const AddKeyOptions& options);

// Removes slot `id`. Returns 0; 2 for an unknown id or the last slot or the
// slot this command was unlocked with; 4 for a write failure.
int RemoveKey(Repository& repo, const std::string& id);

}  // namespace arca::cli

#endif  // ARCA_TOOLS_ARCA_KEY_H_
