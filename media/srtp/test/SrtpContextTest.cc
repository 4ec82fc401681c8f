#include "media/srtp/SrtpContext.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>

#include "media/srtp/test/SrtpTestUtil.h"

namespace rdv::srtp {
namespace {

using test::Bytes;
using test::makeContext;
using test::testKey;
using test::writeRtcp;
using test::writeRtp;

constexpr uint32_t kSsrc = 0xcafe0001;

class SrtpSuiteTest : public ::testing::TestWithParam<Suite> {
 protected:
  Bytes key_ = testKey(GetParam(), 1);
  SrtpContext tx_ = makeContext(GetParam(), Direction::Outbound, key_);
  SrtpContext rx_ = makeContext(GetParam(), Direction::Inbound, key_);
  alignas(8) std::array<std::byte, 1500> buf_{};
  alignas(8) std::array<std::byte, 1500> plain_{};

  // A protected RTP packet of sequence number seq, left in buf_; returns its length.
  size_t protect(uint16_t seq, uint32_t ssrc = kSsrc) {
    const size_t n = writeRtp(buf_, seq, ssrc);
    auto p = tx_.protectRtp(buf_, n);
    EXPECT_TRUE(p.has_value());
    return p.has_value() ? *p : 0;
  }
};

TEST_P(SrtpSuiteTest, RtpRoundTripRestoresThePacket) {
  const size_t n = writeRtp(plain_, 7, kSsrc);
  std::copy_n(plain_.begin(), n, buf_.begin());
  const auto p = tx_.protectRtp(buf_, n);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, n + tx_.rtpTrailer());
  EXPECT_EQ(tx_.rtpTrailer(), suiteInfo(GetParam()).rtpTagLength);
  EXPECT_TRUE(std::equal(buf_.begin(), buf_.begin() + 12, plain_.begin()));            // header in clear
  EXPECT_FALSE(std::equal(buf_.begin() + 12, buf_.begin() + n, plain_.begin() + 12));  // payload not
  const auto u = rx_.unprotectRtp(std::span(buf_).first(*p));
  ASSERT_TRUE(u.has_value()) << toString(u.error());
  ASSERT_EQ(*u, n);
  EXPECT_TRUE(std::equal(buf_.begin(), buf_.begin() + n, plain_.begin()));
}

TEST_P(SrtpSuiteTest, RtcpRoundTripRestoresThePacket) {
  const size_t n = writeRtcp(plain_, kSsrc);
  for (int round = 0; round < 3; ++round) {  // the SRTCP index advances
    std::copy_n(plain_.begin(), n, buf_.begin());
    const auto p = tx_.protectRtcp(buf_, n);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(*p, n + tx_.rtcpTrailer());
    EXPECT_EQ(tx_.rtcpTrailer(), 4 + suiteInfo(GetParam()).rtcpTagLength);
    const auto u = rx_.unprotectRtcp(std::span(buf_).first(*p));
    ASSERT_TRUE(u.has_value()) << toString(u.error());
    ASSERT_EQ(*u, n);
    EXPECT_TRUE(std::equal(buf_.begin(), buf_.begin() + n, plain_.begin()));
  }
}

TEST_P(SrtpSuiteTest, FlippedTagIsAuthFail) {
  const size_t n = protect(1);
  buf_[n - 1] ^= std::byte{0x01};
  const auto u = rx_.unprotectRtp(std::span(buf_).first(n));
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error(), SrtpError::AuthFail);
}

TEST_P(SrtpSuiteTest, FlippedPayloadIsAuthFail) {
  const size_t n = protect(1);
  buf_[20] ^= std::byte{0x80};
  const auto u = rx_.unprotectRtp(std::span(buf_).first(n));
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error(), SrtpError::AuthFail);
}

TEST_P(SrtpSuiteTest, ReplayedPacketIsReplayFail) {
  const size_t n = protect(100);
  std::array<std::byte, 1500> copy = buf_;
  ASSERT_TRUE(rx_.unprotectRtp(std::span(buf_).first(n)).has_value());
  const auto again = rx_.unprotectRtp(std::span(copy).first(n));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error(), SrtpError::ReplayFail);
}

TEST_P(SrtpSuiteTest, ReplayedRtcpIsReplayFail) {
  const size_t n = *tx_.protectRtcp(buf_, writeRtcp(buf_, kSsrc));
  std::array<std::byte, 1500> copy = buf_;
  ASSERT_TRUE(rx_.unprotectRtcp(std::span(buf_).first(n)).has_value());
  const auto again = rx_.unprotectRtcp(std::span(copy).first(n));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error(), SrtpError::ReplayFail);
}

