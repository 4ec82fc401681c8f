#include "media/srtp/SrtpContext.h"

#include <srtp2/srtp.h>

#include "media/srtp/CompactSrtp.h"
#include "media/srtp/LibsrtpTransforms.h"

#if RDV_SRTP_NSS
#include <nss.h>
#endif

#include <array>
#include <cassert>
#include <cstring>
#include <mutex>

namespace rdv::srtp {

namespace {

// libsrtp lengths are ints; no datagram is longer than this.
constexpr size_t kMaxPacket = 65535;
constexpr size_t kMaxKeys = SRTP_MAX_NUM_MASTER_KEYS;
static_assert(kMaxMkiLength == SRTP_MAX_MKI_LEN);

SrtpError fromStatus(srtp_err_status_t s) {
  switch (s) {
    case srtp_err_status_auth_fail:
      return SrtpError::AuthFail;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      return SrtpError::ReplayFail;
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
      return SrtpError::BadPacket;
    case srtp_err_status_bad_mki:
      return SrtpError::BadMki;
    case srtp_err_status_key_expired:
      return SrtpError::KeyExpired;
    default:
      return SrtpError::Failed;
  }
}

uint8_t byteAt(std::span<const std::byte> p, size_t i) {
  return std::to_integer<uint8_t>(p[i]);
}

// RFC 3550 §5.1: version 2, fixed header, CSRCs and the extension (§5.3.1) inside the packet,
// followed by at least `trailer` bytes.
bool rtpFits(std::span<const std::byte> p, size_t trailer) {
  if (p.size() < 12 || p.size() > kMaxPacket || (byteAt(p, 0) >> 6) != 2) return false;
  size_t header = 12 + 4 * size_t{byteAt(p, 0) & 0x0fu};
  if (byteAt(p, 0) & 0x10u) {
    if (p.size() < header + 4) return false;
    header += 4 + 4 * ((size_t{byteAt(p, header + 2)} << 8) | byteAt(p, header + 3));
  }
  return header + trailer <= p.size();
}

// RFC 3550 §6.4: version 2 and the 8-byte SR/RR header; SRTCP adds index, tag and MKI.
bool rtcpFits(std::span<const std::byte> p, size_t trailer) {
  return p.size() >= 8 + trailer && p.size() <= kMaxPacket && (byteAt(p, 0) >> 6) == 2;
}

void setPolicy(Suite suite, srtp_policy_t& policy) {
  switch (suite) {
    case Suite::AesCm128HmacSha1_80:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
      break;
    case Suite::AesCm128HmacSha1_32:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);  // RFC 4568 §6.2.2
      break;
    case Suite::AeadAes128Gcm:
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
      break;
    case Suite::AeadAes256Gcm:
      srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtp);
      srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtcp);
      break;
  }
}

// The keys in the form libsrtp takes (mutable copies; srtp_create expands and then forgets them).
struct KeyBlock {
  std::array<std::array<unsigned char, kMaxKeySaltLength>, kMaxKeys> material{};
  std::array<std::array<unsigned char, kMaxMkiLength>, kMaxKeys> mki{};
  std::array<srtp_master_key_t, kMaxKeys> keys{};
  std::array<srtp_master_key_t*, kMaxKeys> pointers{};
};

bool validKeys(const SrtpConfig& c) {
  const SuiteInfo& info = suiteInfo(c.suite);
  if (c.keys.empty() || c.keys.size() > kMaxKeys) return false;
  const uint8_t mkiLength = c.keys[0].mkiLength;
  if (c.keys.size() > 1 && mkiLength == 0) return false;
  for (const MasterKey& k : c.keys) {
    if (k.keySalt.size() != info.keySaltLength() || k.mkiLength != mkiLength) return false;
    if (k.mkiLength > kMaxMkiLength) return false;
    if (k.mkiLength < 8 && k.mkiLength > 0 && (k.mki >> (8 * k.mkiLength)) != 0) return false;
  }
  return c.replayWindow >= 64 && c.replayWindow < 0x8000;
}

