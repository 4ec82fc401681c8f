#include "media/srtp/SdesCrypto.h"

#include <gtest/gtest.h>

#include <string>

#include "media/srtp/test/SrtpTestUtil.h"

namespace rdv::srtp {
namespace {

std::string text(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// RFC 4568 §7.1.1 (the offer's second line, suite swapped to one we terminate): two keys told
// apart by 4-byte MKIs, a lifetime each, a session parameter.
constexpr std::string_view kTwoKeys =
    "2 AES_CM_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20|1:4;"
    "inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4 FEC_ORDER=FEC_SRTP";

TEST(SdesCryptoTest, ParsesRfc4568Examples) {
  // §9.2 example
  auto c = SdesCrypto::parse(
      "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32");
  ASSERT_TRUE(c.has_value()) << toString(c.error());
  EXPECT_EQ(c->tag, 1u);
  EXPECT_EQ(c->suite, Suite::AesCm128HmacSha1_80);
  ASSERT_EQ(c->keys.size(), 1u);
  EXPECT_EQ(c->keys[0].keySalt().size(), 30u);
  EXPECT_EQ(c->keys[0].lifetime, uint64_t{1} << 20);
  EXPECT_EQ(c->keys[0].mki, 1u);
  EXPECT_EQ(c->keys[0].mkiLength, 32u);
  EXPECT_TRUE(c->sessionParams.empty());

  c = SdesCrypto::parse(
      "1 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->suite, Suite::AesCm128HmacSha1_32);

  c = SdesCrypto::parse(kTwoKeys);
  ASSERT_TRUE(c.has_value()) << toString(c.error());
  EXPECT_EQ(c->tag, 2u);
  ASSERT_EQ(c->keys.size(), 2u);
  EXPECT_EQ(text(c->keys[0].keySalt()), "123456789ABCDE0123456789ABcdef");
  EXPECT_EQ(text(c->keys[1].keySalt()), "ABcdef123456789ABCDE0123456789");
  EXPECT_EQ(c->keys[1].mki, 2u);
  EXPECT_EQ(c->keys[1].mkiLength, 4u);
  ASSERT_EQ(c->sessionParams.size(), 1u);
  EXPECT_EQ(c->sessionParams[0], "FEC_ORDER=FEC_SRTP");
  EXPECT_FALSE(c->unsupportedSessionParam().has_value());
}

TEST(SdesCryptoTest, LifetimeAndMkiAreOptional) {
  const std::string key = "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
  auto c = SdesCrypto::parse("7 AES_CM_128_HMAC_SHA1_80 " + key);
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->keys[0].lifetime.has_value());
  EXPECT_EQ(c->keys[0].mkiLength, 0u);
  c = SdesCrypto::parse("7 AES_CM_128_HMAC_SHA1_80 " + key + "|1:1");
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->keys[0].lifetime.has_value());
  EXPECT_EQ(c->keys[0].mkiLength, 1u);
  c = SdesCrypto::parse("7 AES_CM_128_HMAC_SHA1_80 " + key + "|1048576");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->keys[0].lifetime, 1048576u);
  c = SdesCrypto::parse("7\tAES_CM_128_HMAC_SHA1_80   " + key + "  KDR=0 WSH=64 ");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->sessionParams, (std::vector<std::string>{"KDR=0", "WSH=64"}));
}

