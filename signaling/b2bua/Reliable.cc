#include "signaling/b2bua/Reliable.h"

#include <strings.h>
#include <cassert>
#include <charconv>
#include <limits>

#include "signaling/sip/SipLex.h"

namespace rdv::b2bua {
namespace {

std::optional<uint32_t> number(std::string_view s) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view nextWord(std::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  size_t end = 0;
  while (end < s.size() && s[end] != ' ' && s[end] != '\t') ++end;
  std::string_view w = s.substr(0, end);
  s.remove_prefix(end);
  return w;
}

}  // namespace

std::optional<RAck> parseRAck(std::string_view value) {
  auto rseq = number(nextWord(value));
  auto cseq = number(nextWord(value));
  std::string_view method = nextWord(value);
  // RFC 3262 §7.2 with §7.1's and RFC 3261 §8.1.1.5's ranges: response-num 1..2^31-1, CSeq-num
  // below 2^31, Method a token.
  if (!rseq || *rseq == 0 || *rseq > 0x7fffffffU || !cseq || *cseq > 0x7fffffffU || !sip::isSipToken(method) ||
      !nextWord(value).empty()) {
    return std::nullopt;
  }
  return RAck{*rseq, *cseq, std::string(method)};
}

std::optional<uint32_t> parseRSeq(std::string_view value) {
  std::string_view w = nextWord(value);
  auto v = number(w);
  if (!v || *v == 0 || *v > 0x7fffffffU || !nextWord(value).empty()) return std::nullopt;
  return v;
}

uint32_t ReliableProvisional::start(Response r, uint64_t nowMs) {
  assert(!outstanding_);
  outstanding_ = true;
  response_ = std::move(r);
  startMs_ = nowMs;
  intervalMs_ = t1Ms_;
  nextMs_ = nowMs + t1Ms_;
  return ++rseq_;  // §7.1 lets the first be any value; 1 keeps traces readable
}

uint64_t ReliableProvisional::deadlineMs() const {
  return outstanding_ ? nextMs_ : std::numeric_limits<uint64_t>::max();
}

ReliableProvisional::Due ReliableProvisional::onTimer(uint64_t nowMs) {
  if (!outstanding_ || nowMs < nextMs_) return Due::Nothing;
  if (nowMs >= startMs_ + 64 * t1Ms_) {
    outstanding_ = false;
    return Due::GiveUp;
  }
  intervalMs_ *= 2;
  nextMs_ = std::min(nowMs + intervalMs_, startMs_ + 64 * t1Ms_);
  return Due::Retransmit;
}

bool ReliableProvisional::prack(const RAck& rack, uint32_t inviteCseq) {
  if (!outstanding_ || rack.rseq != rseq_ || rack.cseq != inviteCseq ||
      strcasecmp(rack.method.c_str(), "INVITE") != 0)
    return false;
  outstanding_ = false;
  return true;
}

}  // namespace rdv::b2bua