void fillKeys(const SrtpConfig& c, KeyBlock& block, srtp_policy_t& policy) {
  for (size_t i = 0; i < c.keys.size(); ++i) {
    const MasterKey& k = c.keys[i];
    std::memcpy(block.material[i].data(), k.keySalt.data(), k.keySalt.size());
    for (size_t b = 0; b < k.mkiLength && b < 8; ++b) {  // big-endian, value in the last bytes
      block.mki[i][k.mkiLength - 1 - b] = static_cast<unsigned char>(k.mki >> (8 * b));
    }
    block.keys[i] = {block.material[i].data(), block.mki[i].data(), k.mkiLength};
    block.pointers[i] = &block.keys[i];
  }
  if (c.keys[0].mkiLength == 0) {
    policy.key = block.material[0].data();
  } else {
    policy.keys = block.pointers.data();
    policy.num_master_keys = c.keys.size();
  }
}

}  // namespace

namespace detail {

bool initLibsrtp() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] {
#if RDV_SRTP_NSS
    // Only for the fallback on the system libsrtp2: CMake builds libsrtp2 on OpenSSL when its
    // source is there (media/srtp/CMakeLists.txt), and this block is then compiled out.
    // Debian's libsrtp2 runs its ciphers on NSS and every cipher it allocates asks for a
    // *space-optimised* NSS softoken, whose session and key-object hash tables have 32 buckets.
    // Every packet opens a softoken session and looks its key up in those tables, which costs more
    // the more SRTP contexts the process holds (relay_srtp_bench, 1,000 sessions: a process
    // protecting with 2,000 contexts kept under half its packet rate). NSS initialised first,
    // time-optimised (1,024 buckets), is the instance libsrtp's own NSS_InitContext calls then
    // share. Never shut down.
    static NSSInitContext* nss =
        NSS_InitContext("", "", "", "", nullptr,
                        NSS_INIT_READONLY | NSS_INIT_NOCERTDB | NSS_INIT_NOMODDB | NSS_INIT_FORCEOPEN);
    if (nss == nullptr) return;
#endif
    ok = srtp_init() == srtp_err_status_ok;
    // Rendezvous' GCM and HMAC-SHA1 objects under libsrtp (SrtpTransforms.h says why). If
    // libsrtp refuses them, its own stay: slower, not wrong.
    if (ok) detail::installTransforms(Transforms::Rendezvous);
  });
  return ok;
}

}  // namespace detail

std::string_view toString(SrtpError e) {
  switch (e) {
    case SrtpError::AuthFail:
      return "auth fail";
    case SrtpError::ReplayFail:
      return "replay";
    case SrtpError::BadPacket:
      return "bad packet";
    case SrtpError::BadMki:
      return "bad mki";
    case SrtpError::NoRoom:
      return "no room";
    case SrtpError::KeyExpired:
      return "key expired";
    case SrtpError::BadConfig:
      return "bad config";
    case SrtpError::Failed:
      return "failed";
  }
  return "failed";
}

void SrtpContext::Deleter::operator()(srtp_ctx_t_* ctx) const {
  srtp_dealloc(ctx);
}

void SrtpContext::Deleter::operator()(detail::CompactSrtp* c) const {
  delete c;
}

Expected<SrtpContext, SrtpError> SrtpContext::create(const SrtpConfig& config) {
  if (!validKeys(config)) return Unexpected(SrtpError::BadConfig);
  if (!detail::initLibsrtp()) return Unexpected(SrtpError::Failed);
  srtp_policy_t policy{};
  setPolicy(config.suite, policy);
  policy.ssrc.type = config.direction == Direction::Inbound ? ssrc_any_inbound : ssrc_any_outbound;
  policy.window_size = config.replayWindow;
  policy.allow_repeat_tx = config.direction == Direction::Outbound ? 1 : 0;
  KeyBlock block;
  fillKeys(config, block, policy);
  srtp_t session = nullptr;
  const srtp_err_status_t s = srtp_create(&session, &policy);
  // srtp_create has expanded the keys; wipe the copies (the caller owns its own).
  explicit_bzero(block.material.data(), sizeof(block.material));
  if (s != srtp_err_status_ok)
    return Unexpected(s == srtp_err_status_bad_param ? SrtpError::BadConfig : SrtpError::Failed);
  SrtpContext context(std::unique_ptr<srtp_ctx_t_, Deleter>(session), config);
  const RtpPath path = config.rtpPath == RtpPath::Default ? rtpPathInUse() : config.rtpPath;
  // A config the compact path does not take, or OpenSSL refusing it, leaves libsrtp for all.
  if (path == RtpPath::Compact) context.compact_.reset(detail::CompactSrtp::create(config).release());
  if (context.compact_) context.compactCipher_ = context.compact_->cipherContext();
  return context;
}