TEST(SdesCryptoTest, RejectsMalformedValuesWithAReason) {
  const std::string k = "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
  auto err = [](const std::string& v) {
    auto c = SdesCrypto::parse(v);
    return c.has_value() ? std::string("accepted") : std::string(toString(c.error()));
  };
  EXPECT_EQ(err(""), "bad tag");
  EXPECT_EQ(err("x AES_CM_128_HMAC_SHA1_80 " + k), "bad tag");
  EXPECT_EQ(err("1234567890 AES_CM_128_HMAC_SHA1_80 " + k), "bad tag");  // 10 digits
  EXPECT_EQ(err("1"), "bad syntax");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80"), "bad syntax");
  EXPECT_EQ(err("1 F8_128_HMAC_SHA1_80 " + k), "unknown suite");
  EXPECT_EQ(err("1 aes_cm_128_hmac_sha1_80 " + k), "unknown suite");
  EXPECT_EQ(err("1 AES_256_CM_HMAC_SHA1_80 " + k), "unknown suite");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 uri:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"), "bad key method");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxa*BR"), "bad base64");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVB"),
            "bad key length");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBRx"), "bad base64");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR===="),
            "bad base64");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtx"), "bad key length");
  EXPECT_EQ(err("1 AEAD_AES_128_GCM " + k), "bad key length");  // 30 bytes, GCM-128 wants 28
  EXPECT_EQ(err("1 AEAD_AES_256_GCM " + k), "bad key length");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + "|2^49"), "bad lifetime");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + "|0"), "bad lifetime");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + "|2^x"), "bad lifetime");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + "|1:0"), "bad mki");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + "|1:129"), "bad mki");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + "|256:1"), "bad mki");  // does not fit 1 byte
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + "|x:1"), "bad mki");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + "|1:4|2^20"), "bad syntax");  // MKI before lifetime
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + "|2^20|1:4|1:4"), "bad syntax");
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + ";" + k), "bad mki");               // two keys, no MKI
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + "|1:4;" + k + "|2:2"), "bad mki");  // lengths differ
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + "|1:4;" + k + "|1:4"), "bad mki");  // same MKI
  EXPECT_EQ(err("1 AES_CM_128_HMAC_SHA1_80 " + k + ";"), "bad key method");
  std::string many = "1 AES_CM_128_HMAC_SHA1_80 ";
  for (int i = 1; i <= 17; ++i) many += (i > 1 ? ";" : "") + k + "|" + std::to_string(i) + ":1";
  EXPECT_EQ(err(many), "too many keys");
}

TEST(SdesCryptoTest, FormatRoundTrips) {
  auto c = SdesCrypto::parse(kTwoKeys);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->format(), kTwoKeys);
  const std::string gcm =
      "3 AEAD_AES_256_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKis=|1000 "
      "UNENCRYPTED_SRTCP";
  c = SdesCrypto::parse(gcm);
  ASSERT_TRUE(c.has_value()) << toString(c.error());
  EXPECT_EQ(c->keys[0].keySalt().size(), 44u);
  EXPECT_EQ(std::to_integer<int>(c->keys[0].keySalt()[43]), 43);
  EXPECT_EQ(c->format(), gcm);
  EXPECT_EQ(c->unsupportedSessionParam(), "UNENCRYPTED_SRTCP");
  // Unpadded base64 is accepted too (some endpoints strip the '=').
  auto unpadded = SdesCrypto::parse(
      "3 AEAD_AES_256_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKis");
  ASSERT_TRUE(unpadded.has_value());
  EXPECT_TRUE(std::equal(unpadded->keys[0].keySalt().begin(), unpadded->keys[0].keySalt().end(),
                         c->keys[0].keySalt().begin()));
}

TEST(SdesCryptoTest, GeneratedKeysParseBackAndKeyAContext) {
  for (Suite s :
       {Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32, Suite::AeadAes128Gcm, Suite::AeadAes256Gcm}) {
    const auto c = SdesCrypto::generate(5, s);
    ASSERT_TRUE(c.has_value());
    const auto back = SdesCrypto::parse(c->format());
    ASSERT_TRUE(back.has_value()) << c->format();
    EXPECT_EQ(back->suite, s);
    EXPECT_EQ(back->keys[0].keySalt().size(), suiteInfo(s).keySaltLength());
    EXPECT_TRUE(std::equal(back->keys[0].keySalt().begin(), back->keys[0].keySalt().end(),
                           c->keys[0].keySalt().begin()));
    const auto keys = back->masterKeys();
    EXPECT_TRUE(SrtpContext::create({s, Direction::Inbound, keys}).has_value());
  }
  // Two generated keys differ.
  EXPECT_NE(SdesCrypto::generate(1, Suite::AeadAes128Gcm)->format(),
            SdesCrypto::generate(1, Suite::AeadAes128Gcm)->format());
}

// The parsed keys of the two-key line drive a real exchange: a sender keyed with the second key
// and MKI 2 is understood by a receiver given the whole line.
TEST(SdesCryptoTest, ParsedMkiKeysInteroperate) {
  const auto c = SdesCrypto::parse(kTwoKeys);
  ASSERT_TRUE(c.has_value());
  const auto keys = c->masterKeys();
  auto rx = SrtpContext::create({c->suite, Direction::Inbound, keys});
  auto tx = SrtpContext::create({c->suite, Direction::Outbound, std::span(keys).subspan(1)});
  ASSERT_TRUE(rx && tx);
  alignas(8) std::array<std::byte, 400> buf{};
  const size_t n = *tx->protectRtp(buf, test::writeRtp(buf, 9, 42));
  EXPECT_TRUE(rx->unprotectRtp(std::span(buf).first(n)).has_value());
}

}  // namespace
}  // namespace rdv::srtp
