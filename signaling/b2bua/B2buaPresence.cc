// The presence agent (RFC 3856) on top of signaling/presence: SUBSCRIBE for "presence" and
// "presence.winfo" (RFC 6665, RFC 3857), PUBLISH (RFC 3903), and the NOTIFYs. Authenticated like
// INVITE and MESSAGE (sip.auth_invite, the From user's own credentials). A user's state is its
// newest publication, else derived from registration: open while a contact is registered, closed
// when the last one goes (REGISTER, expiry). NOTIFYs go over the watcher's registered flow (its
// binding whose contact is the subscription's target), else back to where the SUBSCRIBE came from,
// paced by SubscriptionTable (one in flight, one per presence.notify_min_interval_ms, flaps
// coalesced). A 481/408 (or no answer at all) to a NOTIFY ends the subscription (RFC 6665 §4.2.2).

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
#include "signaling/sip/NameAddr.h"
#include "signaling/sip/SipUri.h"

namespace rdv::b2bua {
namespace {

constexpr uint32_t kDefaultSubscribeExpires = 3600;  // RFC 3856 §6.4
constexpr std::string_view kAllowEvents = "Allow-Events: presence, presence.winfo";

struct EventHeader {
  std::string_view package;
  std::string_view id;
};

EventHeader parseEvent(std::string_view v) {
  const auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  EventHeader e{trim(v.substr(0, v.find(';'))), {}};
  for (size_t at = v.find(';'); at != std::string_view::npos;) {
    const size_t next = v.find(';', at + 1);
    std::string_view param = trim(v.substr(at + 1, next == std::string_view::npos ? v.npos : next - at - 1));
    if (param.size() > 3 && param.substr(0, 3) == "id=") e.id = param.substr(3);
    at = next;
  }
  return e;
}

std::optional<presence::Package> packageOf(std::string_view name) {
  if (name == "presence") return presence::Package::Presence;
  if (name == "presence.winfo") return presence::Package::WatcherInfo;
  return std::nullopt;
}

struct UserAt {
  std::string user;
  std::string host;
  std::string uri;
};

std::optional<UserAt> userOfHeader(std::string_view value) {
  auto na = sip::NameAddr::parse(value);
  if (!na) return std::nullopt;
  auto uri = sip::SipUri::parse(na->uri);
  if (!uri || uri->user.empty()) return std::nullopt;
  return UserAt{uri->unescapedUser(), std::string(uri->host), std::string(na->uri)};
}

}  // namespace

void B2bua::refusePresence(sip::TxnId id, bool publish, PresenceRefusal why, int status,
                           std::string_view reason, std::span<const std::string> headers) {
  (publish ? counters_.publishRefused : counters_.subscribeRefused)[static_cast<size_t>(why)].add(1);
  txns_.respond(id, status, reason, tags_.next(), headers);
}

void B2bua::onSubscribe(sip::TxnId id, const sip::SipMessage& req, const sip::SipPeer& from) {
  if (!registrations_.authorizeCaller(id, req)) return;
  const EventHeader event = parseEvent(req.header("Event"));
  const auto package = packageOf(event.package);
  if (!package) {
    std::array<std::string, 1> h{std::string(kAllowEvents)};
    refusePresence(id, false, PresenceRefusal::BadEvent, 489, "Bad Event", h);
    return;
  }
  auto ruri = sip::SipUri::parse(req.requestUri());
  const std::string presentity = ruri && !ruri->user.empty() ? ruri->unescapedUser() : std::string();
  if (presentity.empty() || !registrations_.isKnownUser(presentity)) {
    refusePresence(id, false, PresenceRefusal::NotFound, 404, "Not Found");
    return;
  }
  const auto watcher = userOfHeader(req.header("From"));
  const std::string contact = uriOf(req.header("Contact"));
  if (!watcher || contact.empty()) {
    refusePresence(id, false, PresenceRefusal::Malformed, 400,
                   watcher ? "Missing Contact" : "Malformed From");
    return;
  }
  if (auto accept = req.header("Accept"); *package == presence::Package::Presence && !accept.empty() &&
                                          accept.find("pidf+xml") == std::string_view::npos &&
                                          accept.find("*/*") == std::string_view::npos) {
    std::array<std::string, 1> h{fmt::format("Accept: {}", presence::kPidfType)};
    refusePresence(id, false, PresenceRefusal::BadType, 406, "Not Acceptable", h);
    return;
  }
  const auto& pcfg = cfg_.presence;
  const auto expires = subscribeExpires(id, req);
  if (!expires) return;
  const uint32_t asked = *expires;
  const uint64_t now = clock_.monotonicMs();
  presence::Subscription s;
  s.package = *package;
  using presence::Field;
  s.set(Field::Presentity, presentity);  // a refused set() shows in complete(), checked below
  s.set(Field::Watcher, watcher->user);
  s.set(Field::EventId, event.id);
  s.set(Field::CallId, req.callId());
  s.set(Field::LocalTag, tags_.next());
  s.set(Field::RemoteTag, req.fromTag());
  s.set(Field::LocalId, identity(req.header("To")));
  s.set(Field::RemoteId, identity(req.header("From")));
  s.set(Field::RemoteTarget, contact);
  s.setRoutes(req.headerList("Record-Route"));
  if (!s.complete()) {
    refusePresence(id, false, PresenceRefusal::Malformed, 400, "Dialog state too large");
    return;
  }
  s.peer = watcherPeer(watcher->user, contact, from);
  s.remoteCseq = req.cseq();
  s.expiresAtMs = now + uint64_t{std::min(asked, pcfg.maxExpires)} * 1000;
  const auto decision = watcherPolicy_.decide(*package, watcher->user, watcher->host, presentity, ruri->host);
  if (decision == presence::Decision::Reject || asked == 0) {
    // Rejected (RFC 3856 §6.6: never the state), or a fetch (RFC 6665 §4.4.3): one final NOTIFY.
    if (decision == presence::Decision::Reject)
      counters_.subscribeRefused[size_t(PresenceRefusal::Rejected)].add(1);
    answerSubscribe(id, s, 0, from);
    s.state =
        decision == presence::Decision::Allow ? presence::SubState::Active : presence::SubState::Pending;
    sendNotify(s, decision == presence::Decision::Reject ? "terminated;reason=rejected"
                                                         : "terminated;reason=timeout");
    return;
  }
  if (decision == presence::Decision::Pending) {
    s.state = presence::SubState::Pending;
    counters_.subscribeRefused[size_t(PresenceRefusal::Pending)].add(1);
  }
  auto added = subscriptions_.add(std::move(s));
  if (!added) {
    const bool full = added.error() == presence::AddError::TableFull;
    std::array<std::string, 1> h{"Retry-After: 30"};
    refusePresence(id, false, PresenceRefusal::Limit, full ? 503 : 403,
                   full ? "Service Unavailable" : "Too many subscriptions",
                   full ? h : std::span<const std::string>());
    return;
  }
  presence::Subscription& sub = **added;
  answerSubscribe(id, sub, std::min(asked, pcfg.maxExpires), from);
  spdlog::info("sip: {} subscribes to {} of {} ({})", sub.watcher(), presence::packageName(sub.package),
               presentity, sub.state == presence::SubState::Active ? "active" : "pending");
  if (sub.package == presence::Package::Presence) {
    presenceSeen_.try_emplace(presentity, presenceFingerprint(presentity, now));
    subscriptions_.markChanged(presentity, presence::Package::WatcherInfo);
  }
  counters_.presenceSubscriptions.set(subscriptions_.size());
  flushNotifies(now);
}

std::optional<uint32_t> B2bua::subscribeExpires(sip::TxnId id, const sip::SipMessage& req) {
  const auto& pcfg = cfg_.presence;
  const uint32_t asked = req.header("Expires").empty() ? kDefaultSubscribeExpires
                                                       : toUint(req.header("Expires"), pcfg.maxExpires);
  if (asked != 0 && asked < pcfg.minExpires) {
    std::array<std::string, 1> h{fmt::format("Min-Expires: {}", pcfg.minExpires)};
    refusePresence(id, false, PresenceRefusal::TooBrief, 423, "Interval Too Brief", h);
    return std::nullopt;
  }
  return asked;
}

void B2bua::answerSubscribe(sip::TxnId id, const presence::Subscription& s, uint32_t expires,
                            const sip::SipPeer& from) {
  std::array<std::string, 3> h{fmt::format("Expires: {}", expires), local_.contact(from),
                               std::string(kAllowEvents)};
  txns_.respond(id, 200, "OK", s.localTag(), h);
}

sip::SipPeer B2bua::watcherPeer(std::string_view watcher, std::string_view contact,
                                const sip::SipPeer& from) {
  for (const auto& b : registrations_.lookup(std::string(watcher), clock_.monotonicMs())) {
    if (b.contact == contact) return peerOf(b);
  }
  return withReconnect(from, std::string(contact));
}

void B2bua::onSubscribeRefresh(sip::TxnId id, const sip::SipMessage& req, presence::Subscription& s,
                               const sip::SipPeer& from) {
  if (packageOf(parseEvent(req.header("Event")).package) != s.package) {
    std::array<std::string, 1> h{std::string(kAllowEvents)};
    refusePresence(id, false, PresenceRefusal::BadEvent, 489, "Bad Event", h);
    return;
  }
  if (req.cseq() <= s.remoteCseq) {
    txns_.respond(id, 500, "Out of order CSeq");
    return;
  }
  const auto& pcfg = cfg_.presence;
  const auto expires = subscribeExpires(id, req);
  if (!expires) return;
  const uint32_t asked = *expires;
  s.remoteCseq = req.cseq();
  if (auto contact = uriOf(req.header("Contact"));
      !contact.empty() && !s.set(presence::Field::RemoteTarget, contact)) {
    refusePresence(id, false, PresenceRefusal::Malformed, 400, "Dialog state too large");
    return;
  }
  s.peer = watcherPeer(s.watcher(), s.remoteTarget(), from);
  const uint64_t now = clock_.monotonicMs();
  answerSubscribe(id, s, std::min(asked, pcfg.maxExpires), from);
  if (asked == 0) {  // unsubscribe (RFC 6665 §4.1.2.3): a final NOTIFY, then the subscription is gone
    spdlog::info("sip: {} unsubscribes from {}", s.watcher(), s.presentity());
    endSubscription(s, "terminated");
    return;
  }
  subscriptions_.setExpiry(s, now + uint64_t{std::min(asked, pcfg.maxExpires)} * 1000);
  subscriptions_.markDirty(s);  // a refresh gets a NOTIFY with the current state (§4.2.1.2)
  flushNotifies(now);
}

void B2bua::endSubscription(presence::Subscription& s, std::string_view state) {
  sendNotify(s, state);
  const std::string presentity(s.presentity());
  const bool watched = s.package == presence::Package::Presence;
  subscriptions_.remove(s.id);
  counters_.presenceSubscriptions.set(subscriptions_.size());
  if (!watched) return;
  if (subscriptions_.watchersOf(presentity, presence::Package::Presence).empty())
    presenceSeen_.erase(presentity);
  subscriptions_.markChanged(presentity, presence::Package::WatcherInfo);
}

}  // namespace rdv::b2bua
