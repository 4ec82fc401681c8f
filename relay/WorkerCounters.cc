#include "relay/WorkerCounters.h"

namespace rdv::relay {

const char* toString(DropReason r) {
  switch (r) {
    case DropReason::Spoofed: return "spoofed_source";
    case DropReason::NoSession: return "no_session";
    case DropReason::Malformed: return "malformed";
    case DropReason::SendFailed: return "send_failed";
    case DropReason::LocalQueueFull: return "mixer_queue_full";
    case DropReason::RateLimited: return "rate_limited";
    case DropReason::BundleUnknown: return "bundle_unknown";
    case DropReason::kCount: break;
  }
  return "unknown";
}

const char* srtpDropLabel(srtp::SrtpError e) {
  switch (e) {
    case srtp::SrtpError::AuthFail: return "auth_fail";
    case srtp::SrtpError::ReplayFail: return "replay_fail";
    case srtp::SrtpError::BadPacket: return "bad_packet";
    case srtp::SrtpError::BadMki: return "bad_mki";
    case srtp::SrtpError::NoRoom: return "no_room";
    case srtp::SrtpError::KeyExpired: return "key_expired";
    case srtp::SrtpError::BadConfig: return "bad_config";
    case srtp::SrtpError::Failed: return "failed";
  }
  return "failed";
}

const char* dtlsDropLabel(DtlsDrop d) {
  switch (d) {
    case DtlsDrop::NotKeyed: return "not_keyed";
    case DtlsDrop::Malformed: return "malformed";
    case DtlsDrop::WrongSource: return "wrong_source";
    case DtlsDrop::NoHandshake: return "no_handshake";
    case DtlsDrop::PeerClosed: return "peer_closed";
    case DtlsDrop::kCount: break;
  }
  return "unknown";
}

}  // namespace rdv::relay
