#define OPENSSL_SUPPRESS_DEPRECATED  // SHA1_Init/Update/Final: HmacSha1Auth.cc says why
#include "media/srtp/CompactSrtp.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace rdv::srtp::detail {

namespace {

constexpr int32_t kSeqMedian = 1 << 15;  // libsrtp's seq_num_median
constexpr int32_t kSeqMax = 1 << 16;     // seq_num_max
constexpr size_t kAuthKeyLength = 20;    // HMAC-SHA1 session auth key (RFC 3711 §8.2)
constexpr int kGcmTag = 16;
static_assert(kGcmTag == AesGcm::kTagLength);

std::atomic<bool> allowAesGcm{true};

// RFC 3711 §4.3 labels.
constexpr uint8_t kLabelEncryption = 0;
constexpr uint8_t kLabelAuth = 1;
constexpr uint8_t kLabelSalt = 2;

uint32_t load32(const std::byte* p) {
  uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return v;
}

void putBe(unsigned char* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) p[n - 1 - i] = static_cast<unsigned char>(v >> (8 * i));
}

// The RTP header length; rtpFits (SrtpContext.cc) has checked it lies inside the packet.
size_t headerLength(std::span<const std::byte> p) {
  const auto b0 = std::to_integer<uint8_t>(p[0]);
  size_t h = 12 + 4 * size_t{b0 & 0x0fu};
  if (b0 & 0x10u) {
    h += 4 + 4 * ((size_t{std::to_integer<uint8_t>(p[h + 2])} << 8) | std::to_integer<uint8_t>(p[h + 3]));
  }
  return h;
}

// RFC 3711 §4.3.1 with KDR 0 (what SDES and libsrtp use): the AES-CM keystream under the master
// key from IV = (master salt XOR label << 48) || 0x0000. libsrtp pads a 12-byte AEAD master salt
// with zeros to the 14 bytes of its AES-ICM KDF (RFC 7714 §11).
bool kdf(std::span<const std::byte> key, std::span<const std::byte> salt, uint8_t label,
         std::span<unsigned char> out) {
  std::array<unsigned char, 16> iv{};
  std::memcpy(iv.data(), salt.data(), salt.size());
  iv[7] ^= label;
  std::array<unsigned char, 64> zeros{};
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  int n = 0;
  const bool ok = c != nullptr && out.size() <= zeros.size() &&
                  EVP_EncryptInit_ex(c, key.size() == 32 ? EVP_aes_256_ctr() : EVP_aes_128_ctr(), nullptr,
                                     reinterpret_cast<const unsigned char*>(key.data()), iv.data()) == 1 &&
                  EVP_EncryptUpdate(c, out.data(), &n, zeros.data(), static_cast<int>(out.size())) == 1;
  EVP_CIPHER_CTX_free(c);
  return ok;
}

void hmacKeyedState(std::span<const unsigned char> key, unsigned char pad, SHA_CTX& state) {
  std::array<unsigned char, SHA_CBLOCK> block{};
  std::memcpy(block.data(), key.data(), key.size());
  for (auto& b : block) b ^= pad;
  SHA1_Init(&state);
  SHA1_Update(&state, block.data(), block.size());
  OPENSSL_cleanse(block.data(), block.size());
}

}  // namespace

void setAesGcmAllowed(bool allowed) {
  allowAesGcm.store(allowed, std::memory_order_relaxed);
}

bool aesGcmAllowed() {
  return allowAesGcm.load(std::memory_order_relaxed);
}

bool CompactSrtp::fits(const SrtpConfig& c) {
  const uint32_t rounded = (c.replayWindow + 31) & ~31u;  // libsrtp's bit vector length
  return c.keys.size() == 1 && c.keys[0].mkiLength == 0 &&
         c.keys[0].keySalt.size() == suiteInfo(c.suite).keySaltLength() && rounded >= 64 &&
         rounded <= kMaxWindow && (rounded & (rounded - 1)) == 0;
}

CompactSrtp::CompactSrtp(const SrtpConfig& c)
    : windowBits_(static_cast<uint16_t>((c.replayWindow + 31) & ~31u)),
      tagLength_(static_cast<uint8_t>(suiteInfo(c.suite).rtpTagLength)),
      aead_(suiteInfo(c.suite).aead),
      outbound_(c.direction == Direction::Outbound) {}

