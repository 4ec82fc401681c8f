#pragma once
// Test double for SipSender: records every message with the clock's instant, never touches a
// socket. With a ManualClock, transaction and B2BUA tests assert exact retransmission instants.

#include <string>
#include <string_view>
#include <vector>

#include "common/Clock.h"
#include "signaling/sip/SipMessage.h"
#include "signaling/sip/SipSender.h"

namespace rdv::sip::test {

struct SentMessage {
  SipPeer to;
  std::string text;
  uint64_t atMs = 0;
  bool startsWith(std::string_view prefix) const { return text.rfind(prefix, 0) == 0; }
};

class FakeSipSender final : public SipSender {
 public:
  explicit FakeSipSender(const common::Clock& clock)
      : clock_(clock), local_(*common::SockAddr::fromIp("127.0.0.1", 5060)) {}

  SendResult send(const SipPeer& to, std::string_view data) override {
    sent.push_back(SentMessage{to, std::string(data), clock_.monotonicMs()});
    return SendResult{!failSends, failSends ? 0 : to.connId};
  }
  void closeIdle(uint64_t) override { ++closeIdleCalls; }
  const common::SockAddr& local() const override { return local_; }
  const common::SockAddr& tlsLocal() const override { return tlsLocal_; }

  // What was sent since the last take(), oldest first.
  std::vector<SentMessage> take() { return std::exchange(sent, {}); }

  std::vector<SentMessage> sent;
  bool failSends = false;
  int closeIdleCalls = 0;

 private:
  const common::Clock& clock_;
  common::SockAddr local_;
  common::SockAddr tlsLocal_;
};

// A message from text written with LF line ends (converted to CRLF); the test fails on a parse
// error through the returned empty optional.
inline SipMessage parseSip(std::string_view lf) {
  std::string out;
  for (char c : lf) {
    if (c == '\n') out += '\r';
    out += c;
  }
  auto m = SipMessage::parse(std::move(out));
  if (!m) throw std::runtime_error("test message does not parse: " + m.error().reason);
  return std::move(*m);
}

// Advances `clock` deadline by deadline up to `untilMs`, running `owner.onTimer()` at each exact
// instant the owner asked for (owner: SipTransactions or B2bua).
template <typename Owner>
void runTimersUntil(common::ManualClock& clock, Owner& owner, uint64_t untilMs) {
  for (uint64_t next = owner.nextDeadline(); next <= untilMs; next = owner.nextDeadline()) {
    clock.setMonotonicMs(next);
    owner.onTimer();
  }
  clock.setMonotonicMs(untilMs);
  owner.onTimer();
}

}  // namespace rdv::sip::test
