#pragma once
// Test fixture for the B2BUA: a real MediaAnchor over a RelayControl bound on 127.0.0.1 (ports
// from FreePorts), a recording FakeSipSender and a ManualClock. SIP messages are written as LF
// text and fed through B2bua::onMessage; what the B2BUA sent is read back with take().
//
// Parties: alice (caller) at 127.0.0.2:5070, bob (callee) at 127.0.0.3:5080 registering the
// Contact sip:bob@10.0.0.3:5080 (a private address: requests must go to the source, 127.0.0.3).

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "relay/RelayControl.h"
#include "relay/test/FreePorts.h"
#include "signaling/anchor/MediaAnchor.h"
#include "signaling/b2bua/B2bua.h"
#include "signaling/sdp/Sdp.h"
#include "signaling/sip/test/FakeSipSender.h"

namespace rdv::b2bua::test {

using sip::test::SentMessage;

// Tests count time from kT0 (ms of the monotonic clock).
constexpr uint64_t kT0 = 10'000;

inline common::SockAddr addr(std::string_view ip, uint16_t port) {
  return *common::SockAddr::fromIp(ip, port);
}

// What the B2BUA sent, parsed; throws (failing the test) when it does not parse.
inline sip::SipMessage parsedSent(const SentMessage& m) {
  auto p = sip::SipMessage::parse(m.text);
  if (!p) throw std::runtime_error("B2BUA sent an unparsable message: " + m.text);
  return std::move(*p);
}

// An audio offer/answer from ip:port, written with LF line ends.
inline std::string sdpLf(std::string_view ip, uint16_t port) {
  return "v=0\no=- 7 7 IN IP4 " + std::string(ip) + "\ns=-\nc=IN IP4 " + std::string(ip) +
         "\nt=0 0\nm=audio " + std::to_string(port) + " RTP/AVP 0\na=rtpmap:0 PCMU/8000\n";
}

// Ends LF-written headers (no blank line yet) with Content-Type/-Length and the LF-written body.
// The length counts the CRLF that parseSip turns each LF into.
inline std::string withTypedBody(std::string headersLf, std::string_view contentType, std::string_view bodyLf) {
  if (bodyLf.empty()) return headersLf + "Content-Length: 0\n\n";
  const size_t crlfLength =
      bodyLf.size() + static_cast<size_t>(std::count(bodyLf.begin(), bodyLf.end(), '\n'));
  return fmt::format("{}Content-Type: {}\nContent-Length: {}\n\n{}", headersLf, contentType, crlfLength,
                     bodyLf);
}
// The same with an SDP body.
inline std::string withBody(std::string headersLf, std::string_view sdpLf) {
  return withTypedBody(std::move(headersLf), "application/sdp", sdpLf);
}

// c= address and first m= port of a message's SDP body.
struct MediaTarget {
  std::string ip;
  uint16_t port = 0;
};
inline MediaTarget mediaTarget(const sip::SipMessage& m) {
  auto s = sdp::SdpSession::parse(m.body());
  if (!s || s->media.empty()) return {};
  return MediaTarget{s->mediaConnectionAddress(0).value_or(""), s->media[0].port};
}

class B2buaHarness : public ::testing::Test {
 protected:
  B2buaHarness() {
    cfg_.authRegister = 0;
    cfg_.authInvite = 0;
    cfg_.keepaliveSeconds = 0;
    cfg_.users = {{"alice", "alice-pw"}, {"bob", "bob-pw"}};
  }

  // Built on first use, so a test can change cfg_ before.
  B2bua& b2b() {
    if (!b2b_) b2b_ = std::make_unique<B2bua>(cfg_, sender_, anchor_, clock_);
    return *b2b_;
  }
  void receive(const std::string& lf, const sip::SipPeer& from) {
    b2b().onMessage(sip::test::parseSip(lf), from);
  }
  std::vector<SentMessage> take() { return sender_.take(); }

