// SRTP per side of a B2BUA call (media.encrypt_caller / media.encrypt_callee): what each phone's
// SDP becomes, which relay legs terminate SRTP with which keys, and the 488s when a side that must
// use SRTP cannot (or one that must not offers only SRTP).

#include <gtest/gtest.h>

#include "media/srtp/SdesCrypto.h"
#include "signaling/b2bua/B2bua.h"
#include "signaling/b2bua/test/B2buaCallTest.h"

namespace rdv::b2bua::test {
namespace {

const std::string kAliceKey = "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

// An audio offer/answer over `proto` with `crypto` (none when empty), LF line ends.
std::string sdpWith(std::string_view ip, uint16_t port, std::string_view proto, std::string_view crypto) {
  std::string s = sdpLf(ip, port);
  s.replace(s.find("RTP/AVP"), 7, proto);
  if (!crypto.empty()) s += "a=crypto:" + std::string(crypto) + "\n";
  return s;
}

sdp::SdpMedia audioOf(const sip::SipMessage& m) {
  auto s = sdp::SdpSession::parse(m.body());
  EXPECT_TRUE(s.has_value() && !s->media.empty());
  return s && !s->media.empty() ? s->media[0] : sdp::SdpMedia();
}

relay::SrtpKeys keysOf(std::string_view value) { return *anchor::toSrtpKeys(*srtp::SdesCrypto::parse(value)); }

class B2buaSrtpTest : public B2buaCallTest {
 protected:
  void encrypt(std::string caller, std::string callee) {
    cfg_.media.encryptCaller = std::move(caller);
    cfg_.media.encryptCallee = std::move(callee);
  }
  const relay::LegCrypto& crypto(int leg) {
    const relay::LegParams* p = anchor_.legParams("call-1", 0, leg);
    EXPECT_NE(p, nullptr);
    static const relay::LegCrypto kNone;
    return p != nullptr ? p->crypto : kNone;
  }
};

TEST_F(B2buaSrtpTest, SrtpCallerIsBridgedToAPlainCallee) {
  encrypt("require", "never");
  registerBob();
  auto inv = inviteBob("call-1", sdpWith("198.18.0.2", 40000, "RTP/SAVP", kAliceKey));
  auto toBob = audioOf(inv);
  EXPECT_EQ(toBob.proto, "RTP/AVP");
  EXPECT_FALSE(toBob.hasAttribute("crypto")) << "alice's key never reaches bob";
  receive(responseLf(inv, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "alice: SIP/2.0 200 OK"}));
  auto toAlice = audioOf(parsedSent(sent[1]));
  EXPECT_EQ(toAlice.proto, "RTP/SAVP");
  auto ours = toAlice.attribute("crypto");
  ASSERT_TRUE(ours.has_value());
  EXPECT_TRUE(ours->starts_with("1 AES_CM_128_HMAC_SHA1_80 inline:")) << *ours;
  EXPECT_EQ(crypto(0).recv, keysOf(kAliceKey));
  EXPECT_EQ(crypto(0).send, keysOf(*ours));
  EXPECT_FALSE(crypto(1).terminates());
}

TEST_F(B2buaSrtpTest, PlainCallerIsOfferedToTheCalleeOverSrtp) {
  encrypt("never", "require");
  registerBob();
  auto inv = inviteBob();
  auto toBob = audioOf(inv);
  EXPECT_EQ(toBob.proto, "RTP/SAVP");
  ASSERT_TRUE(toBob.attribute("crypto").has_value());
  const std::string bobKey = "1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj";
  receive(responseLf(inv, 200, "OK", "b1", kBobContact, sdpWith("198.18.0.3", 50000, "RTP/SAVP", bobKey)), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "alice: SIP/2.0 200 OK"}));
  auto toAlice = audioOf(parsedSent(sent[1]));
  EXPECT_EQ(toAlice.proto, "RTP/AVP");
  EXPECT_FALSE(toAlice.hasAttribute("crypto"));
  EXPECT_EQ(crypto(1).recv, keysOf(bobKey));
  EXPECT_EQ(crypto(1).send, keysOf(*toBob.attribute("crypto")));
  EXPECT_FALSE(crypto(0).terminates());
}

