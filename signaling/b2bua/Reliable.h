#pragma once
// RFC 3262 reliable provisional responses, the B2BUA's UAS side towards the caller: the RSeq
// numbering, the retransmission schedule (T1, doubling, for 64*T1; §3) and matching the
// caller's PRACK (RAck). Pure state over monotonic milliseconds; B2bua sends the text.
//
// One reliable provisional is outstanding at a time (§3: a UAS must not send another until the
// first is PRACKed); a provisional relayed while one is outstanding goes unreliably.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rdv::b2bua {

struct RAck {
  uint32_t rseq = 0;
  uint32_t cseq = 0;
  std::string method;
};
// `response-num CSeq-num Method` (RFC 3262 §7.2); nullopt when malformed.
std::optional<RAck> parseRAck(std::string_view value);
// The RSeq value (1..2^31-1, §7.1); nullopt when malformed.
std::optional<uint32_t> parseRSeq(std::string_view value);

class ReliableProvisional {
 public:
  // What the retransmission needs again: the provisional as relayed.
  struct Response {
    int status = 0;
    std::string reason;
    std::string body;
  };

  explicit ReliableProvisional(uint64_t t1Ms = 500) : t1Ms_(t1Ms) {}

  // Starts a reliable provisional at nowMs and returns its RSeq. Requires !outstanding().
  uint32_t start(Response r, uint64_t nowMs);
  bool outstanding() const { return outstanding_; }
  const Response& response() const { return response_; }
  uint32_t rseq() const { return rseq_; }
  // Next retransmission instant, UINT64_MAX when none is due.
  uint64_t deadlineMs() const;

  enum class Due : uint8_t { Nothing, Retransmit, GiveUp };
  // At nowMs: Retransmit (and schedules the next at double the interval), GiveUp once 64*T1 has
  // passed since start without a PRACK (the outstanding response is dropped), else Nothing.
  Due onTimer(uint64_t nowMs);
  // The caller's PRACK: true when it acknowledges the outstanding response (which stops its
  // retransmission), false otherwise (RFC 3262 §3: answer 481).
  bool prack(const RAck& rack, uint32_t inviteCseq);
  // A final response went out: nothing more to retransmit (§3).
  void stop() { outstanding_ = false; }

 private:
  uint64_t t1Ms_;
  uint32_t rseq_ = 0;
  bool outstanding_ = false;
  Response response_;
  uint64_t startMs_ = 0;
  uint64_t nextMs_ = 0;
  uint64_t intervalMs_ = 0;
};

}  // namespace rdv::b2bua
