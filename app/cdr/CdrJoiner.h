#pragma once
// Pairs the two halves of a call detail record, which arrive separately on the control thread:
// the B2BUA's CallRecord (when the call ends) and the relay's SessionReport of the same Call-ID
// (when the relay session is gone: after the B2BUA released it, on a media timeout, or on an NG
// delete). Whichever comes first waits for the other up to `graceMs`; then the line is emitted
// with what there is (an NG call has no SIP half, a call never anchored no media half).

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "relay/MediaSession.h"
#include "signaling/b2bua/CallRecord.h"

namespace rdv::cdr {

class CdrJoiner {
 public:
  using Emit = std::function<void(std::string&& line)>;
  static constexpr size_t kMaxWaiting = 100'000;  // beyond: the oldest half is written alone at once

  CdrJoiner(uint64_t graceMs, Emit emit) : graceMs_(graceMs), emit_(std::move(emit)) {}

  void onCall(b2bua::CallRecord&& call, uint64_t nowMs);
  // `reason`: why the relay session ended, used when no SIP half comes ("ng_delete",
  // "media_timeout", "released").
  void onMedia(const relay::SessionReport& media, std::string_view reason, uint64_t nowMs);
  // Emits the halves that waited graceMs or longer.
  void flush(uint64_t nowMs);
  // When flush() has something to do; UINT64_MAX when nothing waits.
  uint64_t nextDeadline() const { return order_.empty() ? UINT64_MAX : order_.front().first; }
  size_t waiting() const { return waiting_.size(); }

 private:
  struct Halves {
    std::optional<b2bua::CallRecord> call;
    std::optional<relay::SessionReport> media;
    std::string reason;
  };
  Halves* arrive(const std::string& callId, uint64_t nowMs);
  void emit(const std::string& callId);

  uint64_t graceMs_;
  Emit emit_;
  std::unordered_map<std::string, Halves> waiting_;
  std::deque<std::pair<uint64_t, std::string>> order_;  // (deadline, call-id), oldest first
};

}  // namespace rdv::cdr
