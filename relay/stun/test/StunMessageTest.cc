#include "relay/stun/StunMessage.h"

#include <gtest/gtest.h>

#include "relay/stun/StunIntegrity.h"
#include "relay/stun/test/Hex.h"

namespace rdv::stun {
namespace {

using test::fromHex;

// RFC 5769 §2.1-§2.4, byte for byte.
const auto kRequest = fromHex(
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74"
    "002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf");
const auto kIpv4Response = fromHex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
    "002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96");
const auto kIpv6Response = fromHex(
    "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d900080014a382954e4be67bf1"
    "1784c97c8292c275bfe3ed4180280004c8fb0b4c");
const auto kLongTermRequest = fromHex(
    "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383"
    "e382afe382b900000015001c662f2f3439396b39353464364f4c33346f4c394653547679"
    "363473410014000b6578616d706c652e6f72670000080014f67024656dd64a3e02b8e071"
    "2e85c9a28ca89666");
// RFC 8489 Appendix B.1 as corrected by erratum 6268 (PASSWORD-ALGORITHM SHA-256 included).
const auto kSha256Request = fromHex(
    "000100902112a44278ad3433c6ad72c029da412e001e00204a3cf38fef6992bda952c6780417da0f"
    "24819415569e60b205c46e41407f1704001500296f624d61744a6f733241414143662f2f3439396b"
    "39353464364f4c33346f4c394653547679363473410000000014000b6578616d706c652e6f726700"
    "001d000400020000001c0020b5c7bf005b6c52a21c51c5e892f81924136296cb927c43149309278c"
    "c6518e65");
const std::string_view kShortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt";
// "マトリックス" in UTF-8; the password after OpaqueString processing is "TheMatrIX".
const std::string_view kMatrixUser = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";

TEST(StunMessageTest, Rfc5769SampleRequestVerifies) {
  auto m = StunView::parse(kRequest);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->method(), method::kBinding);
  EXPECT_EQ(m->messageClass(), MessageClass::Request);
  EXPECT_EQ(m->text(attr::kSoftware), "STUN test client");
  EXPECT_EQ(m->text(attr::kUsername), "evtj:h6vY");
  EXPECT_EQ(m->u32(attr::kPriority), 0x6e0001ffu);
  EXPECT_TRUE(m->checkIntegrity(asBytes(kShortTermPassword)));
  EXPECT_FALSE(m->checkIntegrity(asBytes("VOkJxbRl1RmTxUk/WvJxBT")));
  EXPECT_TRUE(m->checkFingerprint());
  EXPECT_FALSE(m->hasIntegritySha256());
}

TEST(StunMessageTest, Rfc5769Ipv4ResponseDecodesMappedAddress) {
  auto m = StunView::parse(kIpv4Response);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->messageClass(), MessageClass::SuccessResponse);
  EXPECT_EQ(m->text(attr::kSoftware), "test vector");
  auto mapped = m->xorAddress(attr::kXorMappedAddress);
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->str(), "192.0.2.1:32853");
  EXPECT_TRUE(m->checkIntegrity(asBytes(kShortTermPassword)));
  EXPECT_TRUE(m->checkFingerprint());
}

TEST(StunMessageTest, Rfc5769Ipv6ResponseDecodesMappedAddress) {
  auto m = StunView::parse(kIpv6Response);
  ASSERT_TRUE(m);
  auto mapped = m->xorAddress(attr::kXorMappedAddress);
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->str(), "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
  EXPECT_TRUE(m->checkIntegrity(asBytes(kShortTermPassword)));
  EXPECT_TRUE(m->checkFingerprint());
}

TEST(StunMessageTest, Rfc5769LongTermRequestVerifiesWithMd5Key) {
  auto m = StunView::parse(kLongTermRequest);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(attr::kUsername), kMatrixUser);
  EXPECT_EQ(m->text(attr::kRealm), "example.org");
  EXPECT_EQ(m->text(attr::kNonce), "f//499k954d6OL34oL9FSTvy64sA");
  EXPECT_TRUE(m->checkIntegrity(longTermKey(kMatrixUser, "example.org", "TheMatrIX")));
  EXPECT_FALSE(m->checkIntegrity(longTermKey(kMatrixUser, "example.org", "TheMatrix")));
  EXPECT_FALSE(m->hasFingerprint());
  EXPECT_FALSE(m->checkFingerprint());
}

