#include "media/srtp/SrtpTransforms.h"

#include "media/srtp/LibsrtpTransforms.h"

// libsrtp's own objects (its OpenSSL or NSS glue): what Transforms::Libsrtp puts back, and the
// known-answer vectors ours are tested with when registered.
extern "C" {
extern const srtp_cipher_type_t srtp_aes_gcm_128;
extern const srtp_cipher_type_t srtp_aes_gcm_256;
extern const srtp_auth_type_t srtp_hmac;
}

namespace rdv::srtp {

namespace {

Transforms current = Transforms::Libsrtp;
RtpPath rtpPath = RtpPath::Compact;

}  // namespace

namespace detail {

bool installTransforms(Transforms t) {
  const bool ours = t == Transforms::Rendezvous;
  const srtp_cipher_type_t& gcm128 =
      ours ? gcmCipherType(SRTP_AES_GCM_128, srtp_aes_gcm_128) : srtp_aes_gcm_128;
  const srtp_cipher_type_t& gcm256 =
      ours ? gcmCipherType(SRTP_AES_GCM_256, srtp_aes_gcm_256) : srtp_aes_gcm_256;
  const srtp_auth_type_t& hmac = ours ? hmacSha1AuthType(srtp_hmac) : srtp_hmac;
  // Each replacement first runs libsrtp's known answers on the new object. A refusal part-way
  // puts libsrtp's own back for all three, so a process never mixes half of each.
  if (srtp_replace_cipher_type(&gcm128, SRTP_AES_GCM_128) != srtp_err_status_ok ||
      srtp_replace_cipher_type(&gcm256, SRTP_AES_GCM_256) != srtp_err_status_ok ||
      srtp_replace_auth_type(&hmac, SRTP_HMAC_SHA1) != srtp_err_status_ok) {
    if (ours) installTransforms(Transforms::Libsrtp);
    return false;
  }
  current = t;
  return true;
}

}  // namespace detail

bool useTransforms(Transforms t) {
  return detail::initLibsrtp() && detail::installTransforms(t);
}

Transforms transformsInUse() {
  return current;
}

std::string_view toString(Transforms t) {
  return t == Transforms::Rendezvous ? "rendezvous" : "libsrtp";
}

void useRtpPath(RtpPath p) {
  rtpPath = p == RtpPath::Libsrtp ? RtpPath::Libsrtp : RtpPath::Compact;
}

RtpPath rtpPathInUse() {
  return rtpPath;
}

std::string_view toString(RtpPath p) {
  return p == RtpPath::Libsrtp ? "libsrtp" : p == RtpPath::Compact ? "compact" : "default";
}

}  // namespace rdv::srtp
