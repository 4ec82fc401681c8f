#pragma once
// The rtpengine NG protocol's commands (ping, offer, answer, delete, query, list) on top of
// MediaAnchor: takes a decoded request dictionary, returns the reply dictionary. Every failure is
// a reply with `result: error` and an `error-reason`; nothing here throws.

#include <cstdint>

#include "common/Counter.h"
#include "signaling/anchor/MediaAnchor.h"
#include "signaling/ng/Bencode.h"

namespace rdv::ng {

struct NgCounters {
  common::Counter requests;
  common::Counter errors;
  common::Counter retransmissions;
  common::Counter malformed;
};

class NgHandler {
 public:
  explicit NgHandler(anchor::MediaAnchor& anchor) : anchor_(anchor) {}

  BValue handle(const BValue& request);

 private:
  BValue offerOrAnswer(const BValue& req, bool isOffer);
  BValue remove(const BValue& req);
  BValue query(const BValue& req);
  BValue list(const BValue& req);

  anchor::MediaAnchor& anchor_;
};

BValue ngError(std::string_view reason);

}  // namespace rdv::ng
