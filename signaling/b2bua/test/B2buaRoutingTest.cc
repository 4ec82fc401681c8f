// Who a call reaches and how the parties are named on the other leg: display names keep their
// quoting (RFC 3261 §25.1) in both directions, and the registrar's answer for a user without a
// live binding: 404 for one never heard of, 480 for a known one (also with an open registrar).

#include <gtest/gtest.h>

#include "signaling/b2bua/test/B2buaCallTest.h"
#include "signaling/sip/NameAddr.h"

namespace rdv::b2bua::test {
namespace {

using Lines = std::vector<std::string>;

class B2buaRoutingTest : public B2buaCallTest {
 protected:
  // An INVITE from alice with the From and To values given (the From gets tag a1).
  static std::string inviteNamedLf(std::string_view callId, std::string_view user, std::string_view from,
                                   std::string_view to) {
    return withBody(fmt::format("INVITE sip:{1}@127.0.0.1 SIP/2.0\n"
                                "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-{0}\n"
                                "Max-Forwards: 70\nFrom: {2};tag=a1\nTo: {3}\nCall-ID: {0}\nCSeq: 1 INVITE\n"
                                "Contact: <sip:alice@127.0.0.2:5070>\n",
                                callId, user, from, to),
                    sdpLf("198.18.0.2", 40000));
  }
  // Alice's INVITE as bob got it; the test fails unless the B2BUA sent exactly 100 + INVITE.
  sip::SipMessage inviteAtBob(const std::string& lf) {
    receive(lf, alice_);
    auto sent = take();
    EXPECT_EQ(startLines(sent),
              (Lines{"alice: SIP/2.0 100 Trying", "bob: INVITE sip:bob@10.0.0.3:5080 SIP/2.0"}));
    if (sent.size() != 2) throw std::runtime_error("no INVITE reached bob");
    return parsedSent(sent[1]);
  }
};

TEST_F(B2buaRoutingTest, DisplayNameWithACommaAndQuotesReachesTheCalleeQuotedAndIntact) {
  registerBob();
  auto inv = inviteAtBob(inviteNamedLf("call-1", "bob", R"("Boss, Big \"B\"" <sip:alice@example.com>)",
                                       R"~("Bob (desk)" <sip:bob@127.0.0.1>)~"));
  EXPECT_EQ(inv.header("From").substr(0, 44), R"("Boss, Big \"B\"" <sip:alice@127.0.0.1>;tag=)");
  auto from = sip::NameAddr::parse(inv.header("From"));
  ASSERT_TRUE(from.has_value()) << inv.header("From");
  EXPECT_EQ(from->displayNameText(), "Boss, Big \"B\"");
  EXPECT_EQ(from->uri, "sip:alice@127.0.0.1");
  EXPECT_EQ(inv.header("To"), R"~("Bob (desk)" <sip:bob@127.0.0.1>)~");
}

TEST_F(B2buaRoutingTest, DisplayNamesStayQuotedOnTheCallersLegToo) {
  registerBob();
  auto inv = inviteAtBob(inviteNamedLf("call-1", "bob", R"("Boss, Big" <sip:alice@example.com>)",
                                       R"("Bob, Desk" <sip:bob@127.0.0.1>)"));
  receive(responseLf(inv, 200, "OK", "b1", "sip:bob@10.0.0.3:5080", sdpLf("198.18.0.3", 50000)), bob_);
  auto ok = parsedSent(take().at(1));
  Dialogs d;
  d.bInvite = inv;
  d.aTag = std::string(ok.toTag());
  receive(inDialogLf(d, 1, "BYE", 1), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 200 OK", "alice: BYE sip:alice@127.0.0.2:5070 SIP/2.0"}));
  auto bye = parsedSent(sent[1]);
  EXPECT_EQ(bye.header("From"), fmt::format(R"("Bob, Desk" <sip:bob@127.0.0.1>;tag={})", d.aTag));
  EXPECT_EQ(bye.header("To"), R"("Boss, Big" <sip:alice@example.com>;tag=a1)");
}

TEST_F(B2buaRoutingTest, ADisplayNameDressedAsAUriCannotSpoofTheCallersAddress) {
  registerBob();
  auto inv = inviteAtBob(
      inviteNamedLf("call-1", "bob", R"("ceo@bank.example <sip:ceo@bank.example>" <sip:mallory@example.com>)",
                    "<sip:bob@127.0.0.1>"));
  auto from = sip::NameAddr::parse(inv.header("From"));
  ASSERT_TRUE(from.has_value()) << inv.header("From");
  EXPECT_EQ(from->uri, "sip:mallory@127.0.0.1");
  EXPECT_EQ(from->displayNameText(), "ceo@bank.example <sip:ceo@bank.example>");
}

TEST_F(B2buaRoutingTest, OpenRegistrarUnknownUserIs404AndOneThatRegisteredBefore480) {
  cfg_.users.clear();  // sip.auth_register = 0 (the harness default) and no user list: anyone registers
  receive(registerLf("carol", "sip:carol@10.0.0.4:5090", 1), bob_);
  ASSERT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 200 OK"});
  receive(inviteLf("call-1", "carol", sdpLf("198.18.0.2", 40000)), alice_);
  EXPECT_EQ(takeStartLines(),
            (Lines{"alice: SIP/2.0 100 Trying", "bob: INVITE sip:carol@10.0.0.4:5090 SIP/2.0"}));

  std::string unregister = registerLf("carol", "sip:carol@10.0.0.4:5090", 2);
  unregister.replace(unregister.find("expires=300"), 11, "expires=0");
  receive(unregister, bob_);
  ASSERT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 200 OK"});
  EXPECT_EQ(b2b().registrar().bindingCount(), 0U);
  receive(inviteLf("call-2", "carol", sdpLf("198.18.0.2", 40000)), alice_);
  EXPECT_EQ(takeStartLines(),
            (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 480 Temporarily Unavailable"}))
      << "carol is known: she registered before";
  receive(inviteLf("call-3", "dave", sdpLf("198.18.0.2", 40000)), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 404 Not Found"}))
      << "dave never registered";
}

TEST_F(B2buaRoutingTest, OpenRegistrarWithAUserListStillReachesOthersWhoRegistered) {
  // sip.users lists alice and bob; with sip.auth_register = 0 carol may register all the same.
  receive(registerLf("carol", "sip:carol@10.0.0.4:5090", 1), bob_);
  ASSERT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 200 OK"});
  receive(inviteLf("call-1", "carol", sdpLf("198.18.0.2", 40000)), alice_);
  EXPECT_EQ(takeStartLines(),
            (Lines{"alice: SIP/2.0 100 Trying", "bob: INVITE sip:carol@10.0.0.4:5090 SIP/2.0"}));
  receive(inviteLf("call-2", "bob", sdpLf("198.18.0.2", 40000)), alice_);
  EXPECT_EQ(takeStartLines(),
            (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 480 Temporarily Unavailable"}))
      << "bob is configured: known though never registered";
}

}  // namespace
}  // namespace rdv::b2bua::test