TEST_P(SrtpSuiteTest, WrongKeyIsAuthFail) {
  SrtpContext other = makeContext(GetParam(), Direction::Inbound, testKey(GetParam(), 2));
  const size_t n = protect(1);
  const auto u = other.unprotectRtp(std::span(buf_).first(n));
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error(), SrtpError::AuthFail);
  const size_t r = *tx_.protectRtcp(buf_, writeRtcp(buf_, kSsrc));
  const auto ur = other.unprotectRtcp(std::span(buf_).first(r));
  ASSERT_FALSE(ur.has_value());
  EXPECT_EQ(ur.error(), SrtpError::AuthFail);
}

TEST_P(SrtpSuiteTest, TruncatedPacketsAreBadPacket) {
  const size_t n = protect(1);
  for (const size_t len : {size_t{0}, size_t{11}, size_t{12}, size_t{12} + rx_.rtpTrailer() - 1}) {
    const auto u = rx_.unprotectRtp(std::span(buf_).first(len));
    ASSERT_FALSE(u.has_value()) << len;
    EXPECT_EQ(u.error(), SrtpError::BadPacket) << len;
  }
  buf_[0] = std::byte{0x90};  // extension bit, extension header runs past the end
  buf_[14] = std::byte{0xff};
  buf_[15] = std::byte{0xff};
  EXPECT_EQ(rx_.unprotectRtp(std::span(buf_).first(n)).error(), SrtpError::BadPacket);
  for (const size_t len : {size_t{0}, size_t{8}, size_t{8} + rx_.rtcpTrailer() - 1}) {
    const auto u = rx_.unprotectRtcp(std::span(buf_).first(len));
    ASSERT_FALSE(u.has_value()) << len;
    EXPECT_EQ(u.error(), SrtpError::BadPacket) << len;
  }
}

TEST_P(SrtpSuiteTest, ProtectWithoutTailroomIsNoRoomAndLeavesThePacket) {
  const size_t n = writeRtp(buf_, 1, kSsrc);
  const std::array<std::byte, 1500> before = buf_;
  const auto p = tx_.protectRtp(std::span(buf_).first(n + tx_.rtpTrailer() - 1), n);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error(), SrtpError::NoRoom);
  EXPECT_EQ(buf_, before);
  EXPECT_EQ(
      tx_.protectRtcp(std::span(buf_).first(32 + tx_.rtcpTrailer() - 1), writeRtcp(buf_, kSsrc)).error(),
      SrtpError::NoRoom);
  EXPECT_TRUE(tx_.protectRtp(std::span(buf_).first(n + tx_.rtpTrailer()), writeRtp(buf_, 1, kSsrc)));
}

// The sender's ROC steps at 65535 -> 0 (RFC 3711 §3.3.1) and the receiver's index estimate
// (Appendix A) follows it: every packet across the wrap decrypts to its plaintext.
TEST_P(SrtpSuiteTest, RolloverAcrossSequenceWrap) {
  for (uint32_t i = 0; i < 12; ++i) {
    const uint16_t seq = static_cast<uint16_t>(65530 + i);
    const size_t n = protect(seq);
    const auto u = rx_.unprotectRtp(std::span(buf_).first(n));
    ASSERT_TRUE(u.has_value()) << seq << " " << toString(u.error());
    writeRtp(plain_, seq, kSsrc);
    EXPECT_TRUE(std::equal(buf_.begin(), buf_.begin() + *u, plain_.begin())) << seq;
  }
  // The packet after the wrap was protected with ROC 1: a receiver that never saw the wrap
  // assumes ROC 0 and cannot authenticate it, which shows the ROC is in the tag/keystream.
  SrtpContext fresh = makeContext(GetParam(), Direction::Inbound, key_);
  const size_t n = protect(6);
  const auto u = fresh.unprotectRtp(std::span(buf_).first(n));
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error(), SrtpError::AuthFail);
}

TEST_P(SrtpSuiteTest, IndependentSsrcsShareTheKey) {
  for (uint32_t ssrc : {1u, 2u, 3u}) {
    const size_t n = protect(10, ssrc);
    EXPECT_TRUE(rx_.unprotectRtp(std::span(buf_).first(n)).has_value()) << ssrc;
  }
}