  // "<party>: <start line>" of each message, in order.
  std::vector<std::string> startLines(const std::vector<SentMessage>& sent) const {
    std::vector<std::string> out;
    for (const auto& m : sent) out.push_back(party(m.to) + ": " + m.text.substr(0, m.text.find("\r\n")));
    return out;
  }
  // The same for what was sent since the last take().
  std::vector<std::string> takeStartLines() { return startLines(take()); }
  std::string party(const sip::SipPeer& p) const {
    if (p.addr == alice_.addr) return "alice";
    if (p.addr == bob_.addr) return "bob";
    return p.addr.str();
  }
  bool isRelayPort(uint16_t p) const { return p >= opts_.portMin && p <= opts_.portMax; }

  static std::string registerLf(std::string_view user, std::string_view contact, uint32_t cseq,
                                std::string_view extraHeaders = {}) {
    return fmt::format(
        "REGISTER sip:127.0.0.1 SIP/2.0\n"
        "Via: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bKreg{1}\n"
        "Max-Forwards: 70\n"
        "From: <sip:{0}@127.0.0.1>;tag=r1\n"
        "To: <sip:{0}@127.0.0.1>\n"
        "Call-ID: reg-{0}\n"
        "CSeq: {1} REGISTER\n"
        "Contact: <{2}>;expires=300\n"
        "{3}Content-Length: 0\n\n",
        user, cseq, contact, extraHeaders);
  }
  // Registers bob from bob_ (authentication off) and checks the 200.
  void registerBob() {
    receive(registerLf("bob", "sip:bob@10.0.0.3:5080", 1), bob_);
    ASSERT_EQ(takeStartLines(), std::vector<std::string>{"bob: SIP/2.0 200 OK"});
  }

  // An initial INVITE from alice to `user`; `sdp` empty for a late offer. `extraHeaders` are
  // whole LF-terminated lines.
  static std::string inviteLf(std::string_view callId, std::string_view user, std::string_view sdp,
                              std::string_view extraHeaders = {}) {
    return withBody(fmt::format("INVITE sip:{1}@127.0.0.1 SIP/2.0\n"
                                "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-{0}\n"
                                "Max-Forwards: 70\n"
                                "From: \"Alice\" <sip:alice@example.com>;tag=a1\n"
                                "To: <sip:{1}@127.0.0.1>\n"
                                "Call-ID: {0}\n"
                                "CSeq: 1 INVITE\n"
                                "Contact: <sip:alice@127.0.0.2:5070>\n{2}",
                                callId, user, extraHeaders),
                    sdp);
  }

  // A response to `req` (a request the B2BUA sent), from its recipient: Via, From, Call-ID and
  // CSeq copied, To tagged `toTag` unless it has a tag already.
  static std::string responseLf(const sip::SipMessage& req, int status, std::string_view reason,
                                std::string_view toTag, std::string_view contact, std::string_view sdp = {}) {
    const std::string tag = req.toTag().empty() ? fmt::format(";tag={}", toTag) : std::string();
    return withBody(fmt::format("SIP/2.0 {} {}\n"
                                "Via: {}\n"
                                "From: {}\n"
                                "To: {}{}\n"
                                "Call-ID: {}\n"
                                "CSeq: {} {}\n"
                                "Contact: <{}>\n",
                                status, reason, req.header("Via"), req.header("From"), req.header("To"), tag,
                                req.callId(), req.cseq(), req.methodText(), contact),
                    sdp);
  }

  config::SipConfig cfg_;
  relay::RelayOptions opts_ = [] {
    relay::RelayOptions o;
    o.portMin = relay::test::freePortWindow(100);
    o.portMax = static_cast<uint16_t>(o.portMin + 99);
    o.workers = 1;
    return o;
  }();
  relay::RelayControl relay_{opts_};
  common::ManualClock clock_{kT0 * 1'000'000};
  anchor::MediaAnchor anchor_{relay_, "127.0.0.1", clock_};
  sip::test::FakeSipSender sender_{clock_};
  const sip::SipPeer alice_{addr("127.0.0.2", 5070)};
  const sip::SipPeer bob_{addr("127.0.0.3", 5080)};
  std::unique_ptr<B2bua> b2b_;  // last: destroyed first, it holds references to the above
};

}  // namespace rdv::b2bua::test
