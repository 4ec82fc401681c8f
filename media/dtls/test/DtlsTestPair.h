#pragma once
// Test helper: a client and a server DtlsEndpoint wired back to back in memory, each checking the
// other's certificate by its identity's fingerprint.

#include <cstdint>
#include <functional>
#include <memory>

#include <gtest/gtest.h>

#include "media/dtls/DtlsEndpoint.h"

namespace rdv::dtls::test {

inline std::shared_ptr<const DtlsIdentity> identity() {
  auto id = DtlsIdentity::generate();
  EXPECT_TRUE(id.has_value()) << (id ? "" : id.error());
  return std::move(id).value();
}

inline std::unique_ptr<DtlsEndpoint> endpoint(const DtlsIdentity& self, const DtlsIdentity& peer, Role role,
                                              EndpointOptions o = {}) {
  o.role = role;
  o.remote = *parseFingerprint(peer.fingerprint());
  auto ep = DtlsEndpoint::create(self, o);
  EXPECT_TRUE(ep.has_value()) << (ep ? "" : ep.error());
  return std::move(ep).value();
}

// Moves what `from` queued into `to`, each datagram through `keep` (false: lost on the way).
// Returns how many datagrams were moved or lost.
inline size_t deliver(DtlsEndpoint& from, DtlsEndpoint& to, uint64_t nowNs,
                      const std::function<bool(std::span<const std::byte>)>& keep = nullptr) {
  const size_t n = from.outgoingCount();
  std::vector<std::vector<std::byte>> copies;
  for (size_t i = 0; i < n; ++i) copies.emplace_back(from.outgoing(i).begin(), from.outgoing(i).end());
  from.clearOutgoing();
  for (const auto& d : copies) {
    if (!keep || keep(d)) to.feed(d, nowNs);
  }
  return n;
}

// Shuttles datagrams both ways until neither side has anything to send (bounded).
inline void shuttle(DtlsEndpoint& a, DtlsEndpoint& b, uint64_t nowNs) {
  for (int i = 0; i < 20; ++i) {
    if (deliver(a, b, nowNs) + deliver(b, a, nowNs) == 0) return;
  }
}

}  // namespace rdv::dtls::test
