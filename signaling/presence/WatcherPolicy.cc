#include "signaling/presence/WatcherPolicy.h"

#include <algorithm>
#include <cctype>

namespace rdv::presence {

WatcherPolicy::WatcherPolicy(const config::PresenceConfig& cfg)
    : sameDomain_(cfg.allowSameDomain != 0), polite_(cfg.politeBlock != 0) {
  for (const auto& [user, list] : cfg.lists) {
    auto names = config::parseBuddyList(list);  // the loader refused malformed lists
    if (!names) continue;
    auto& allowed = lists_[user];
    allowed.insert(names->begin(), names->end());
  }
}

Decision WatcherPolicy::decide(Package package, std::string_view watcher, std::string_view watcherHost,
                               std::string_view presentity, std::string_view presentityHost) const {
  if (watcher == presentity) return Decision::Allow;
  const Decision blocked = polite_ ? Decision::Pending : Decision::Reject;
  if (package == Package::WatcherInfo) return blocked;
  if (auto it = lists_.find(std::string(presentity));
      it != lists_.end() && it->second.count(std::string(watcher)) != 0) {
    return Decision::Allow;
  }
  const bool sameHost =
      watcherHost.size() == presentityHost.size() &&
      std::equal(watcherHost.begin(), watcherHost.end(), presentityHost.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      });
  if (sameDomain_ && sameHost && !watcherHost.empty()) return Decision::Allow;
  return blocked;
}

}  // namespace rdv::presence
