// MESSAGE outside a call (RFC 3428) through the B2BUA's message entry point: sent to every
// contact of the recipient with one final answer to the sender, 413 above sip.max_message_bytes,
// and the offline store: kept with 202 for an absent user, quotas as 480/507, delivered oldest
// first when the user registers, removed on a 2xx only, still there after a restart.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/test/Crlf.h"
#include "signaling/b2bua/test/B2buaCallTest.h"
#include "signaling/im/test/TempDb.h"
#include "signaling/sip/NameAddr.h"

namespace rdv::b2bua::test {
namespace {

using common::test::crlf;
using sip::test::runTimersUntil;

constexpr std::string_view kMessageToBob = "bob: MESSAGE sip:bob@10.0.0.3:5080 SIP/2.0";
constexpr std::string_view kMessageToBob2 = "127.0.0.4:5090: MESSAGE sip:bob@10.0.0.4:5090 SIP/2.0";

class B2buaPagerTest : public B2buaCallTest {
 protected:
  B2buaPagerTest() { cfg_.users.emplace("carol", "carol-pw"); }

  // Keeps messages for absent users in db_ from now on.
  void useStore(im::StoreLimits limits = {}) {
    auto store = im::MessageStore::open(db_.path(), limits);
    ASSERT_TRUE(store.has_value());
    b2b().setMessageStore(std::move(*store));
  }
  std::vector<std::string> storedBodies(std::string_view user) {
    std::vector<std::string> out;
    for (const auto& m : b2b().messageStore()->pending(user)) out.push_back(m.body);
    return out;
  }
  // bob registered from bob_ and from a second device at 127.0.0.4:5090.
  void registerBobTwice() {
    registerBob();
    receive(registerLf("bob", "sip:bob@10.0.0.4:5090", 2), bob2_);
    ASSERT_EQ(takeStartLines(), Lines{"127.0.0.4:5090: SIP/2.0 200 OK"});
  }
  void sendToBob(std::string_view body, int n = 1, std::string_view type = "text/plain") {
    receive(outsideLf("MESSAGE", "sip:bob@127.0.0.1", type, body, n), alice_);
  }
  std::vector<sip::SipMessage> takeParsed() {
    std::vector<sip::SipMessage> out;
    for (const auto& m : take()) out.push_back(parsedSent(m));
    return out;
  }

  const sip::SipPeer bob2_{addr("127.0.0.4", 5090)};
  im::test::TempDb db_;
};

TEST_F(B2buaPagerTest, EveryContactGetsTheMessageAndTheSenderHearsTheFirst2xxOnly) {
  registerBobTwice();
  sendToBob("Lunch?\n");
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{std::string(kMessageToBob), std::string(kMessageToBob2)}));
  auto toBob = parsedSent(sent[0]);
  auto toBob2 = parsedSent(sent[1]);
  EXPECT_NE(toBob.callId(), toBob2.callId()) << "each contact its own transaction";
  EXPECT_EQ(toBob2.body(), "Lunch?\r\n");

  receive(typedResponseLf(toBob2, 200, "OK"), bob2_);
  auto ok = takeOnly("alice: SIP/2.0 200 OK");
  EXPECT_EQ(ok.callId(), "out-MESSAGE-1");
  receive(typedResponseLf(toBob, 200, "OK"), bob_);
  EXPECT_TRUE(take().empty()) << "one final answer";
  EXPECT_EQ(b2b().counters().messagesRelayed.get(), 1U) << "one message, however many contacts took it";
}

TEST_F(B2buaPagerTest, WhenEveryContactFailsTheSenderHearsTheBestFailure) {
  registerBobTwice();
  sendToBob("hi\n");
  auto sent = takeParsed();
  ASSERT_EQ(sent.size(), 2U);
  receive(typedResponseLf(sent[0], 500, "Server Internal Error"), bob_);
  EXPECT_TRUE(take().empty()) << "the other contact may still accept it";
  receive(typedResponseLf(sent[1], 486, "Busy Here"), bob2_);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 486 Busy Here"});
}

