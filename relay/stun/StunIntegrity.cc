#include "relay/stun/StunIntegrity.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <zlib.h>

#include <cassert>
#include <memory>

#include "relay/stun/StunTypes.h"

namespace rdv::stun {
namespace {

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// One HMAC context per thread and digest, keyed afresh per message (EVP_MAC_init resets it).
EVP_MAC_CTX* hmacContext(bool sha256) {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  assert(mac != nullptr);
  thread_local std::unique_ptr<EVP_MAC_CTX, MacCtxFree> contexts[2];
  auto& ctx = contexts[sha256 ? 1 : 0];
  if (!ctx) ctx.reset(EVP_MAC_CTX_new(mac));
  return ctx.get();
}

template <size_t N>
std::array<std::byte, N> hmac(bool sha256, std::span<const std::byte> key,
                              std::initializer_list<std::span<const std::byte>> parts) {
  EVP_MAC_CTX* ctx = hmacContext(sha256);
  char digest[8];
  std::string_view name = sha256 ? "SHA256" : "SHA1";
  name.copy(digest, name.size());
  digest[name.size()] = '\0';
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  // HMAC zero-pads the key to the block size, so an empty key equals one zero byte; a null key
  // would make OpenSSL reuse the previous one.
  static constexpr unsigned char kZero = 0;
  const auto* k = key.empty() ? &kZero : reinterpret_cast<const unsigned char*>(key.data());
  std::array<std::byte, N> out{};
  size_t outLen = 0;
  const bool ok = EVP_MAC_init(ctx, k, key.empty() ? 1 : key.size(), params) == 1;
  assert(ok);
  for (auto part : parts) {
    if (!part.empty()) EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(part.data()), part.size());
  }
  EVP_MAC_final(ctx, reinterpret_cast<unsigned char*>(out.data()), &outLen, out.size());
  (void)ok;
  return out;
}

template <size_t N>
std::array<std::byte, N> digestOf(const EVP_MD* md, std::initializer_list<std::string_view> parts) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), md, nullptr);
  bool first = true;
  for (auto p : parts) {
    if (!first) EVP_DigestUpdate(ctx.get(), ":", 1);
    EVP_DigestUpdate(ctx.get(), p.data(), p.size());
    first = false;
  }
  std::array<std::byte, N> out{};
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len);
  return out;
}

}  // namespace

Sha1Mac hmacSha1(std::span<const std::byte> key, std::initializer_list<std::span<const std::byte>> parts) {
  return hmac<20>(false, key, parts);
}

Sha256Mac hmacSha256(std::span<const std::byte> key, std::initializer_list<std::span<const std::byte>> parts) {
  return hmac<32>(true, key, parts);
}

uint32_t fingerprintOf(std::span<const std::byte> bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
  return static_cast<uint32_t>(crc) ^ kFingerprintXor;
}

Md5Key longTermKey(std::string_view username, std::string_view realm, std::string_view password) {
  return digestOf<16>(EVP_md5(), {username, realm, password});
}

Sha256Mac longTermKeySha256(std::string_view username, std::string_view realm, std::string_view password) {
  return digestOf<32>(EVP_sha256(), {username, realm, password});
}

Sha256Mac userhash(std::string_view username, std::string_view realm) {
  return digestOf<32>(EVP_sha256(), {username, realm});
}

bool constantTimeEqual(std::span<const std::byte> a, std::span<const std::byte> b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace rdv::stun
