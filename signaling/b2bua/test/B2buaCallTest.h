#pragma once
// Fixture for B2BUA call tests on top of B2buaHarness: alice calls bob through the B2BUA, and the
// requests and responses each of them sends inside its dialog with us (any body and extra
// headers), written as LF text.

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/b2bua/test/B2buaHarness.h"

namespace rdv::b2bua::test {

using Lines = std::vector<std::string>;

inline constexpr std::string_view kBobContact = "sip:bob@10.0.0.3:5080";
inline constexpr std::string_view kAliceContact = "sip:alice@127.0.0.2:5070";
inline constexpr std::string_view kInviteToBob = "bob: INVITE sip:bob@10.0.0.3:5080 SIP/2.0";
inline constexpr std::string_view kAckToBob = "bob: ACK sip:bob@10.0.0.3:5080 SIP/2.0";

// Both dialogs of an answered, acknowledged call alice -> bob ("call-1").
struct Dialogs {
  std::optional<sip::SipMessage> bInvite;  // the INVITE bob got: leg B's Call-ID and our tag
  std::string aTag;                        // our To tag towards alice
  uint16_t portToBob = 0;                  // relay port in the SDP bob got
  uint16_t portToAlice = 0;                // relay port in the SDP alice got
};

class B2buaCallTest : public B2buaHarness {
 protected:
  // Alice INVITEs bob (registered); returns the INVITE the B2BUA sent bob.
  sip::SipMessage inviteBob(std::string_view callId = "call-1", std::string_view sdp = aliceSdp()) {
    receive(inviteLf(callId, "bob", sdp), alice_);
    auto sent = take();
    EXPECT_EQ(startLines(sent), (Lines{"alice: SIP/2.0 100 Trying", std::string(kInviteToBob)}));
    return parsedSent(sent.at(1));
  }
  static std::string aliceSdp() { return sdpLf("198.18.0.2", 40000); }