TEST_F(B2buaPagerTest, IsComposingAndImdnBodiesPassThroughUntouched) {
  useStore();
  registerBob();
  constexpr std::string_view kComposing = "<isComposing><state>active</state></isComposing>\n";
  sendToBob(kComposing, 1, "application/im-iscomposing+xml");
  auto composing = takeOnly(kMessageToBob);
  EXPECT_EQ(composing.header("Content-Type"), "application/im-iscomposing+xml");
  EXPECT_EQ(composing.body(), "<isComposing><state>active</state></isComposing>\r\n");
  constexpr std::string_view kImdn =
      "From: <im:alice@example.com>\nimdn.Message-ID: 34jk324j\nContent-type: message/imdn+xml\n\n<imdn/>\n";
  sendToBob(kImdn, 2, "message/cpim");
  auto imdn = takeOnly(kMessageToBob);
  EXPECT_EQ(imdn.header("Content-Type"), "message/cpim");
  EXPECT_EQ(imdn.body(), crlf(kImdn));
}

TEST_F(B2buaPagerTest, ABodyAboveMaxMessageBytesIs413) {
  cfg_.maxMessageBytes = 8;
  registerBob();
  sendToBob("123456\n");  // 8 bytes with CRLF
  EXPECT_EQ(takeStartLines(), Lines{std::string(kMessageToBob)});
  sendToBob("1234567\n", 2);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 413 Request Entity Too Large"});
}

TEST_F(B2buaPagerTest, MaxMessageBytesAppliesLiveAndTheStoreNeedsARestart) {
  registerBob();
  config::SipConfig next = cfg_;
  next.maxMessageBytes = 4;
  ASSERT_TRUE(b2b().canApplyLive("sip.max_message_bytes", next));
  EXPECT_FALSE(b2b().canApplyLive("sip.message_store", next));
  b2b().applyLive(next);
  sendToBob("12345\n");
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 413 Request Entity Too Large"});
}

TEST_F(B2buaPagerTest, WithAStoreAMessageToAnAbsentUserIs202AndKept) {
  useStore();
  sendToBob("Call me\n");
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 202 Accepted"});
  auto kept = b2b().messageStore()->pending("bob");
  ASSERT_EQ(kept.size(), 1U);
  EXPECT_EQ(kept[0].body, "Call me\r\n");
  EXPECT_EQ(kept[0].contentType, "text/plain");
  EXPECT_EQ(kept[0].sender, "\"Boss, Big\" <sip:alice@example.com>;tag=o1");
  EXPECT_EQ(b2b().counters().messagesStored.get(), 1U);
  receive(outsideLf("MESSAGE", "sip:zed@127.0.0.1", "text/plain", "hi\n", 2), alice_);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 404 Not Found"}) << "an unknown user is still 404";
}

TEST_F(B2buaPagerTest, IsComposingToAnAbsentUserIs480AndNeverKept) {
  useStore();
  sendToBob("<isComposing/>\n", 1, "application/im-iscomposing+xml");
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 480 Temporarily Unavailable"});
  EXPECT_EQ(b2b().messageStore()->size(), 0U);
}

