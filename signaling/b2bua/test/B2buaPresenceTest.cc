// The presence agent through the B2BUA's message entry point: SUBSCRIBE/NOTIFY (RFC 6665, 3856)
// with registration-derived PIDF, refresh, unsubscribe, expiry, rejected and politely blocked
// watchers, flap coalescing, PUBLISH with entity tags (RFC 3903), 489/412/400, and a 481 to a
// NOTIFY ending the subscription.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "signaling/b2bua/test/B2buaCallTest.h"

namespace rdv::b2bua::test {
namespace {

constexpr std::string_view kNotifyToAlice = "alice: NOTIFY sip:alice@127.0.0.2:5070 SIP/2.0";

class B2buaPresenceTest : public B2buaCallTest {
 protected:
  B2buaPresenceTest() { cfg_.presence.notifyMinIntervalMs = 1000; }

  // A SUBSCRIBE from alice (at 127.0.0.1, so in bob's domain) to `user`; `toTag` makes it a refresh.
  static std::string subscribeLf(std::string_view user, uint32_t expires, uint32_t cseq = 1,
                                 std::string_view toTag = {}, std::string_view event = "presence",
                                 std::string_view from = "alice") {
    return withTypedBody(fmt::format("SUBSCRIBE sip:{0}@127.0.0.1 SIP/2.0\n"
                                     "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-s{5}{0}{1}{4}{6}\n"
                                     "Max-Forwards: 70\n"
                                     "From: <sip:{5}@127.0.0.1>;tag=w1\n"
                                     "To: <sip:{0}@127.0.0.1>{2}{3}\n"
                                     "Call-ID: sub-{5}-{0}\n"
                                     "CSeq: {1} SUBSCRIBE\n"
                                     "Contact: <sip:alice@127.0.0.2:5070>\n"
                                     "Event: {6}\n"
                                     "Expires: {4}\n",
                                     user, cseq, toTag.empty() ? "" : ";tag=", toTag, expires, from, event),
                         {}, {});
  }
  static std::string publishLf(std::string_view user, int n, std::string_view ifMatch, std::string_view body,
                               uint32_t expires = 600, std::string_view from = {}) {
    return withTypedBody(
        fmt::format("PUBLISH sip:{0}@127.0.0.1 SIP/2.0\n"
                    "Via: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bK-p{1}\n"
                    "Max-Forwards: 70\n"
                    "From: <sip:{4}@127.0.0.1>;tag=p{1}\n"
                    "To: <sip:{0}@127.0.0.1>\n"
                    "Call-ID: pub-{1}\n"
                    "CSeq: 1 PUBLISH\n"
                    "Event: presence\n"
                    "Expires: {3}\n{2}",
                    user, n, ifMatch.empty() ? "" : fmt::format("SIP-If-Match: {}\n", ifMatch), expires,
                    from.empty() ? user : from),
        body.empty() ? std::string_view() : "application/pidf+xml", body);
  }
  static std::string pidf(std::string_view user, std::string_view basic, std::string_view note) {
    return fmt::format(
        "<?xml version=\"1.0\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
        "entity=\"pres:{}@127.0.0.1\">\n"
        "<tuple id=\"t1\"><status><basic>{}</basic></status><note>{}</note></tuple></presence>\n",
        user, basic, note);
  }
  // alice subscribes to bob; returns our To tag and checks the 200 and the first NOTIFY.
  std::string subscribeToBob(uint32_t expires = 600) {
    receive(subscribeLf("bob", expires), alice_);
    auto sent = take();
    EXPECT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
    auto ok = parsedSent(sent.at(0));
    EXPECT_EQ(ok.header("Expires"), std::to_string(expires));
    lastNotify_ = parsedSent(sent.at(1));
    answerNotify(200);
    return std::string(ok.toTag());
  }
  void answerNotify(int status) {
    receive(typedResponseLf(*lastNotify_, status, status == 200 ? "OK" : "Nope"), alice_);
  }
  sip::SipMessage takeNotify() {
    lastNotify_ = takeOnly(kNotifyToAlice);
    return *lastNotify_;
  }
  // bob's REGISTER with CSeq `cseq` and expires=0 (his last contact leaves).
  static std::string unregisterLf(uint32_t cseq) {
    std::string r = registerLf("bob", "sip:bob@10.0.0.3:5080", cseq);
    return r.replace(r.find(";expires=300"), 12, ";expires=0");
  }
  void tick(uint64_t ms) {
    clock_.advanceMs(ms);
    b2b().onTimer();
  }

