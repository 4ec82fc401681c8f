#pragma once
// WebRTC offers as browsers send them, shared by the sdp, anchor and b2bua tests (LF line ends:
// pass them through common::test::crlf).

#include <string_view>

namespace rdv::sdp::test {

// Chrome 120's audio+video offer (trimmed codec list), as a browser sends it over SIP/WebSocket.
inline constexpr std::string_view kChromeOffer =
    "v=0\n"
    "o=- 7219842193409872234 2 IN IP4 127.0.0.1\n"
    "s=-\n"
    "t=0 0\n"
    "a=group:BUNDLE 0 1\n"
    "a=extmap-allow-mixed\n"
    "a=msid-semantic: WMS 4f5d\n"
    "m=audio 50000 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\n"
    "c=IN IP4 198.18.0.10\n"
    "a=rtcp:9 IN IP4 0.0.0.0\n"
    "a=candidate:1467250027 1 udp 2122260223 198.18.0.10 50000 typ host generation 0 network-id 1\n"
    "a=ice-ufrag:Tw6e\n"
    "a=ice-pwd:b9FkvY6Es1y0MVLAiRYH/C1v\n"
    "a=ice-options:trickle\n"
    "a=fingerprint:sha-256 5D:7A:38:AB:32:4B:F1:67:0D:36:13:6F:12:84:0C:CA:91:A4:3A:7E:0E:CC:4C:66:22:4E:F8:37:DC:93:57:99\n"
    "a=setup:actpass\n"
    "a=mid:0\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\n"
    "a=sendrecv\n"
    "a=rtcp-mux\n"
    "a=rtpmap:111 opus/48000/2\n"
    "a=rtcp-fb:111 transport-cc\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:126 telephone-event/8000\n"
    "m=video 50002 UDP/TLS/RTP/SAVPF 96 97\n"
    "c=IN IP4 198.18.0.10\n"
    "a=ice-ufrag:Tw6e\n"
    "a=ice-pwd:b9FkvY6Es1y0MVLAiRYH/C1v\n"
    "a=fingerprint:sha-256 5D:7A:38:AB:32:4B:F1:67:0D:36:13:6F:12:84:0C:CA:91:A4:3A:7E:0E:CC:4C:66:22:4E:F8:37:DC:93:57:99\n"
    "a=setup:actpass\n"
    "a=mid:1\n"
    "a=rtcp-mux\n"
    "a=rtpmap:96 VP8/90000\n"
    "a=rtcp-fb:96 goog-remb\n"
    "a=rtcp-fb:96 nack\n"
    "a=rtcp-fb:96 nack pli\n";

// The audio m-line of kChromeOffer alone, BUNDLE group of one (bundlePolicy max-bundle, audio call).
inline constexpr std::string_view kChromeAudioOffer =
    "v=0\n"
    "o=- 7219842193409872234 2 IN IP4 127.0.0.1\n"
    "s=-\n"
    "t=0 0\n"
    "a=group:BUNDLE 0\n"
    "a=msid-semantic: WMS 4f5d\n"
    "m=audio 50000 UDP/TLS/RTP/SAVPF 111 0 8 126\n"
    "c=IN IP4 198.18.0.10\n"
    "a=rtcp:9 IN IP4 0.0.0.0\n"
    "a=candidate:1467250027 1 udp 2122260223 198.18.0.10 50000 typ host generation 0 network-id 1\n"
    "a=ice-ufrag:Tw6e\n"
    "a=ice-pwd:b9FkvY6Es1y0MVLAiRYH/C1v\n"
    "a=ice-options:trickle\n"
    "a=fingerprint:sha-256 5D:7A:38:AB:32:4B:F1:67:0D:36:13:6F:12:84:0C:CA:91:A4:3A:7E:0E:CC:4C:66:22:4E:F8:37:DC:93:57:99\n"
    "a=setup:actpass\n"
    "a=mid:0\n"
    "a=sendrecv\n"
    "a=rtcp-mux\n"
    "a=rtpmap:111 opus/48000/2\n"
    "a=rtcp-fb:111 transport-cc\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:126 telephone-event/8000\n";

}  // namespace rdv::sdp::test