CompactSrtp::~CompactSrtp() {
  EVP_CIPHER_CTX_free(cipher_);  // clears the key schedule
  OPENSSL_cleanse(salt_.data(), salt_.size());
  OPENSSL_cleanse(&inner_, sizeof(inner_));
  OPENSSL_cleanse(&outer_, sizeof(outer_));
}

std::unique_ptr<CompactSrtp> CompactSrtp::create(const SrtpConfig& config) {
  if (!fits(config)) return nullptr;
  std::unique_ptr<CompactSrtp> c(new CompactSrtp(config));
  if (!c->deriveKeys(config.keys[0].keySalt)) return nullptr;
  return c;
}

bool CompactSrtp::deriveKeys(std::span<const std::byte> keySalt) {
  const size_t keyLength = keySalt.size() == 44 ? 32 : 16;
  const auto masterKey = keySalt.first(keyLength);
  const auto masterSalt = keySalt.subspan(keyLength);
  std::array<unsigned char, 32> key{};
  std::array<unsigned char, kAuthKeyLength> auth{};
  const bool ownGcm = aead_ && AesGcm::supported() && aesGcmAllowed();
  if (!ownGcm) cipher_ = EVP_CIPHER_CTX_new();
  bool ok = (ownGcm || cipher_ != nullptr) &&
            kdf(masterKey, masterSalt, kLabelEncryption, std::span(key).first(keyLength)) &&
            kdf(masterKey, masterSalt, kLabelSalt, std::span(salt_).first(masterSalt.size()));
  if (ok && ownGcm) {
    gcm_ = AesGcm(std::as_bytes(std::span(key).first(keyLength)));
  } else if (ok && aead_) {
    const EVP_CIPHER* gcm = keyLength == 32 ? EVP_aes_256_gcm() : EVP_aes_128_gcm();
    ok = EVP_CipherInit_ex(cipher_, gcm, nullptr, key.data(), nullptr, outbound_ ? 1 : 0) == 1;
  } else if (ok) {
    ok = kdf(masterKey, masterSalt, kLabelAuth, auth) &&
         EVP_EncryptInit_ex(cipher_, EVP_aes_128_ctr(), nullptr, key.data(), nullptr) == 1;
    hmacKeyedState(auth, 0x36, inner_);
    hmacKeyedState(auth, 0x5c, outer_);
  }
  OPENSSL_cleanse(key.data(), key.size());
  OPENSSL_cleanse(auth.data(), auth.size());
  return ok;
}

// Reads nothing from this object: every address is `this` plus a constant, so no prefetch waits
// for another.
// AesGcm is in use exactly when an AEAD suite has no EVP context (cipher == nullptr).
void CompactSrtp::prefetch(const void* cipher, Suite suite) const {
  const auto* self = reinterpret_cast<const char*>(this);
  __builtin_prefetch(self, 1);
  __builtin_prefetch(self + 64, 0);
  const auto* window = reinterpret_cast<const char*>(seen_[0].data());
  static_assert(sizeof(Window) == 128);
  __builtin_prefetch(window, 1);
  __builtin_prefetch(window + 64, 1);
  const SuiteInfo& info = suiteInfo(suite);
  if (!info.aead) {
    const auto* states = reinterpret_cast<const char*>(&inner_);
    for (size_t at = 0; at < 2 * sizeof(SHA_CTX); at += 64) __builtin_prefetch(states + at, 0);
  }
  if (cipher == nullptr && info.aead) {  // AES-128 reads 256 bytes of it, AES-256 all 320
    const auto* keys = reinterpret_cast<const char*>(&gcm_);
    const size_t used = info.keyLength == 32 ? sizeof(AesGcm) : 256;
    for (size_t at = 0; at < used; at += 64) __builtin_prefetch(keys + at, 0);
    return;
  }
  const auto* evp = static_cast<const char*>(cipher);
  for (size_t at = 0; at < 256; at += 64) __builtin_prefetch(evp + at, 1);
}

