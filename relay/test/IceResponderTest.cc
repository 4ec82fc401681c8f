// IceResponder (ICE-lite checks, RFC 8445 §7.3) against fixed bytes: a Chrome-style check and its
// expected answer built by a second implementation (test/IceFixtures.h, from
// make_ice_fixtures.py), and the RFC 5769 §2.1 sample request, which uses short-term credentials.
#include "relay/IceResponder.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "relay/stun/StunBuilder.h"
#include "relay/stun/StunIntegrity.h"
#include "relay/stun/StunMessage.h"
#include "relay/stun/test/Hex.h"
#include "relay/test/IceFixtures.h"

namespace rdv::relay {
namespace {

namespace attr = stun::attr;
using stun::MessageClass;
using stun::StunView;

IceCredential credential(std::string_view s) {
  IceCredential c;
  std::copy(s.begin(), s.end(), c.text.begin());
  c.length = static_cast<uint8_t>(s.size());
  return c;
}

LegIce legIce(std::string_view ufrag, std::string_view pwd) {
  LegIce ice;
  ice.localUfrag = credential(ufrag);
  ice.localPwd = credential(pwd);
  ice.remoteUfrag = credential(test::kIceRemoteUfrag);
  return ice;
}

LegIce fixtureIce() { return legIce(test::kIceLocalUfrag, test::kIceLocalPwd); }

common::SockAddr fixtureSource() {
  return *common::SockAddr::fromIp(test::kIceCheckSourceIp, test::kIceCheckSourcePort);
}

template <size_t N>
std::vector<std::byte> bytes(const std::array<uint8_t, N>& a) {
  std::vector<std::byte> v(N);
  std::memcpy(v.data(), a.data(), N);
  return v;
}

// RFC 5769 §2.1: USERNAME "evtj:h6vY", PRIORITY, ICE-CONTROLLED, SOFTWARE, MI with password
// "VOkJxbRl1RmTxUk/WvJxBt", FINGERPRINT.
const auto kRfc5769Request = stun::test::fromHex(
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74"
    "002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf");
constexpr std::string_view kRfc5769Pwd = "VOkJxbRl1RmTxUk/WvJxBt";

struct Answered {
  IceAnswer answer;
  std::array<std::byte, IceResponder::kMaxResponse> buffer{};
  std::span<const std::byte> response() const { return std::span(buffer).first(answer.responseSize); }
};

Answered run(std::span<const std::byte> request, const LegIce& ice, const common::SockAddr& src = fixtureSource()) {
  Answered a;
  a.answer = IceResponder::answer(request, ice, src, a.buffer);
  return a;
}

// The response parses, answers `request`'s transaction, is a Binding of class `cls` and ends with a
// FINGERPRINT that verifies.
StunView expectResponse(const Answered& a, std::span<const std::byte> request, MessageClass cls) {
  auto m = StunView::parse(a.response());
  EXPECT_TRUE(m.has_value());
  if (!m) std::abort();
  EXPECT_EQ(m->method(), stun::method::kBinding);
  EXPECT_EQ(m->messageClass(), cls);
  EXPECT_TRUE(std::equal(request.begin() + 8, request.begin() + 20, a.response().begin() + 8));
  EXPECT_TRUE(m->checkFingerprint());
  return *m;
}

TEST(IceResponder, ChromeCheckGetsTheExactSuccessResponseAndNominates) {
  const auto check = bytes(test::kChromeCheck);
  const Answered a = run(check, fixtureIce());
  EXPECT_EQ(a.answer.result, IceCheckResult::Ok);
  EXPECT_EQ(a.answer.reason, IceCheckReason::Answered);
  EXPECT_TRUE(a.answer.useCandidate);
  const auto expected = bytes(test::kChromeCheckResponse);
  ASSERT_EQ(a.answer.responseSize, expected.size());
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), a.response().begin()));
  const StunView m = expectResponse(a, check, MessageClass::SuccessResponse);
  EXPECT_EQ(m.xorAddress(attr::kXorMappedAddress), fixtureSource());
  EXPECT_TRUE(m.checkIntegrity(stun::shortTermKey(test::kIceLocalPwd)));
}

TEST(IceResponder, CheckWithoutUseCandidateIsAnsweredButDoesNotNominate) {
  const Answered a = run(bytes(test::kChromeCheckNoNomination), fixtureIce());
  EXPECT_EQ(a.answer.result, IceCheckResult::Ok);
  EXPECT_FALSE(a.answer.useCandidate);
  EXPECT_GT(a.answer.responseSize, 0U);
}

TEST(IceResponder, XorMappedAddressIsTheSourceForIpv6Too) {
  const auto src = *common::SockAddr::fromIp("2001:db8::7", 40000);
  const auto check = bytes(test::kChromeCheck);
  const Answered a = run(check, fixtureIce(), src);
  ASSERT_EQ(a.answer.result, IceCheckResult::Ok);
  const StunView m = expectResponse(a, check, MessageClass::SuccessResponse);
  EXPECT_EQ(m.xorAddress(attr::kXorMappedAddress), src);
  EXPECT_TRUE(m.checkIntegrity(stun::shortTermKey(test::kIceLocalPwd)));
}

