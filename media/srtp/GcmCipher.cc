// AEAD_AES_128_GCM / AEAD_AES_256_GCM (RFC 7714) as a libsrtp cipher object on OpenSSL EVP.
// libsrtp computes the IV (RFC 7714 §8.1, §9.1) and the AAD and calls, per packet: set_iv, set_aad,
// then encrypt + get_tag (protect) or decrypt (unprotect, the tag at the end of the buffer).
//
// What differs from libsrtp's own OpenSSL glue (crypto/cipher/aes_gcm_ossl.c), and why: that
// glue sets the IV length and the tag through EVP_CIPHER_CTX_ctrl on every packet, plus a dummy
// tag before the AAD when decrypting; OpenSSL 3 turns each ctrl into an OSSL_PARAM array that the
// GCM provider looks up by name (strcmp per known parameter). Here the IV length is the
// provider's default (12, set once at init), the tag goes in and out as one OSSL_PARAM
// without the ctrl translation, and the IV goes in without EVP_CipherInit_ex (gcmSetIv). The EVP context
// and its AES key schedule / GHASH table are made once per key (init), never per packet.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <new>

#include "media/srtp/LibsrtpTransforms.h"

namespace rdv::srtp::detail {

namespace {

constexpr int kMaxTag = 16;

struct GcmState {
  EVP_CIPHER_CTX* ctx = nullptr;
  int keyLength = 0;  // 16 or 32
  int tagLength = 0;  // 16 (RFC 7714) or 8 (libsrtp's 8-octet-tag policies)
  int enc = -1;       // the direction EVP_CipherInit_ex last set: 1 encrypt, 0 decrypt, -1 none
};

GcmState* stateOf(void* v) {
  return static_cast<GcmState*>(v);
}

// Set at install time (gcmCipherType); alloc hands them to the cipher objects it makes.
srtp_cipher_type_t gcm128{};
srtp_cipher_type_t gcm256{};

srtp_err_status_t gcmAlloc(srtp_cipher_t** c, int keyLength, int tagLength) {
  // key_len includes the 12-octet salt libsrtp feeds the KDF.
  if (keyLength != SRTP_AES_GCM_128_KEY_LEN_WSALT && keyLength != SRTP_AES_GCM_256_KEY_LEN_WSALT) {
    return srtp_err_status_bad_param;
  }
  if (tagLength != kMaxTag && tagLength != 8) return srtp_err_status_bad_param;
  auto* cipher = new (std::nothrow) srtp_cipher_t{};
  auto* state = new (std::nothrow) GcmState{};
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (cipher == nullptr || state == nullptr || ctx == nullptr) {
    EVP_CIPHER_CTX_free(ctx);
    delete state;
    delete cipher;
    *c = nullptr;
    return srtp_err_status_alloc_fail;
  }
  const bool aes128 = keyLength == SRTP_AES_GCM_128_KEY_LEN_WSALT;
  state->ctx = ctx;
  state->keyLength = aes128 ? SRTP_AES_128_KEY_LEN : SRTP_AES_256_KEY_LEN;
  state->tagLength = tagLength;
  cipher->type = aes128 ? &gcm128 : &gcm256;
  cipher->algorithm = aes128 ? SRTP_AES_GCM_128 : SRTP_AES_GCM_256;
  cipher->state = state;
  cipher->key_len = keyLength;
  *c = cipher;
  return srtp_err_status_ok;
}

srtp_err_status_t gcmDealloc(srtp_cipher_t* c) {
  GcmState* state = stateOf(c->state);
  if (state != nullptr) {
    EVP_CIPHER_CTX_free(state->ctx);  // clears the key schedule
    delete state;
  }
  delete c;
  return srtp_err_status_ok;
}

// The session key (libsrtp derived it); the IV comes per packet.
srtp_err_status_t gcmInit(void* v, const uint8_t* key) {
  GcmState* s = stateOf(v);
  const EVP_CIPHER* evp = s->keyLength == SRTP_AES_128_KEY_LEN ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
  EVP_CIPHER_CTX_reset(s->ctx);
  s->enc = -1;
  if (EVP_CipherInit_ex(s->ctx, evp, nullptr, key, nullptr, 1) != 1) return srtp_err_status_init_fail;
  return srtp_err_status_ok;
}

// The IV of the next packet. A context keeps its direction (libsrtp gives each stream its own
// cipher objects, protect or unprotect), so after the first packet the IV goes in as the GCM
// provider's "whole IV" parameter (OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED with length -1, the
// special case OpenSSL's ctrl EVP_CTRL_GCM_SET_IV_FIXED documents), which skips
// EVP_CipherInit_ex's per-call IV- and key-length queries. A change of direction, or a provider
// that refuses the parameter, takes EVP_CipherInit_ex.
srtp_err_status_t gcmSetIv(void* v, uint8_t* iv, srtp_cipher_direction_t direction) {
  GcmState* s = stateOf(v);
  if (direction != srtp_direction_encrypt && direction != srtp_direction_decrypt) {
    return srtp_err_status_bad_param;
  }
  const int enc = direction == srtp_direction_encrypt ? 1 : 0;
  if (enc == s->enc) {
    std::array<OSSL_PARAM, 2> params{
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, iv, static_cast<size_t>(-1)),
        OSSL_PARAM_construct_end()};
    if (EVP_CIPHER_CTX_set_params(s->ctx, params.data()) == 1) return srtp_err_status_ok;
  }
  if (EVP_CipherInit_ex(s->ctx, nullptr, nullptr, nullptr, iv, enc) != 1) return srtp_err_status_init_fail;
  s->enc = enc;
  return srtp_err_status_ok;
}

srtp_err_status_t gcmSetAad(void* v, const uint8_t* aad, uint32_t length) {
  int out = 0;
  if (EVP_CipherUpdate(stateOf(v)->ctx, nullptr, &out, aad, static_cast<int>(length)) != 1) {
    return srtp_err_status_algo_fail;
  }
  return srtp_err_status_ok;
}

srtp_err_status_t gcmEncrypt(void* v, uint8_t* buffer, unsigned int* length) {
  int out = 0;
  if (EVP_CipherUpdate(stateOf(v)->ctx, buffer, &out, buffer, static_cast<int>(*length)) != 1) {
    return srtp_err_status_algo_fail;
  }
  return srtp_err_status_ok;
}

srtp_err_status_t gcmGetTag(void* v, uint8_t* tag, uint32_t* length) {
  GcmState* s = stateOf(v);
  std::array<unsigned char, kMaxTag> none{};
  int out = 0;
  if (EVP_CipherFinal_ex(s->ctx, none.data(), &out) != 1) return srtp_err_status_algo_fail;
  std::array<OSSL_PARAM, 2> params{
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, static_cast<size_t>(s->tagLength)),
      OSSL_PARAM_construct_end()};
  if (EVP_CIPHER_CTX_get_params(s->ctx, params.data()) != 1) return srtp_err_status_algo_fail;
  *length = static_cast<uint32_t>(s->tagLength);
  return srtp_err_status_ok;
}

