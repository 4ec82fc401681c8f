#pragma once
// The watcher information document (RFC 3857 §5, application/watcherinfo+xml): the full list of
// a presentity's watchers, sent in every NOTIFY of a presence.winfo subscription (state="full";
// we never send partial documents, so each NOTIFY stands alone).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rdv::presence {

inline constexpr std::string_view kWatcherInfoType = "application/watcherinfo+xml";

struct WatcherEntry {
  std::string id;      // stable per subscription
  std::string uri;     // the watcher's From URI
  std::string status;  // "active", "pending" or "terminated"
  std::string event;   // "subscribe", "approved", "timeout", "rejected", ...
};

// The document for `resource` (e.g. sip:alice@host) with `version` (0 first, +1 per NOTIFY).
std::string buildWatcherInfo(std::string_view resource, uint32_t version,
                             const std::vector<WatcherEntry>& watchers);

}  // namespace rdv::presence
