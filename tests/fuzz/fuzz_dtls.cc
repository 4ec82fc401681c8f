// libFuzzer target for DTLS on media ports (issue 12): hostile datagrams through RFC 7983
// demultiplexing (relay::demuxMedia), the record framing check (dtls::parseDatagram) and into a
// server dtls::DtlsEndpoint, as a relay leg in the passive role gets them. Must never crash, never
// queue a datagram beyond the MTU, and never reach Connected: nobody can finish a handshake
// without the private key behind the fingerprint the endpoint expects.
//
// Input: byte 0 = mode (bit 0: first feed a genuine ClientHello, so the bytes reach the states
// after the server's flight), then datagrams, each a 2-byte big-endian length and its bytes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "media/dtls/DtlsEndpoint.h"
#include "media/dtls/DtlsRecord.h"
#include "relay/LegWebrtc.h"

namespace {

using namespace rdv;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Fixture {
  std::shared_ptr<const dtls::DtlsIdentity> server = std::move(dtls::DtlsIdentity::generate()).value();
  std::shared_ptr<const dtls::DtlsIdentity> client = std::move(dtls::DtlsIdentity::generate()).value();
  std::vector<std::byte> clientHello;

  dtls::EndpointOptions options(dtls::Role role, const dtls::DtlsIdentity& peer) const {
    dtls::EndpointOptions o;
    o.role = role;
    o.remote = *dtls::parseFingerprint(peer.fingerprint());
    return o;
  }
  Fixture() {
    auto c = std::move(dtls::DtlsEndpoint::create(*client, options(dtls::Role::Client, *server))).value();
    c->start(0);
    check(c->outgoingCount() == 1);
    clientHello.assign(c->outgoing(0).begin(), c->outgoing(0).end());
  }
};

void feed(dtls::DtlsEndpoint& ep, std::span<const std::byte> d) {
  const relay::MediaDemux kind = d.empty() ? relay::MediaDemux::Other : relay::demuxMedia(d[0]);
  const auto framed = dtls::parseDatagram(d);
  if (framed) check(framed->records >= 1 && kind == relay::MediaDemux::Dtls);
  ep.feed(d, 0);
  for (size_t k = 0; k < ep.outgoingCount(); ++k) check(ep.outgoing(k).size() <= 1200);
  ep.clearOutgoing();
  check(ep.state() != dtls::State::Connected);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  if (size < 1) return 0;
  auto ep = std::move(dtls::DtlsEndpoint::create(*f.server, f.options(dtls::Role::Server, *f.client))).value();
  if ((data[0] & 1) != 0) feed(*ep, f.clientHello);
  const auto in = std::as_bytes(std::span(data + 1, size - 1));
  size_t at = 0;
  for (int n = 0; n < 16 && in.size() - at >= 2; ++n) {
    const size_t len = (std::to_integer<size_t>(in[at]) << 8) | std::to_integer<size_t>(in[at + 1]);
    at += 2;
    const size_t take = std::min(len, in.size() - at);
    feed(*ep, in.subspan(at, take));
    at += take;
  }
  ep->onTimer(0);
  check(static_cast<size_t>(ep->failure()) < static_cast<size_t>(dtls::Failure::kCount));
  return 0;
}
