// REGISTER, digest challenges (RFC 3261 §22.4, RFC 8760) and keep-alives, through the B2BUA's
// message entry point; the client side of the digest is computed here with DigestAuth's helpers.

#include <gtest/gtest.h>

#include "signaling/b2bua/test/B2buaHarness.h"
#include "signaling/sip/DigestAuth.h"

namespace rdv::b2bua::test {
namespace {

using sip::test::runTimersUntil;
using Lines = std::vector<std::string>;

// Every value of header `name`, one per header line: challenges are not comma lists.
std::vector<std::string_view> headerValues(const sip::SipMessage& m, std::string_view name) {
  std::vector<std::string_view> out;
  for (const auto& h : m.headers()) {
    if (h.name == name) out.push_back(h.value);
  }
  return out;
}

// The Authorization / Proxy-Authorization value answering challenge `index` of `challengeHeader`
// in `challenge` (a 401 or 407) for `method` on `uri`, as the nc-th use of its nonce.
std::string credentials(const sip::SipMessage& challenge, std::string_view challengeHeader, size_t index,
                        std::string_view user, std::string_view password, std::string_view method,
                        std::string_view uri, std::string_view nc = "00000001") {
  auto values = headerValues(challenge, challengeHeader);
  auto ch = sip::DigestChallenge::parse(values.at(index));
  if (!ch) throw std::runtime_error("bad challenge: " + ch.error());
  sip::DigestCredentials c;
  c.username = std::string(user);
  c.realm = ch->realm;
  c.nonce = ch->nonce;
  c.uri = std::string(uri);
  c.algorithm = ch->algorithm;
  c.cnonce = "0a4f113b";
  c.opaque = ch->opaque;
  c.qop = "auth";
  c.nc = std::string(nc);
  c.response = sip::digestResponse(*sip::digestAlgorithmFromName(ch->algorithm), user, ch->realm, password,
                                   method, uri, c.nonce, c.nc, c.cnonce, c.qop);
  return c.toHeaderValue();
}

std::vector<std::string> algorithms(const sip::SipMessage& challenge, std::string_view header) {
  std::vector<std::string> out;
  for (auto v : headerValues(challenge, header)) {
    auto ch = sip::DigestChallenge::parse(v);
    out.push_back(ch ? ch->algorithm : "unparsable");
  }
  return out;
}

class B2buaRegisterTest : public B2buaHarness {
 protected:
  static constexpr std::string_view kContact = "sip:bob@10.0.0.3:5080";

