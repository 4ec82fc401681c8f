#include "app/cdr/CdrJoiner.h"

#include "app/cdr/CdrLine.h"

namespace rdv::cdr {

// The waiting entry of `callId`, created (with a deadline) when it is the first half.
CdrJoiner::Halves* CdrJoiner::arrive(const std::string& callId, uint64_t nowMs) {
  auto [it, created] = waiting_.try_emplace(callId);
  if (!created) return &it->second;
  order_.emplace_back(nowMs + graceMs_, callId);
  // Too many calls waiting for their other half: the oldest go out alone now.
  while (waiting_.size() > kMaxWaiting && order_.front().second != callId) {
    std::string oldest = std::move(order_.front().second);
    order_.pop_front();
    emit(oldest);
  }
  return &waiting_.find(callId)->second;
}

void CdrJoiner::onCall(b2bua::CallRecord&& call, uint64_t nowMs) {
  const std::string id = call.callId;
  Halves* h = arrive(id, nowMs);
  h->call = std::move(call);
  if (h->media) emit(id);
}

void CdrJoiner::onMedia(const relay::SessionReport& media, std::string_view reason, uint64_t nowMs) {
  Halves* h = arrive(media.callId, nowMs);
  h->media = media;
  h->reason = std::string(reason);
  if (h->call) emit(media.callId);
}

void CdrJoiner::emit(const std::string& callId) {
  auto it = waiting_.find(callId);
  if (it == waiting_.end()) return;
  Halves& h = it->second;
  std::string line = cdrLine(h.call ? &*h.call : nullptr, h.media ? &*h.media : nullptr, h.reason);
  waiting_.erase(it);
  // Its order_ entry stays where it is; entries of calls already written leave the front, so
  // that nextDeadline() is a live one.
  while (!order_.empty() && waiting_.count(order_.front().second) == 0) order_.pop_front();
  emit_(std::move(line));
}

void CdrJoiner::flush(uint64_t nowMs) {
  while (!order_.empty() && order_.front().first <= nowMs) {
    std::string id = std::move(order_.front().second);
    order_.pop_front();
    emit(id);
  }
}

}  // namespace rdv::cdr
