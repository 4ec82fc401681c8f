#pragma once
// Anchors a call's media on the relay through SDP offer/answer (RFC 3264): every m-line gets a
// relay stream, the peers' SDP addresses become the legs' advertised addresses, and the SDP each
// side receives is rewritten so c=/m= point at the relay. The NG protocol and the B2BUA both
// drive calls through this one class. Control thread only.
//
// Leg 0 of every stream faces the party whose tag created the call (the first offerer), leg 1
// the other party; re-offers from either side are recognised by their tag.
//
// Forking: every tag seen on the other side (a to-tag of an answer, the from-tag of its
// re-offers) and every via-branch of the caller's offers is a branch of the call. The relay holds
// one answer at a time (the latest answer's party is on leg 1); deleting one branch keeps the
// call while other branches remain (remove()).
//
// Queries and deletes of live counters go to the relay worker and answer through a callback, so
// the control thread never waits for media code.
//
// offer() and answer() change the relay all or nothing: SDP that cannot be anchored leaves every
// relay leg as it was. An offer takes effect at once (the offerer's new address) and stays
// pending until its answer; revertOffer() undoes a pending offer that was rejected (RFC 3264 §8:
// the session then continues as before the offer).

#include <chrono>
#include <functional>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/Clock.h"
#include "common/Expected.h"
#include "relay/RelayControl.h"
#include "relay/TcpRelay.h"
#include "signaling/anchor/SrtpMedia.h"
#include "signaling/anchor/WebrtcMedia.h"

namespace rdv::sdp {
class SdpSession;
class SdpMedia;
}  // namespace rdv::sdp

namespace rdv::anchor {

struct AnchorOptions {
  bool asymmetric = false;      // do not latch: always send where SDP says
  bool replaceOrigin = false;   // rewrite o= too (NG `replace: [origin]`)
  bool muxOffer = false;        // offer rtcp-mux to the answerer even if the offerer did not
  bool muxDemux = false;        // do not offer rtcp-mux to the answerer
  bool muxRequire = false;      // offer rtcp-mux and keep the answerer's leg muxed whatever it answers
  bool muxReject = false;       // decline rtcp-mux offered by the offerer
  bool noRtcpAttribute = false; // no a=rtcp line in the SDP passed on
  bool generateMid = false;     // a=mid:<index> on every m-line without one
  bool strictSource = false;    // the sender's legs never re-latch, not even on a NAT rebinding
  // NG `SIP-source-address`: the sender's media address is `receivedFrom` (the signalling
  // source) with the SDP's ports, until latching learns the real one. Without receivedFrom the
  // SDP address is used.
  bool sipSourceAddress = false;
  std::string receivedFrom = {};  // IP the SDP's signalling came from (NG `received-from`)
  std::string mediaAddress = {};  // NG `media-address`: overrides every other source of the address
  std::string label = {};         // label of the party sending this SDP (NG `label`, `from-label`)
  std::string otherLabel = {};    // label of the party receiving it (NG `to-label`)
  std::string viaBranch = {};     // NG `via-branch`: names the branch of a forked call
  relay::TcpPairOrigin tcpOrigin = relay::TcpPairOrigin::Sdp;  // counted per origin on /metrics
  // SDES-SRTP per leg (SrtpMedia.h): read from offers only; an answer follows what its offer set.
  SrtpOptions srtp = {};
  // WebRTC legs (WebrtcMedia.h): ICE towards the receiver, the DTLS role we prefer.
  WebrtcOptions webrtc = {};
};

enum class AnchorErrorCode : uint8_t { BadSdp, UnknownCall, TagMismatch, Capacity, Internal };
// Which limit a Capacity error hit; NG replies word them as rtpengine does so proxies fail over.
enum class CapacityLimit : uint8_t { None, Ports, Sessions };

struct AnchorError {
  AnchorErrorCode code;
  std::string reason;
  CapacityLimit limit = CapacityLimit::None;
};

// One party of a call as signalling named it.
struct Party {
  std::string tag;
  std::string label;
  std::string viaBranch;
};

struct CallInfo {
  std::string callId;
  std::string fromTag;
  std::string toTag;
  uint64_t createdUnix = 0;     // wall clock, seconds since the Unix epoch
  uint64_t lastSignalUnix = 0;  // the last offer or answer, same unit
  relay::SessionReport report;
  Party caller;                 // leg 0's party (tag == fromTag)
  Party callee;                 // leg 1's party (tag == toTag; empty until answered)
};

// NG `delete`: call-id plus optional tags and via-branch (see MediaAnchor::remove).
struct DeleteRequest {
  std::string callId;
  std::string fromTag;
  std::string toTag;
  std::string viaBranch;
};

struct DeleteOutcome {
  bool callGone = false;  // the whole call went; otherwise one or more branches did
  CallInfo info;          // with the final relay report when callGone
};

class MediaAnchor {
 public:
  // `clock` (wall time) stamps calls for queries; it and `relay` must outlive the anchor.
  MediaAnchor(relay::RelayControl& relay, std::string advertise, const common::Clock& clock);

