// libFuzzer target for stun::StunView::parse and every typed read, plus the integrity and
// fingerprint checks. A message that parses is rebuilt attribute by attribute with StunBuilder
// and must parse again to the same attributes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "relay/stun/StunBuilder.h"
#include "relay/stun/StunMessage.h"

namespace {

using rdv::stun::StunAttribute;
using rdv::stun::StunBuilder;
using rdv::stun::StunView;
namespace attr = rdv::stun::attr;

void check(bool ok) {
  if (!ok) std::abort();
}

unsigned touch(std::span<const std::byte> b) {
  unsigned sum = 0;
  for (std::byte v : b) sum += std::to_integer<unsigned>(v);
  return sum;
}

void readEverything(const StunView& m) {
  unsigned sum = 0;
  m.forEach([&](const StunAttribute& a) {
    check(a.value.data() >= m.bytes().data() && a.value.data() + a.value.size() <= m.bytes().data() + m.bytes().size());
    sum += touch(a.value);
    return true;
  });
  for (uint16_t t : {attr::kXorMappedAddress, attr::kXorPeerAddress, attr::kXorRelayedAddress}) {
    if (auto a = m.xorAddress(t)) check(a->valid());
  }
  if (auto e = m.errorCode()) check(e->code >= 300 && e->code <= 699);
  (void)m.u32(attr::kLifetime);
  (void)m.text(attr::kUsername);
  (void)m.requestedTransport();
  (void)m.channelNumber();
  if (auto d = m.data()) sum += touch(*d);
  const std::array<std::byte, 16> key{};
  (void)m.checkIntegrity(key);
  (void)m.checkIntegritySha256(key);
  (void)m.checkFingerprint();
  (void)sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  auto m = StunView::parse(input);
  if (!m) return 0;
  check(StunView::looksLikeStun(input));
  readEverything(*m);

  std::array<std::byte, 2048> buf{};
  StunBuilder b(buf, m->method(), m->messageClass(), m->transactionId());
  size_t count = 0;
  m->forEach([&](const StunAttribute& a) {
    b.add(a.type, a.value);
    ++count;
    return true;
  });
  if (!b.ok()) return 0;
  auto again = StunView::parse(b.bytes());
  check(again.has_value());
  size_t recount = 0;
  again->forEach([&](const StunAttribute&) {
    ++recount;
    return true;
  });
  check(recount == count);
  return 0;
}
