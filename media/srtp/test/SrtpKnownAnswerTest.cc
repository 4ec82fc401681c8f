// Known-answer tests: libsrtp's output, through SrtpContext, compared byte for byte with an
// independent construction from the RFC text on OpenSSL primitives (AES-CTR, AES-GCM,
// HMAC-SHA1). The reference itself is first pinned to the RFCs' own vectors: RFC 3711 B.3 for
// the AES-CM key derivation and RFC 7714 §16.1.1 for the AES-GCM packet transform.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstring>

#include "media/srtp/SrtpContext.h"
#include "media/srtp/test/SrtpTestUtil.h"

namespace rdv::srtp {
namespace {

using test::Bytes;
using test::fromHex;

const unsigned char* u8(const Bytes& b) {
  return reinterpret_cast<const unsigned char*>(b.data());
}

Bytes concat(const Bytes& a, const Bytes& b) {
  Bytes r = a;
  r.insert(r.end(), b.begin(), b.end());
  return r;
}
Bytes slice(const Bytes& b, size_t from, size_t n = SIZE_MAX) {
  return Bytes(b.begin() + from, n == SIZE_MAX ? b.end() : b.begin() + from + n);
}
Bytes be32(uint32_t v) {
  return {std::byte(v >> 24), std::byte(v >> 16), std::byte(v >> 8), std::byte(v)};
}

Bytes aesCtr(const Bytes& key, const std::array<uint8_t, 16>& iv, const Bytes& in) {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(c, key.size() == 16 ? EVP_aes_128_ctr() : EVP_aes_256_ctr(), nullptr, u8(key),
                     iv.data());
  Bytes out(in.size());
  int n = 0;
  EVP_EncryptUpdate(c, reinterpret_cast<unsigned char*>(out.data()), &n, u8(in), static_cast<int>(in.size()));
  EVP_CIPHER_CTX_free(c);
  return out;
}

// AEAD seal: ciphertext || 16-byte tag.
Bytes gcmSeal(const Bytes& key, const Bytes& iv12, const Bytes& aad, const Bytes& plain) {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(c, key.size() == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm(), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, nullptr);
  EVP_EncryptInit_ex(c, nullptr, nullptr, u8(key), u8(iv12));
  int n = 0;
  EVP_EncryptUpdate(c, nullptr, &n, u8(aad), static_cast<int>(aad.size()));
  Bytes out(plain.size() + 16);
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  EVP_EncryptUpdate(c, o, &n, u8(plain), static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(c, o + n, &n);
  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, o + plain.size());
  EVP_CIPHER_CTX_free(c);
  return out;
}

Bytes hmacSha1(const Bytes& key, const Bytes& data, size_t tagLength) {
  std::array<unsigned char, 20> md{};
  unsigned int n = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), u8(data), data.size(), md.data(), &n);
  Bytes out(tagLength);
  std::memcpy(out.data(), md.data(), tagLength);
  return out;
}

// RFC 3711 §4.3.1/§4.3.3 with kdr 0: AES-CM keystream under the master key, IV = (label at octet
// 7 XOR master salt) || 0x0000. RFC 7714 §11: the 96-bit AEAD salt takes the same place, with
// its two missing low octets zero.
Bytes kdf(const Bytes& masterKey, const Bytes& masterSalt, uint8_t label, size_t n) {
  std::array<uint8_t, 16> iv{};
  std::memcpy(iv.data(), masterSalt.data(), masterSalt.size());
  iv[7] ^= label;
  return aesCtr(masterKey, iv, Bytes(n));
}

// RFC 3711 §4.1.1 IV: (salt || 0x0000) XOR (SSRC << 64) XOR (index << 16).
std::array<uint8_t, 16> cmIv(const Bytes& salt, uint32_t ssrc, uint64_t index) {
  std::array<uint8_t, 16> iv{};
  std::memcpy(iv.data(), salt.data(), 14);
  for (int i = 0; i < 4; ++i) iv[4 + i] ^= static_cast<uint8_t>(ssrc >> (24 - 8 * i));
  for (int i = 0; i < 6; ++i) iv[8 + i] ^= static_cast<uint8_t>(index >> (40 - 8 * i));
  return iv;
}

uint32_t ssrcOf(const Bytes& p) {
  return (std::to_integer<uint32_t>(p[4]) << 24) | (std::to_integer<uint32_t>(p[5]) << 16) |
         (std::to_integer<uint32_t>(p[6]) << 8) | std::to_integer<uint32_t>(p[7]);
}
uint32_t rtpSsrc(const Bytes& p) {
  return ssrcOf(slice(p, 4));
}
uint16_t seqOf(const Bytes& p) {
  return static_cast<uint16_t>(std::to_integer<unsigned>(p[2]) << 8 | std::to_integer<unsigned>(p[3]));
}

