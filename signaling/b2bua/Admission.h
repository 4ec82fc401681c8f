#pragma once
// Admission control for new calls: a cap on concurrent calls (sip.max_calls), then a token bucket
// of calls per second (sip.max_calls_per_second). Pure logic over a time value passed in, so the
// policy is testable without a clock.

#include <cstddef>
#include <cstdint>

namespace rdv::b2bua {

class Admission {
 public:
  enum class Verdict : uint8_t { Admit, TooManyCalls, TooManyPerSecond, Draining };

  // The bucket starts full: `maxCallsPerSecond` calls may arrive at once. 0 admits nothing.
  Admission(uint32_t maxCalls, uint32_t maxCallsPerSecond);

  // Decides for one new call while `activeCalls` are up, at monotonic instant `nowMs` (never
  // earlier than a previous call's). The bucket refills continuously at maxCallsPerSecond per
  // second up to its size, also while calls are refused; only an admitted call takes a token.
  Verdict admit(size_t activeCalls, uint64_t nowMs);
  // While draining (the operator API's drain) every new call is refused with Draining; calls
  // already admitted are not affected.
  void setDraining(bool on) { draining_ = on; }
  // New limits (a configuration reload); calls already up are not affected, the rate bucket keeps
  // its tokens up to the new size.
  void setLimits(uint32_t maxCalls, uint32_t maxCallsPerSecond) {
    maxCalls_ = maxCalls;
    maxCallsPerSecond_ = maxCallsPerSecond;
    tokens_ = tokens_ > maxCallsPerSecond ? maxCallsPerSecond : tokens_;
  }
  // Returns the token of an admitted call that was then not routed (404, 480, 488): only calls
  // that go out to a callee count against the rate.
  void refund();

  // The Retry-After (seconds) a 503 for `v` carries: the call cap clears slowly, the rate fast, a
  // drain (maintenance or shutdown) not soon: 300 sends callers elsewhere (RFC 3261 §21.5.4).
  static uint32_t retryAfterSeconds(Verdict v) {
    if (v == Verdict::Draining) return 300;
    return v == Verdict::TooManyCalls ? 5 : 1;
  }

 private:
  uint32_t maxCalls_;
  uint32_t maxCallsPerSecond_;
  double tokens_;
  uint64_t refilledAtMs_ = 0;
  bool draining_ = false;
};

}  // namespace rdv::b2bua