  // Returns the SDP to pass on to the other party. On error nothing changed (a call the offer
  // created is gone again).
  Expected<std::string, AnchorError> offer(std::string_view callId, std::string_view fromTag,
                                           std::string_view sdp, const AnchorOptions& opts);
  // Completes the pending offer. On error nothing changed and the offer stays pending.
  Expected<std::string, AnchorError> answer(std::string_view callId, std::string_view fromTag,
                                            std::string_view toTag, std::string_view sdp,
                                            const AnchorOptions& opts);
  using DeleteCallback = std::function<void(Expected<DeleteOutcome, AnchorError>)>;
  // Deletes what the request selects (rtpengine's rules):
  //  - no tag and no via-branch, or only the caller's tag: the whole call;
  //  - a branch's tag (as from-tag or to-tag) or via-branch: that branch; the call goes with its
  //    last branch;
  //  - a to-tag never seen while no branch exists yet (the 486/487 of an unforked call): the
  //    whole call.
  // Anything else is TagMismatch and an unknown call-id UnknownCall; neither changes anything.
  // `done` runs before remove() returns, except when the whole call goes: then it runs from
  // RelayControl::drainReplies() with the final report (the call is forgotten at once).
  void remove(const DeleteRequest& req, DeleteCallback done);
  // The pending offer was rejected: every relay leg goes back to what the last answer left (relay
  // streams the offer added stay allocated to the call, idle, for a later offer). No-op without a
  // pending offer or call.
  void revertOffer(std::string_view callId);
  // Forgets the call and drops its relay session without waiting for the worker (its final
  // report arrives through RelayControl::drainEnded). For signalling that must not block.
  void release(std::string_view callId);
  using QueryCallback = std::function<void(Expected<CallInfo, AnchorError>)>;
  // Live report from the relay worker; `done` runs from RelayControl::drainReplies(), or at once
  // for an unknown call.
  void query(std::string_view callId, QueryCallback done);
  // TCP media (TcpMedia.h): with a relay that is enabled, every TCP m-line gets a pair of `tcp`
  // (side i = leg i: each peer connects to the port in the SDP it receives), else TCP m-lines pass
  // through unchanged. `restrictSource`: the offerer's side accepts connections only from the
  // address its signalling came from (AnchorOptions::receivedFrom), when known, and the
  // answerer's side only from the answer's (set when the answer is applied). `tcp` must outlive
  // the anchor.
  void setTcpRelay(relay::TcpRelay* tcp, bool restrictSource) {
    tcp_ = tcp;
    tcpRestrictSource_ = restrictSource;
  }
  // The ids of the TCP relay pairs a call holds (for tests and the API's view).
  std::vector<uint64_t> tcpPairs(std::string_view callId) const;

  // The signalling view, at once: ports, advertised addresses and rtcp-mux as the anchor told
  // the relay, no counters (those need query(callId, done)).
  Expected<CallInfo, AnchorError> query(std::string_view callId) const;
  std::vector<std::string> list(size_t limit) const;
  // What relay leg `leg` of m-line `mline` was last told (its SRTP keys among them); nullptr for
  // an unknown call, an m-line not anchored on a UDP relay stream, or a leg other than 0 and 1.
  // Valid until the next call into the anchor.
  const relay::LegParams* legParams(std::string_view callId, size_t mline, int leg) const;
  // The relay's DTLS certificate fingerprint, "sha-256 AB:CD:..." (dtls::DtlsIdentity), written as
  // a=fingerprint towards every DTLS-SRTP leg. Empty (the default): such legs are refused.
  void setDtlsFingerprint(std::string fingerprint) { dtlsFingerprint_ = std::move(fingerprint); }
  const std::string& dtlsFingerprint() const { return dtlsFingerprint_; }
  // "IP4" or "IP6": the family of the address the anchor advertises.
  const std::string& addressType() const { return addrType_; }