// `buffer` holds the ciphertext and then the tag; on success *length loses the tag.
srtp_err_status_t gcmDecrypt(void* v, uint8_t* buffer, unsigned int* length) {
  GcmState* s = stateOf(v);
  const auto tagLength = static_cast<unsigned int>(s->tagLength);
  if (*length < tagLength) return srtp_err_status_bad_param;
  const unsigned int cipherLength = *length - tagLength;
  std::array<OSSL_PARAM, 2> params{
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, buffer + cipherLength, tagLength),
      OSSL_PARAM_construct_end()};
  if (EVP_CIPHER_CTX_set_params(s->ctx, params.data()) != 1) return srtp_err_status_auth_fail;
  int out = 0;
  if (EVP_CipherUpdate(s->ctx, buffer, &out, buffer, static_cast<int>(cipherLength)) != 1) {
    return srtp_err_status_auth_fail;
  }
  std::array<unsigned char, kMaxTag> none{};
  if (EVP_CipherFinal_ex(s->ctx, none.data(), &out) != 1) return srtp_err_status_auth_fail;
  *length = cipherLength;
  return srtp_err_status_ok;
}

void fill(srtp_cipher_type_t& t, srtp_cipher_type_id_t id, const srtp_cipher_type_t& stock) {
  t.alloc = gcmAlloc;
  t.dealloc = gcmDealloc;
  t.init = gcmInit;
  t.set_aad = gcmSetAad;
  t.encrypt = gcmEncrypt;
  t.decrypt = gcmDecrypt;
  t.set_iv = gcmSetIv;
  t.get_tag = gcmGetTag;
  t.description = id == SRTP_AES_GCM_128 ? "AES-128 GCM on OpenSSL EVP (Rendezvous)"
                                         : "AES-256 GCM on OpenSSL EVP (Rendezvous)";
  t.test_data = stock.test_data;
  t.id = id;
}

}  // namespace

const srtp_cipher_type_t& gcmCipherType(srtp_cipher_type_id_t id, const srtp_cipher_type_t& stock) {
  srtp_cipher_type_t& t = id == SRTP_AES_GCM_128 ? gcm128 : gcm256;
  if (t.alloc == nullptr) fill(t, id, stock);
  return t;
}

}  // namespace rdv::srtp::detail
