// The text the B2BUA writes as itself: Via and Contact per transport, the advertised host, and
// in-dialog requests and ACKs built from Leg state, compared byte for byte.

#include "signaling/b2bua/SipText.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rdv::b2bua {
namespace {

class FixedAddresses final : public sip::SipSender {
 public:
  FixedAddresses(std::string_view ip, uint16_t port, uint16_t tlsPort)
      : local_(*common::SockAddr::fromIp(ip, port)), tls_(*common::SockAddr::fromIp(ip, tlsPort)) {}
  sip::SendResult send(const sip::SipPeer&, std::string_view) override { return {true, 0}; }
  void closeIdle(uint64_t) override {}
  const common::SockAddr& local() const override { return local_; }
  const common::SockAddr& tlsLocal() const override { return tls_; }
  common::SockAddr wsLocal(bool secure) const override {
    return *common::SockAddr::fromIp(local_.ip(), secure ? 8089 : 8088);
  }

 private:
  common::SockAddr local_;
  common::SockAddr tls_;
};

sip::SipPeer over(sip::SipTransportKind kind) {
  return sip::SipPeer{common::SockAddr(), kind, 0};
}

Leg calleeLeg() {
  Leg leg;
  leg.callId = "b-1@rendezvous";
  leg.localTag = "L1";
  leg.remoteTag = "R1";
  leg.localId = "\"Alice\" <sip:alice@192.0.2.1>";
  leg.remoteId = "<sip:bob@192.0.2.1>";
  leg.remoteTarget = "sip:bob@10.0.0.3:5080";
  leg.peer = over(sip::SipTransportKind::Udp);
  return leg;
}

TEST(SipTextTest, ViaAndContactNameTheTransportAndItsListenPort) {
  config::SipConfig cfg;
  const FixedAddresses addrs("192.0.2.1", 5060, 5061);
  const LocalContact local(cfg, addrs);
  EXPECT_EQ(local.via(over(sip::SipTransportKind::Udp), "z9hG4bKx"),
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx;rport");
  EXPECT_EQ(local.via(over(sip::SipTransportKind::Tcp), "z9hG4bKx"),
            "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKx;rport");
  EXPECT_EQ(local.via(over(sip::SipTransportKind::Tls), "z9hG4bKx"),
            "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKx;rport");
  EXPECT_EQ(local.contact(over(sip::SipTransportKind::Udp)), "Contact: <sip:rendezvous@192.0.2.1:5060>");
  EXPECT_EQ(local.contact(over(sip::SipTransportKind::Tcp)),
            "Contact: <sip:rendezvous@192.0.2.1:5060;transport=tcp>");
  EXPECT_EQ(local.contact(over(sip::SipTransportKind::Tls)),
            "Contact: <sip:rendezvous@192.0.2.1:5061;transport=tls>");
}

TEST(SipTextTest, WebSocketPeersGetWsAndWssAtTheirListenPorts) {
  config::SipConfig cfg;
  const FixedAddresses addrs("192.0.2.1", 5060, 5061);
  const LocalContact local(cfg, addrs);
  EXPECT_EQ(local.via(over(sip::SipTransportKind::Ws), "z9hG4bKx"),
            "Via: SIP/2.0/WS 192.0.2.1:8088;branch=z9hG4bKx;rport");
  EXPECT_EQ(local.via(over(sip::SipTransportKind::Wss), "z9hG4bKx"),
            "Via: SIP/2.0/WSS 192.0.2.1:8089;branch=z9hG4bKx;rport");
  EXPECT_EQ(local.contact(over(sip::SipTransportKind::Ws)), "Contact: <sip:rendezvous@192.0.2.1:8088;transport=ws>");
  EXPECT_EQ(local.contact(over(sip::SipTransportKind::Wss)),
            "Contact: <sip:rendezvous@192.0.2.1:8089;transport=wss>");
}

TEST(SipTextTest, AdvertiseReplacesTheListenHostAndIpv6IsBracketed) {
  config::SipConfig cfg;
  cfg.advertise = "sip.example.com";
  const FixedAddresses v4("192.0.2.1", 5060, 5061);
  EXPECT_EQ(LocalContact(cfg, v4).host(), "sip.example.com");
  cfg.advertise.clear();
  const FixedAddresses v6("2001:db8::1", 5060, 5061);
  const LocalContact local(cfg, v6);
  EXPECT_EQ(local.host(), "[2001:db8::1]");
  EXPECT_EQ(local.contact(over(sip::SipTransportKind::Udp)), "Contact: <sip:rendezvous@[2001:db8::1]:5060>");
}

TEST(SipTextTest, RequestTextCarriesTheDialogStateAndBody) {
  config::SipConfig cfg;
  const FixedAddresses addrs("192.0.2.1", 5060, 5061);
  const LocalContact local(cfg, addrs);
  EXPECT_EQ(requestText(local, calleeLeg(), "INVITE", 3, "z9hG4bKb", 69, "v=0\r\n", "application/sdp"),
            "INVITE sip:bob@10.0.0.3:5080 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKb;rport\r\n"
            "Max-Forwards: 69\r\n"
            "From: \"Alice\" <sip:alice@192.0.2.1>;tag=L1\r\n"
            "To: <sip:bob@192.0.2.1>;tag=R1\r\n"
            "Call-ID: b-1@rendezvous\r\n"
            "CSeq: 3 INVITE\r\n"
            "Contact: <sip:rendezvous@192.0.2.1:5060>\r\n"
            "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, MESSAGE, NOTIFY, REFER, "
            "SUBSCRIBE, PUBLISH\r\n"
            "Content-Type: application/sdp\r\n"
            "Content-Length: 5\r\n\r\n"
            "v=0\r\n");
}

TEST(SipTextTest, RequestTextWritesExtraHeadersBeforeTheBodyHeaders) {
  config::SipConfig cfg;
  const FixedAddresses addrs("192.0.2.1", 5060, 5061);
  const std::vector<std::string> extra{"Event: refer", "Subscription-State: active;expires=60"};
  const std::string text = requestText(LocalContact(cfg, addrs), calleeLeg(), "NOTIFY", 4, "z9hG4bKn", 70,
                                       "SIP/2.0 100 Trying\r\n", "message/sipfrag", extra);
  EXPECT_TRUE(
      text.ends_with("Contact: <sip:rendezvous@192.0.2.1:5060>\r\n"
                     "Event: refer\r\n"
                     "Subscription-State: active;expires=60\r\n"
                     "Content-Type: message/sipfrag\r\n"
                     "Content-Length: 20\r\n\r\n"
                     "SIP/2.0 100 Trying\r\n"))
      << text;
  EXPECT_EQ(text.find("Allow:"), std::string::npos) << "only INVITEs carry Allow";
}

TEST(SipTextTest, RequestWithoutRemoteTagHasAnUntaggedToAndNoContentType) {
  config::SipConfig cfg;
  const FixedAddresses addrs("192.0.2.1", 5060, 5061);
  Leg leg = calleeLeg();
  leg.remoteTag.clear();
  const std::string text = requestText(LocalContact(cfg, addrs), leg, "BYE", 2, "z9hG4bKc", 70, "", "");
  EXPECT_NE(text.find("\r\nTo: <sip:bob@192.0.2.1>\r\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("Content-Type"), std::string::npos) << text;
  EXPECT_TRUE(text.ends_with("\r\nContent-Length: 0\r\n\r\n")) << text;
}

TEST(SipTextTest, AckTextCarriesTheInviteCseqAndAnOptionalAnswer) {
  config::SipConfig cfg;
  const FixedAddresses addrs("192.0.2.1", 5060, 5061);
  const LocalContact local(cfg, addrs);
  EXPECT_EQ(ackText(local, calleeLeg(), 4, "z9hG4bKa", ""),
            "ACK sip:bob@10.0.0.3:5080 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: \"Alice\" <sip:alice@192.0.2.1>;tag=L1\r\n"
            "To: <sip:bob@192.0.2.1>;tag=R1\r\n"
            "Call-ID: b-1@rendezvous\r\n"
            "CSeq: 4 ACK\r\n"
            "Contact: <sip:rendezvous@192.0.2.1:5060>\r\n"
            "Content-Length: 0\r\n\r\n");
  const std::string withSdp = ackText(local, calleeLeg(), 4, "z9hG4bKa", "v=0\r\n");
  EXPECT_EQ(withSdp.substr(withSdp.find("Content-Type")),
            "Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n");
}

TEST(SipTextTest, TagsAreDistinctAndShareOneSalt) {
  TagMinter tags;
  const std::string a = tags.next();
  const std::string b = tags.next();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.substr(0, a.size() - 1), b.substr(0, b.size() - 1)) << "salt then a hex counter: 1, 2";
  EXPECT_EQ(a.back(), '1');
  EXPECT_EQ(b.back(), '2');
}

TEST(SipTextTest, IdentityKeepsDisplayNamesThatNeedQuotesQuoted) {
  EXPECT_EQ(identity("\"Boss, Big\" <sip:boss@x>;tag=9"), "\"Boss, Big\" <sip:boss@x>");
  EXPECT_EQ(identity(R"("Say \"hi\" \\o/" <sip:a@x>)"), R"("Say \"hi\" \\o/" <sip:a@x>)");
  EXPECT_EQ(identity("\"Alice <sip:admin@x>\" <sip:mallory@x>"), "\"Alice <sip:admin@x>\" <sip:mallory@x>")
      << "a name that looks like a URI stays inside its quotes";
  EXPECT_EQ(identity("\"J\xc3\xb6rg\" <sip:j@x>"), "\"J\xc3\xb6rg\" <sip:j@x>") << "UTF-8 is no token";
  EXPECT_EQ(identity("\"Alice\" <sip:alice@x>"), "Alice <sip:alice@x>") << "a plain token needs no quotes";
  EXPECT_EQ(identity("Big   Boss <sip:boss@x>"), "Big Boss <sip:boss@x>");
  EXPECT_EQ(identity("sip:bob@x;tag=1"), "<sip:bob@x>");
}

TEST(SipTextTest, PresentedCallerIsTheCallersNameAndUserAtOurHost) {
  EXPECT_EQ(presentedCaller("\"Boss, Big\" <sip:boss@198.51.100.9:5070>;tag=1", "192.0.2.1"),
            "\"Boss, Big\" <sip:boss@192.0.2.1>");
  EXPECT_EQ(presentedCaller("<sip:%61lice@198.51.100.9>;tag=1", "[2001:db8::1]"),
            "<sip:%61lice@[2001:db8::1]>");
  EXPECT_EQ(presentedCaller("Anonymous <sip:198.51.100.9>;tag=1", "192.0.2.1"),
            "Anonymous <sip:198.51.100.9>")
      << "no user: the From as it is";
}

TEST(SipTextTest, HeaderValueHelpers) {
  EXPECT_EQ(identity("Bob <sip:bob@x>;tag=9"), "Bob <sip:bob@x>");
  EXPECT_EQ(identity("<sip:bob@x>;tag=9"), "<sip:bob@x>");
  EXPECT_EQ(uriOf("<sip:bob@10.0.0.3:5080>;expires=60"), "sip:bob@10.0.0.3:5080");
  EXPECT_EQ(toUint("70", 1), 70U);
  EXPECT_EQ(toUint("7x", 1), 1U);
  EXPECT_EQ(toUint("", 1), 1U);
}

}  // namespace
}  // namespace rdv::b2bua
