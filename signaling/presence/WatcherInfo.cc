#include "signaling/presence/WatcherInfo.h"

#include <fmt/format.h>

#include "signaling/presence/Pidf.h"

namespace rdv::presence {

std::string buildWatcherInfo(std::string_view resource, uint32_t version,
                             const std::vector<WatcherEntry>& watchers) {
  std::string out = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
      "<watcherinfo xmlns=\"urn:ietf:params:xml:ns:watcherinfo\" version=\"{}\" state=\"full\">\r\n"
      "  <watcher-list resource=\"{}\" package=\"presence\">\r\n",
      version, xmlEscape(resource));
  for (const auto& w : watchers) {
    out += fmt::format("    <watcher id=\"{}\" event=\"{}\" status=\"{}\">{}</watcher>\r\n", xmlEscape(w.id),
                       xmlEscape(w.event), xmlEscape(w.status), xmlEscape(w.uri));
  }
  out += "  </watcher-list>\r\n</watcherinfo>\r\n";
  return out;
}

}  // namespace rdv::presence
