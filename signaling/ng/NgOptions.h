#pragma once
// The options of one NG request, gathered from every form Kamailio's and OpenSIPS's rtpengine
// modules send them in: dictionary keys (`replace: [origin]`, `received-from: [IP4, addr]`),
// words of the `flags` list (`replace-origin`, `SIP-source-address`, `rtcp-mux-demux`), and
// Kamailio's `rtpp-flags` string, which carries all of them as one space-separated text in
// rtpengine's syntax (`replace-origin ICE=remove rtcp-mux=[offer require] label=caller`).
// Names are matched as rtpengine matches them: spaces and hyphens alike, case-insensitively.
//
// Pure: parsing never logs; names it does not know are returned in `unknown` for the handler to
// log (once per name).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/anchor/MediaAnchor.h"
#include "signaling/ng/Bencode.h"

namespace rdv::ng {

struct NgOptions {
  std::string callId;
  std::string fromTag;
  std::string toTag;
  std::optional<std::string> sdp;
  anchor::AnchorOptions anchor{.tcpOrigin = relay::TcpPairOrigin::Ng};  // includes label, via-branch, received-from, media-address
  std::string addressFamily;      // "IP4" / "IP6" when requested (NG `address-family`)
  std::optional<int64_t> deleteDelay;  // seconds (NG `delete-delay`); see README: deletes are immediate
  bool fatal = false;             // `delete` of an unknown call is an error, not a warning
  bool supportsLoadLimit = false; // `supports: [load limit]`: capacity replies use result `load limit`
  bool recordCall = false;        // `record-call` / `record call: yes` (recording does not exist yet)
  // Names of flags and keys that are not understood, "flag NAME" / "key NAME", in order.
  std::vector<std::string> unknown;
  // Options understood but not supported here (e.g. "ICE=optional"), for the handler to log.
  std::vector<std::string> unsupported;
  // Set when the SRTP options contradict each other (DTLS=off with UDP/TLS): an offer is refused with it.
  std::string srtpError;
};

// Reads every option of `request` (a dictionary). Later sources override earlier ones: the
// dictionary's keys, then the `flags` list, then `rtpp-flags`.
//
// SRTP (anchor::SrtpOptions, towards the receiver of the SDP): `transport-protocol` RTP/AVP or
// RTP/AVPF gives it plain RTP (SRTP the offerer used is terminated), RTP/SAVP or RTP/SAVPF SRTP
// with our a=crypto (`OSRTP-offer`: as RTP/AVP(F) + a=crypto, RFC 8643); `OSRTP-offer` alone
// offers OSRTP; `OSRTP-accept` terminates an offerer's RTP/AVP + a=crypto (plain RTP onwards unless
// transport-protocol says otherwise; without it such an offer is plain RTP when anything is
// converted). `SDES-no-<suite>` / `SDES-only-<suite>` (`SDES-<suite>` alike; also as the `SDES`
// list) restrict the suites; `SDES-off` gives the receiver plain RTP; `SDES-only` is accepted.
// WebRTC (issue 12): transport-protocol UDP/TLS/RTP/SAVP(F) gives the receiver a WebRTC leg
// (SrtpPolicy::Dtls: DTLS-SRTP terminated, ICE-lite), and so does RTP/SAVP(F) together with
// `DTLS=passive|active` or `SDES-off` (real WebRTC-gateway configs: `ICE=force RTP/SAVPF
// DTLS=passive`); `DTLS=passive|active` is also the role we prefer (anchor::WebrtcOptions::role),
// `DTLS=off` forbids DTLS (with a UDP/TLS transport: srtpError). An offerer's DTLS-SRTP is
// terminated whenever the flags convert its m-line. `ICE=remove` / `force` / `force-relay` /
// `default` set anchor::WebrtcOptions::ice.
NgOptions parseNgOptions(const BValue& request);

// `text` as rtpengine splits rtpp-flags: words separated by spaces, `key=value`, and
// `key=[a b c]` lists that may span words. Each entry: key (empty for a bare flag word) and
// value (a string, or a list of strings). Exposed for tests.
struct RtppFlag {
  std::string key;
  BValue value;  // string; list for `[...]`; for a bare flag the word itself
};
std::vector<RtppFlag> splitRtppFlags(std::string_view text);

}  // namespace rdv::ng
