// The presence agent's other half (B2buaPresence.cc has SUBSCRIBE): PUBLISH (RFC 3903) into the
// PublicationStore, what a presentity's state is (newest publication, else registration), and the
// NOTIFYs: built from that state at send time (so flaps coalesce), paced by SubscriptionTable,
// their answers (481/408 or no answer end the subscription, RFC 6665 §4.2.2), expiry.

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "signaling/b2bua/B2bua.h"
#include "signaling/b2bua/Reconnect.h"
#include "signaling/presence/Pidf.h"
#include "signaling/presence/WatcherInfo.h"
#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipUri.h"

namespace rdv::b2bua {
namespace {

std::optional<std::string> userOf(std::string_view headerValue) {
  auto na = sip::NameAddr::parse(headerValue);
  if (!na) return std::nullopt;
  auto uri = sip::SipUri::parse(na->uri);
  if (!uri || uri->user.empty()) return std::nullopt;
  return uri->unescapedUser();
}

bool isPidfType(std::string_view value) {
  value = value.substr(0, value.find(';'));
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  return value.size() == presence::kPidfType.size() &&
         std::equal(value.begin(), value.end(), presence::kPidfType.begin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

std::string_view eventPackage(std::string_view v) {
  v = v.substr(0, v.find(';'));
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

void B2bua::onPublish(sip::TxnId id, const sip::SipMessage& req) {
  if (!registrations_.authorizeCaller(id, req)) return;
  if (eventPackage(req.header("Event")) != "presence") {
    std::array<std::string, 1> h{"Allow-Events: presence, presence.winfo"};
    refusePresence(id, true, PresenceRefusal::BadEvent, 489, "Bad Event", h);
    return;
  }
  auto ruri = sip::SipUri::parse(req.requestUri());
  const std::string presentity = ruri && !ruri->user.empty() ? ruri->unescapedUser() : std::string();
  if (presentity.empty() || !registrations_.isKnownUser(presentity)) {
    refusePresence(id, true, PresenceRefusal::NotFound, 404, "Not Found");
    return;
  }
  if (userOf(req.header("From")) != presentity) {  // authenticated as the From user (sip.auth_invite)
    refusePresence(id, true, PresenceRefusal::Forbidden, 403, "Only the presentity may publish");
    return;
  }
  const std::string_view body = req.body();
  if (body.size() > cfg_.presence.maxBodyBytes) {
    refusePresence(id, true, PresenceRefusal::TooLarge, 413, "Request Entity Too Large");
    return;
  }
  std::optional<presence::PidfDocument> doc;
  if (!body.empty()) {
    if (!isPidfType(req.header("Content-Type"))) {
      std::array<std::string, 1> h{fmt::format("Accept: {}", presence::kPidfType)};
      refusePresence(id, true, PresenceRefusal::BadType, 415, "Unsupported Media Type", h);
      return;
    }
    auto parsed = presence::parsePidf(body, presentity);
    if (!parsed) {
      refusePresence(id, true, PresenceRefusal::Malformed, 400, parsed.error().reason);
      return;
    }
    doc = std::move(*parsed);
  }
  presence::PublishRequest r{presentity, req.header("SIP-If-Match"), doc ? &*doc : nullptr, body,
                             std::nullopt};
  if (auto e = req.header("Expires"); !e.empty()) r.expires = toUint(e, cfg_.presence.maxExpires);
  const uint64_t now = clock_.monotonicMs();
  auto out = publications_.publish(r, now);
  if (!out) {
    const auto& e = out.error();
    std::vector<std::string> h;
    if (e.status == 423) h.push_back(fmt::format("Min-Expires: {}", e.minExpires));
    const PresenceRefusal why = e.status == 412   ? PresenceRefusal::UnknownEtag
                                : e.status == 423 ? PresenceRefusal::TooBrief
                                : e.status == 503 ? PresenceRefusal::Limit
                                                  : PresenceRefusal::Malformed;
    refusePresence(id, true, why, e.status, e.reason, h);
    return;
  }
  std::vector<std::string> h{fmt::format("Expires: {}", out->expires)};
  if (!out->etag.empty()) h.push_back(fmt::format("SIP-ETag: {}", out->etag));
  txns_.respond(id, 200, "OK", tags_.next(), h);
  counters_.presencePublications.set(publications_.size());
  spdlog::debug("sip: PUBLISH for {} -> etag '{}' for {} s", presentity, out->etag, out->expires);
  if (out->changed) presenceChanged(presentity, now);
}

std::string B2bua::presenceFingerprint(const std::string& user, uint64_t nowMs) const {
  if (const presence::Publication* p = publications_.current(user, nowMs))
    return fmt::format("p{}", p->modified);
  return registrations_.lookup(user, nowMs).empty() ? "closed" : "open";
}

void B2bua::presenceChanged(const std::string& user, uint64_t nowMs) {
  auto it = presenceSeen_.find(user);
  if (it == presenceSeen_.end()) return;  // nobody watches
  std::string now = presenceFingerprint(user, nowMs);
  if (now == it->second) return;
  it->second = std::move(now);
  subscriptions_.markChanged(user, presence::Package::Presence);
  flushNotifies(nowMs);
}

std::string B2bua::watchedRegistrant(const sip::SipMessage& req) const {
  if (presenceSeen_.empty()) return {};
  auto user = userOf(req.header("To"));
  return user && presenceSeen_.count(*user) != 0 ? *user : std::string();
}

std::string B2bua::presenceBody(const presence::Subscription& s, std::string& contentType) {
  const uint64_t now = clock_.monotonicMs();
  if (s.package == presence::Package::WatcherInfo) {
    std::vector<presence::WatcherEntry> list;
    for (uint64_t wid : subscriptions_.watchersOf(s.presentity(), presence::Package::Presence)) {
      const presence::Subscription* w = subscriptions_.get(wid);
      const bool active = w->state == presence::SubState::Active;
      list.push_back({fmt::format("w{}", wid), uriOf(w->remoteId()), active ? "active" : "pending",
                      active ? "approved" : "subscribe"});
    }
    contentType = presence::kWatcherInfoType;
    return presence::buildWatcherInfo(fmt::format("sip:{}@{}", s.presentity(), local_.host()), s.version,
                                      list);
  }
  contentType = presence::kPidfType;
  if (const presence::Publication* p = publications_.current(s.presentity(), now)) return p->body;
  const bool online = !registrations_.lookup(std::string(s.presentity()), now).empty();
  return presence::buildPidf(fmt::format("pres:{}@{}", s.presentity(), local_.host()),
                             online ? presence::Basic::Open : presence::Basic::Closed,
                             online ? "online" : "offline", "rdv-reg");
}

void B2bua::sendNotify(presence::Subscription& s, std::string_view terminated) {
  const uint64_t now = clock_.monotonicMs();
  std::vector<std::string> h{
      s.eventId().empty() ? fmt::format("Event: {}", presence::packageName(s.package))
                          : fmt::format("Event: {};id={}", presence::packageName(s.package), s.eventId()),
      fmt::format("Subscription-State: {}",
                  terminated.empty() ? presence::subscriptionState(s, now) : std::string(terminated))};
  for (const auto r : s.routes()) h.push_back(fmt::format("Route: {}", r));
  std::string body;
  std::string ctype;
  // The state only to an authorized watcher (RFC 3856 §6.6): pending and rejected ones get none.
  if (s.state == presence::SubState::Active && terminated.find("rejected") == std::string_view::npos) {
    body = presenceBody(s, ctype);
    ++s.version;
  }
  Leg leg;
  leg.callId = s.callId();
  leg.localTag = s.localTag();
  leg.remoteTag = s.remoteTag();
  leg.localId = s.localId();
  leg.remoteId = s.remoteId();
  leg.remoteTarget = s.remoteTarget();
  leg.peer = s.peer;
  const sip::TxnId out = txns_.sendRequest(
      requestText(local_, leg, "NOTIFY", ++s.localCseq, txns_.newBranch(), 70, body, ctype, h),
      withReconnect(s.peer, s.remoteTarget()));
  if (out == 0) {
    counters_.notifyFailed.add(1);
    return;
  }
  counters_.notifySent.add(1);
  if (terminated.empty()) notifies_[out] = s.id;  // a final NOTIFY's answer changes nothing
}

void B2bua::flushNotifies(uint64_t nowMs) {
  for (uint64_t id : subscriptions_.due(nowMs)) {
    presence::Subscription* s = subscriptions_.get(id);
    subscriptions_.noteSent(*s, nowMs);
    sendNotify(*s, {});
  }
}

bool B2bua::onNotifyAnswer(sip::TxnId id, int status) {
  auto node = notifies_.extract(id);
  if (node.empty()) return false;
  presence::Subscription* s = subscriptions_.get(node.mapped());
  if (status >= 300) counters_.notifyFailed.add(1);
  if (s == nullptr) return true;
  subscriptions_.noteAnswered(*s);
  if (status == 481 || status == 408) {  // the watcher's dialog is gone, or it is unreachable
    spdlog::info("sip: NOTIFY to {} for {} got {}: subscription dropped", s->watcher(), s->presentity(),
                 status);
    const std::string presentity(s->presentity());
    const bool watched = s->package == presence::Package::Presence;
    subscriptions_.remove(s->id);
    counters_.presenceSubscriptions.set(subscriptions_.size());
    if (watched) subscriptions_.markChanged(presentity, presence::Package::WatcherInfo);
  }
  flushNotifies(clock_.monotonicMs());
  return true;
}

void B2bua::runPresenceTimers(uint64_t nowMs) {
  for (uint64_t id : subscriptions_.expired(nowMs)) {
    if (presence::Subscription* s = subscriptions_.get(id)) endSubscription(*s, "terminated;reason=timeout");
  }
  flushNotifies(nowMs);
}

void B2bua::presenceHousekeeping(uint64_t nowMs) {
  for (const auto& user : publications_.purge(nowMs)) presenceChanged(user, nowMs);
  counters_.presencePublications.set(publications_.size());
  // Registrations that expired (no REGISTER tells us): only an "open" derived state can lapse.
  std::vector<std::string> online;
  for (const auto& [user, seen] : presenceSeen_) {
    if (seen == "open") online.push_back(user);
  }
  for (const auto& user : online) presenceChanged(user, nowMs);
}

}  // namespace rdv::b2bua