  // Sends an unauthenticated REGISTER for `user` and returns the 401.
  sip::SipMessage challengeRegister(std::string_view user) {
    receive(registerLf(user, kContact, 1), bob_);
    auto sent = take();
    EXPECT_EQ(startLines(sent), Lines{"bob: SIP/2.0 401 Unauthorized"});
    return parsedSent(sent.at(0));
  }
};

TEST_F(B2buaRegisterTest, RegisterIsChallengedThenAcceptedWithSha256Credentials) {
  cfg_.authRegister = 1;
  auto challenge = challengeRegister("bob");
  EXPECT_EQ(algorithms(challenge, "WWW-Authenticate"), (Lines{"SHA-256", "MD5"}))
      << "sip.auth_algorithms order";
  EXPECT_EQ(b2b().registrar().bindingCount(), 0U);

  const std::string auth =
      credentials(challenge, "WWW-Authenticate", 0, "bob", "bob-pw", "REGISTER", "sip:127.0.0.1");
  receive(registerLf("bob", kContact, 2, "Authorization: " + auth + "\n"), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent), Lines{"bob: SIP/2.0 200 OK"});
  EXPECT_EQ(parsedSent(sent[0]).header("Contact"), "<sip:bob@10.0.0.3:5080>;expires=300");
  EXPECT_EQ(b2b().registrar().bindingCount(), 1U);
  EXPECT_EQ(b2b().counters().registrations.get(), 1U);
  EXPECT_EQ(b2b().counters().authChallenges.get(), 1U);
}

TEST_F(B2buaRegisterTest, AUserAddedByAReloadCanRegisterAndARemovedOneCannot) {
  cfg_.authRegister = 1;
  b2b();
  config::SipConfig next = cfg_;
  next.users = {{"alice", "alice-pw"}, {"carol", "carol-pw"}};  // carol added, bob removed
  next.maxCalls = 7;
  next.listen = "127.0.0.1:5999";  // needs a restart
  EXPECT_TRUE(b2b().canApplyLive("sip.users", next));
  EXPECT_TRUE(b2b().canApplyLive("sip.max_calls", next));
  EXPECT_FALSE(b2b().canApplyLive("sip.listen", next)) << "needs a restart";
  next.listen = cfg_.listen;  // what the operator keeps running when a key needs a restart
  b2b().applyLive(next);
  auto challenge = challengeRegister("carol");
  const std::string carol =
      credentials(challenge, "WWW-Authenticate", 0, "carol", "carol-pw", "REGISTER", "sip:127.0.0.1");
  receive(registerLf("carol", kContact, 2, "Authorization: " + carol + "\n"), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 200 OK"});
  // CSeq (and so Via branch) 3 and 4: the harness's branch is made from the CSeq.
  receive(registerLf("bob", kContact, 3), bob_);
  challenge = parsedSent(take().at(0));
  const std::string bob = credentials(challenge, "WWW-Authenticate", 0, "bob", "bob-pw", "REGISTER", "sip:127.0.0.1");
  receive(registerLf("bob", kContact, 4, "Authorization: " + bob + "\n"), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 401 Unauthorized"}) << "bob is no longer a user";
}

TEST_F(B2buaRegisterTest, ARingTimeoutBeyondTimerCNeedsARestart) {
  b2b();
  config::SipConfig next = cfg_;
  next.ringTimeoutSeconds = 3000;  // timer C was set for 120 s at start
  EXPECT_FALSE(b2b().canApplyLive("sip.ring_timeout", next));
  next.ringTimeoutSeconds = 60;
  EXPECT_TRUE(b2b().canApplyLive("sip.ring_timeout", next));
}

TEST_F(B2buaRegisterTest, Md5CredentialsAreAcceptedToo) {
  cfg_.authRegister = 1;
  auto challenge = challengeRegister("bob");
  const std::string auth =
      credentials(challenge, "WWW-Authenticate", 1, "bob", "bob-pw", "REGISTER", "sip:127.0.0.1");
  receive(registerLf("bob", kContact, 2, "Authorization: " + auth + "\n"), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 200 OK"});
  EXPECT_EQ(b2b().registrar().bindingCount(), 1U);
}

TEST_F(B2buaRegisterTest, WrongPasswordIsChallengedAgain) {
  cfg_.authRegister = 1;
  auto challenge = challengeRegister("bob");
  const std::string auth =
      credentials(challenge, "WWW-Authenticate", 0, "bob", "guess", "REGISTER", "sip:127.0.0.1");
  receive(registerLf("bob", kContact, 2, "Authorization: " + auth + "\n"), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 401 Unauthorized"});
  EXPECT_EQ(b2b().registrar().bindingCount(), 0U);
  EXPECT_EQ(b2b().counters().authChallenges.get(), 2U);
  EXPECT_EQ(b2b().counters().registrations.get(), 0U);
}

TEST_F(B2buaRegisterTest, AnotherUsersValidCredentialsAreForbidden) {
  cfg_.authRegister = 1;
  auto challenge = challengeRegister("bob");
  const std::string auth =
      credentials(challenge, "WWW-Authenticate", 0, "alice", "alice-pw", "REGISTER", "sip:127.0.0.1");
  receive(registerLf("bob", kContact, 2, "Authorization: " + auth + "\n"), bob_);
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 403 Credentials do not match the registered user"});
  EXPECT_EQ(b2b().registrar().bindingCount(), 0U);
}

TEST_F(B2buaRegisterTest, AuthAlgorithmsConfigChoosesTheChallengesOffered) {
  cfg_.authRegister = 1;
  cfg_.authAlgorithms = "MD5";
  auto challenge = challengeRegister("bob");
  EXPECT_EQ(algorithms(challenge, "WWW-Authenticate"), Lines{"MD5"});
}

TEST_F(B2buaRegisterTest, InviteIsChallengedForProxyCredentialsOfTheCaller) {
  cfg_.authInvite = 1;
  registerBob();
  receive(inviteLf("call-1", "bob", sdpLf("198.18.0.2", 40000)), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent),
            (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 407 Proxy Authentication Required"}));
  auto challenge = parsedSent(sent[1]);
  EXPECT_EQ(algorithms(challenge, "Proxy-Authenticate"), (Lines{"SHA-256", "MD5"}));
  EXPECT_EQ(b2b().counters().authChallenges.get(), 1U);

  const std::string asBob =
      credentials(challenge, "Proxy-Authenticate", 0, "bob", "bob-pw", "INVITE", "sip:bob@127.0.0.1");
  receive(inviteLf("call-2", "bob", sdpLf("198.18.0.2", 40000), "Proxy-Authorization: " + asBob + "\n"),
          alice_);
  EXPECT_EQ(takeStartLines(),
            (Lines{"alice: SIP/2.0 100 Trying", "alice: SIP/2.0 403 Credentials do not match the caller"}));

  const std::string asAlice =
      credentials(challenge, "Proxy-Authenticate", 0, "alice", "alice-pw", "INVITE", "sip:bob@127.0.0.1",
                  "00000002");  // the nonce's next use: 00000001 was bob's
  receive(inviteLf("call-3", "bob", sdpLf("198.18.0.2", 40000), "Proxy-Authorization: " + asAlice + "\n"),
          alice_);
  EXPECT_EQ(takeStartLines(),
            (Lines{"alice: SIP/2.0 100 Trying", "bob: INVITE sip:bob@10.0.0.3:5080 SIP/2.0"}));
  EXPECT_EQ(b2b().activeCalls(), 1U);
}

TEST_F(B2buaRegisterTest, UdpBindingsGetCrlfKeepalivesEveryKeepaliveSeconds) {
  cfg_.keepaliveSeconds = 25;
  registerBob();
  runTimersUntil(clock_, b2b(), kT0 + 50'000);
  std::vector<uint64_t> instants;
  for (const auto& m : take()) {
    EXPECT_EQ(m.text, "\r\n\r\n");
    EXPECT_EQ(m.to.addr, bob_.addr);
    instants.push_back(m.atMs - kT0);
  }
  EXPECT_EQ(instants, (std::vector<uint64_t>{0, 25'000, 50'000}));
}

TEST_F(B2buaRegisterTest, TcpBindingIsReachedOverItsConnectionAndStaysWhenItCloses) {
  const sip::SipPeer bobTcp{addr("127.0.0.3", 5081), sip::SipTransportKind::Tcp, 7};
  receive(registerLf("bob", "sip:bob@10.0.0.3:5081;transport=tcp", 1), bobTcp);
  EXPECT_EQ(takeStartLines(), Lines{"127.0.0.3:5081: SIP/2.0 200 OK"});

  receive(inviteLf("call-1", "bob", sdpLf("198.18.0.2", 40000)), alice_);
  auto sent = take();
  ASSERT_EQ(sent.size(), 2U);
  EXPECT_EQ(sent[1].to.addr, bobTcp.addr);
  EXPECT_EQ(sent[1].to.kind, sip::SipTransportKind::Tcp);
  EXPECT_EQ(sent[1].to.connId, 7U);
  EXPECT_EQ(sent[1].to.reconnectTo, bobTcp.addr) << "behind a NAT: the source, not the Contact";
  auto inv = parsedSent(sent[1]);
  EXPECT_EQ(inv.header("Via").substr(0, 27), "SIP/2.0/TCP 127.0.0.1:5060;");
  EXPECT_EQ(inv.header("Contact"), "<sip:rendezvous@127.0.0.1:5060;transport=tcp>");

  b2b().onConnectionClosed(7);
  EXPECT_EQ(b2b().registrar().bindingCount(), 1U) << "requests to it open a new connection";
  receive(inviteLf("call-2", "bob", sdpLf("198.18.0.2", 40000)), alice_);
  EXPECT_EQ(takeStartLines(), (Lines{"alice: SIP/2.0 100 Trying",
                                     "127.0.0.3:5081: INVITE sip:bob@10.0.0.3:5081;transport=tcp SIP/2.0"}));
}

}  // namespace
}  // namespace rdv::b2bua::test