int CompactSrtp::findSlot(uint32_t ssrc) const {
  for (size_t i = 0; i < kStreams; ++i) {
    if ((used_ >> i) & 1u && ssrc_[i] == ssrc) return static_cast<int>(i);
  }
  return -1;
}

int CompactSrtp::freeSlot() const {
  for (size_t i = 0; i < kStreams; ++i) {
    if (!((used_ >> i) & 1u)) return static_cast<int>(i);
  }
  return -1;
}

// A fresh stream for `ssrc` (srtp_stream_clone: index 0, empty window).
void CompactSrtp::claim(int slot, uint32_t ssrc) {
  used_ |= static_cast<uint8_t>(1u << slot);
  ssrc_[slot] = ssrc;
  index_[slot] = 0;
  seen_[slot].fill(0);
}

uint64_t CompactSrtp::estimate(int slot, uint16_t seq, int32_t& delta) const {
  const uint64_t highest = index_[slot];
  if (highest <= static_cast<uint64_t>(kSeqMedian)) {  // srtp_rdbx_estimate_index: ROC 0 early on
    delta = int32_t{seq} - static_cast<uint16_t>(highest);
    return seq;
  }
  const auto localRoc = static_cast<uint32_t>(highest >> 16);
  const int32_t localSeq = static_cast<uint16_t>(highest);
  uint32_t roc = localRoc;
  delta = int32_t{seq} - localSeq;  // srtp_index_guess
  if (localSeq < kSeqMedian) {
    if (int32_t{seq} - localSeq > kSeqMedian) {
      roc = localRoc - 1;
      delta -= kSeqMax;
    }
  } else if (localSeq - kSeqMedian > int32_t{seq}) {
    roc = localRoc + 1;
    delta += kSeqMax;
  }
  return (uint64_t{roc} << 16) | seq;
}

bool CompactSrtp::tooOld(int32_t delta) const {
  return delta <= 0 && int32_t{windowBits_} - 1 + delta < 0;
}

bool CompactSrtp::replayed(int slot, int32_t delta) const {
  if (delta > 0) return false;
  if (tooOld(delta)) return true;
  const uint64_t pos = (index_[slot] + static_cast<uint64_t>(int64_t{delta})) & (windowBits_ - 1u);
  return (seen_[slot][pos >> 6] >> (pos & 63)) & 1u;
}

// srtp_rdbx_add_index: a newer index moves the window (the bits it passes are cleared), an older
// one inside it sets its bit.
void CompactSrtp::accept(int slot, uint64_t index, int32_t delta) {
  const uint32_t w = windowBits_;
  Window& seen = seen_[slot];
  if (delta > 0) {
    if (static_cast<uint32_t>(delta) >= w) {
      seen.fill(0);
    } else {
      uint64_t from = index_[slot] + 1;
      auto left = static_cast<uint32_t>(delta);
      while (left > 0) {  // at most w/64 + 1 rounds
        const uint32_t pos = static_cast<uint32_t>(from) & (w - 1);
        const uint32_t n = std::min({left, 64 - (pos & 63), w - pos});
        const uint64_t mask = n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1) << (pos & 63);
        seen[pos >> 6] &= ~mask;
        from += n;
        left -= n;
      }
    }
    index_[slot] = index;
  }
  const uint64_t pos = index & (w - 1);
  seen[pos >> 6] |= uint64_t{1} << (pos & 63);
}

bool CompactSrtp::keyUsed() {
  return --keyLeft_ != 0;  // srtp_key_limit_update: hard limit when nothing is left
}

// RFC 7714 §8.1: IV = (0x0000 || SSRC || ROC || SEQ) XOR salt. From the second packet on, as the
// GCM provider's whole-IV parameter (GcmCipher.cc says why).
std::array<unsigned char, AesGcm::kIvLength> CompactSrtp::gcmIv(uint32_t ssrc, uint64_t index) const {
  std::array<unsigned char, AesGcm::kIvLength> iv{};
  std::memcpy(iv.data() + 2, &ssrc, 4);
  putBe(iv.data() + 6, index, 6);
  for (size_t i = 0; i < iv.size(); ++i) iv[i] ^= salt_[i];
  return iv;
}

