// Rendezvous' transforms (GCM cipher, HMAC-SHA1) against libsrtp's own: what one protects the
// other unprotects, every suite, RTP and SRTCP, across a sequence-number wrap, and the bytes are
// the same. A tag from one that the other would not accept is AuthFail in both.
#include "media/srtp/SrtpTransforms.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>

#include "media/srtp/SrtpContext.h"
#include "media/srtp/test/SrtpTestUtil.h"

namespace rdv::srtp {
namespace {

using test::Bytes;
using test::makeContext;
using test::testKey;
using test::writeRtcp;
using test::writeRtp;

constexpr uint32_t kSsrc = 0x5eed0001;

// Contexts created while `t` is installed; the default (Rendezvous) is put back afterwards.
SrtpContext contextWith(Transforms t, Suite s, Direction d, const Bytes& key) {
  EXPECT_TRUE(useTransforms(t));
  SrtpContext c = makeContext(s, d, key);
  EXPECT_TRUE(useTransforms(Transforms::Rendezvous));
  return c;
}

class SrtpTransformsTest : public ::testing::TestWithParam<Suite> {
 protected:
  Bytes key_ = testKey(GetParam(), 7);
  alignas(8) std::array<std::byte, 1500> buf_{};
  alignas(8) std::array<std::byte, 1500> plain_{};

  // RTP with sequence numbers 65530..65535, 0..5 (ROC 0 then 1) from tx to rx, and SRTCP.
  void crossCheck(SrtpContext& tx, SrtpContext& rx, SrtpContext& txTwin) {
    for (uint32_t i = 0; i < 12; ++i) {
      const auto seq = static_cast<uint16_t>(65530 + i);
      const size_t n = writeRtp(plain_, seq, kSsrc);
      std::copy_n(plain_.begin(), n, buf_.begin());
      const auto p = tx.protectRtp(buf_, n);
      ASSERT_TRUE(p.has_value()) << seq;
      // The same packet through the other implementation: byte for byte the same.
      std::array<std::byte, 1500> twin{};
      std::copy_n(plain_.begin(), n, twin.begin());
      const auto q = txTwin.protectRtp(twin, n);
      ASSERT_TRUE(q.has_value()) << seq;
      ASSERT_EQ(*p, *q) << seq;
      EXPECT_TRUE(std::equal(buf_.begin(), buf_.begin() + *p, twin.begin())) << seq;
      const auto u = rx.unprotectRtp(std::span(buf_).first(*p));
      ASSERT_TRUE(u.has_value()) << seq << " " << toString(u.error());
      ASSERT_EQ(*u, n);
      EXPECT_TRUE(std::equal(buf_.begin(), buf_.begin() + n, plain_.begin())) << seq;
    }
    for (int round = 0; round < 3; ++round) {
      const size_t n = writeRtcp(plain_, kSsrc);
      std::copy_n(plain_.begin(), n, buf_.begin());
      const auto p = tx.protectRtcp(buf_, n);
      ASSERT_TRUE(p.has_value());
      const auto u = rx.unprotectRtcp(std::span(buf_).first(*p));
      ASSERT_TRUE(u.has_value()) << toString(u.error());
      ASSERT_EQ(*u, n);
      EXPECT_TRUE(std::equal(buf_.begin(), buf_.begin() + n, plain_.begin()));
    }
    // A flipped tag bit: the receiving implementation refuses it.
    const size_t n = *tx.protectRtp(buf_, writeRtp(buf_, 6, kSsrc));
    buf_[n - 1] ^= std::byte{0x01};
    const auto bad = rx.unprotectRtp(std::span(buf_).first(n));
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error(), SrtpError::AuthFail);
  }
};

TEST_P(SrtpTransformsTest, RendezvousIsInstalledByDefault) {
  (void)makeContext(GetParam(), Direction::Outbound, key_);
  EXPECT_EQ(transformsInUse(), Transforms::Rendezvous);
}

TEST_P(SrtpTransformsTest, LibsrtpProtectsAndRendezvousUnprotects) {
  SrtpContext tx = contextWith(Transforms::Libsrtp, GetParam(), Direction::Outbound, key_);
  SrtpContext txTwin = contextWith(Transforms::Rendezvous, GetParam(), Direction::Outbound, key_);
  SrtpContext rx = contextWith(Transforms::Rendezvous, GetParam(), Direction::Inbound, key_);
  crossCheck(tx, rx, txTwin);
}

TEST_P(SrtpTransformsTest, RendezvousProtectsAndLibsrtpUnprotects) {
  SrtpContext tx = contextWith(Transforms::Rendezvous, GetParam(), Direction::Outbound, key_);
  SrtpContext txTwin = contextWith(Transforms::Libsrtp, GetParam(), Direction::Outbound, key_);
  SrtpContext rx = contextWith(Transforms::Libsrtp, GetParam(), Direction::Inbound, key_);
  crossCheck(tx, rx, txTwin);
}

// A packet of the other implementation under another key is AuthFail, not a crash or a pass.
TEST_P(SrtpTransformsTest, WrongKeyIsAuthFailAcrossImplementations) {
  SrtpContext tx = contextWith(Transforms::Libsrtp, GetParam(), Direction::Outbound, key_);
  SrtpContext rx =
      contextWith(Transforms::Rendezvous, GetParam(), Direction::Inbound, testKey(GetParam(), 8));
  const size_t n = *tx.protectRtp(buf_, writeRtp(buf_, 1, kSsrc));
  const auto u = rx.unprotectRtp(std::span(buf_).first(n));
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error(), SrtpError::AuthFail);
}

INSTANTIATE_TEST_SUITE_P(AllSuites, SrtpTransformsTest,
                         ::testing::Values(Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32,
                                           Suite::AeadAes128Gcm, Suite::AeadAes256Gcm),
                         [](const auto& info) { return std::string(suiteInfo(info.param).name); });

TEST(SrtpTransformsNames, AreDistinct) {
  EXPECT_NE(toString(Transforms::Libsrtp), toString(Transforms::Rendezvous));
}

}  // namespace
}  // namespace rdv::srtp