  std::optional<sip::SipMessage> lastNotify_;
  std::string aliceTag_;
};

TEST_F(B2buaPresenceTest, FirstNotifyCarriesRegistrationDerivedClosedThenOpenWhenBobRegisters) {
  subscribeToBob();
  EXPECT_EQ(lastNotify_->header("Event"), "presence");
  EXPECT_EQ(lastNotify_->header("Subscription-State"), "active;expires=600");
  EXPECT_EQ(lastNotify_->header("Content-Type"), "application/pidf+xml");
  EXPECT_NE(lastNotify_->body().find("<basic>closed</basic>"), std::string::npos);
  EXPECT_EQ(b2b().counters().presenceSubscriptions.get(), 1U);
  EXPECT_EQ(b2b().counters().notifySent.get(), 1U);
}

TEST_F(B2buaPresenceTest, NotifiesGoOverTheWatchersRegisteredFlowNotToItsContact) {
  // alice registered her private contact through a NAT (source 198.51.100.7:40000); her SUBSCRIBE
  // names that contact. NOTIFYs must take the registered flow (NAT-safe), not the Contact, nor
  // where the SUBSCRIBE happened to come from.
  const sip::SipPeer natted{addr("198.51.100.7", 40000)};
  receive(registerLf("alice", "sip:alice@127.0.0.2:5070", 7), natted);  // its own branch (z9hG4bKreg7)
  EXPECT_EQ(takeStartLines(), Lines{"198.51.100.7:40000: SIP/2.0 200 OK"});
  receive(subscribeLf("bob", 600), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent),
            (Lines{"alice: SIP/2.0 200 OK", "198.51.100.7:40000: NOTIFY sip:alice@127.0.0.2:5070 SIP/2.0"}));
  lastNotify_ = parsedSent(sent.at(1));
  receive(typedResponseLf(*lastNotify_, 200, "OK"), natted);
  clock_.advanceMs(1000);
  receive(registerLf("bob", "sip:bob@10.0.0.3:5080", 1), bob_);
  sent = take();
  ASSERT_EQ(startLines(sent),
            (Lines{"bob: SIP/2.0 200 OK", "198.51.100.7:40000: NOTIFY sip:alice@127.0.0.2:5070 SIP/2.0"}))
      << "bob coming online reaches alice through her NAT binding";
  EXPECT_NE(parsedSent(sent[1]).body().find("<basic>open</basic>"), std::string::npos);
}

TEST_F(B2buaPresenceTest, RegisteringSendsOpenAndTheLastContactLeavingSendsClosed) {
  subscribeToBob();
  clock_.advanceMs(1000);
  receive(registerLf("bob", "sip:bob@10.0.0.3:5080", 1), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
  lastNotify_ = parsedSent(sent[1]);
  EXPECT_NE(lastNotify_->body().find("<basic>open</basic>"), std::string::npos);
  answerNotify(200);
  clock_.advanceMs(1000);
  receive(unregisterLf(2), bob_);
  sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
  EXPECT_NE(parsedSent(sent[1]).body().find("<basic>closed</basic>"), std::string::npos);
}

TEST_F(B2buaPresenceTest, FlapsWithinTheIntervalCoalesceToOneNotifyWithTheLatestState) {
  subscribeToBob();
  clock_.advanceMs(100);
  registerBob();  // open: but the last NOTIFY went 100 ms ago, so nothing yet
  receive(unregisterLf(2), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 200 OK"});
  receive(registerLf("bob", "sip:bob@10.0.0.3:5080", 3), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 200 OK"});
  EXPECT_LE(b2b().nextDeadline(), clock_.monotonicMs() + 900) << "a deadline at the end of the interval";
  tick(899);
  EXPECT_TRUE(take().empty()) << "the NOTIFY waits for the interval to end";
  tick(1);
  auto n = takeNotify();
  EXPECT_NE(n.body().find("<basic>open</basic>"), std::string::npos);
  answerNotify(200);
  tick(5000);
  EXPECT_TRUE(take().empty()) << "the latest state was sent once";
}

TEST_F(B2buaPresenceTest, RefreshGetsANotifyAndUnsubscribeAFinalTerminated) {
  const std::string tag = subscribeToBob();
  tick(2000);
  receive(subscribeLf("bob", 900, 2, tag), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
  EXPECT_EQ(parsedSent(sent[0]).header("Expires"), "900");
  lastNotify_ = parsedSent(sent[1]);
  EXPECT_EQ(lastNotify_->header("Subscription-State"), "active;expires=900");
  answerNotify(200);
  tick(2000);
  receive(subscribeLf("bob", 0, 3, tag), alice_);
  sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
  EXPECT_EQ(parsedSent(sent[1]).header("Subscription-State"), "terminated");
  EXPECT_EQ(b2b().presenceSubscriptions(), 0U);
  receive(subscribeLf("bob", 600, 4, tag), alice_);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 481 Call/Transaction Does Not Exist"});
}

TEST_F(B2buaPresenceTest, ARefreshUnderMinExpiresIs423AndKeepsTheSubscription) {
  const std::string tag = subscribeToBob();
  tick(2000);
  receive(subscribeLf("bob", 5, 2, tag), alice_);
  EXPECT_EQ(takeOnly("alice: SIP/2.0 423 Interval Too Brief").header("Min-Expires"), "60");
  EXPECT_EQ(b2b().presenceSubscriptions(), 1U);
  receive(subscribeLf("bob", 900, 3, tag), alice_);  // still there: a valid refresh is answered
  EXPECT_EQ(startLines(take()), (Lines{"alice: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
}

TEST_F(B2buaPresenceTest, ExpiryEndsWithTerminatedTimeout) {
  subscribeToBob(60);
  tick(59'000);
  EXPECT_TRUE(take().empty());
  tick(1000);
  auto n = takeNotify();
  EXPECT_EQ(n.header("Subscription-State"), "terminated;reason=timeout");
  EXPECT_EQ(b2b().presenceSubscriptions(), 0U);
}

TEST_F(B2buaPresenceTest, UnauthorizedWatcherGetsTerminatedRejectedWithoutTheState) {
  cfg_.presence.allowSameDomain = 0;
  cfg_.presence.lists["bob"] = "carol";
  registerBob();
  receive(subscribeLf("bob", 600), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
  auto n = parsedSent(sent[1]);
  EXPECT_EQ(n.header("Subscription-State"), "terminated;reason=rejected");
  EXPECT_TRUE(n.body().empty());
  EXPECT_EQ(b2b().presenceSubscriptions(), 0U);
  EXPECT_EQ(b2b().counters().subscribeRefused[size_t(PresenceRefusal::Rejected)].get(), 1U);
}

TEST_F(B2buaPresenceTest, PoliteBlockingKeepsTheWatcherPendingAndSilent) {
  cfg_.presence.allowSameDomain = 0;
  cfg_.presence.politeBlock = 1;
  receive(subscribeLf("bob", 600), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
  lastNotify_ = parsedSent(sent[1]);
  EXPECT_EQ(lastNotify_->header("Subscription-State"), "pending;expires=600");
  EXPECT_TRUE(lastNotify_->body().empty());
  answerNotify(200);
  tick(2000);
  registerBob();  // no NOTIFY to the pending watcher
  tick(2000);
  EXPECT_TRUE(take().empty());
}

TEST_F(B2buaPresenceTest, UnknownEventIs489WithAllowEvents) {
  receive(subscribeLf("bob", 600, 1, {}, "dialog"), alice_);
  auto r = takeOnly("alice: SIP/2.0 489 Bad Event");
  EXPECT_EQ(r.header("Allow-Events"), "presence, presence.winfo");
  receive(subscribeLf("nobody", 600), alice_);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 404 Not Found"});
  receive(subscribeLf("bob", 5), alice_);
  EXPECT_EQ(takeOnly("alice: SIP/2.0 423 Interval Too Brief").header("Min-Expires"), "60");
}

TEST_F(B2buaPresenceTest, PublishedStateReachesWatchersAndEtagsRefreshAndFail) {
  subscribeToBob();
  tick(1000);
  receive(publishLf("bob", 1, {}, pidf("bob", "open", "At lunch")), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
  const auto ok = parsedSent(sent[0]);
  const std::string etag(ok.header("SIP-ETag"));
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(ok.header("Expires"), "600");
  EXPECT_NE(parsedSent(sent[1]).body().find("At lunch"), std::string::npos);
  lastNotify_ = parsedSent(sent[1]);
  answerNotify(200);
  tick(1000);
  receive(publishLf("bob", 2, etag, {}), bob_);  // refresh: no NOTIFY, a new tag
  const auto refreshed = takeOnly("bob: SIP/2.0 200 OK");
  EXPECT_NE(refreshed.header("SIP-ETag"), etag);
  receive(publishLf("bob", 3, etag, {}), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 412 Conditional Request Failed"});
  receive(publishLf("bob", 4, {}, "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><tuple"), bob_);
  auto bad = take();
  ASSERT_EQ(bad.size(), 1U);
  EXPECT_EQ(parsedSent(bad[0]).status(), 400);
  EXPECT_EQ(parsedSent(bad[0]).reason().rfind("malformed XML", 0), 0U);
  receive(publishLf("bob", 5, {}, pidf("alice", "open", "")), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 400 PIDF entity is not bob"});
  receive(publishLf("alice", 6, {}, pidf("alice", "open", ""), 600, "bob"), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 403 Only the presentity may publish"});
}

TEST_F(B2buaPresenceTest, A481ToANotifyEndsTheSubscription) {
  subscribeToBob();
  tick(1000);
  receive(registerLf("bob", "sip:bob@10.0.0.3:5080", 1), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
  lastNotify_ = parsedSent(sent[1]);
  answerNotify(481);
  EXPECT_EQ(b2b().presenceSubscriptions(), 0U);
  EXPECT_EQ(b2b().counters().notifyFailed.get(), 1U);
  tick(1000);
  receive(unregisterLf(2), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 200 OK"});
}

TEST_F(B2buaPresenceTest, SubscriptionsAreBoundedPerWatcherWith403AndInAllWith503) {
  cfg_.users.emplace("carol", "carol-pw");
  cfg_.users.emplace("dave", "dave-pw");
  cfg_.presence.maxPerWatcher = 1;
  cfg_.presence.maxSubscriptions = 2;
  subscribeToBob();
  receive(subscribeLf("carol", 600), alice_);
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 403 Too many subscriptions"});
  receive(subscribeLf("carol", 600, 1, {}, "presence", "bob"), alice_);
  auto sent = take();
  ASSERT_EQ(sent.size(), 2U) << "bob's own first subscription is fine";
  receive(subscribeLf("dave", 600, 1, {}, "presence", "carol"), alice_);
  auto full = takeOnly("alice: SIP/2.0 503 Service Unavailable");
  EXPECT_EQ(full.header("Retry-After"), "30");
  EXPECT_EQ(b2b().presenceSubscriptions(), 2U);
  EXPECT_EQ(b2b().counters().subscribeRefused[size_t(PresenceRefusal::Limit)].get(), 2U);
}

TEST_F(B2buaPresenceTest, WatcherInfoListsTheUsersWatchersAndFollowsThem) {
  aliceTag_ = subscribeToBob();  // alice watches bob
  tick(1000);
  receive(subscribeLf("bob", 600, 1, {}, "presence.winfo", "bob"), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
  auto winfo = parsedSent(sent[1]);
  EXPECT_EQ(winfo.header("Event"), "presence.winfo");
  EXPECT_EQ(winfo.header("Content-Type"), "application/watcherinfo+xml");
  EXPECT_NE(winfo.body().find("version=\"0\""), std::string::npos);
  EXPECT_NE(winfo.body().find("status=\"active\">sip:alice@127.0.0.1</watcher>"), std::string::npos)
      << winfo.body();
  receive(typedResponseLf(winfo, 200, "OK"), alice_);
  // alice stops watching: her final NOTIFY, and (one interval after the last) a document without her.
  receive(subscribeLf("bob", 0, 2, aliceTag_), alice_);
  sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
  EXPECT_EQ(parsedSent(sent[1]).header("Event"), "presence");
  receive(typedResponseLf(parsedSent(sent[1]), 200, "OK"), alice_);
  tick(1000);
  auto next = takeNotify();
  EXPECT_EQ(next.header("Event"), "presence.winfo");
  EXPECT_NE(next.body().find("version=\"1\""), std::string::npos);
  EXPECT_EQ(next.body().find("sip:alice@"), std::string::npos) << next.body();
}

TEST_F(B2buaPresenceTest, BuddyListsApplyLiveToNewSubscriptions) {
  config::SipConfig next = cfg_;
  next.presence.allowSameDomain = 0;
  next.presence.lists["bob"] = "carol";
  ASSERT_TRUE(b2b().canApplyLive("presence.lists", next));
  ASSERT_TRUE(b2b().canApplyLive("presence.allow_same_domain", next));
  EXPECT_FALSE(b2b().canApplyLive("presence.max_expires", next));
  b2b().applyLive(next);
  receive(subscribeLf("bob", 600), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
  EXPECT_EQ(parsedSent(sent[1]).header("Subscription-State"), "terminated;reason=rejected");
}

TEST_F(B2buaPresenceTest, SubscribeAndPublishAreAuthenticatedLikeInvite) {
  cfg_.authInvite = 1;
  receive(subscribeLf("bob", 600), alice_);
  auto challenge = takeOnly("alice: SIP/2.0 407 Proxy Authentication Required");
  EXPECT_FALSE(challenge.header("Proxy-Authenticate").empty());
  receive(publishLf("bob", 1, {}, pidf("bob", "open", "")), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 407 Proxy Authentication Required"});
  EXPECT_EQ(b2b().presenceSubscriptions(), 0U);
  EXPECT_EQ(b2b().presencePublications(), 0U);
}

TEST_F(B2buaPresenceTest, OthersMayNotSeeWhoWatchesAUser) {
  receive(subscribeLf("bob", 600, 1, {}, "presence.winfo"), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 200 OK", std::string(kNotifyToAlice)}));
  EXPECT_EQ(parsedSent(sent[1]).header("Subscription-State"), "terminated;reason=rejected");
  EXPECT_TRUE(parsedSent(sent[1]).body().empty());
}

}  // namespace
}  // namespace rdv::b2bua::test