  // A session the relay ended by itself (media timeout) of a call whose media is only TCP
  // (MSRP without audio) while one of its pairs is still open: the UDP relay saw no packet
  // because there is none to see. The call goes on with a new, empty relay session (checked
  // again at its next timeout) and true is returned; otherwise false, nothing changed.
  bool renewForTcp(const relay::SessionReport& report);
  // A session the relay ended by itself (media timeout): forget its call.
  std::optional<std::string> onSessionEnded(const relay::SessionReport& report);
  size_t calls() const { return calls_.size(); }
  // Called with the final report of every call deleted through remove().
  void setOnRemoved(std::function<void(const relay::SessionReport&)> fn) { onRemoved_ = std::move(fn); }

 private:
  struct StreamState {
    bool active = false;       // false for a rejected/disabled m-line (port 0)
    uint32_t relayIndex = 0;   // index of the relay stream
    uint16_t port[2] = {0, 0};
    bool offeredMux = false;   // the last offerer asked for rtcp-mux
    bool demuxed = false;      // NG `rtcp-mux: [demux]`: mux accepted from the offerer only
    bool muxRequired = false;  // NG `rtcp-mux: [require]`: the answerer's leg stays muxed
    int offerer = 0;           // leg index of the last offerer
    relay::LegParams params[2];  // mirror of what the relay legs were told
    // TCP media: no relay stream; `tcpPair` (0 = passed through unanchored) is a TcpRelay pair.
    bool tcp = false;
    uint64_t tcpPair = 0;
    uint16_t tcpPort[2] = {0, 0};
    bool tcpReused = false;  // the last offer kept the pair: a=connection:existing
    std::string tcpKey[2];   // each side's "proto address port", to see an unchanged re-offer
    SdesLeg sdes[2];         // SRTP per leg: passed through, plain, or terminated with these keys
    WebrtcLeg webrtc[2];     // ICE-lite and DTLS-SRTP per leg
    // BUNDLE (RFC 9143, MediaAnchorBundle.cc): per leg, the m-line whose relay leg on that side
    // carries this one's packets (its transport), or -1. A leg bundled when its stream was
    // allocated has no socket (port 0) and stays bundled.
    int bundleOn[2] = {-1, -1};
    // The last offer's SRTP options, per leg rather than per direction: an offer without any
    // (an NG re-offer without the flags) in a converted stream keeps them.
    SrtpPolicy srtpToward[2] = {SrtpPolicy::Passthrough, SrtpPolicy::Passthrough};
    uint8_t srtpSuites = kAllSuites;
    bool osrtpAccept = true;
  };
  // The SRTP options for an offer from `side` on `st`: `given`, or the stream's last ones when
  // `given` asks for nothing and the stream is converted; remembered in `st`.
  static SrtpOptions srtpOptions(StreamState& st, int side, const SrtpOptions& given);
  struct SpareStream {  // a relay stream allocated by an offer that was undone
    uint32_t relayIndex = 0;
    uint16_t port[2] = {0, 0};
  };
  struct Call {
    std::string callId;
    std::string fromTag;
    std::string toTag;          // the branch on leg 1
    uint32_t calleeParty = 0;   // bumped when another branch takes leg 1 (relay::LegParams::party)
    std::string fromLabel;
    std::vector<Party> branches;  // the other side's parties (forks), by tag and/or via-branch
    uint64_t sessionId = 0;
    uint32_t relayStreams = 0;
    std::vector<StreamState> streams;
    // The streams as the last answer left them, while an offer awaits its answer.
    std::optional<std::vector<StreamState>> beforeOffer;
    std::vector<SpareStream> spare;
    std::vector<uint64_t> tcpPairs;  // every TCP relay pair created for the call, removed with it
    uint64_t createdUnix = 0;
    uint64_t lastSignalUnix = 0;
  };

