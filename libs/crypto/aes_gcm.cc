#include "libs/crypto/aes_gcm.h"

#include <openssl/evp.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "libs/crypto/kdf.h"

namespace arca {
namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const unsigned char* U(const char* p) { return reinterpret_cast<const unsigned char*>(p); }
unsigned char* U(char* p) { return reinterpret_cast<unsigned char*>(p); }

}  // namespace

void AesGcmSeal(const AesKey& key, std::string_view aad, std::string_view plaintext,
                std::string* out) {
  const size_t start = out->size();
  out->resize(start + kGcmNonceSize + plaintext.size() + kGcmTagSize);
  char* nonce = out->data() + start;
  CryptoRandom(nonce, kGcmNonceSize);
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  // With a valid key and nonce size these calls fail only on allocation
  // failure, which OpenSSL reports by aborting elsewhere too.
  EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), U(nonce));
  if (!aad.empty()) EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(aad.data()), aad.size());
  char* ct = nonce + kGcmNonceSize;
  size_t done = 0;
  // EVP takes int lengths: feed at most 1 GiB at a time.
  while (done < plaintext.size()) {
    const int n = static_cast<int>(std::min<size_t>(plaintext.size() - done, 1u << 30));
    EVP_EncryptUpdate(ctx.get(), U(ct + done), &len, U(plaintext.data() + done), n);
    done += n;
  }
  EVP_EncryptFinal_ex(ctx.get(), U(ct + done), &len);
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kGcmTagSize, ct + plaintext.size());
}

absl::StatusOr<std::string> AesGcmOpen(const AesKey& key, std::string_view aad,
                                       std::string_view sealed) {
  if (sealed.size() < kGcmOverhead) {
    return absl::DataLossError(absl::StrCat("sealed data of ", sealed.size(),
                                            " bytes is shorter than nonce and tag (",
                                            kGcmOverhead, " bytes)"));
  }
  const char* nonce = sealed.data();
  const char* ct = nonce + kGcmNonceSize;
  const size_t ct_len = sealed.size() - kGcmOverhead;
  std::string tag(ct + ct_len, kGcmTagSize);
  std::string plain(ct_len, '\0');
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), U(nonce));
  if (!aad.empty()) EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad.data()), aad.size());
  size_t done = 0;
  while (done < ct_len) {
    const int n = static_cast<int>(std::min<size_t>(ct_len - done, 1u << 30));
    EVP_DecryptUpdate(ctx.get(), U(plain.data() + done), &len, U(ct + done), n);
    done += n;
  }
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kGcmTagSize, tag.data());
  if (EVP_DecryptFinal_ex(ctx.get(), U(plain.data() + done), &len) != 1) {
    return absl::DataLossError(
        "authentication failed (AES-256-GCM tag mismatch: the bytes were modified, moved from "
        "another name, or sealed with another key)");
  }
  return plain;
}

}  // namespace arca