TEST(IceResponder, WrongPasswordGets401WithoutIntegrity) {
  const auto check = bytes(test::kChromeCheckWrongPassword);
  const Answered a = run(check, fixtureIce());
  EXPECT_EQ(a.answer.result, IceCheckResult::Unauthorized);
  EXPECT_EQ(a.answer.reason, IceCheckReason::BadIntegrity);
  EXPECT_FALSE(a.answer.useCandidate);
  const StunView m = expectResponse(a, check, MessageClass::ErrorResponse);
  ASSERT_TRUE(m.errorCode());
  EXPECT_EQ(m.errorCode()->code, 401);
  EXPECT_FALSE(m.hasIntegrity());
  EXPECT_FALSE(m.xorAddress(attr::kXorMappedAddress));
}

TEST(IceResponder, UsernameForAnotherUfragGets401) {
  const auto check = bytes(test::kChromeCheck);
  for (std::string_view ufrag : {"Rdv2", "Rdv", "Rdv1x", "bRwS"}) {
    const Answered a = run(check, legIce(ufrag, test::kIceLocalPwd));
    EXPECT_EQ(a.answer.result, IceCheckResult::Unauthorized) << ufrag;
    EXPECT_EQ(a.answer.reason, IceCheckReason::WrongUsername) << ufrag;
    EXPECT_EQ(expectResponse(a, check, MessageClass::ErrorResponse).errorCode()->code, 401);
  }
}

TEST(IceResponder, Rfc5769SampleRequestAuthenticatesAndGetsRoleConflictForItsIceControlled) {
  const Answered a = run(kRfc5769Request, legIce("evtj", kRfc5769Pwd));
  EXPECT_EQ(a.answer.result, IceCheckResult::RoleConflict);
  EXPECT_FALSE(a.answer.useCandidate);
  const StunView m = expectResponse(a, kRfc5769Request, MessageClass::ErrorResponse);
  ASSERT_TRUE(m.errorCode());
  EXPECT_EQ(m.errorCode()->code, 487);
  EXPECT_EQ(m.errorCode()->reason, "Role Conflict");
  // The request authenticated, so the error is integrity-protected with the same password.
  EXPECT_TRUE(m.checkIntegrity(stun::shortTermKey(kRfc5769Pwd)));
}

TEST(IceResponder, Rfc5769SampleRequestWithAnotherPasswordGets401) {
  const Answered a = run(kRfc5769Request, legIce("evtj", "VOkJxbRl1RmTxUk/WvJxBT"));
  EXPECT_EQ(a.answer.result, IceCheckResult::Unauthorized);
  EXPECT_EQ(a.answer.reason, IceCheckReason::BadIntegrity);
}

// Builds a Binding request with `build` adding attributes, then MI (keyed with `pwd`, when
// non-empty) and FINGERPRINT.
template <typename Fn>
std::vector<std::byte> request(Fn&& build, std::string_view pwd = test::kIceLocalPwd,
                               uint16_t method = stun::method::kBinding, MessageClass cls = MessageClass::Request) {
  std::vector<std::byte> buf(512);
  const stun::TransactionId id{std::byte{1}, std::byte{2}, std::byte{3}};
  stun::StunBuilder b(buf, method, cls, id);
  build(b);
  if (!pwd.empty()) b.addIntegrity(stun::shortTermKey(pwd));
  b.addFingerprint();
  buf.resize(b.size());
  return buf;
}

void username(stun::StunBuilder& b) { b.addText(attr::kUsername, "Rdv1:bRwS"); }

TEST(IceResponder, MissingUsernameOrIntegrityGets400) {
  const auto noUser = request([](stun::StunBuilder&) {});
  const Answered a = run(noUser, fixtureIce());
  EXPECT_EQ(a.answer.result, IceCheckResult::BadRequest);
  EXPECT_EQ(a.answer.reason, IceCheckReason::MissingCredentials);
  EXPECT_EQ(expectResponse(a, noUser, MessageClass::ErrorResponse).errorCode()->code, 400);

  const auto noMi = request(username, "");
  const Answered b = run(noMi, fixtureIce());
  EXPECT_EQ(b.answer.result, IceCheckResult::BadRequest);
  EXPECT_EQ(expectResponse(b, noMi, MessageClass::ErrorResponse).errorCode()->code, 400);
}

TEST(IceResponder, BindingRequestWithAnAttributeOverrunGets400) {
  auto bad = bytes(test::kChromeCheck);
  bad[22] = std::byte{0x7f};  // USERNAME length runs past the message
  const Answered a = run(bad, fixtureIce());
  EXPECT_EQ(a.answer.result, IceCheckResult::BadRequest);
  EXPECT_EQ(a.answer.reason, IceCheckReason::MalformedAttribute);
  EXPECT_EQ(expectResponse(a, bad, MessageClass::ErrorResponse).errorCode()->code, 400);
}

