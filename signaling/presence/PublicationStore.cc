#include "signaling/presence/PublicationStore.h"

#include <algorithm>

#include <fmt/format.h>

namespace rdv::presence {

PublicationStore::PublicationStore(uint32_t minExpires, uint32_t maxExpires, uint32_t defaultExpires,
                                   size_t maxTotal)
    : minExpires_(minExpires),
      maxExpires_(maxExpires),
      defaultExpires_(std::min(defaultExpires, maxExpires)),
      maxTotal_(maxTotal),
      salt_((uint64_t{std::random_device{}()} << 32) | std::random_device{}()) {}

std::string PublicationStore::newTag() {
  return fmt::format("{:x}.{:x}", salt_ & 0xffffffffffULL, ++sequence_);
}

Expected<PublishOutcome, PublishError> PublicationStore::publish(const PublishRequest& r, uint64_t nowMs) {
  const uint32_t asked = r.expires.value_or(defaultExpires_);
  if (asked != 0 && asked < minExpires_)
    return Unexpected(PublishError{423, "Interval Too Brief", minExpires_});
  const uint32_t granted = std::min(asked, maxExpires_);
  if (r.ifMatch.empty()) {
    if (r.doc == nullptr) return Unexpected(PublishError{400, "PUBLISH without a body or SIP-If-Match"});
    if (granted == 0) return Unexpected(PublishError{400, "Expires: 0 without SIP-If-Match"});
    auto& list = byUser_[std::string(r.user)];
    if (etags_.size() >= maxTotal_ || list.size() >= kMaxPerUser) {
      if (list.empty()) byUser_.erase(std::string(r.user));
      return Unexpected(PublishError{503, "Too many publications"});
    }
    Publication p{
        newTag(),   std::string(r.body), r.doc->basic, r.doc->note, nowMs + uint64_t{granted} * 1000,
        ++sequence_};
    etags_.emplace(p.etag, std::string(r.user));
    list.push_back(std::move(p));
    return PublishOutcome{list.back().etag, granted, true};
  }
  auto owner = etags_.find(std::string(r.ifMatch));
  if (owner == etags_.end() || owner->second != r.user)
    return Unexpected(PublishError{412, "Conditional Request Failed"});
  auto& list = byUser_[owner->second];
  const auto it =
      std::find_if(list.begin(), list.end(), [&](const Publication& p) { return p.etag == r.ifMatch; });
  if (it == list.end() || it->expiresAtMs <= nowMs)
    return Unexpected(PublishError{412, "Conditional Request Failed"});
  const std::string user = owner->second;
  if (granted == 0) {
    erase(user, static_cast<size_t>(it - list.begin()));
    return PublishOutcome{{}, 0, true};
  }
  etags_.erase(owner);
  it->etag = newTag();
  etags_.emplace(it->etag, user);
  it->expiresAtMs = nowMs + uint64_t{granted} * 1000;
  PublishOutcome out{it->etag, granted, false};
  if (r.doc != nullptr) {
    out.changed = it->body != r.body;
    it->body = std::string(r.body);
    it->basic = r.doc->basic;
    it->note = r.doc->note;
    it->modified = ++sequence_;
  }
  return out;
}

const Publication* PublicationStore::current(std::string_view user, uint64_t nowMs) const {
  auto it = byUser_.find(std::string(user));
  if (it == byUser_.end()) return nullptr;
  const Publication* best = nullptr;
  for (const auto& p : it->second) {
    if (p.expiresAtMs > nowMs && (best == nullptr || p.modified > best->modified)) best = &p;
  }
  return best;
}

void PublicationStore::erase(const std::string& user, size_t index) {
  auto it = byUser_.find(user);
  etags_.erase(it->second[index].etag);
  it->second.erase(it->second.begin() + static_cast<std::ptrdiff_t>(index));
  if (it->second.empty()) byUser_.erase(it);
}

std::vector<std::string> PublicationStore::purge(uint64_t nowMs) {
  std::vector<std::string> changed;
  for (auto it = byUser_.begin(); it != byUser_.end();) {
    auto& list = it->second;
    const auto gone = std::stable_partition(list.begin(), list.end(),
                                            [&](const Publication& p) { return p.expiresAtMs > nowMs; });
    if (gone != list.end()) {
      changed.push_back(it->first);
      for (auto p = gone; p != list.end(); ++p) etags_.erase(p->etag);
      list.erase(gone, list.end());
    }
    it = list.empty() ? byUser_.erase(it) : std::next(it);
  }
  return changed;
}

}  // namespace rdv::presence