  // Applies one side's SDP to the relay and rewrites it for the other side; on error the relay
  // and `call.streams` are as before.
  Expected<std::string, AnchorError> anchor(Call& call, int side, bool isOffer, sdp::SdpSession& sdp,
                                            const AnchorOptions& opts);
  // What makes `sdp` unusable for `call` before anything is touched, if anything.
  std::optional<AnchorError> check(const Call& call, bool isOffer, const sdp::SdpSession& sdp) const;
  // Gives `st` a relay stream: a spare one if the call has any, else a new one.
  // `bundledLeg`: that leg will be bundled on another stream's transport and needs no socket.
  Expected<bool, AnchorError> allocate(Call& call, StreamState& st, bool mux,
                                       std::optional<uint8_t> bundledLeg = std::nullopt);
  // BUNDLE (MediaAnchorBundle.cc). offeredBundle: per m-line of an offer or answer, the m-line
  // index of the transport its BUNDLE group names (the first tagged m-line with a port), else -1.
  static std::vector<int> offeredBundle(const sdp::SdpSession& sdp);
  // Decides st.bundleOn[side] for m-line `i` of an offer from `side` (before it is allocated),
  // or of the answer `side` gives to our offer (its legs have sockets; unbundled when it declines):
  // bundled when the group puts it on transport `group[i]`, an earlier m-line of the same proto
  // whose leg on `side` is a terminated WebRTC leg with a transport of its own. Called in the
  // anchoring loop, after m-line group[i] was anchored (its SDP already rewritten).
  void bundleOffer(const Call& call, StreamState& st, int side, size_t i, const std::vector<int>& group) const;
  // The relay port the peer of leg `l` of `st` sends to: its transport's when bundled.
  uint16_t portToward(const Call& call, const StreamState& st, int l) const;
  // The payload types of an m-line (relay::LegBundle::payloadTypes).
  static relay::PayloadTypeSet payloadTypes(const sdp::SdpMedia& m);
  // The m-line's a=mid and the id of its MID header extension (a=extmap with
  // urn:ietf:params:rtp-hdrext:sdes:mid), into relay::LegBundle; cleared when absent or too long.
  static void readMid(relay::LegBundle& b, const sdp::SdpMedia& m);
  // The relay stream index of leg `l`'s transport (relay::LegBundle::transport).
  uint32_t bundleTransport(const Call& call, const StreamState& st, int l) const;
  // Tells the relay `before`'s legs again and makes it `call.streams`; streams allocated since
  // are idled and kept as spares.
  void restore(Call& call, const std::vector<StreamState>& before);
  CallInfo info(const Call& call, relay::SessionReport report) const;
  // The WebRTC half of anchoring m-line `i` (after its SRTP modes are decided): reads the
  // sender's ICE/DTLS attributes, decides ICE per leg and sets both legs' LegParams::ice/dtls
  // (MediaAnchorWebrtc.cc).
  Expected<bool, AnchorError> readWebrtc(StreamState& st, int side, bool isOffer, const sdp::SdpSession& sdp,
                                         size_t i, const AnchorOptions& opts) const;
  // The attributes of the SDP passed on: a=mid generated (AnchorOptions::generateMid), the
  // peer's ICE attributes removed, then the WebRTC attributes of every m-line with session
  // a=ice-lite and a=group:BUNDLE.
  void writeWebrtcSdp(Call& call, int side, bool isOffer, sdp::SdpSession& sdp, const AnchorOptions& opts);
  // Anchors m-line `i` (a TCP transport) on a TcpRelay pair, or passes it through.
  Expected<bool, AnchorError> anchorTcp(Call& call, StreamState& st, int side, bool isOffer, sdp::SdpSession& sdp,
                                        size_t i, const AnchorOptions& opts);
  // Removes the pairs `call` holds that neither its streams nor its pending offer's state name.
  void dropTcpPairs(Call& call);
  void removeTcpPairs(Call& call);  // every pair of the call (it ends)
  bool tcpEnabled() const { return tcp_ != nullptr && tcp_->enabled(); }
  // The branch with `tag`, created when absent. Precondition: tag not empty.
  Party& branch(Call& call, std::string_view tag);
  void applyLabels(Call& call, int side, const AnchorOptions& opts);
  // Removes the call now and reports its final relay report through `done`.
  void removeCall(std::unordered_map<std::string, Call>::iterator it, DeleteCallback done);
  // `sdpAddress` (the SDP's c=) or what the options put in its place.
  common::SockAddr peerAddress(const std::optional<std::string>& sdpAddress, uint16_t port,
                               const AnchorOptions& opts) const;

  relay::RelayControl& relay_;
  const common::Clock& clock_;
  std::string advertise_;
  std::string addrType_;  // IP4 or IP6
  std::unordered_map<std::string, Call> calls_;
  std::unordered_map<uint64_t, std::string> bySession_;
  std::function<void(const relay::SessionReport&)> onRemoved_;
  relay::TcpRelay* tcp_ = nullptr;
  bool tcpRestrictSource_ = true;
  std::string dtlsFingerprint_;
};

}  // namespace rdv::anchor
