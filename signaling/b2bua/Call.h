#pragma once
// A B2BUA call as plain state: the two dialogs (RFC 3261 §12) we hold, one with the caller and one
// with the callee, and what is in flight between them. No behaviour here; B2bua drives it.

#include <array>
#include <cstdint>
#include <string>

#include "signaling/b2bua/Reliable.h"
#include "signaling/sip/SipSender.h"
#include "signaling/sip/SipTransactions.h"

namespace rdv::b2bua {

// One dialog as we, the user agent on our side of it, see it.
struct Leg {
  std::string callId;
  std::string localTag;
  std::string remoteTag;
  std::string localId;       // name-addr we present on this leg
  std::string remoteId;      // the peer's name-addr
  std::string remoteTarget;  // Request-URI for requests on this leg (the peer's Contact)
  sip::SipPeer peer;         // where requests go: the peer's real source (NAT-aware)
  uint32_t localCseq = 0;
};

struct Call {
  enum class State : uint8_t { Calling, Early, Answered, Confirmed };
  uint64_t id = 0;
  std::array<Leg, 2> legs;  // 0 = caller (A), 1 = callee (B)
  std::string anchorId;     // A's Call-ID: the MediaAnchor key
  State state = State::Calling;
  sip::TxnId aInvite = 0;
  sip::TxnId bInvite = 0;
  uint32_t bInviteCseq = 0;
  // We gave up on the callee before its final response (the caller's CANCEL or BYE, ring or media
  // timeout): the caller has its final response and the media is released; the call lives on
  // until B's INVITE ends, so that its 487 is absorbed and a 2xx that crossed the CANCEL is
  // ACKed and hung up.
  bool cancelled = false;
  bool anchored = false;  // the media session exists (false until a late offer arrives)
  bool reofferPending = false;
  std::string answerSdp;               // the rewritten answer A got, reused if B's 2xx carries none
  sip::TxnId awaitingAck[2] = {0, 0};  // server INVITE transactions whose 2xx awaits that side's ACK
  uint64_t ringDeadlineMs = 0;
  uint32_t maxForwards = 70;  // the caller's Max-Forwards minus one (loop protection)
  // Late offer (RFC 3264 §5, INVITE without SDP): the 2xx carried the offer, so the ACK to that
  // side must carry the answer, which arrives in the other side's ACK.
  struct DeferredAck {
    bool pending = false;
    int toSide = 0;
    uint32_t cseq = 0;
    sip::TxnId clientTxn = 0;  // the INVITE whose 2xx it acknowledges
  } deferredAck;
  // RFC 4028 session timer: the interval the INVITE to the callee asked for, and the one
  // negotiated by the last 2xx (0: the call has no session timer; B2bua keeps its deadline).
  uint32_t offeredSessionSeconds = 0;
  uint32_t sessionSeconds = 0;
  bool callerTimer = false;  // the caller's INVITE said Supported: timer
  // RFC 3262: the caller takes reliable provisionals (100rel in its Supported or Require); the
  // callee's last PRACKed RSeq; the reliable provisional outstanding towards the caller.
  bool caller100rel = false;
  uint32_t aInviteCseq = 0;
  uint32_t calleeRSeq = 0;
  ReliableProvisional toCaller;

  bool unanswered() const { return state == State::Calling || state == State::Early; }
};

// A client transaction we started on one leg, and what to do with its responses.
struct PendingRequest {
  uint64_t call = 0;
  int toSide = 0;            // leg the request went out on
  sip::TxnId serverTxn = 0;  // the request it forwards (0: our own, e.g. BYE)
  uint32_t cseq = 0;         // its CSeq number: the ACK of an INVITE's 2xx repeats it (§13.2.2.4)
  bool initialInvite = false;
  bool offer = false;  // carried an SDP offer to anchor
  std::string method;
  uint32_t sessionSeconds = 0;  // RFC 4028: the Session-Expires the forwarded request asked for
  bool requesterTimer = false;  // its sender said Supported: timer
  // An INVITE's 2xx: set on the first, so later ones are retransmissions that get `ack` again
  // (empty while a late offer's ACK waits for the answer). The entry then lives 64*T1.
  bool answered = false;
  std::string ack;
  sip::SipPeer ackPeer;
};

}  // namespace rdv::b2bua