bool CompactSrtp::gcmSetIv(uint32_t ssrc, uint64_t index) {
  auto iv = gcmIv(ssrc, index);
  if (ivPrimed_) {
    std::array<OSSL_PARAM, 2> params{OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED,
                                                                       iv.data(), static_cast<size_t>(-1)),
                                     OSSL_PARAM_construct_end()};
    if (EVP_CIPHER_CTX_set_params(cipher_, params.data()) == 1) return true;
  }
  ivPrimed_ = EVP_CipherInit_ex(cipher_, nullptr, nullptr, nullptr, iv.data(), outbound_ ? 1 : 0) == 1;
  return ivPrimed_;
}

// RFC 3711 §4.1.1: IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
bool CompactSrtp::ctrSetIv(uint32_t ssrc, uint64_t index) {
  std::array<unsigned char, 16> iv{};
  std::memcpy(iv.data() + 4, &ssrc, 4);
  putBe(iv.data() + 8, index, 6);
  for (size_t i = 0; i < 14; ++i) iv[i] ^= salt_[i];
  return EVP_EncryptInit_ex(cipher_, nullptr, nullptr, nullptr, iv.data()) == 1;
}

// RFC 3711 §4.2: HMAC-SHA1 over the authenticated portion || ROC.
void CompactSrtp::hmacTag(std::span<const std::byte> authenticated, uint32_t roc,
                          std::span<unsigned char, 20> out) const {
  std::array<unsigned char, 4> r{};
  putBe(r.data(), roc, 4);
  std::array<unsigned char, SHA_DIGEST_LENGTH> inner{};
  SHA_CTX c = inner_;
  SHA1_Update(&c, authenticated.data(), authenticated.size());
  SHA1_Update(&c, r.data(), r.size());
  SHA1_Final(inner.data(), &c);
  c = outer_;
  SHA1_Update(&c, inner.data(), inner.size());
  SHA1_Final(out.data(), &c);
}

Expected<size_t, SrtpError> CompactSrtp::seal(std::span<std::byte> buffer, size_t header, size_t length,
                                              uint32_t ssrc, uint64_t index) {
  auto* p = reinterpret_cast<unsigned char*>(buffer.data());
  const int payload = static_cast<int>(length - header);
  int out = 0;
  if (gcm_.keyed()) {  // the AAD is the RTP header (RFC 7714 §8.2)
    const auto iv = gcmIv(ssrc, index);
    gcm_.seal(std::as_bytes(std::span(iv)), buffer.first(header), buffer.subspan(header, length - header),
              buffer.subspan(length).first<kGcmTag>());
    return length + kGcmTag;
  }
  if (aead_) {
    std::array<unsigned char, kGcmTag> none{};
    if (!gcmSetIv(ssrc, index) ||
        EVP_CipherUpdate(cipher_, nullptr, &out, p, static_cast<int>(header)) != 1 ||
        EVP_CipherUpdate(cipher_, p + header, &out, p + header, payload) != 1 ||
        EVP_CipherFinal_ex(cipher_, none.data(), &out) != 1) {
      return Unexpected(SrtpError::Failed);
    }
    std::array<OSSL_PARAM, 2> params{
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, p + length, kGcmTag),
        OSSL_PARAM_construct_end()};
    if (EVP_CIPHER_CTX_get_params(cipher_, params.data()) != 1) return Unexpected(SrtpError::Failed);
    return length + kGcmTag;
  }
  if (!ctrSetIv(ssrc, index) || EVP_EncryptUpdate(cipher_, p + header, &out, p + header, payload) != 1) {
    return Unexpected(SrtpError::Failed);
  }
  std::array<unsigned char, SHA_DIGEST_LENGTH> tag{};
  hmacTag(buffer.first(length), static_cast<uint32_t>(index >> 16), tag);
  std::memcpy(p + length, tag.data(), tagLength_);
  return length + tagLength_;
}