TEST_F(B2buaPagerTest, AMessageNoContactAnsweredIsKeptWith202) {
  useStore();
  registerBob();
  sendToBob("anyone?\n");
  EXPECT_EQ(takeStartLines(), Lines{std::string(kMessageToBob)});
  runTimersUntil(clock_, b2b(), kT0 + 32'000);
  auto sent = take();
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(startLines({sent.back()}), Lines{"alice: SIP/2.0 202 Accepted"});
  EXPECT_EQ(storedBodies("bob"), Lines{"anyone?\r\n"});
}

TEST_F(B2buaPagerTest, RegisterDeliversKeptMessagesOneAtATimeInOrderAndRemovesOnlyThoseAnswered2xx) {
  useStore();
  sendToBob("first\n", 1);
  sendToBob("second\n", 2);
  sendToBob("third\n", 3);
  take();
  receive(registerLf("bob", "sip:bob@10.0.0.3:5080", 1), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 200 OK", std::string(kMessageToBob)}))
      << "the oldest only: the next waits for its answer, so none overtakes another";
  const sip::SipMessage first = parsedSent(sent[1]);
  EXPECT_EQ(first.body(), "first\r\n");
  EXPECT_EQ(first.header("Date"), "Tue, 14 Nov 2023 22:13:20 GMT") << "when it was kept";
  auto from = sip::NameAddr::parse(first.header("From"));
  ASSERT_TRUE(from.has_value());
  EXPECT_EQ(from->displayNameText(), "Boss, Big");
  EXPECT_EQ(from->uri, "sip:alice@127.0.0.1") << "the original sender, topology hidden";

  receive(typedResponseLf(first, 200, "OK"), bob_);
  sent = take();
  ASSERT_EQ(startLines(sent), Lines{std::string(kMessageToBob)}) << "taken: the next one goes";
  const sip::SipMessage second = parsedSent(sent[0]);
  EXPECT_EQ(second.body(), "second\r\n");
  receive(typedResponseLf(second, 500, "Server Internal Error"), bob_);
  EXPECT_TRUE(take().empty()) << "refused: the rest waits for the next REGISTER";
  EXPECT_EQ(storedBodies("bob"), (Lines{"second\r\n", "third\r\n"}));

  receive(registerLf("bob", "sip:bob@10.0.0.3:5080", 2), bob_);
  sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 200 OK", std::string(kMessageToBob)}));
  EXPECT_EQ(parsedSent(sent[1]).body(), "second\r\n") << "the next REGISTER tries again from the oldest";
  receive(typedResponseLf(parsedSent(sent[1]), 200, "OK"), bob_);
  sent = take();
  ASSERT_EQ(startLines(sent), Lines{std::string(kMessageToBob)});
  EXPECT_EQ(parsedSent(sent[0]).body(), "third\r\n");
  receive(typedResponseLf(parsedSent(sent[0]), 200, "OK"), bob_);
  EXPECT_TRUE(take().empty());
  EXPECT_EQ(b2b().messageStore()->size(), 0U);
  EXPECT_EQ(b2b().counters().messagesDelivered.get(), 3U);
}

TEST_F(B2buaPagerTest, AStoredMessageNoContactAnsweredStaysAndStopsTheRest) {
  useStore();
  sendToBob("first\n", 1);
  sendToBob("second\n", 2);
  take();
  receive(registerLf("bob", "sip:bob@10.0.0.3:5080", 1), bob_);
  EXPECT_EQ(takeStartLines(), (Lines{"bob: SIP/2.0 200 OK", std::string(kMessageToBob)}));
  runTimersUntil(clock_, b2b(), kT0 + 40'000);  // no answer: 408 after Timer F
  for (const auto& line : takeStartLines()) EXPECT_EQ(line, kMessageToBob) << "only retransmissions";
  EXPECT_EQ(storedBodies("bob"), (Lines{"first\r\n", "second\r\n"}));
  receive(registerLf("bob", "sip:bob@10.0.0.3:5080", 2), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 200 OK", std::string(kMessageToBob)}));
  EXPECT_EQ(parsedSent(sent[1]).body(), "first\r\n");
}

TEST_F(B2buaPagerTest, ARefreshingRegisterDoesNotResendAMessageStillOnItsWay) {
  useStore();
  sendToBob("once\n");
  take();
  receive(registerLf("bob", "sip:bob@10.0.0.3:5080", 1), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 200 OK", std::string(kMessageToBob)}));
  receive(registerLf("bob", "sip:bob@10.0.0.3:5080", 2), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 200 OK"});
  receive(typedResponseLf(parsedSent(sent[1]), 200, "OK"), bob_);
  EXPECT_EQ(b2b().messageStore()->size(), 0U);
}

TEST_F(B2buaPagerTest, AUserOverItsQuotaIs480AndAFullStoreIs507) {
  useStore(im::StoreLimits{.perUser = 1, .total = 2});
  sendToBob("1\n", 1);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 202 Accepted"});
  sendToBob("2\n", 2);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 480 Temporarily Unavailable"});
  receive(outsideLf("MESSAGE", "sip:carol@127.0.0.1", "text/plain", "1\n", 3), alice_);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 202 Accepted"});
  receive(outsideLf("MESSAGE", "sip:alice@127.0.0.1", "text/plain", "1\n", 4), alice_);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 507 Insufficient Storage"});
}

TEST_F(B2buaPagerTest, KeptMessagesSurviveARestart) {
  useStore();
  sendToBob("before the restart\n");
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 202 Accepted"});
  b2b_.reset();
  useStore();  // a new B2BUA on the same file
  receive(registerLf("bob", "sip:bob@10.0.0.3:5080", 1), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 200 OK", std::string(kMessageToBob)}));
  auto msg = parsedSent(sent[1]);
  EXPECT_EQ(msg.body(), "before the restart\r\n");
  receive(typedResponseLf(msg, 200, "OK"), bob_);
  EXPECT_EQ(b2b().messageStore()->size(), 0U);
}

}  // namespace
}  // namespace rdv::b2bua::test