// SRTP with AES_CM_128_HMAC_SHA1_xx (RFC 3711 §3.1, §4.1.1, §4.2.1); 12-byte RTP header.
Bytes referenceCmRtp(const Bytes& keySalt, const Bytes& rtp, uint32_t roc, size_t tagLength) {
  const Bytes mk = slice(keySalt, 0, 16), ms = slice(keySalt, 16, 14);
  const Bytes ek = kdf(mk, ms, 0, 16), ak = kdf(mk, ms, 1, 20), salt = kdf(mk, ms, 2, 14);
  const uint64_t index = (uint64_t{roc} << 16) | seqOf(rtp);
  const Bytes out = concat(slice(rtp, 0, 12), aesCtr(ek, cmIv(salt, rtpSsrc(rtp), index), slice(rtp, 12)));
  return concat(out, hmacSha1(ak, concat(out, be32(roc)), tagLength));
}

// SRTCP with AES-CM (RFC 3711 §3.4): labels 3..5, E flag set, index from the packet's trailer.
Bytes referenceCmRtcp(const Bytes& keySalt, const Bytes& rtcp, uint32_t srtcpIndex) {
  const Bytes mk = slice(keySalt, 0, 16), ms = slice(keySalt, 16, 14);
  const Bytes ek = kdf(mk, ms, 3, 16), ak = kdf(mk, ms, 4, 20), salt = kdf(mk, ms, 5, 14);
  Bytes out = concat(slice(rtcp, 0, 8), aesCtr(ek, cmIv(salt, ssrcOf(rtcp), srtcpIndex), slice(rtcp, 8)));
  out = concat(out, be32(0x80000000u | srtcpIndex));
  return concat(out, hmacSha1(ak, out, 10));
}

// RFC 7714 §8.1 IV: 0x0000 || SSRC || ROC || SEQ, XOR the 12-byte session salt.
Bytes gcmRtpIv(const Bytes& salt, uint32_t ssrc, uint32_t roc, uint16_t seq) {
  Bytes iv = concat(concat({std::byte{0}, std::byte{0}}, be32(ssrc)), be32(roc));
  iv.push_back(std::byte(seq >> 8));
  iv.push_back(std::byte(seq & 0xff));
  for (size_t i = 0; i < 12; ++i) iv[i] ^= salt[i];
  return iv;
}

// SRTP with AEAD_AES_*_GCM from session keys (RFC 7714 §8, §9.1: AAD = the RTP header).
Bytes gcmRtpFromSession(const Bytes& key, const Bytes& salt, const Bytes& rtp, uint32_t roc) {
  const Bytes iv = gcmRtpIv(salt, rtpSsrc(rtp), roc, seqOf(rtp));
  return concat(slice(rtp, 0, 12), gcmSeal(key, iv, slice(rtp, 0, 12), slice(rtp, 12)));
}

Bytes referenceGcmRtp(const Bytes& keySalt, const Bytes& rtp) {
  const size_t kl = keySalt.size() - 12;
  const Bytes mk = slice(keySalt, 0, kl), ms = slice(keySalt, kl);
  return gcmRtpFromSession(kdf(mk, ms, 0, kl), kdf(mk, ms, 2, 12), rtp, 0);
}

// SRTCP with AEAD (RFC 7714 §9.2, §17): IV = 0x0000 || SSRC || 0x0000 || index, XOR salt;
// AAD = header || E||index; the E||index word follows the tag.
Bytes referenceGcmRtcp(const Bytes& keySalt, const Bytes& rtcp, uint32_t srtcpIndex) {
  const size_t kl = keySalt.size() - 12;
  const Bytes mk = slice(keySalt, 0, kl), ms = slice(keySalt, kl);
  const Bytes key = kdf(mk, ms, 3, kl), salt = kdf(mk, ms, 5, 12);
  const Bytes zero2{std::byte{0}, std::byte{0}};
  Bytes iv = concat(concat(zero2, be32(ssrcOf(rtcp))), concat(zero2, be32(srtcpIndex)));  // 12 octets
  for (size_t i = 0; i < 12; ++i) iv[i] ^= salt[i];
  const Bytes eIndex = be32(0x80000000u | srtcpIndex);
  const Bytes aad = concat(slice(rtcp, 0, 8), eIndex);
  return concat(concat(slice(rtcp, 0, 8), gcmSeal(key, iv, aad, slice(rtcp, 8))), eIndex);
}

// RFC 7714 §16's packet: "Gallia est omnis divisa in partes tres".
const Bytes kRfc7714Rtp = fromHex(
    "8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e697320646976697361"
    "20696e207061727465732074726573");
const Bytes kRtcpRr = fromHex(
    "81c9000711223344"
    "0102030405060708090a0b0c0d0e0f101112131415161718");

Bytes protectRtp(Suite s, const Bytes& keySalt, const Bytes& rtp) {
  SrtpContext tx = test::makeContext(s, Direction::Outbound, keySalt);
  Bytes buf = rtp;
  buf.resize(rtp.size() + kMaxTrailer);
  const auto n = tx.protectRtp(buf, rtp.size());
  EXPECT_TRUE(n.has_value());
  buf.resize(n ? *n : 0);
  return buf;
}