TEST(IceResponder, UnknownComprehensionRequiredAttributeGets420ListingIt) {
  const auto req = request([](stun::StunBuilder& b) {
    username(b);
    b.addU32(0x0030, 7);
  });
  const Answered a = run(req, fixtureIce());
  EXPECT_EQ(a.answer.result, IceCheckResult::UnknownAttribute);
  const StunView m = expectResponse(a, req, MessageClass::ErrorResponse);
  EXPECT_EQ(m.errorCode()->code, 420);
  auto unknown = m.find(attr::kUnknownAttributes);
  ASSERT_TRUE(unknown);
  ASSERT_EQ(unknown->value.size(), 2U);
  EXPECT_EQ(std::to_integer<int>(unknown->value[1]), 0x30);
  EXPECT_TRUE(m.checkIntegrity(stun::shortTermKey(test::kIceLocalPwd)));
}

TEST(IceResponder, IntegritySha256IsCheckedAndAnsweredInKind) {
  std::vector<std::byte> buf(512);
  const stun::TransactionId id{std::byte{9}};
  stun::StunBuilder b(buf, stun::method::kBinding, MessageClass::Request, id);
  username(b);
  b.addIntegritySha256(stun::shortTermKey(test::kIceLocalPwd)).addFingerprint();
  buf.resize(b.size());
  const Answered a = run(buf, fixtureIce());
  ASSERT_EQ(a.answer.result, IceCheckResult::Ok);
  const StunView m = expectResponse(a, buf, MessageClass::SuccessResponse);
  EXPECT_TRUE(m.checkIntegritySha256(stun::shortTermKey(test::kIceLocalPwd)));
  EXPECT_FALSE(m.hasIntegrity());
  EXPECT_EQ(run(buf, legIce(test::kIceLocalUfrag, "anotherPasswordOf22chars")).answer.result,
            IceCheckResult::Unauthorized);
}

TEST(IceResponder, ResponsesIndicationsOtherMethodsAndBadFingerprintsAreDroppedSilently) {
  struct Case {
    std::vector<std::byte> bytes;
    IceCheckReason reason;
  };
  auto badFp = bytes(test::kChromeCheck);
  badFp.back() ^= std::byte{1};
  std::vector<Case> cases = {
      {bytes(test::kChromeCheckResponse), IceCheckReason::NotRequest},
      {request(username, test::kIceLocalPwd, stun::method::kBinding, MessageClass::Indication),
       IceCheckReason::NotRequest},
      {request(username, test::kIceLocalPwd, stun::method::kAllocate), IceCheckReason::NotBinding},
      {badFp, IceCheckReason::BadFingerprint},
      {std::vector<std::byte>(19), IceCheckReason::NotStun},
      {std::vector<std::byte>(20), IceCheckReason::NotStun},  // no magic cookie
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Answered a = run(cases[i].bytes, fixtureIce());
    EXPECT_EQ(a.answer.result, IceCheckResult::Dropped) << i;
    EXPECT_EQ(a.answer.reason, cases[i].reason) << i;
    EXPECT_EQ(a.answer.responseSize, 0U) << i;
  }
}

TEST(IceResponder, LegWithoutCredentialsAnswersNothing) {
  const Answered a = run(bytes(test::kChromeCheck), LegIce{});
  EXPECT_EQ(a.answer.result, IceCheckResult::Dropped);
  EXPECT_EQ(a.answer.reason, IceCheckReason::NoIce);
  EXPECT_EQ(a.answer.responseSize, 0U);
}

TEST(IceResponder, OutputBufferTooSmallIsADropNotAnOverrun) {
  std::array<std::byte, 40> small{};
  const IceAnswer a = IceResponder::answer(bytes(test::kChromeCheck), fixtureIce(), fixtureSource(), small);
  EXPECT_EQ(a.result, IceCheckResult::Dropped);
  EXPECT_EQ(a.reason, IceCheckReason::NoRoom);
  EXPECT_EQ(a.responseSize, 0U);
}

TEST(IceResponder, ResultLabelsAreTheMetricLabels) {
  EXPECT_STREQ(toString(IceCheckResult::Ok), "ok");
  EXPECT_STREQ(toString(IceCheckResult::BadRequest), "bad_request");
  EXPECT_STREQ(toString(IceCheckResult::Unauthorized), "unauthorized");
  EXPECT_STREQ(toString(IceCheckResult::UnknownAttribute), "unknown_attribute");
  EXPECT_STREQ(toString(IceCheckResult::RoleConflict), "role_conflict");
  EXPECT_STREQ(toString(IceCheckResult::Dropped), "dropped");
}

}  // namespace
}  // namespace rdv::relay