TEST_F(B2buaSrtpTest, RequireTowardsACallerThatOffersPlainRtpIs488WithAReason) {
  encrypt("require", "never");
  registerBob();
  receive(inviteLf("call-1", "bob", aliceSdp()), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 488 Not Acceptable Here"}));
  EXPECT_NE(parsedSent(sent[1]).header("Warning").find("a=crypto"), std::string::npos)
      << parsedSent(sent[1]).header("Warning");
  EXPECT_EQ(anchor_.calls(), 0U);
}

TEST_F(B2buaSrtpTest, RequireTowardsACalleeThatAnswersPlainRtpFailsTheCallWith488) {
  encrypt("passthrough", "require");
  registerBob();
  auto inv = inviteBob();
  receive(responseLf(inv, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "bob: BYE sip:bob@10.0.0.3:5080 SIP/2.0",
                                     "alice: SIP/2.0 488 Not Acceptable Here"}));
  EXPECT_NE(parsedSent(sent[2]).header("Warning").find("a=crypto"), std::string::npos);
  EXPECT_EQ(b2b().activeCalls(), 0U);
}

TEST_F(B2buaSrtpTest, SavpOnlyOfferToANeverCalleeIsTerminatedAndASavpOnlyNeverCallerIs488) {
  encrypt("passthrough", "never");
  registerBob();
  auto inv = inviteBob("call-1", sdpWith("198.18.0.2", 40000, "RTP/SAVP", kAliceKey));
  EXPECT_EQ(audioOf(inv).proto, "RTP/AVP");
  EXPECT_TRUE(crypto(0).terminates()) << "alice's early media can be decrypted at once";

  encrypt("never", "passthrough");
  b2b_.reset();  // a B2BUA with the new configuration
  registerBob();
  receive(inviteLf("call-2", "bob", sdpWith("198.18.0.2", 40000, "RTP/SAVP", kAliceKey)), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 488 Not Acceptable Here"}));
}

TEST_F(B2buaSrtpTest, DefaultPassthroughLeavesSrtpEndToEnd) {
  registerBob();
  auto inv = inviteBob("call-1", sdpWith("198.18.0.2", 40000, "RTP/SAVP", kAliceKey));
  EXPECT_EQ(audioOf(inv).proto, "RTP/SAVP");
  EXPECT_EQ(audioOf(inv).attribute("crypto"), kAliceKey);
  EXPECT_FALSE(crypto(0).terminates());
}

TEST_F(B2buaSrtpTest, ReinviteWithTheSameKeyKeepsOurKeyAndTheRelayLegs) {
  encrypt("require", "never");
  registerBob();
  Dialogs d;
  d.bInvite = inviteBob("call-1", sdpWith("198.18.0.2", 40000, "RTP/SAVP", kAliceKey));
  receive(responseLf(*d.bInvite, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
  auto sent = take();
  auto ok = parsedSent(sent.at(1));
  d.aTag = std::string(ok.toTag());
  const std::string firstKey(*audioOf(ok).attribute("crypto"));
  receive(fromAliceLf(d, "ACK", 1), alice_);
  take();
  const relay::LegCrypto before = crypto(0);

  receive(fromAliceLf(d, "INVITE", 2, sdpWith("198.18.0.2", 40000, "RTP/SAVP", kAliceKey) + "a=sendonly\n"), alice_);
  auto reinvite = parsedSent(take().at(1));
  EXPECT_FALSE(audioOf(reinvite).hasAttribute("crypto"));
  receive(responseLf(reinvite, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000) + "a=recvonly\n"), bob_);
  sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kAckToBob), "alice: SIP/2.0 200 OK"}));
  EXPECT_EQ(audioOf(parsedSent(sent[1])).attribute("crypto"), firstKey);
  EXPECT_EQ(crypto(0), before);
}

}  // namespace
}  // namespace rdv::b2bua::test
