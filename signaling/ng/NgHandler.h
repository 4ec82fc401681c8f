#pragma once
// The rtpengine NG protocol's commands (ping, offer, answer, delete, query, list) on top of
// MediaAnchor: takes a decoded request dictionary and answers with the reply dictionary through
// a callback. Most commands answer before handle() returns; query and delete answer when the
// relay worker's report arrives (RelayControl::drainReplies), so the control thread never waits.
// Every failure is a reply (`result: error` + `error-reason`, or rtpengine's `load limit`);
// nothing here throws.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "common/Counter.h"
#include "signaling/anchor/MediaAnchor.h"
#include "signaling/ng/Bencode.h"
#include "signaling/ng/NgOptions.h"

namespace rdv::ng {

// The commands counted by name; anything else (and a request without a command) is "other".
inline constexpr std::array<std::string_view, 7> kNgCommandNames = {"ping",  "offer", "answer", "delete",
                                                                   "query", "list",  "other"};

struct NgCounters {
  common::Counter requests;
  common::Counter errors;
  common::Counter retransmissions;
  common::Counter malformed;
  std::array<common::Counter, kNgCommandNames.size()> commands;  // decoded requests, by kNgCommandNames

  void countCommand(std::optional<std::string_view> name) {
    size_t i = 0;
    while (i + 1 < kNgCommandNames.size() && (!name || *name != kNgCommandNames[i])) ++i;
    commands[i].add(1);
  }
};

class NgHandler {
 public:
  using Reply = std::function<void(BValue)>;

  explicit NgHandler(anchor::MediaAnchor& anchor) : anchor_(anchor) {}

  // Answers `request` exactly once through `reply` (see the file comment for when).
  void handle(const BValue& request, Reply reply);

  // While draining, offers for call-ids the anchor does not know are refused as rtpengine refuses
  // calls over its session limit (kDrainingLimit), so proxies fail over; calls already up go on.
  void setDraining(bool on) { draining_ = on; }
  static constexpr std::string_view kDrainingLimit = "Parallel session limit reached";

  // Names of unknown flags/keys logged so far (each is logged once).
  size_t unknownNamesLogged() const { return unknownLogged_.size(); }

 private:
  BValue offerOrAnswer(const NgOptions& o, bool isOffer);
  void remove(const NgOptions& o, Reply reply);
  void query(const NgOptions& o, Reply reply);
  BValue list(const BValue& req);
  // Logs each unknown or unsupported option name once per process.
  void noteOptions(const NgOptions& o);

  anchor::MediaAnchor& anchor_;
  std::unordered_set<std::string> unknownLogged_;
  bool unknownCapLogged_ = false;
  bool draining_ = false;
};

BValue ngError(std::string_view reason);

// The rtpengine-style report Kamailio's and OpenSIPS's modules read: created, last signal, per
// tag its label, via-branch and medias -> streams (local port, endpoint, stats, SSRC), the
// top-level SSRC dictionary with lowest/highest/average MOS (media/EModel.h), and totals.
BValue callReport(const anchor::CallInfo& ci);

}  // namespace rdv::ng
