#pragma once
// The media objects a relay worker owns: a MediaSession has one MediaStream per SDP m-line, each
// stream two Legs (index 0 faces the offerer, 1 the answerer), each leg an RTP component and,
// unless rtcp-mux, an RTCP component. Objects never move once handed to a worker (the epoll
// registration points at the Component), hence the unique_ptrs.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/Fd.h"
#include "media/EModel.h"
#include "media/MosSummary.h"
#include "media/RtcpXr.h"
#include "media/RtpStats.h"
#include "relay/BundleDemux.h"
#include "relay/IceResponder.h"
#include "relay/LegBundle.h"
#include "relay/Latch.h"
#include "relay/LegCrypto.h"
#include "relay/LegDtlsSession.h"
#include "relay/LegWebrtc.h"
#include "relay/LegSrtp.h"
#include "common/SockAddr.h"

namespace rdv::relay {

struct Leg;
struct MediaSession;

enum class ComponentKind : uint8_t { Rtp, Rtcp };

// The kernel fast path of an RTP component (relay/KernelForwarder.h).
struct KernelPath {
  bool installed = false;
  uint64_t sinceNs = 0;  // install time: activity until the kernel forwards something
  uint64_t retryNs = 0;  // after a failed install, no new attempt before this
};

struct Component {
  common::Fd fd;                 // invalid for the RTCP component of an rtcp-mux leg
  uint16_t localPort = 0;
  ComponentKind kind = ComponentKind::Rtp;
  common::SockAddr advertised;   // from SDP; where to send until the peer's real source is latched
  Latch latch;
  KernelPath kernel;     // RTP components only
  Leg* leg = nullptr;    // owner
  // ICE-lite (relay/RelayWorkerIce.cc): the PRIORITY of the check that nominated the latched
  // address (0 = none yet), and the GCRA clock bounding the STUN error answers sent from here.
  uint32_t nominatedPriority = 0;
  uint64_t stunErrorTatNs = 0;
};

struct LegCounters {
  uint64_t rtpPackets = 0;     // including kernelPackets
  uint64_t kernelPackets = 0;  // RTP forwarded by the kernel fast path
  uint64_t rtpBytes = 0;
  uint64_t rtcpPackets = 0;
  uint64_t rtcpBytes = 0;
  uint64_t spoofed = 0;        // including those the kernel dropped
  uint64_t malformed = 0;
  uint64_t relatched = 0;     // NAT rebindings, and re-latches after a re-offer moved the peer
  uint64_t otherPackets = 0;  // forwarded datagrams that are neither RTP nor RTCP (UDPTL, STUN, DTLS)
  uint64_t otherBytes = 0;
  uint64_t xrReports = 0;     // RTCP XR packets (RFC 3611) from the peer that parsed
  uint64_t xrMalformed = 0;   // RTCP XR packets from the peer that did not (forwarded all the same)
  // SRTP terminated on this leg (LegParams::crypto): SRTP/SRTCP from the peer that authenticated,
  // packets protected toward it, and packets dropped by srtp::SrtpError (index), either way.
  uint64_t srtpUnprotected = 0;
  uint64_t srtpProtected = 0;
  std::array<uint64_t, srtp::kSrtpErrorCount> srtpDropped{};
  // DTLS-SRTP (LegParams::dtls): datagrams from or toward this leg dropped by the DTLS rules
  // (media before the handshake keyed the leg, bad or foreign DTLS datagrams; relay/WorkerCounters.h).
  uint64_t dtlsDropped = 0;
  // BUNDLE transport (relay/LegBundle.h): packets from the peer no stream of the group claimed.
  uint64_t bundleUnknown = 0;
  uint64_t& srtpDrop(srtp::SrtpError e) { return srtpDropped[static_cast<size_t>(e)]; }
  // STUN from the peer of a leg with ICE-lite (LegParams::ice), by IceCheckResult (index).
  std::array<uint64_t, kIceCheckResultCount> iceChecks{};
  uint64_t& iceCheck(IceCheckResult r) { return iceChecks[static_cast<size_t>(r)]; }
};

// What RTCP tells about this leg's peer (RFC 3550 §6.4).
struct LegQuality {
  double rttMs = -1;             // relay <-> this peer, from its RR's LSR/DLSR; -1 until known
  double remoteLossFraction = -1;  // fraction lost reported by this peer about what it receives
  double remoteJitterMs = -1;
  uint32_t lastSrMiddle32 = 0;   // the last SR the relay forwarded *to* this peer
  uint64_t lastSrForwardNs = 0;
  // The latest RTCP XR VoIP Metrics block (RFC 3611 §4.7) this peer sent, about what it
  // receives; empty until one arrives.
  std::optional<media::XrVoipMetrics> xr;
};

// How the peer of a leg behaves, from its SDP and the control flags.
struct LegParams {
  common::SockAddr rtpRemote;    // advertised address; invalid = unknown yet
  common::SockAddr rtcpRemote;   // RTCP address (= rtpRemote when mux)
  bool mux = false;      // rtcp-mux: RTP and RTCP share the RTP component
  bool asymmetric = false;  // never latch: always send to the advertised address
  bool srtp = false;     // RTP/SAVP(F): payload and RTCP body are opaque
  bool opaque = false;   // not RTP at all (m=image udptl): latch on and forward any datagram
  bool strictSource = false;  // never re-latch, not even on a NAT rebinding (NG `strict-source`)
  uint32_t clockRate = 0;   // 0 = from static payload type
  media::VoiceCodec codec = media::VoiceCodec::G711Plc;  // rates this peer's stream (media/EModel.h)
  // Which party this leg talks to: signalling bumps it when another party takes the leg over (a
  // forked call answered by another branch than the one whose early media latched), which
  // re-latches even when both parties advertise the same address.
  uint32_t party = 0;
  // Non-zero: this leg ends inside the server, at local endpoint `localEndpoint` (a conference
  // participant) of mixer `localSink`. It has no socket: RTP its peer leg receives goes to that
  // mixer's queue instead of being forwarded, RTCP is consumed, and what the mixer sends for the
  // endpoint leaves from the peer leg's socket (RelayWorker::attachLocal).
  uint32_t localEndpoint = 0;
  uint8_t localSink = 0;
  // SRTP terminated on this leg (relay/LegCrypto.h); empty = plain RTP, or SRTP passed through.
  LegCrypto crypto;
  // WebRTC legs (relay/LegWebrtc.h): ICE-lite checks answered and/or DTLS-SRTP keying this leg's SRTP.
  LegIce ice;
  LegDtls dtls;
  // BUNDLE (relay/LegBundle.h): the stream whose same-side leg is this leg's transport, and the
  // payload types its peer sends on this m-line.
  LegBundle bundle;
  bool webrtc() const { return ice.enabled() || dtls.role != DtlsRole::Off; }
};

// The transport leg of a BUNDLE group (relay/LegBundle.h): the legs that share its socket, latch,
// ICE, DTLS and SRTP, by demultiplexing slot (slot 0 = the transport leg itself).
struct BundleTransport {
  std::array<Leg*, BundleDemux::kMaxSlots> legs{};
  BundleDemux demux;
};

// Where the current MOS sampling interval of a leg started (RelayWorker samples on its timer).
struct MosWindow {
  uint64_t sinceNs = 0;  // 0 = no packet yet: the window opens with the first tick that sees one
  uint64_t packets = 0;  // stats.packets() at the start
  uint64_t expected = 0;
  int64_t lost = 0;
};

struct Leg {
  Component rtp;
  Component rtcp;
  LegParams params;
  LegCounters counters;
  LegQuality quality;
  media::RtpReceiveStats stats;
  media::MosSummary mos;
  MosWindow mosWindow;
  common::SockAddr lastRemote;  // the last valid advertised RTP address: a re-offer that moves it re-latches
  uint64_t localTatNs = 0;  // RTP to a local peer: GCRA theoretical arrival time (RelayWorker::deliverLocal)
  // Set while params.crypto.terminates(): the leg's SRTP contexts (relay/LegSrtp.h).
  std::unique_ptr<LegSrtp> srtp;
  // Set while params.dtls.role != Off: the leg's handshake (relay/LegDtlsSession.h); it keys `srtp`.
  std::unique_ptr<LegDtlsSession> dtls;
  // The DTLS peer sent close_notify: what it sends is dropped (DtlsDrop::PeerClosed) until a new
  // handshake keys the leg again.
  bool dtlsPeerClosed = false;
  // BUNDLE: set on a transport leg with at least one leg bundled on it; on a bundled leg,
  // `bundledOn` is its transport (its packets arrive and leave there; it has no socket).
  std::unique_ptr<BundleTransport> bundle;
  Leg* bundledOn = nullptr;
  Leg* peer = nullptr;
  MediaSession* session = nullptr;
};

// The leg whose socket, latch and SRTP carry packets toward `leg`: its BUNDLE transport, if any.
inline Leg& transportOf(Leg& leg) { return leg.bundledOn != nullptr ? *leg.bundledOn : leg; }

// A leg with a DTLS role whose handshake has not keyed its SRTP yet: nothing RTP goes to or
// comes from it (RFC 5764 §4.1: media waits for the keys, never in clear).
inline bool awaitsDtlsKeys(const Leg& leg) { return leg.params.dtls.role != DtlsRole::Off && !leg.srtp; }

struct MediaStream {
  std::array<Leg, 2> legs;
};

struct MediaSession {
  uint64_t id = 0;
  std::string callId;
  uint64_t createdNs = 0;
  uint64_t lastMediaNs = 0;
  bool mediaSeen = false;  // any packet yet: until then the (longer) setup timeout applies
  std::vector<std::unique_ptr<MediaStream>> streams;
};

// A snapshot of a session, for query/delete replies, timeouts and quality histograms.
struct LegReport {
  uint16_t rtpPort = 0;
  uint16_t rtcpPort = 0;  // 0 when rtcp-mux
  common::SockAddr advertised;
  common::SockAddr latched;       // invalid until the peer sent valid media
  LegCounters counters;
  uint64_t rtpExpected = 0;
  int64_t rtpLost = 0;
  double lossFraction = 0;
  double jitterMs = 0;
  media::BurstGapMetrics burstGap;  // RFC 3611 §4.7.2 burst/gap loss of the RTP the relay received
  LegQuality quality;
  uint32_t ssrc = 0;    // of the stream the peer sends, when hasSsrc
  bool hasSsrc = false;
  media::VoiceCodec codec = media::VoiceCodec::G711Plc;
  bool srtpTerminated = false;  // SDES keys (LegParams::crypto) or DTLS-SRTP keyed the leg: counters.srtp* apply
  media::MosSummary mos;  // E-model samples of that stream, including one for packets not yet sampled
};

struct SessionReport {
  uint64_t id = 0;
  std::string callId;
  uint64_t createdNs = 0;
  uint64_t lastMediaNs = 0;
  std::vector<std::array<LegReport, 2>> streams;
};

SessionReport makeReport(const MediaSession& s);

// Whether the kernel fast path (relay/KernelForwarder.h) may carry the RTP this leg receives:
// both legs have sockets and are latched, neither is asymmetric or opaque, and neither terminates
// SRTP (encrypted legs stay in userspace).
bool kernelEligible(const Leg& leg);

}  // namespace rdv::relay
