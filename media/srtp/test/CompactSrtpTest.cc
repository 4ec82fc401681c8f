// The compact SRTP path (CompactSrtp.h) against libsrtp, its reference: for every suite the
// protected bytes are the same, each unprotects what the other protects, and over one schedule of
// sequence numbers — in order, reordered, repeated, far behind, across the 16-bit wrap, with
// forged tags — both give the same answer for every packet (plain length or the SrtpError).
// The RFC 3711 B.3 / RFC 7714 §16 known answers (SrtpKnownAnswerTest) run on the compact path too:
// it is the default.
#include "media/srtp/CompactSrtp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "media/srtp/AesGcm.h"
#include "media/srtp/SrtpContext.h"
#include "media/srtp/SrtpTransforms.h"
#include "media/srtp/test/SrtpTestUtil.h"

namespace rdv::srtp {
namespace {

using test::Bytes;
using test::testKey;
using test::writeRtp;

constexpr uint32_t kSsrc = 0x5eed0001;

// Every compact context made here must run AES-GCM on AesGcm exactly when the CPU allows it
// (and the test has not forced EVP): the cross-checks below then pin that path against libsrtp.
SrtpContext make(Suite s, Direction d, const Bytes& key, RtpPath path, uint32_t window = 1024) {
  const MasterKey k{key};
  SrtpConfig c;
  c.suite = s;
  c.direction = d;
  c.keys = {&k, 1};
  c.replayWindow = window;
  c.rtpPath = path;
  auto ctx = SrtpContext::create(c);
  EXPECT_TRUE(ctx.has_value());
  const bool aesGcm = suiteInfo(s).aead && detail::AesGcm::supported() && detail::aesGcmAllowed();
  if (ctx) {
    EXPECT_EQ(ctx->compactAesGcm(), ctx->compactRtp() && aesGcm);
  }
  return std::move(ctx).value();
}

// RTP with two CSRCs and a one-word header extension (RFC 3550 §5.3.1): encryption starts after it.
size_t writeRtpWithExtension(std::span<std::byte> buf, uint16_t seq, uint32_t ssrc) {
  std::array<std::byte, 1500> plain{};
  const size_t n = writeRtp(plain, seq, ssrc, 100);
  buf[0] = std::byte{0x92};  // V=2, X=1, CC=2
  std::copy_n(plain.begin() + 1, 11, buf.begin() + 1);
  for (size_t i = 12; i < 20; ++i) buf[i] = std::byte(i);  // CSRCs
  const std::array<uint8_t, 8> ext{0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00};
  for (size_t i = 0; i < ext.size(); ++i) buf[20 + i] = std::byte(ext[i]);
  std::copy_n(plain.begin() + 12, n - 12, buf.begin() + 28);
  return n + 16;
}

std::string outcome(const Expected<size_t, SrtpError>& r) {
  return r ? std::to_string(*r) : std::string(toString(r.error()));
}

// A suite, and for the AEAD suites which AES-GCM the compact path runs: AesGcm where the CPU
// allows it, or OpenSSL EVP (what a CPU without AES-NI / PCLMULQDQ gets).
struct Variant {
  Suite suite;
  bool evpGcm = false;
  operator Suite() const { return suite; }  // NOLINT(google-explicit-constructor): GetParam() as a Suite
};

class CompactSrtpTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override { detail::setAesGcmAllowed(!GetParam().evpGcm); }
  void TearDown() override { detail::setAesGcmAllowed(true); }