TEST_P(SrtpSuiteTest, RepeatedSequenceIsProtectedAgain) {
  EXPECT_GT(protect(5), 0u);
  EXPECT_GT(protect(5), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllSuites, SrtpSuiteTest,
                         ::testing::Values(Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32,
                                           Suite::AeadAes128Gcm, Suite::AeadAes256Gcm),
                         [](const auto& info) { return std::string(suiteInfo(info.param).name); });

// Several keys with MKIs (RFC 4568 §6.1, RFC 3711 §3.1): the receiver picks the key the MKI names.
TEST(SrtpContextTest, InboundPicksTheKeyByMki) {
  const Bytes k1 = testKey(Suite::AesCm128HmacSha1_80, 1);
  const Bytes k2 = testKey(Suite::AesCm128HmacSha1_80, 2);
  const std::array<MasterKey, 2> both{{{k1, 1, 4}, {k2, 2, 4}}};
  const std::array<MasterKey, 1> second{{{k2, 2, 4}}};
  const std::array<MasterKey, 1> unknown{{{k2, 3, 4}}};
  auto rx = SrtpContext::create({Suite::AesCm128HmacSha1_80, Direction::Inbound, both});
  auto tx = SrtpContext::create({Suite::AesCm128HmacSha1_80, Direction::Outbound, second});
  auto txUnknown = SrtpContext::create({Suite::AesCm128HmacSha1_80, Direction::Outbound, unknown});
  ASSERT_TRUE(rx && tx && txUnknown);
  EXPECT_EQ(tx->rtpTrailer(), 10u + 4u);
  EXPECT_EQ(tx->rtcpTrailer(), 4u + 10u + 4u);
  alignas(8) std::array<std::byte, 1500> buf{};
  size_t n = *tx->protectRtp(buf, writeRtp(buf, 1, kSsrc));
  EXPECT_EQ(std::to_integer<int>(buf[n - 10 - 1]), 2);  // MKI 2 in 4 bytes before the tag
  auto u = rx->unprotectRtp(std::span(buf).first(n));
  ASSERT_TRUE(u.has_value()) << toString(u.error());
  EXPECT_EQ(*u, 172u);
  n = *tx->protectRtcp(buf, writeRtcp(buf, kSsrc));
  EXPECT_TRUE(rx->unprotectRtcp(std::span(buf).first(n)).has_value());
  n = *txUnknown->protectRtp(buf, writeRtp(buf, 2, kSsrc));
  u = rx->unprotectRtp(std::span(buf).first(n));
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error(), SrtpError::BadMki);
}

TEST(SrtpContextTest, CreateRefusesConfigsThatDoNotFitTheSuite) {
  const Bytes k30 = testKey(Suite::AesCm128HmacSha1_80, 1);
  const Bytes k28 = testKey(Suite::AeadAes128Gcm, 1);
  auto create = [](Suite s, std::span<const MasterKey> keys, uint32_t window = 1024) {
    return SrtpContext::create({s, Direction::Inbound, keys, window});
  };
  const std::array<MasterKey, 1> one30{{{k30}}};
  const std::array<MasterKey, 1> one28{{{k28}}};
  EXPECT_EQ(create(Suite::AeadAes128Gcm, one30).error(), SrtpError::BadConfig);  // 30 != 28
  EXPECT_EQ(create(Suite::AesCm128HmacSha1_80, one28).error(), SrtpError::BadConfig);
  EXPECT_EQ(create(Suite::AeadAes256Gcm, one28).error(), SrtpError::BadConfig);
  EXPECT_EQ(create(Suite::AesCm128HmacSha1_80, {}).error(), SrtpError::BadConfig);  // no key
  const std::array<MasterKey, 2> twoNoMki{{{k30}, {k30}}};
  EXPECT_EQ(create(Suite::AesCm128HmacSha1_80, twoNoMki).error(), SrtpError::BadConfig);
  const std::array<MasterKey, 2> mixedMki{{{k30, 1, 1}, {k30, 2, 2}}};
  EXPECT_EQ(create(Suite::AesCm128HmacSha1_80, mixedMki).error(), SrtpError::BadConfig);
  const std::array<MasterKey, 1> mkiTooBig{{{k30, 256, 1}}};
  EXPECT_EQ(create(Suite::AesCm128HmacSha1_80, mkiTooBig).error(), SrtpError::BadConfig);
  EXPECT_EQ(create(Suite::AesCm128HmacSha1_80, one30, 32).error(), SrtpError::BadConfig);
  EXPECT_TRUE(create(Suite::AesCm128HmacSha1_80, one30, 64).has_value());
}

TEST(SrtpContextTest, ErrorNamesAreDistinct) {
  for (size_t i = 0; i < kSrtpErrorCount; ++i) {
    for (size_t j = 0; j < i; ++j) {
      EXPECT_NE(toString(static_cast<SrtpError>(i)), toString(static_cast<SrtpError>(j)));
    }
  }
}

}  // namespace
}  // namespace rdv::srtp
