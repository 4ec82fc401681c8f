#pragma once
// Who may watch whom (RFC 3856 §6.6 authorization), from configuration: a user's buddy list
// (presence.lists.<user> = "bob,carol") names the watchers it allows; presence.allow_same_domain
// lets in anyone whose From host is the presentity's host. Users always see themselves. The
// rest are blocked: rejected outright, or kept pending (presence.polite_block) so that they cannot
// tell blocking from absence (RFC 3856 §6.6, "polite blocking").
// Watcher info (RFC 3857) is only ever for the presentity itself.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "config/Config.h"
#include "signaling/presence/Subscription.h"

namespace rdv::presence {

enum class Decision : uint8_t { Allow, Reject, Pending };

class WatcherPolicy {
 public:
  explicit WatcherPolicy(const config::PresenceConfig& cfg);

  // `watcherHost` / `presentityHost`: the host parts of the From and Request-URI (compared
  // without case).
  Decision decide(Package package, std::string_view watcher, std::string_view watcherHost,
                  std::string_view presentity, std::string_view presentityHost) const;

 private:
  bool sameDomain_;
  bool polite_;
  std::unordered_map<std::string, std::unordered_set<std::string>> lists_;
};

}  // namespace rdv::presence