Expected<size_t, SrtpError> CompactSrtp::open(std::span<std::byte> packet, size_t header, uint32_t ssrc,
                                              uint64_t index) {
  auto* p = reinterpret_cast<unsigned char*>(packet.data());
  const size_t body = packet.size() - tagLength_;
  int out = 0;
  if (aead_) {
    if (!keyUsed()) return Unexpected(SrtpError::KeyExpired);
    if (gcm_.keyed()) {  // a forged packet stays as it came
      const auto iv = gcmIv(ssrc, index);
      if (!gcm_.open(std::as_bytes(std::span(iv)), packet.first(header),
                     packet.subspan(header, body - header), packet.subspan(body).first<kGcmTag>())) {
        return Unexpected(SrtpError::AuthFail);
      }
      return body;
    }
    std::array<OSSL_PARAM, 2> params{
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, p + body, kGcmTag),
        OSSL_PARAM_construct_end()};
    if (!gcmSetIv(ssrc, index)) return Unexpected(SrtpError::Failed);
    std::array<unsigned char, kGcmTag> none{};
    if (EVP_CIPHER_CTX_set_params(cipher_, params.data()) != 1 ||
        EVP_CipherUpdate(cipher_, nullptr, &out, p, static_cast<int>(header)) != 1 ||
        EVP_CipherUpdate(cipher_, p + header, &out, p + header, static_cast<int>(body - header)) != 1 ||
        EVP_CipherFinal_ex(cipher_, none.data(), &out) != 1) {
      return Unexpected(SrtpError::AuthFail);
    }
    return body;
  }
  std::array<unsigned char, SHA_DIGEST_LENGTH> tag{};
  hmacTag(packet.first(body), static_cast<uint32_t>(index >> 16), tag);
  if (CRYPTO_memcmp(tag.data(), p + body, tagLength_) != 0) return Unexpected(SrtpError::AuthFail);
  if (!keyUsed()) return Unexpected(SrtpError::KeyExpired);
  if (!ctrSetIv(ssrc, index) ||
      EVP_EncryptUpdate(cipher_, p + header, &out, p + header, static_cast<int>(body - header)) != 1) {
    return Unexpected(SrtpError::Failed);
  }
  return body;
}

std::optional<Expected<size_t, SrtpError>> CompactSrtp::protect(std::span<std::byte> buffer, size_t length) {
  const uint32_t ssrc = load32(buffer.data() + 8);
  int slot = findSlot(ssrc);
  if (slot < 0) {  // libsrtp makes the outbound stream before anything else
    slot = freeSlot();
    if (slot < 0) return std::nullopt;
    claim(slot, ssrc);
  }
  if (!keyUsed()) return Unexpected(SrtpError::KeyExpired);
  const auto seq = static_cast<uint16_t>((std::to_integer<uint16_t>(buffer[2]) << 8) |
                                         std::to_integer<uint16_t>(buffer[3]));
  int32_t delta = 0;
  const uint64_t index = estimate(slot, seq, delta);
  if (tooOld(delta)) return Unexpected(SrtpError::ReplayFail);  // a repeat inside the window is allowed
  accept(slot, index, delta);
  return seal(buffer, headerLength(buffer.first(length)), length, ssrc, index);
}

std::optional<Expected<size_t, SrtpError>> CompactSrtp::unprotect(std::span<std::byte> packet) {
  const uint32_t ssrc = load32(packet.data() + 8);
  const auto seq = static_cast<uint16_t>((std::to_integer<uint16_t>(packet[2]) << 8) |
                                         std::to_integer<uint16_t>(packet[3]));
  int slot = findSlot(ssrc);
  int32_t delta = seq;
  uint64_t index = seq;  // an SSRC without a stream: libsrtp's template, ROC 0, no replay check
  if (slot >= 0) {
    index = estimate(slot, seq, delta);
    if (replayed(slot, delta)) return Unexpected(SrtpError::ReplayFail);
  } else if (freeSlot() < 0) {
    return std::nullopt;
  }
  auto plain = open(packet, headerLength(packet), ssrc, index);
  if (!plain) return plain;
  if (slot < 0) {  // authenticated: the SSRC gets its stream now (srtp_stream_clone)
    slot = freeSlot();
    claim(slot, ssrc);
  }
  accept(slot, index, delta);
  return plain;
}

}  // namespace rdv::srtp::detail
