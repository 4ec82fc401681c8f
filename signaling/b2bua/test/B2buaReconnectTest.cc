// Parties on TCP/TLS whose connection has closed (RFC 3261 §18.1.1): their bindings stay, and
// requests to them name where the transport is to open a new connection (Contact or source); a
// request whose connection cannot be had fails to the caller as 480 (initial INVITE) or 408.

#include <gtest/gtest.h>

#include "signaling/b2bua/Reconnect.h"
#include "signaling/b2bua/test/B2buaCallTest.h"

namespace rdv::b2bua::test {
namespace {

using Lines = std::vector<std::string>;

TEST(ReconnectTest, ContactWhenItNamesTheSourceIpElseTheSource) {
  const auto tcp = sip::SipTransportKind::Tcp;
  const auto tls = sip::SipTransportKind::Tls;
  const common::SockAddr source = addr("192.0.2.7", 40312);
  EXPECT_EQ(reconnectAddress("sip:bob@192.0.2.7:5090;transport=tcp", source, tcp), addr("192.0.2.7", 5090));
  EXPECT_EQ(reconnectAddress("sip:bob@192.0.2.7;transport=tcp", source, tcp), addr("192.0.2.7", 5060));
  EXPECT_EQ(reconnectAddress("sip:bob@192.0.2.7;transport=tls", source, tls), addr("192.0.2.7", 5061));
  EXPECT_EQ(reconnectAddress("sip:bob@10.0.0.3:5090;transport=tcp", source, tcp), source) << "behind a NAT";
  EXPECT_EQ(reconnectAddress("sip:bob@phone.example.com:5090", source, tcp), source) << "no DNS here";
  EXPECT_EQ(reconnectAddress("not a uri", source, tcp), source);
  EXPECT_EQ(reconnectAddress("sip:bob@[2001:db8::7]:5090", addr("2001:db8::7", 50000), tcp),
            addr("2001:db8::7", 5090));
  const sip::SipPeer udp{source};
  EXPECT_FALSE(withReconnect(udp, "sip:bob@192.0.2.7:5090").reconnectTo.valid()) << "UDP needs none";
}

TEST(ReconnectTest, WebSocketPeersAreReachedOverTheirConnectionOnly) {
  // RFC 7118: a browser's Contact host is .invalid; even a Contact naming its source is no listener.
  for (auto kind : {sip::SipTransportKind::Ws, sip::SipTransportKind::Wss}) {
    const sip::SipPeer ws{addr("192.0.2.7", 40312), kind, 9};
    EXPECT_FALSE(withReconnect(ws, "sip:bob@df7jal23ls0d.invalid;transport=ws").reconnectTo.valid());
    EXPECT_FALSE(withReconnect(ws, "sip:bob@192.0.2.7:40312;transport=ws").reconnectTo.valid());
  }
}

class B2buaReconnectTest : public B2buaCallTest {
 protected:
  // Bob registers over TCP connection 7 from an ephemeral port, listening where his Contact says.
  void registerBobOverTcp() {
    receive(registerLf("bob", "sip:bob@127.0.0.3:5090;transport=tcp", 1), bobTcp_);
    ASSERT_EQ(takeStartLines(), Lines{"127.0.0.3:40000: SIP/2.0 200 OK"});
  }
  const sip::SipPeer bobTcp_{addr("127.0.0.3", 40000), sip::SipTransportKind::Tcp, 7};
};

TEST_F(B2buaReconnectTest, CalleeWhoseConnectionClosedIsCalledOverANewConnectionToItsContact) {
  registerBobOverTcp();
  b2b().onConnectionClosed(7);
  EXPECT_EQ(b2b().registrar().bindingCount(), 1U) << "the binding outlives its connection";

  receive(inviteLf("call-1", "bob", sdpLf("198.18.0.2", 40000)), alice_);
  auto sent = take();
  ASSERT_EQ(startLines(sent),
            (Lines{"alice: SIP/2.0 100 Trying",
                   "127.0.0.3:40000: INVITE sip:bob@127.0.0.3:5090;transport=tcp SIP/2.0"}));
  EXPECT_EQ(sent[1].to.kind, sip::SipTransportKind::Tcp);
  EXPECT_EQ(sent[1].to.connId, 7U) << "the transport finds it closed";
  EXPECT_EQ(sent[1].to.reconnectTo, addr("127.0.0.3", 5090)) << "where bob listens";
  EXPECT_EQ(parsedSent(sent[1]).header("Via").substr(0, 12), "SIP/2.0/TCP ");
  EXPECT_EQ(b2b().activeCalls(), 1U);
}

TEST_F(B2buaReconnectTest, CalleeThatCannotBeReachedIs480ToTheCaller) {
  registerBobOverTcp();
  receive(inviteLf("call-1", "bob", sdpLf("198.18.0.2", 40000)), alice_);
  take();
  // The connection the INVITE waited on (7, or the one opened after it) failed.
  b2b().onConnectionClosed(7);
  EXPECT_TRUE(take().empty()) << "reported on the next timer pass";
  b2b().onTimer();
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 480 Temporarily Unavailable"});
  EXPECT_EQ(b2b().activeCalls(), 0U);
  EXPECT_EQ(b2b().counters().callsFailed.get(), 1U);
  EXPECT_EQ(anchor_.calls(), 0U);
  EXPECT_EQ(relay_.activeSessions(), 0U);
}

TEST_F(B2buaReconnectTest, InviteThatCannotEvenBeQueuedIs480ToTheCaller) {
  registerBobOverTcp();
  sender_.failSends = true;  // e.g. no address to connect to
  receive(inviteLf("call-1", "bob", sdpLf("198.18.0.2", 40000)), alice_);
  sender_.failSends = false;
  take();
  b2b().onTimer();
  EXPECT_EQ(takeStartLines(), Lines{"alice: SIP/2.0 480 Temporarily Unavailable"});
  EXPECT_EQ(b2b().activeCalls(), 0U);
}

TEST_F(B2buaReconnectTest, InDialogRequestsToATcpCallerWhoseConnectionClosedGoToItsContact) {
  const sip::SipPeer aliceTcp{addr("127.0.0.2", 40001), sip::SipTransportKind::Tcp, 9};
  Dialogs d = establishFrom(aliceTcp, "sip:alice@127.0.0.2:5070;transport=tcp");
  b2b().onConnectionClosed(9);

  receive(inDialogLf(d, 1, "INVITE", 1, {}, "application/sdp", sdpLf("198.18.0.3", 50002)), bob_);
  auto sent = take();
  ASSERT_EQ(startLines(sent),
            (Lines{"bob: SIP/2.0 100 Trying",
                   "127.0.0.2:40001: INVITE sip:alice@127.0.0.2:5070;transport=tcp SIP/2.0"}));
  EXPECT_EQ(sent[1].to.connId, 9U);
  EXPECT_EQ(sent[1].to.reconnectTo, addr("127.0.0.2", 5070));
  // No connection could be opened: the re-INVITE fails like an unanswered one.
  b2b().onConnectionClosed(9);
  b2b().onTimer();
  EXPECT_EQ(takeStartLines(), Lines{"bob: SIP/2.0 408 Request Timeout"});
  EXPECT_EQ(b2b().activeCalls(), 1U);

  receive(inDialogLf(d, 1, "BYE", 2), bob_);
  sent = take();
  ASSERT_EQ(startLines(sent), (Lines{"bob: SIP/2.0 200 OK",
                                     "127.0.0.2:40001: BYE sip:alice@127.0.0.2:5070;transport=tcp SIP/2.0"}));
  EXPECT_EQ(sent[1].to.reconnectTo, addr("127.0.0.2", 5070));
  EXPECT_EQ(b2b().activeCalls(), 0U);
}

}  // namespace
}  // namespace rdv::b2bua::test