  Bytes key_ = testKey(GetParam(), 11);
};

TEST_P(CompactSrtpTest, AeadSuitesRunOnAesGcmWhereTheCpuAllows) {
  const bool expected = suiteInfo(GetParam()).aead && !GetParam().evpGcm && detail::AesGcm::supported();
  EXPECT_EQ(make(GetParam(), Direction::Inbound, key_, RtpPath::Compact).compactAesGcm(), expected);
  EXPECT_EQ(make(GetParam(), Direction::Outbound, key_, RtpPath::Compact).compactAesGcm(), expected);
  EXPECT_FALSE(make(GetParam(), Direction::Outbound, key_, RtpPath::Libsrtp).compactAesGcm());
}

TEST_P(CompactSrtpTest, TakesOneKeyConfigsAndLeavesMkiToLibsrtp) {
  EXPECT_TRUE(make(GetParam(), Direction::Inbound, key_, RtpPath::Compact).compactRtp());
  EXPECT_TRUE(make(GetParam(), Direction::Outbound, key_, RtpPath::Default).compactRtp());
  EXPECT_FALSE(make(GetParam(), Direction::Outbound, key_, RtpPath::Libsrtp).compactRtp());
  EXPECT_FALSE(make(GetParam(), Direction::Inbound, key_, RtpPath::Compact, 2048).compactRtp());
  const MasterKey withMki{key_, 3, 1};
  SrtpConfig c{GetParam(), Direction::Inbound, {&withMki, 1}};
  auto ctx = SrtpContext::create(c);
  ASSERT_TRUE(ctx.has_value());
  EXPECT_FALSE(ctx->compactRtp());
}

// Sequence numbers 65400..65535, 0..99: ROC 0 then 1, plain headers and headers with CSRCs and an
// extension. The compact and the libsrtp sender produce the same bytes; each receiver takes them.
TEST_P(CompactSrtpTest, ProtectsLikeLibsrtpAndEachUnprotectsTheOther) {
  SrtpContext compactTx = make(GetParam(), Direction::Outbound, key_, RtpPath::Compact);
  SrtpContext libsrtpTx = make(GetParam(), Direction::Outbound, key_, RtpPath::Libsrtp);
  SrtpContext compactRx = make(GetParam(), Direction::Inbound, key_, RtpPath::Compact);
  SrtpContext libsrtpRx = make(GetParam(), Direction::Inbound, key_, RtpPath::Libsrtp);
  ASSERT_TRUE(compactTx.compactRtp() && compactRx.compactRtp());
  std::array<std::byte, 1500> plain{}, a{}, b{};
  for (uint32_t i = 0; i < 236; ++i) {
    const auto seq = static_cast<uint16_t>(65400 + i);
    const size_t n = i % 3 == 0 ? writeRtpWithExtension(plain, seq, kSsrc) : writeRtp(plain, seq, kSsrc);
    std::copy_n(plain.begin(), n, a.begin());
    std::copy_n(plain.begin(), n, b.begin());
    const auto pa = compactTx.protectRtp(a, n);
    const auto pb = libsrtpTx.protectRtp(b, n);
    ASSERT_TRUE(pa && pb) << seq;
    ASSERT_EQ(*pa, *pb);
    ASSERT_TRUE(std::equal(a.begin(), a.begin() + *pa, b.begin())) << seq;
    const auto ua = libsrtpRx.unprotectRtp(std::span(a).first(*pa));
    const auto ub = compactRx.unprotectRtp(std::span(b).first(*pb));
    ASSERT_TRUE(ua && ub) << seq << " " << outcome(ua) << " " << outcome(ub);
    ASSERT_EQ(*ua, n);
    ASSERT_EQ(*ub, n);
    ASSERT_TRUE(std::equal(a.begin(), a.begin() + n, plain.begin())) << seq;
    ASSERT_TRUE(std::equal(b.begin(), b.begin() + n, plain.begin())) << seq;
  }
}

// A schedule of sequence numbers from a fixed-seed generator: mostly forward by 1..3, sometimes
// back (reordering, inside and beyond the window), repeats, jumps over half the sequence space,
// and forged tags. Every packet through a compact and a libsrtp receiver: the same answer.
void sameAnswers(Suite suite, const Bytes& key, uint32_t window) {
  SrtpContext tx = make(suite, Direction::Outbound, key, RtpPath::Libsrtp, 32767);
  SrtpContext compactRx = make(suite, Direction::Inbound, key, RtpPath::Compact, window);
  SrtpContext libsrtpRx = make(suite, Direction::Inbound, key, RtpPath::Libsrtp, window);
  ASSERT_TRUE(compactRx.compactRtp());
  // The sender's own index (ROC||SEQ) for each packet: protect with a libsrtp sender that is told
  // nothing else, so its estimate follows the same schedule.
  uint32_t state = 12345;
  auto next = [&state] { return state = state * 1103515245u + 12345u, (state >> 8) & 0xffffu; };
  uint16_t seq = 65000;
  std::vector<uint16_t> sent;
  std::array<std::byte, 1500> a{}, b{};
  size_t accepted = 0, replays = 0, forged = 0;
  for (int i = 0; i < 6000; ++i) {
    const uint32_t r = next() % 100;
    uint16_t s = seq;
    if (r < 70) {
      s = seq = static_cast<uint16_t>(seq + 1 + r % 3);
    } else if (r < 80 && !sent.empty()) {
      s = sent[next() % sent.size()];  // repeat or reorder, maybe far outside the window
    } else if (r < 88) {
      s = static_cast<uint16_t>(seq - next() % (2 * window));  // late, around the window's edge
    } else if (r < 90) {
      s = seq = static_cast<uint16_t>(seq + 20000 + next() % 10000);  // a jump, still < 2^15
    } else {
      s = seq = static_cast<uint16_t>(seq + 1);
    }
    const size_t n = writeRtp(a, s, kSsrc, 40 + next() % 100);
    const auto p = tx.protectRtp(a, n);
    if (!p) continue;  // the sender refuses what is older than its own window
    sent.push_back(s);
    if (sent.size() > 64) sent.erase(sent.begin());
    if (next() % 20 == 0) {
      a[*p - 1] ^= std::byte{0x40};
      ++forged;
    }
    std::copy_n(a.begin(), *p, b.begin());
    const auto ua = compactRx.unprotectRtp(std::span(a).first(*p));
    const auto ub = libsrtpRx.unprotectRtp(std::span(b).first(*p));
    ASSERT_EQ(outcome(ua), outcome(ub)) << "packet " << i << " seq " << s;
    if (ua) ++accepted;
    if (!ua && ua.error() == SrtpError::ReplayFail) ++replays;
  }
  // The schedule really exercised each outcome.
  EXPECT_GT(accepted, 3000u);
  EXPECT_GT(replays, 100u);
  EXPECT_GT(forged, 100u);
}

TEST_P(CompactSrtpTest, ReplayAndAuthDecisionsEqualLibsrtp) {
  sameAnswers(GetParam(), key_, 1024);
}

TEST_P(CompactSrtpTest, SmallWindowsEqualLibsrtp) {
  sameAnswers(GetParam(), key_, 64);
  sameAnswers(GetParam(), key_, 100);  // rounded up to 128 bits, as libsrtp's bit vector
}

// The sender's side of the same: repeats inside the window are protected again (the relay forwards
// retransmissions), what is older than the window is ReplayFail, in both paths alike.
TEST_P(CompactSrtpTest, SenderRepeatsAndOldPacketsEqualLibsrtp) {
  SrtpContext compactTx = make(GetParam(), Direction::Outbound, key_, RtpPath::Compact, 64);
  SrtpContext libsrtpTx = make(GetParam(), Direction::Outbound, key_, RtpPath::Libsrtp, 64);
  std::array<std::byte, 1500> a{}, b{};
  size_t refused = 0;
  for (uint16_t s : {10, 11, 11, 12, 40, 100, 37, 36, 35, 200, 136, 137, 10, 201, 65000, 201, 202}) {
    const size_t n = writeRtp(a, s, kSsrc);
    writeRtp(b, s, kSsrc);
    const auto pa = compactTx.protectRtp(a, n);
    const auto pb = libsrtpTx.protectRtp(b, n);
    ASSERT_EQ(outcome(pa), outcome(pb)) << s;
    if (pa) {
      EXPECT_TRUE(std::equal(a.begin(), a.begin() + *pa, b.begin())) << s;
    } else {
      ++refused;
    }
  }
  EXPECT_GE(refused, 2u);
}

// More SSRCs than the compact object keeps: the rest go to libsrtp, every packet still
// round-trips and the bytes are libsrtp's.
TEST_P(CompactSrtpTest, SsrcsBeyondItsSlotsGoToLibsrtp) {
  SrtpContext compactTx = make(GetParam(), Direction::Outbound, key_, RtpPath::Compact);
  SrtpContext libsrtpTx = make(GetParam(), Direction::Outbound, key_, RtpPath::Libsrtp);
  SrtpContext compactRx = make(GetParam(), Direction::Inbound, key_, RtpPath::Compact);
  std::array<std::byte, 1500> plain{}, a{}, b{};
  constexpr uint32_t kSsrcs = detail::CompactSrtp::kStreams + 3;
  for (uint32_t i = 0; i < 20 * kSsrcs; ++i) {
    const uint32_t ssrc = kSsrc + i % kSsrcs;
    const auto seq = static_cast<uint16_t>(65530 + i / kSsrcs);
    const size_t n = writeRtp(plain, seq, ssrc);
    std::copy_n(plain.begin(), n, a.begin());
    std::copy_n(plain.begin(), n, b.begin());
    const auto pa = compactTx.protectRtp(a, n);
    const auto pb = libsrtpTx.protectRtp(b, n);
    ASSERT_TRUE(pa && pb);
    ASSERT_TRUE(std::equal(a.begin(), a.begin() + *pa, b.begin())) << ssrc << " " << seq;
    const auto u = compactRx.unprotectRtp(std::span(a).first(*pa));
    ASSERT_TRUE(u.has_value()) << ssrc << " " << seq << " " << outcome(u);
    ASSERT_TRUE(std::equal(a.begin(), a.begin() + n, plain.begin()));
    // A replay of it, whichever path holds the SSRC.
    std::copy_n(b.begin(), *pb, a.begin());
    const auto again = compactRx.unprotectRtp(std::span(a).first(*pb));
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error(), SrtpError::ReplayFail);
  }
}