TEST(StunMessageTest, Rfc8489Sha256RequestVerifiesWithSha256KeyAndUserhash) {
  auto m = StunView::parse(kSha256Request);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->hasIntegritySha256());
  auto hash = m->find(attr::kUserhash);
  ASSERT_TRUE(hash);
  const auto expected = userhash(kMatrixUser, "example.org");
  EXPECT_TRUE(constantTimeEqual(hash->value, expected));
  EXPECT_EQ(m->text(attr::kNonce), "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA");
  EXPECT_EQ(m->u32(attr::kPasswordAlgorithm), 0x00020000u);
  EXPECT_TRUE(m->checkIntegritySha256(longTermKeySha256(kMatrixUser, "example.org", "TheMatrIX")));
  EXPECT_FALSE(m->checkIntegritySha256(longTermKeySha256(kMatrixUser, "example.org", "TheMatrix")));
}

TEST(StunMessageTest, AnyFlippedByteBreaksIntegrityOrParsing) {
  const auto key = longTermKey(kMatrixUser, "example.org", "TheMatrIX");
  for (size_t i = 0; i < kLongTermRequest.size(); ++i) {
    auto bad = kLongTermRequest;
    bad[i] ^= std::byte{0x01};
    auto m = StunView::parse(bad);
    if (m) {
      EXPECT_FALSE(m->checkIntegrity(key)) << "byte " << i;
    }
  }
}

TEST(StunMessageTest, RejectsMalformedFraming) {
  EXPECT_EQ(StunView::parse(std::span(kRequest).first(19)).error(), ParseError::TooShort);
  auto rtp = kRequest;
  rtp[0] = std::byte{0x80};
  EXPECT_EQ(StunView::parse(rtp).error(), ParseError::NotStun);
  auto cookie = kRequest;
  cookie[4] = std::byte{0x22};
  EXPECT_EQ(StunView::parse(cookie).error(), ParseError::NotStun);
  EXPECT_EQ(StunView::parse(std::span(kRequest).first(kRequest.size() - 4)).error(), ParseError::BadLength);
  auto overrun = kRequest;
  overrun[23] = std::byte{0x40};  // SOFTWARE claims 64 bytes
  EXPECT_EQ(StunView::parse(overrun).error(), ParseError::BadAttribute);
  auto badMi = kRequest;
  badMi[20 + 20 + 8 + 12 + 16 + 3] = std::byte{0x10};  // MESSAGE-INTEGRITY length 16
  EXPECT_FALSE(StunView::parse(badMi));
}

TEST(StunMessageTest, AttributesAfterIntegrityAreInvisible) {
  // The long-term request with LIFETIME 0 appended after MESSAGE-INTEGRITY (length fixed up).
  auto forged = kLongTermRequest;
  for (uint8_t b : {0x00, 0x0d, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00}) forged.push_back(std::byte{b});
  forged[3] = std::byte{static_cast<uint8_t>(forged.size() - 20)};
  auto m = StunView::parse(forged);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->u32(attr::kLifetime));
  EXPECT_TRUE(m->checkIntegrity(longTermKey(kMatrixUser, "example.org", "TheMatrIX")));
}

TEST(StunMessageTest, ReportsFirstUnknownComprehensionRequiredAttribute) {
  auto m = StunView::parse(kRequest);
  ASSERT_TRUE(m);
  const uint16_t known[] = {attr::kUsername, attr::kPriority};
  EXPECT_FALSE(m->firstUnknownRequired(known));
  const uint16_t fewer[] = {attr::kPriority};
  EXPECT_EQ(m->firstUnknownRequired(fewer), attr::kUsername);
}

TEST(StunMessageTest, MessageTypeInterleavesClassBits) {
  EXPECT_EQ(messageType(method::kAllocate, MessageClass::Request), 0x0003);
  EXPECT_EQ(messageType(method::kAllocate, MessageClass::SuccessResponse), 0x0103);
  EXPECT_EQ(messageType(method::kAllocate, MessageClass::ErrorResponse), 0x0113);
  EXPECT_EQ(messageType(method::kData, MessageClass::Indication), 0x0017);
  EXPECT_EQ(methodOf(0x0118), method::kCreatePermission);
  EXPECT_EQ(classOf(0x0118), MessageClass::ErrorResponse);
}

}  // namespace
}  // namespace rdv::stun