bool SrtpContext::compactAesGcm() const {
  return compact_ && compact_->ownAesGcm();
}

void SrtpContext::prefetch() const {
  if (compact_) compact_->prefetch(compactCipher_, suite_);
}

SrtpContext::SrtpContext(std::unique_ptr<srtp_ctx_t_, Deleter> ctx, const SrtpConfig& config)
    : ctx_(std::move(ctx)),
      suite_(config.suite),
      direction_(config.direction),
      mkiLength_(config.keys[0].mkiLength),
      rtpTrailer_(suiteInfo(config.suite).rtpTagLength + mkiLength_),
      rtcpTrailer_(4 + suiteInfo(config.suite).rtcpTagLength + mkiLength_) {}

SrtpContext::~SrtpContext() = default;

Expected<size_t, SrtpError> SrtpContext::protectRtp(std::span<std::byte> buffer, size_t length) {
  assert(direction_ == Direction::Outbound);
  if (length > buffer.size() || !rtpFits(buffer.first(length), 0)) return Unexpected(SrtpError::BadPacket);
  if (buffer.size() - length < rtpTrailer_) return Unexpected(SrtpError::NoRoom);
  if (compact_) {
    if (auto r = compact_->protect(buffer, length)) return *r;
  }
  int len = static_cast<int>(length);
  const srtp_err_status_t s = srtp_protect_mki(ctx_.get(), buffer.data(), &len, mkiLength_ > 0, 0);
  if (s != srtp_err_status_ok) return Unexpected(fromStatus(s));
  return static_cast<size_t>(len);
}

Expected<size_t, SrtpError> SrtpContext::protectRtcp(std::span<std::byte> buffer, size_t length) {
  assert(direction_ == Direction::Outbound);
  if (length > buffer.size() || !rtcpFits(buffer.first(length), 0)) return Unexpected(SrtpError::BadPacket);
  if (buffer.size() - length < rtcpTrailer_) return Unexpected(SrtpError::NoRoom);
  int len = static_cast<int>(length);
  const srtp_err_status_t s = srtp_protect_rtcp_mki(ctx_.get(), buffer.data(), &len, mkiLength_ > 0, 0);
  if (s != srtp_err_status_ok) return Unexpected(fromStatus(s));
  return static_cast<size_t>(len);
}

Expected<size_t, SrtpError> SrtpContext::unprotectRtp(std::span<std::byte> packet) {
  assert(direction_ == Direction::Inbound);
  if (!rtpFits(packet, rtpTrailer_)) return Unexpected(SrtpError::BadPacket);
  if (compact_) {
    if (auto r = compact_->unprotect(packet)) return *r;
  }
  int len = static_cast<int>(packet.size());
  const srtp_err_status_t s = srtp_unprotect_mki(ctx_.get(), packet.data(), &len, mkiLength_ > 0);
  if (s != srtp_err_status_ok) return Unexpected(fromStatus(s));
  return static_cast<size_t>(len);
}

Expected<size_t, SrtpError> SrtpContext::unprotectRtcp(std::span<std::byte> packet) {
  assert(direction_ == Direction::Inbound);
  if (!rtcpFits(packet, rtcpTrailer_)) return Unexpected(SrtpError::BadPacket);
  int len = static_cast<int>(packet.size());
  const srtp_err_status_t s = srtp_unprotect_rtcp_mki(ctx_.get(), packet.data(), &len, mkiLength_ > 0);
  if (s != srtp_err_status_ok) return Unexpected(fromStatus(s));
  return static_cast<size_t>(len);
}

}  // namespace rdv::srtp
