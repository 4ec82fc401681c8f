// libFuzzer target for the SDP parser/rewriter. Checks, for every accepted input:
//  - round trip: parse(serialize(parse(x))) succeeds and serializes to the same text;
//  - the rewrites a relay performs (addresses, ports, ICE removal, attributes) keep the session
//    parseable while it stays within the parser's limits; TCP m-lines get the TCP relay's
//    rewrite (signaling/anchor/TcpMedia.h: setup, connection, MSRP a=path) instead;
//  - RTP m-lines go through the SDES-SRTP offer/answer (signaling/anchor/SrtpMedia.h) under a
//    policy picked from the line's index: hostile a=crypto lines are skipped or refused, never
//    crash, and what the rewrite leaves still parses;
//  - the WebRTC attributes (signaling/sdp/SdpWebrtc.h) of every m-line are read, and a DTLS leg
//    takes them (signaling/anchor/WebrtcMedia.h): hostile fingerprints, setups and ICE
//    credentials are refused, never crash; the attributes written for the leg keep the session
//    parseable.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "signaling/anchor/SrtpMedia.h"
#include "signaling/anchor/TcpMedia.h"
#include "signaling/anchor/WebrtcMedia.h"
#include "signaling/sdp/Sdp.h"
#include "signaling/sdp/SdpWebrtc.h"

namespace {

using rdv::sdp::SdpSession;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

size_t countLines(const std::string& text) {
  size_t n = 0;
  for (size_t pos = text.find("\r\n"); pos != std::string::npos; pos = text.find("\r\n", pos + 2)) {
    ++n;
  }
  return n;
}

void readEverything(const SdpSession& s) {
  (void)s.connectionAddress();
  (void)s.attribute("group");
  (void)rdv::sdp::bundleGroup(s);
  if (auto fp = s.attribute("fingerprint")) {
    if (auto parsed = rdv::sdp::parseFingerprint(*fp)) {
      check(rdv::sdp::parseFingerprint(parsed->format()).has_value());
    }
  }
  for (size_t i = 0; i <= s.media.size(); ++i) {
    (void)s.mediaConnectionAddress(i);
  }
  for (size_t i = 0; i < s.media.size(); ++i) {
    (void)rdv::sdp::webrtcMedia(s, i);
  }
  for (const auto& m : s.media) {
    (void)m.connectionAddress();
    (void)m.rtcpPort();
    (void)m.rtcpMux();
    (void)m.attribute("crypto");
    for (const auto& format : m.formats) {
      if (!format.empty()) {
        (void)m.clockRate(static_cast<uint8_t>(format[0]));
      }
    }
    (void)m.clockRate(0);
    (void)m.clockRate(96);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = SdpSession::parse(input);
  if (!parsed) {
    return 0;
  }
  readEverything(*parsed);

  const std::string once = parsed->serialize();
  auto reparsed = SdpSession::parse(once);
  check(reparsed.has_value());
  check(reparsed->serialize() == once);

  // What the relay does to an offer before forwarding it.
  SdpSession& s = *parsed;
  s.setOriginAddress("IP4", "203.0.113.1");
  if (s.connectionAddress()) {
    s.setConnection("IP6", "2001:db8::1");
  }
  removeIceAttributes(s);
  uint16_t port = 30000;
  for (auto& m : s.media) {
    port = static_cast<uint16_t>(port + 2);
    if (rdv::anchor::isTcpProto(m.proto)) {
      (void)rdv::anchor::senderCanConnect(m);
      rdv::anchor::pointTcpMediaAtRelay(m, "IP4", "203.0.113.1", port, (port & 2) != 0);
      continue;
    }
    // Every combination of policies over the lines: index i gives receiver i % 4, sender i / 4 % 4.
    const unsigned k = (port - 30002U) / 2U;
    rdv::anchor::SrtpOptions o;
    o.receiver = static_cast<rdv::anchor::SrtpPolicy>(k % 5);
    o.sender = static_cast<rdv::anchor::SrtpPolicy>(k / 5 % 5);
    o.terminateDtls = (k & 32U) != 0;
    o.osrtpAccept = (k & 16U) == 0;
    // The m-line as a DTLS leg's peer offered it (index parity: offer or answer), then our side.
    rdv::anchor::WebrtcLeg webrtc;
    webrtc.dtls = true;
    const size_t index = k < s.media.size() ? k : 0;
    if (rdv::anchor::readWebrtcPeer(s, index, (k & 1U) == 0, rdv::anchor::WebrtcOptions{}, webrtc)) {
      (void)webrtc.legDtls();
    }
    (void)rdv::anchor::enableIce(webrtc, true);
    rdv::anchor::writeWebrtc(m, webrtc, rdv::anchor::WebrtcOptions{},
                             rdv::anchor::WebrtcWrite{"IP4", "203.0.113.1", port, (k & 2U) == 0,
                                                      "sha-256 01:23", (k & 1U) == 0});
    rdv::anchor::SdesLeg sender;
    rdv::anchor::SdesLeg receiver;
    if (rdv::anchor::offerSdes(o, m, sender, receiver)) {
      (void)sender.crypto();
      rdv::sdp::SdpMedia answer = m;  // the receiver answers with what it was offered
      if (rdv::anchor::answerSdes(answer, receiver, sender)) {
        (void)receiver.crypto();
        (void)sender.crypto();
      }
    }
    m.port = port;
    m.setConnection("IP4", "203.0.113.1");
    m.removeAttributes("rtcp");
    m.setAttribute("rtcp-mux", std::nullopt);
  }
  s.setAttribute("tool", "rendezvous");
  readEverything(s);
  const std::string rewritten = s.serialize();
  if (rewritten.size() <= SdpSession::kMaxTextBytes && countLines(rewritten) <= SdpSession::kMaxLines) {
    auto again = SdpSession::parse(rewritten);
    check(again.has_value());
    check(again->serialize() == rewritten);
  }
  return 0;
}
