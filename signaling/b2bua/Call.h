#pragma once
// A B2BUA call as plain state: the two dialogs (RFC 3261 §12) we hold, one with the caller and one
// with the callee, and what is in flight between them. No behaviour here; B2bua drives it.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

// One INVITE towards a registered contact of the callee. A user with several contacts (desk phone
// and softphone) rings on all of them at once, or one after another by q (sip.forking, RFC 3261
// §16.6/§16.7); each branch is its own dialog with its own Call-ID and tags.
struct Branch {
  enum class State : uint8_t {
    Waiting,   // not tried yet (sequential forking)
    Ringing,   // INVITE sent, no final response yet (early dialog included)
    Answered,  // its 2xx won the call
    Ended,     // final failure, or cancelled because another branch won or the call was given up
  };
  Leg leg;
  State state = State::Waiting;
  sip::TxnId invite = 0;
  uint32_t inviteCseq = 0;
  uint32_t rseq = 0;  // RFC 3262: the last RSeq we PRACKed on this branch

  bool live() const { return state == State::Waiting || state == State::Ringing; }
};

// The best final failure seen so far among a call's branches (RFC 3261 §16.7 step 6): 6xx ends
// the search at once; otherwise the lowest class wins, a real response over one we made up (a
// branch that timed out or could not be reached), the first over later ones of the same rank.
struct BranchFailure {
  int status = 0;
  std::string reason;
  std::vector<std::string> headers;  // passed on to the caller (e.g. Min-SE of a 422)
  bool local = false;

  // Keeps `s` (from a real response unless `isLocal`) when it outranks what is held.
  void consider(int s, std::string_view why, std::vector<std::string> hdrs, bool isLocal) {
    if (status != 0 && rank(s, isLocal) >= rank(status, local)) return;
    status = s;
    reason = std::string(why);
    headers = std::move(hdrs);
    local = isLocal;
  }
  // Lower wins: 6xx first, then the lowest class; within a class a real response before ours.
  static int rank(int s, bool isLocal) { return (s >= 600 ? 0 : s / 100) * 2 + (isLocal ? 1 : 0); }
};

struct Call {
  enum class State : uint8_t { Calling, Early, Answered, Confirmed };
  uint64_t id = 0;
  Leg caller;                     // the dialog with the caller (A)
  std::vector<Branch> branches;   // the callee's contacts (B), in the order they are tried
  size_t current = 0;             // the callee's dialog: the winner once answered, before that the
                                  // branch whose early media the caller hears (else the first)
  std::string anchorId;           // A's Call-ID: the MediaAnchor key
  State state = State::Calling;
  sip::TxnId aInvite = 0;
  bool earlyMedia = false;        // branches[current] sent SDP in a provisional: others' SDP is not used
  BranchFailure failure;          // what the caller gets if every branch fails
  std::string offerSdp;           // the INVITE sent on every branch, kept while branches wait
  std::vector<std::string> inviteHeaders;
  bool anchored = false;  // the media session exists (false until a late offer arrives)
  bool reofferPending = false;
  std::string answerSdp;               // the rewritten answer A got, reused if B's 2xx carries none
  sip::TxnId awaitingAck[2] = {0, 0};  // server INVITE transactions whose 2xx awaits that side's ACK
  uint64_t ringDeadlineMs = 0;
  uint64_t startUnixMs = 0;   // wall clock: call records
  uint64_t answerUnixMs = 0;
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
  // reliable provisional outstanding towards the caller.
  bool caller100rel = false;
  uint32_t aInviteCseq = 0;
  ReliableProvisional toCaller;

  bool unanswered() const { return state == State::Calling || state == State::Early; }
  // 0: the caller's dialog; 1: the callee's (branches[current]).
  Leg& leg(int side) { return side == 0 ? caller : branches[current].leg; }
  const Leg& leg(int side) const { return side == 0 ? caller : branches[current].leg; }
  Branch& callee() { return branches[current]; }
};

// A client transaction we started on one leg, and what to do with its responses.
struct PendingRequest {
  uint64_t call = 0;
  int toSide = 0;            // leg the request went out on
  sip::TxnId serverTxn = 0;  // the request it forwards (0: our own, e.g. BYE)
  uint32_t cseq = 0;         // its CSeq number: the ACK of an INVITE's 2xx repeats it (§13.2.2.4)
  bool initialInvite = false;
  size_t branch = 0;   // initialInvite: the branch it went out on
  sip::SipPeer peer;   // initialInvite: where it went; a 2xx after the call or the branch is over
                       // is ACKed and hung up there
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
