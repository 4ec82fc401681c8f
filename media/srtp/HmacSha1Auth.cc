// HMAC-SHA1 (RFC 2104) for AES_CM_128_HMAC_SHA1_80/32 (RFC 3711 §4.2.1) as a libsrtp auth
// object. libsrtp calls, per packet: start, update (the packet), compute (the ROC, or the SRTCP
// E||index, then the tag).
//
// What differs from libsrtp's own OpenSSL glue (crypto/hash/hmac_ossl.c), and why: that glue
// goes through EVP_MAC, whose per-packet re-initialisation on OpenSSL 3.0 copies the provider's
// digest contexts and looks parameters up by name. HMAC's two keyed states are fixed per key, so
// here they are computed once (init) and each packet starts from a copy of the inner one: two
// SHA-1 runs over the data and 20 octets, no EVP, no allocation. The low-level SHA1_* functions
// are deprecated in OpenSSL 3 but present and run the same assembly (SHA-NI/AVX2) as EVP's
// SHA-1; they are the only OpenSSL API that lets a SHA-1 state be copied without allocating.
#define OPENSSL_SUPPRESS_DEPRECATED  // SHA1_Init/Update/Final, see above
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>
#include <cstring>
#include <new>

#include "media/srtp/LibsrtpTransforms.h"

namespace rdv::srtp::detail {

namespace {

constexpr int kDigest = SHA_DIGEST_LENGTH;  // 20
constexpr size_t kBlock = SHA_CBLOCK;       // 64

struct HmacState {
  SHA_CTX inner{};  // after SHA-1 of (key XOR ipad)
  SHA_CTX outer{};  // after SHA-1 of (key XOR opad)
  SHA_CTX work{};   // the packet being authenticated
};

HmacState* stateOf(void* v) {
  return static_cast<HmacState*>(v);
}

srtp_auth_type_t hmacType{};

srtp_err_status_t hmacAlloc(srtp_auth_t** a, int keyLength, int outLength) {
  if (outLength > kDigest || outLength < 0 || keyLength < 0) return srtp_err_status_bad_param;
  auto* auth = new (std::nothrow) srtp_auth_t{};
  auto* state = new (std::nothrow) HmacState{};
  if (auth == nullptr || state == nullptr) {
    delete state;
    delete auth;
    *a = nullptr;
    return srtp_err_status_alloc_fail;
  }
  auth->type = &hmacType;
  auth->state = state;
  auth->out_len = outLength;
  auth->key_len = keyLength;
  auth->prefix_len = 0;
  *a = auth;
  return srtp_err_status_ok;
}

srtp_err_status_t hmacDealloc(srtp_auth_t* a) {
  HmacState* state = stateOf(a->state);
  if (state != nullptr) {
    OPENSSL_cleanse(state, sizeof(*state));  // the keyed states stand for the key
    delete state;
  }
  delete a;
  return srtp_err_status_ok;
}

srtp_err_status_t hmacInit(void* v, const uint8_t* key, int keyLength) {
  HmacState* s = stateOf(v);
  std::array<unsigned char, kBlock> k{};
  if (static_cast<size_t>(keyLength) > kBlock) {  // RFC 2104 §2: hash long keys first
    SHA1(key, static_cast<size_t>(keyLength), k.data());
  } else {
    std::memcpy(k.data(), key, static_cast<size_t>(keyLength));
  }
  std::array<unsigned char, kBlock> pad{};
  for (size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x36;
  if (SHA1_Init(&s->inner) != 1 || SHA1_Update(&s->inner, pad.data(), kBlock) != 1) {
    return srtp_err_status_init_fail;
  }
  for (size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x5c;
  if (SHA1_Init(&s->outer) != 1 || SHA1_Update(&s->outer, pad.data(), kBlock) != 1) {
    return srtp_err_status_init_fail;
  }
  OPENSSL_cleanse(k.data(), k.size());
  OPENSSL_cleanse(pad.data(), pad.size());
  return srtp_err_status_ok;
}

srtp_err_status_t hmacStart(void* v) {
  HmacState* s = stateOf(v);
  s->work = s->inner;
  return srtp_err_status_ok;
}

srtp_err_status_t hmacUpdate(void* v, const uint8_t* data, int length) {
  if (length < 0 || SHA1_Update(&stateOf(v)->work, data, static_cast<size_t>(length)) != 1) {
    return srtp_err_status_auth_fail;
  }
  return srtp_err_status_ok;
}

// The last `length` octets, then the tag: the first tagLength octets of the HMAC.
srtp_err_status_t hmacCompute(void* v, const uint8_t* data, int length, int tagLength, uint8_t* tag) {
  HmacState* s = stateOf(v);
  if (tagLength < 0 || tagLength > kDigest || length < 0) return srtp_err_status_bad_param;
  std::array<unsigned char, kDigest> digest{};
  if (SHA1_Update(&s->work, data, static_cast<size_t>(length)) != 1 ||
      SHA1_Final(digest.data(), &s->work) != 1) {
    return srtp_err_status_auth_fail;
  }
  SHA_CTX outer = s->outer;
  if (SHA1_Update(&outer, digest.data(), digest.size()) != 1 || SHA1_Final(digest.data(), &outer) != 1) {
    return srtp_err_status_auth_fail;
  }
  std::memcpy(tag, digest.data(), static_cast<size_t>(tagLength));
  return srtp_err_status_ok;
}

}  // namespace

const srtp_auth_type_t& hmacSha1AuthType(const srtp_auth_type_t& stock) {
  if (hmacType.alloc == nullptr) {
    hmacType.alloc = hmacAlloc;
    hmacType.dealloc = hmacDealloc;
    hmacType.init = hmacInit;
    hmacType.compute = hmacCompute;
    hmacType.update = hmacUpdate;
    hmacType.start = hmacStart;
    hmacType.description = "HMAC-SHA1 from precomputed SHA-1 states (Rendezvous)";
    hmacType.test_data = stock.test_data;
    hmacType.id = SRTP_HMAC_SHA1;
  }
  return hmacType;
}

}  // namespace rdv::srtp::detail