// A forged first packet of an SSRC does not give it a stream: with a 64-packet window, a forged
// seq 1000 followed by a genuine seq 5 leaves seq 5 acceptable (a stream at 1000 would call it old).
TEST_P(CompactSrtpTest, ForgedFirstPacketCreatesNoStream) {
  SrtpContext tx = make(GetParam(), Direction::Outbound, key_, RtpPath::Libsrtp);
  SrtpContext rx = make(GetParam(), Direction::Inbound, key_, RtpPath::Compact, 64);
  std::array<std::byte, 1500> buf{};
  size_t n = *tx.protectRtp(buf, writeRtp(buf, 1000, kSsrc));
  buf[n - 1] ^= std::byte{0x01};
  auto u = rx.unprotectRtp(std::span(buf).first(n));
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error(), SrtpError::AuthFail);
  SrtpContext tx2 = make(GetParam(), Direction::Outbound, key_, RtpPath::Libsrtp);
  n = *tx2.protectRtp(buf, writeRtp(buf, 5, kSsrc));
  EXPECT_TRUE(rx.unprotectRtp(std::span(buf).first(n)).has_value());
}

TEST_P(CompactSrtpTest, WrongKeyIsAuthFail) {
  SrtpContext tx = make(GetParam(), Direction::Outbound, key_, RtpPath::Compact);
  SrtpContext rx = make(GetParam(), Direction::Inbound, testKey(GetParam(), 12), RtpPath::Compact);
  std::array<std::byte, 1500> buf{};
  const size_t n = *tx.protectRtp(buf, writeRtp(buf, 1, kSsrc));
  const auto u = rx.unprotectRtp(std::span(buf).first(n));
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error(), SrtpError::AuthFail);
}

