#pragma once
// Anchors a call's media on the relay through SDP offer/answer (RFC 3264): every m-line gets a
// relay stream, the peers' SDP addresses become the legs' advertised addresses, and the SDP each
// side receives is rewritten so c=/m= point at the relay. The NG protocol and the B2BUA both
// drive calls through this one class. Control thread only.
//
// Leg 0 of every stream faces the party whose tag created the call (the first offerer), leg 1
// the other party; re-offers from either side are recognised by their tag.
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

namespace rdv::sdp {
class SdpSession;
}  // namespace rdv::sdp

namespace rdv::anchor {

struct AnchorOptions {
  bool asymmetric = false;      // do not latch: always send where SDP says
  bool replaceOrigin = false;   // rewrite o= too (NG `replace: [origin]`)
  bool muxOffer = false;        // offer rtcp-mux to the answerer even if the offerer did not
  bool muxDemux = false;        // do not offer rtcp-mux to the answerer
};

enum class AnchorErrorCode : uint8_t { BadSdp, UnknownCall, Capacity, Internal };

struct AnchorError {
  AnchorErrorCode code;
  std::string reason;
};

struct CallInfo {
  std::string callId;
  std::string fromTag;
  std::string toTag;
  uint64_t createdUnix = 0;     // wall clock, seconds since the Unix epoch
  uint64_t lastSignalUnix = 0;  // the last offer or answer, same unit
  relay::SessionReport report;
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
  // The pending offer was rejected: every relay leg goes back to what the last answer left (relay
  // streams the offer added stay allocated to the call, idle, for a later offer). No-op without a
  // pending offer or call.
  void revertOffer(std::string_view callId);
  Expected<CallInfo, AnchorError> remove(std::string_view callId);
  // Forgets the call and drops its relay session without waiting for the worker (its final
  // report arrives through RelayControl::drainEnded). For signalling that must not block.
  void release(std::string_view callId);
  Expected<CallInfo, AnchorError> query(std::string_view callId);
  std::vector<std::string> list(size_t limit) const;

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
    int offerer = 0;           // leg index of the last offerer
    relay::LegParams params[2];  // mirror of what the relay legs were told
  };
  struct SpareStream {  // a relay stream allocated by an offer that was undone
    uint32_t relayIndex = 0;
    uint16_t port[2] = {0, 0};
  };
  struct Call {
    std::string callId;
    std::string fromTag;
    std::string toTag;
    uint64_t sessionId = 0;
    uint32_t relayStreams = 0;
    std::vector<StreamState> streams;
    // The streams as the last answer left them, while an offer awaits its answer.
    std::optional<std::vector<StreamState>> beforeOffer;
    std::vector<SpareStream> spare;
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
  Expected<bool, AnchorError> allocate(Call& call, StreamState& st, bool mux);
  // Tells the relay `before`'s legs again and makes it `call.streams`; streams allocated since
  // are idled and kept as spares.
  void restore(Call& call, const std::vector<StreamState>& before);
  CallInfo info(const Call& call, relay::SessionReport report) const;

  relay::RelayControl& relay_;
  const common::Clock& clock_;
  std::string advertise_;
  std::string addrType_;  // IP4 or IP6
  std::unordered_map<std::string, Call> calls_;
  std::unordered_map<uint64_t, std::string> bySession_;
  std::function<void(const relay::SessionReport&)> onRemoved_;
};

}  // namespace rdv::anchor
