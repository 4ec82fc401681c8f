// RelayWorker: DTLS-SRTP handshakes (RFC 5764) on WebRTC legs (relay/LegWebrtc.h).
// Placeholder until implemented: the datagram is dropped and counted as malformed.
#include "relay/RelayWorker.h"

namespace rdv::relay {

bool RelayWorker::onDtlsRecord(Component& c, uint32_t /*i*/, uint64_t /*nowNs*/) {
  ++c.leg->counters.malformed;
  counters_.drop(DropReason::Malformed).add(1);
  return false;
}

}  // namespace rdv::relay