INSTANTIATE_TEST_SUITE_P(AllSuites, CompactSrtpTest,
                         ::testing::Values(Variant{Suite::AesCm128HmacSha1_80},
                                           Variant{Suite::AesCm128HmacSha1_32}, Variant{Suite::AeadAes128Gcm},
                                           Variant{Suite::AeadAes256Gcm}),
                         [](const auto& info) { return std::string(suiteInfo(info.param).name); });
// The same cross-checks with AES-GCM on EVP, the path of CPUs without AES-NI or PCLMULQDQ.
INSTANTIATE_TEST_SUITE_P(EvpGcm, CompactSrtpTest,
                         ::testing::Values(Variant{Suite::AeadAes128Gcm, true},
                                           Variant{Suite::AeadAes256Gcm, true}),
                         [](const auto& info) { return std::string(suiteInfo(info.param).name); });

// On AesGcm the tag is checked before anything is decrypted: a forged packet stays as it came
// (EVP decrypts in place first; libsrtp's contract says nothing of the payload after AuthFail).
// Only the AEAD suites on a CPU with AES-NI and PCLMULQDQ have this path (AesGcmTest skips
// likewise elsewhere).
TEST(CompactSrtpAesGcm, ForgedPacketStaysAsItCame) {
  if (!detail::AesGcm::supported()) GTEST_SKIP() << "no AES-NI or PCLMULQDQ: CompactSrtp keeps EVP";
  for (const Suite suite : {Suite::AeadAes128Gcm, Suite::AeadAes256Gcm}) {
    SCOPED_TRACE(suiteInfo(suite).name);
    const Bytes key = testKey(suite, 11);
    SrtpContext tx = make(suite, Direction::Outbound, key, RtpPath::Compact);
    SrtpContext rx = make(suite, Direction::Inbound, key, RtpPath::Compact);
    ASSERT_TRUE(rx.compactAesGcm());
    std::array<std::byte, 1500> buf{};
    const size_t n = *tx.protectRtp(buf, writeRtpWithExtension(buf, 7, kSsrc));
    buf[40] ^= std::byte{0x01};
    const std::array<std::byte, 1500> forged = buf;
    const auto u = rx.unprotectRtp(std::span(buf).first(n));
    ASSERT_FALSE(u.has_value());
    EXPECT_EQ(u.error(), SrtpError::AuthFail);
    EXPECT_EQ(buf, forged);
  }
}

TEST(CompactSrtpPath, IsTheDefaultAndCanBeSwitched) {
  EXPECT_EQ(rtpPathInUse(), RtpPath::Compact);
  const Bytes key = testKey(Suite::AeadAes128Gcm, 1);
  useRtpPath(RtpPath::Libsrtp);
  EXPECT_FALSE(make(Suite::AeadAes128Gcm, Direction::Inbound, key, RtpPath::Default).compactRtp());
  useRtpPath(RtpPath::Compact);
  EXPECT_TRUE(make(Suite::AeadAes128Gcm, Direction::Inbound, key, RtpPath::Default).compactRtp());
}

}  // namespace
}  // namespace rdv::srtp