Bytes protectRtcp(Suite s, const Bytes& keySalt, const Bytes& rtcp) {
  SrtpContext tx = test::makeContext(s, Direction::Outbound, keySalt);
  Bytes buf = rtcp;
  buf.resize(rtcp.size() + kMaxTrailer);
  const auto n = tx.protectRtcp(buf, rtcp.size());
  EXPECT_TRUE(n.has_value());
  buf.resize(n ? *n : 0);
  return buf;
}

uint32_t trailingIndex(const Bytes& srtcp, size_t tagLength, bool aead) {
  const size_t at = aead ? srtcp.size() - 4 : srtcp.size() - tagLength - 4;
  return ssrcOf(slice(srtcp, at - 4)) & 0x7fffffffu;
}

const Bytes kB3KeySalt = fromHex(
    "E1F97A0D3E018BE0D64FA32C06DE4139"
    "0EC675AD498AFEEBB6960B3AABE6");

TEST(SrtpKnownAnswerTest, ReferenceKdfMatchesRfc3711AppendixB3) {
  const Bytes mk = slice(kB3KeySalt, 0, 16), ms = slice(kB3KeySalt, 16);
  EXPECT_EQ(kdf(mk, ms, 0, 16), fromHex("C61E7A93744F39EE10734AFE3FF7A087"));
  EXPECT_EQ(kdf(mk, ms, 2, 14), fromHex("30CBBC08863D8C85D49DB34A9AE1"));
  EXPECT_EQ(kdf(mk, ms, 1, 20), fromHex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"));
}

TEST(SrtpKnownAnswerTest, ReferenceGcmMatchesRfc7714Section16) {
  const Bytes out = gcmRtpFromSession(fromHex("000102030405060708090a0b0c0d0e0f"),
                                      fromHex("517569642070726f2071756f"), kRfc7714Rtp, 0);
  EXPECT_EQ(out, fromHex("8040f17b8041f8d35501a0b2"
                         "f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833"
                         "899d7f27beb16a9152cf765ee4390cce"));
}

TEST(SrtpKnownAnswerTest, AesCm80RtpAndRtcpMatchTheReference) {
  EXPECT_EQ(protectRtp(Suite::AesCm128HmacSha1_80, kB3KeySalt, kRfc7714Rtp),
            referenceCmRtp(kB3KeySalt, kRfc7714Rtp, 0, 10));
  const Bytes srtcp = protectRtcp(Suite::AesCm128HmacSha1_80, kB3KeySalt, kRtcpRr);
  EXPECT_EQ(srtcp, referenceCmRtcp(kB3KeySalt, kRtcpRr, trailingIndex(srtcp, 10, false)));
}

TEST(SrtpKnownAnswerTest, AesCm32RtpMatchesTheReference) {
  EXPECT_EQ(protectRtp(Suite::AesCm128HmacSha1_32, kB3KeySalt, kRfc7714Rtp),
            referenceCmRtp(kB3KeySalt, kRfc7714Rtp, 0, 4));
  // SRTCP keeps the 80-bit tag (RFC 4568 §6.2.2).
  const Bytes srtcp = protectRtcp(Suite::AesCm128HmacSha1_32, kB3KeySalt, kRtcpRr);
  EXPECT_EQ(srtcp, referenceCmRtcp(kB3KeySalt, kRtcpRr, trailingIndex(srtcp, 10, false)));
}

TEST(SrtpKnownAnswerTest, AesCmUsesTheRolloverCounterAfterTheWrap) {
  SrtpContext tx = test::makeContext(Suite::AesCm128HmacSha1_80, Direction::Outbound, kB3KeySalt);
  Bytes last;
  for (uint32_t seq : {65534u, 65535u, 0u}) {
    Bytes rtp = kRfc7714Rtp;
    rtp[2] = std::byte(seq >> 8);
    rtp[3] = std::byte(seq & 0xff);
    Bytes buf = rtp;
    buf.resize(rtp.size() + kMaxTrailer);
    buf.resize(*tx.protectRtp(buf, rtp.size()));
    last = buf;
    if (seq == 0) {
      EXPECT_EQ(last, referenceCmRtp(kB3KeySalt, rtp, 1, 10));
    }
  }
}

TEST(SrtpKnownAnswerTest, GcmRtpAndRtcpMatchTheReference) {
  const Bytes salt = fromHex("517569642070726f2071756f");
  for (const auto& [suite, key] :
       {std::pair{Suite::AeadAes128Gcm, fromHex("000102030405060708090a0b0c0d0e0f")},
        std::pair{Suite::AeadAes256Gcm, fromHex("000102030405060708090a0b0c0d0e0f"
                                                "101112131415161718191a1b1c1d1e1f")}}) {
    const Bytes keySalt = concat(key, salt);
    EXPECT_EQ(protectRtp(suite, keySalt, kRfc7714Rtp), referenceGcmRtp(keySalt, kRfc7714Rtp))
        << suiteInfo(suite).name;
    const Bytes srtcp = protectRtcp(suite, keySalt, kRtcpRr);
    EXPECT_EQ(srtcp, referenceGcmRtcp(keySalt, kRtcpRr, trailingIndex(srtcp, 16, true)))
        << suiteInfo(suite).name;
  }
}

}  // namespace
}  // namespace rdv::srtp