  Dialogs establish() {
    registerBob();
    Dialogs d;
    d.bInvite = inviteBob();
    d.portToBob = mediaTarget(*d.bInvite).port;
    receive(responseLf(*d.bInvite, 180, "Ringing", "b1", kBobContact), bob_);
    receive(responseLf(*d.bInvite, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
    auto sent = take();
    EXPECT_EQ(startLines(sent),
              (Lines{"alice: SIP/2.0 180 Ringing", std::string(kAckToBob), "alice: SIP/2.0 200 OK"}));
    auto ok = parsedSent(sent.at(2));
    d.aTag = std::string(ok.toTag());
    d.portToAlice = mediaTarget(ok).port;
    receive(fromAliceLf(d, "ACK", 1), alice_);
    EXPECT_TRUE(take().empty());
    return d;
  }

  // establish() with alice calling from `from` (e.g. over TCP) with Contact `aliceContact`; checks
  // only the message counts, since the peers' labels depend on `from`.
  Dialogs establishFrom(const sip::SipPeer& from, std::string_view aliceContact) {
    registerBob();
    Dialogs d;
    std::string invite = inviteLf("call-1", "bob", aliceSdp());
    invite.replace(invite.find(kAliceContact), kAliceContact.size(), aliceContact);
    receive(invite, from);
    auto sent = take();
    EXPECT_EQ(startLines(sent).size(), 2U);
    d.bInvite = parsedSent(sent.at(1));
    d.portToBob = mediaTarget(*d.bInvite).port;
    receive(responseLf(*d.bInvite, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
    sent = take();
    EXPECT_EQ(startLines(sent).size(), 2U);  // ACK to bob, 200 to alice
    auto ok = parsedSent(sent.at(1));
    d.aTag = std::string(ok.toTag());
    d.portToAlice = mediaTarget(ok).port;
    receive(inDialogLf(d, 0, "ACK", 1), from);
    EXPECT_TRUE(take().empty());
    return d;
  }

  // A request from alice (side 0) or bob (side 1) within their dialog with us. `extraLf`: whole
  // LF-terminated header lines.
  static std::string inDialogLf(const Dialogs& d, int side, std::string_view method, uint32_t cseq,
                                std::string_view extraLf = {}, std::string_view contentType = {},
                                std::string_view bodyLf = {}) {
    return withTypedBody(dialogHeadLf(d, side, method, cseq) + std::string(extraLf), contentType, bodyLf);
  }
  // A response to `req` (sent by the B2BUA) with a typed body; To keeps its tag.
  static std::string typedResponseLf(const sip::SipMessage& req, int status, std::string_view reason,
                                     std::string_view contentType = {}, std::string_view bodyLf = {}) {
    return withTypedBody(fmt::format("SIP/2.0 {} {}\nVia: {}\nFrom: {}\nTo: {}\nCall-ID: {}\nCSeq: {} {}\n",
                                     status, reason, req.header("Via"), req.header("From"), req.header("To"),
                                     req.callId(), req.cseq(), req.methodText()),
                         contentType, bodyLf);
  }

  // The header lines (no blank line) of a request from alice (side 0) in her dialog with us, or
  // from bob (side 1) in his (leg B: his From is the To of the INVITE he got).
  static std::string dialogHeadLf(const Dialogs& d, int side, std::string_view method, uint32_t cseq) {
    if (side == 0) {
      return fmt::format("{0} sip:rendezvous@127.0.0.1:5060 SIP/2.0\n"
                         "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-a{0}{1}\n"
                         "Max-Forwards: 70\n"
                         "From: \"Alice\" <sip:alice@example.com>;tag=a1\n"
                         "To: <sip:bob@127.0.0.1>;tag={2}\n"
                         "Call-ID: call-1\n"
                         "CSeq: {1} {0}\n"
                         "Contact: <{3}>\n",
                         method, cseq, d.aTag, kAliceContact);
    }
    const sip::SipMessage& inv = *d.bInvite;
    return fmt::format("{0} sip:rendezvous@127.0.0.1:5060 SIP/2.0\n"
                       "Via: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bK-b{0}{1}\n"
                       "Max-Forwards: 70\n"
                       "From: {2};tag=b1\n"
                       "To: {3}\n"
                       "Call-ID: {4}\n"
                       "CSeq: {1} {0}\n"
                       "Contact: <{5}>\n",
                       method, cseq, inv.header("To"), inv.header("From"), inv.callId(), kBobContact);
  }
  static std::string fromAliceLf(const Dialogs& d, std::string_view method, uint32_t cseq,
                                 std::string_view sdp = {}) {
    return withBody(dialogHeadLf(d, 0, method, cseq), sdp);
  }
  static std::string fromBobLf(const Dialogs& d, std::string_view method, uint32_t cseq,
                               std::string_view sdp = {}) {
    return withBody(dialogHeadLf(d, 1, method, cseq), sdp);
  }
  static std::string cancelLf(std::string_view callId) {
    return fmt::format(
        "CANCEL sip:bob@127.0.0.1 SIP/2.0\n"
        "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-{0}\n"
        "Max-Forwards: 70\n"
        "From: \"Alice\" <sip:alice@example.com>;tag=a1\n"
        "To: <sip:bob@127.0.0.1>\n"
        "Call-ID: {0}\n"
        "CSeq: 1 CANCEL\n"
        "Content-Length: 0\n\n",
        callId);
  }
  // An out-of-dialog request from alice to `ruri` (no To tag); `n` tells transactions apart.
  static std::string outsideLf(std::string_view method, std::string_view ruri,
                               std::string_view contentType = {}, std::string_view bodyLf = {}, int n = 1) {
    return withTypedBody(
        fmt::format("{0} {1} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-o{0}{2}\n"
                    "Max-Forwards: 70\nFrom: \"Boss, Big\" <sip:alice@example.com>;tag=o1\n"
                    "To: <{1}>\nCall-ID: out-{0}-{2}\nCSeq: 1 {0}\n",
                    method, ruri, n),
        contentType, bodyLf);
  }
  // The single message sent since the last take(), checked against `startLine`.
  sip::SipMessage takeOnly(std::string_view startLine) {
    auto sent = take();
    EXPECT_EQ(startLines(sent), Lines{std::string(startLine)});
    if (sent.empty()) throw std::runtime_error("nothing was sent");
    return parsedSent(sent.at(0));
  }
};

}  // namespace rdv::b2bua::test
