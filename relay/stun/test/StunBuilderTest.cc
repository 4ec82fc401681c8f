#include "relay/stun/StunBuilder.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "relay/stun/StunIntegrity.h"
#include "relay/stun/test/Hex.h"

namespace rdv::stun {
namespace {

using test::fromHex;

TransactionId rfcTransaction() {
  TransactionId id{};
  const auto b = fromHex("b7e7a701bc34d686fa87dfae");
  std::copy(b.begin(), b.end(), id.begin());
  return id;
}

TEST(StunBuilderTest, ReproducesRfc5769Ipv4ResponseByteForByte) {
  const auto expected = fromHex(
      "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
      "002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
      "80280004c07d4c96");
  std::array<std::byte, 256> buf{};
  StunBuilder b(buf, method::kBinding, MessageClass::SuccessResponse, rfcTransaction());
  // RFC 5769 pads SOFTWARE with a space (0x20) where we pad with zeros: add the 12-byte value.
  b.addText(attr::kSoftware, "test vector ");
  // Rewrite the length of SOFTWARE to 11 to match the vector (its 12th byte is padding there).
  buf[23] = std::byte{11};
  b.addXorAddress(attr::kXorMappedAddress, *common::SockAddr::fromIp("192.0.2.1", 32853));
  b.addIntegrity(asBytes("VOkJxbRl1RmTxUk/WvJxBt")).addFingerprint();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(std::vector<std::byte>(b.bytes().begin(), b.bytes().end()), expected);
}

TEST(StunBuilderTest, Ipv6XorAddressRoundTrips) {
  std::array<std::byte, 128> buf{};
  StunBuilder b(buf, method::kAllocate, MessageClass::SuccessResponse, rfcTransaction());
  const auto relayed = *common::SockAddr::fromIp("2001:db8::5", 50000);
  const auto peer = *common::SockAddr::fromIp("198.51.100.7", 1);
  b.addXorAddress(attr::kXorRelayedAddress, relayed).addXorAddress(attr::kXorPeerAddress, peer);
  ASSERT_TRUE(b.ok());
  auto m = StunView::parse(b.bytes());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->xorAddress(attr::kXorRelayedAddress), relayed);
  EXPECT_EQ(m->xorAddress(attr::kXorPeerAddress), peer);
}

TEST(StunBuilderTest, BuiltRequestCarriesEveryTurnAttribute) {
  std::array<std::byte, 512> buf{};
  const auto key = longTermKey("alice", "rdv", "secret");
  const std::array<std::byte, 3> payload{std::byte{1}, std::byte{2}, std::byte{3}};
  StunBuilder b(buf, method::kChannelBind, MessageClass::Request, rfcTransaction());
  b.addText(attr::kUsername, "alice").addText(attr::kRealm, "rdv").addText(attr::kNonce, "n0nce");
  b.addU32(attr::kLifetime, 600).addRequestedTransport(17).addChannelNumber(0x4001);
  b.add(attr::kData, payload).addU32(attr::kConnectionId, 77).addErrorCode(438, reasonPhrase(438));
  b.addIntegrity(key).addIntegritySha256(longTermKeySha256("alice", "rdv", "secret")).addFingerprint();
  ASSERT_TRUE(b.ok());
  auto m = StunView::parse(b.bytes());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->method(), method::kChannelBind);
  EXPECT_EQ(m->text(attr::kUsername), "alice");
  EXPECT_EQ(m->u32(attr::kLifetime), 600u);
  EXPECT_EQ(m->requestedTransport(), 17);
  EXPECT_EQ(m->channelNumber(), 0x4001);
  ASSERT_TRUE(m->data());
  EXPECT_EQ(m->data()->size(), 3u);
  EXPECT_EQ(m->u32(attr::kConnectionId), 77u);
  ASSERT_TRUE(m->errorCode());
  EXPECT_EQ(m->errorCode()->code, 438);
  EXPECT_EQ(m->errorCode()->reason, "Stale Nonce");
  EXPECT_TRUE(m->checkIntegrity(key));
  EXPECT_TRUE(m->checkIntegritySha256(longTermKeySha256("alice", "rdv", "secret")));
  EXPECT_TRUE(m->checkFingerprint());
}

TEST(StunBuilderTest, FailsCleanlyWhenTheBufferIsTooSmall) {
  std::array<std::byte, 30> buf{};
  StunBuilder b(buf, method::kBinding, MessageClass::Request, rfcTransaction());
  b.addText(attr::kSoftware, "far too long for thirty bytes").addFingerprint();
  EXPECT_FALSE(b.ok());
  EXPECT_TRUE(b.bytes().empty());
  std::array<std::byte, 10> tiny{};
  EXPECT_FALSE(StunBuilder(tiny, method::kBinding, MessageClass::Request, rfcTransaction()).ok());
}

}  // namespace
}  // namespace rdv::stun
