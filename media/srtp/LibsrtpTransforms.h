#pragma once
// Rendezvous' cipher and MAC objects in the form libsrtp registers them (srtp2/cipher.h,
// srtp2/auth.h). Internal to rdv_srtp: SrtpTransforms.cc installs them; nothing else includes
// libsrtp's headers. Each object's functions are libsrtp's callbacks: they run per packet, so
// they allocate nothing, lock nothing and log nothing (alloc/init run when a context is made).

#include <srtp2/auth.h>
#include <srtp2/cipher.h>

#include "media/srtp/SrtpTransforms.h"

namespace rdv::srtp::detail {

// AEAD_AES_128_GCM (SRTP_AES_GCM_128) or AEAD_AES_256_GCM (SRTP_AES_GCM_256) on one OpenSSL
// EVP_CIPHER_CTX per key; `stock` is libsrtp's type for the same id, whose known-answer vectors
// this one carries so that libsrtp's self-test runs them on ours (GcmCipher.cc).
const srtp_cipher_type_t& gcmCipherType(srtp_cipher_type_id_t id, const srtp_cipher_type_t& stock);

// HMAC-SHA1 (SRTP_HMAC_SHA1) from SHA-1 states precomputed per key (HmacSha1Auth.cc).
const srtp_auth_type_t& hmacSha1AuthType(const srtp_auth_type_t& stock);

}  // namespace rdv::srtp::detail

namespace rdv::srtp::detail {

// Initialises libsrtp once per process (std::call_once) and installs Rendezvous' transforms;
// false when libsrtp cannot be initialised (SrtpContext.cc).
bool initLibsrtp();

// Registers `t`'s cipher and MAC objects with libsrtp (already initialised); false when libsrtp
// refused one (its known-answer self-test), leaving the previous ones (SrtpTransforms.cc).
bool installTransforms(Transforms t);

}  // namespace rdv::srtp::detail
