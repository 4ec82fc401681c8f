#pragma once
// A token bucket over a clock passed in (milliseconds): `bytesPerSecond` refill, at most `burst`
// bytes banked. take() spends tokens for one datagram or says no (the caller drops and counts
// it: turn.max_bps, issue 9's bandwidth limit per allocation); a stream asks what is available()
// and spend()s what it moved (RFC 6062 connections: reading stops until tokens come back). A rate
// of 0 means unlimited.
// Plain data, no allocation; integer arithmetic only.

#include <algorithm>
#include <cstdint>

namespace rdv::turn {

class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(uint64_t bytesPerSecond, uint64_t burst, uint64_t nowMs)
      : rate_(bytesPerSecond), burst_(burst), tokens_(burst), lastMs_(nowMs) {}

  bool unlimited() const { return rate_ == 0; }
  // Spends `bytes` if that many tokens are banked at `nowMs`; false (nothing spent) otherwise.
  bool take(uint64_t bytes, uint64_t nowMs) {
    if (rate_ == 0) return true;
    if (bytes > available(nowMs)) return false;
    tokens_ -= bytes;
    return true;
  }
  // Tokens banked at `nowMs` (a stream takes up to this many, then spend()s what it used);
  // UINT64_MAX when unlimited.
  uint64_t available(uint64_t nowMs) {
    if (rate_ == 0) return UINT64_MAX;
    if (nowMs > lastMs_) {
      // Refill per whole millisecond (a rate under 1000 B/s loses the sub-byte remainder).
      tokens_ = std::min(burst_, tokens_ + (nowMs - lastMs_) * rate_ / 1000);
      lastMs_ = nowMs;
    }
    return tokens_;
  }
  void spend(uint64_t bytes) {
    if (rate_ != 0) tokens_ -= std::min(bytes, tokens_);
  }
  uint64_t tokens() const { return tokens_; }

 private:
  uint64_t rate_ = 0;  // bytes per second; 0 = unlimited
  uint64_t burst_ = 0;
  uint64_t tokens_ = 0;
  uint64_t lastMs_ = 0;
};

}  // namespace rdv::turn
