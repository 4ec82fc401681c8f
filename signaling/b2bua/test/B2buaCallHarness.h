#pragma once
// B2buaHarness plus an answered, acknowledged call alice -> bob ("call-1") and requests written
// within either of its dialogs, with any body and extra headers.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/b2bua/test/B2buaHarness.h"

namespace rdv::b2bua::test {

// Both dialogs of an established call.
struct CallDialogs {
  std::optional<sip::SipMessage> bInvite;  // the INVITE bob got: leg B's Call-ID and our tag
  std::string aTag;                        // our To tag towards alice
};

// LF-written headers (no blank line yet) ended with Content-Type/-Length and the LF-written body;
// the length counts the CRLF that parseSip makes of each LF.
inline std::string withTypedBody(std::string headersLf, std::string_view contentType,
                                 std::string_view bodyLf) {
  if (bodyLf.empty()) return headersLf + "Content-Length: 0\n\n";
  const size_t crlfLength =
      bodyLf.size() + static_cast<size_t>(std::count(bodyLf.begin(), bodyLf.end(), '\n'));
  return fmt::format("{}Content-Type: {}\nContent-Length: {}\n\n{}", headersLf, contentType, crlfLength,
                     bodyLf);
}

// The body as sent on the wire (CRLF) for an LF-written one.
inline std::string crlf(std::string_view lf) {
  std::string out;
  for (char c : lf) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

class B2buaCallHarness : public B2buaHarness {
 protected:
  static constexpr std::string_view kBobContact = "sip:bob@10.0.0.3:5080";
  static constexpr std::string_view kAliceContact = "sip:alice@127.0.0.2:5070";

  // Registers bob, then alice calls him from `from` (alice_ unless a test says otherwise), he
  // answers with SDP and alice ACKs. Fails the test when any step differs.
  CallDialogs establish(const sip::SipPeer& from, std::string_view aliceContact = kAliceContact) {
    registerBob();
    CallDialogs d;
    std::string invite = inviteLf("call-1", "bob", sdpLf("198.18.0.2", 40000));
    invite.replace(invite.find(kAliceContact), kAliceContact.size(), aliceContact);
    receive(invite, from);
    auto sent = take();
    EXPECT_EQ(startLines(sent).size(), 2U);
    d.bInvite = parsedSent(sent.at(1));
    receive(responseLf(*d.bInvite, 200, "OK", "b1", kBobContact, sdpLf("198.18.0.3", 50000)), bob_);
    sent = take();
    EXPECT_EQ(startLines(sent).size(), 2U);  // ACK to bob, 200 to alice
    d.aTag = std::string(parsedSent(sent.at(1)).toTag());
    receive(inDialogLf(d, 0, "ACK", 1), from);
    EXPECT_TRUE(take().empty());
    return d;
  }
  CallDialogs establish() { return establish(alice_); }

  // A request from alice (side 0) or bob (side 1) within their dialog with us. `extraLf`: whole
  // LF-terminated header lines.
  static std::string inDialogLf(const CallDialogs& d, int side, std::string_view method, uint32_t cseq,
                                std::string_view extraLf = {}, std::string_view contentType = {},
                                std::string_view bodyLf = {}) {
    std::string head;
    if (side == 0) {
      head = fmt::format(
          "{0} sip:rendezvous@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP "
          "127.0.0.2:5070;branch=z9hG4bK-a{0}{1}\n"
          "Max-Forwards: 70\nFrom: \"Alice\" <sip:alice@example.com>;tag=a1\nTo: "
          "<sip:bob@127.0.0.1>;tag={2}\n"
          "Call-ID: call-1\nCSeq: {1} {0}\nContact: <{3}>\n{4}",
          method, cseq, d.aTag, kAliceContact, extraLf);
    } else {
      const sip::SipMessage& inv = *d.bInvite;
      head = fmt::format(
          "{0} sip:rendezvous@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bK-b{0}{1}\n"
          "Max-Forwards: 70\nFrom: {2};tag=b1\nTo: {3}\nCall-ID: {4}\nCSeq: {1} {0}\nContact: <{5}>\n{6}",
          method, cseq, inv.header("To"), inv.header("From"), inv.callId(), kBobContact, extraLf);
    }
    return withTypedBody(std::move(head), contentType, bodyLf);
  }

  // A response to `req` (sent by the B2BUA) with a typed body; To keeps its tag.
  static std::string typedResponseLf(const sip::SipMessage& req, int status, std::string_view reason,
                                     std::string_view contentType = {}, std::string_view bodyLf = {}) {
    return withTypedBody(fmt::format("SIP/2.0 {} {}\nVia: {}\nFrom: {}\nTo: {}\nCall-ID: {}\nCSeq: {} {}\n",
                                     status, reason, req.header("Via"), req.header("From"), req.header("To"),
                                     req.callId(), req.cseq(), req.methodText()),
                         contentType, bodyLf);
  }

  // The single message sent since the last take(), checked against `startLine`.
  sip::SipMessage takeOnly(std::string_view startLine) {
    auto sent = take();
    EXPECT_EQ(startLines(sent), std::vector<std::string>{std::string(startLine)});
    if (sent.empty()) throw std::runtime_error("nothing was sent");
    return parsedSent(sent.at(0));
  }
};

}  // namespace rdv::b2bua::test
