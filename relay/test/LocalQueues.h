#pragma once
// The queues between relay workers and one test "mixer", as the server wires them: one SPSC queue
// per worker each way (mixer/RelaySink.h). Sharing one queue between workers would make two
// workers consumers of it at once (a worker drains its queue on every wake-up, whoever posted).

#include <memory>
#include <vector>

#include "relay/PacketQueue.h"
#include "relay/RelayControl.h"

namespace rdv::relay::test {

struct LocalQueues {
  std::vector<std::shared_ptr<PacketQueue>> toMixer;    // [worker]: that worker produces
  std::vector<std::shared_ptr<PacketQueue>> fromMixer;  // [worker]: that worker consumes
};

// Attaches every worker of `relay` to queues of its own (before any local leg).
inline LocalQueues attachLocalQueues(RelayControl& relay, size_t capacity = 64) {
  LocalQueues q;
  for (size_t w = 0; w < relay.workers().size(); ++w) {
    q.toMixer.push_back(std::make_shared<PacketQueue>(capacity));
    q.fromMixer.push_back(std::make_shared<PacketQueue>(capacity));
    relay.attachLocal(w, {q.toMixer.back()}, {q.fromMixer.back()});
  }
  return q;
}

}  // namespace rdv::relay::test
