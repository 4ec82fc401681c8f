#include "signaling/sip/Registrar.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

namespace rdv::sip {
namespace {

constexpr uint64_t kT0 = 1'000'000;
constexpr std::string_view kAor = "sip:alice@example.com";

RegisterRequest reg(std::string contact, std::optional<uint32_t> expires = std::nullopt, uint32_t cseq = 1,
                    std::string callId = "call-1") {
  RegisterRequest r;
  r.aor = kAor;
  if (!contact.empty()) r.contacts.emplace_back(std::move(contact), expires);
  r.callId = std::move(callId);
  r.cseq = cseq;
  r.sourceIp = "198.51.100.7";
  r.sourcePort = 40001;
  r.transport = "udp";
  return r;
}

TEST(RegistrarTest, RegisterAddsBindingAndLookupReturnsIt) {
  Registrar registrar;
  const auto result = registrar.apply(reg("sip:alice@192.0.2.10:5060", 600), kT0);
  ASSERT_EQ(result.status, 200);
  ASSERT_EQ(result.bindings.size(), 1u);
  EXPECT_EQ(remainingExpires(result.bindings[0], kT0), 600u);

  const auto found = registrar.lookup(kAor, kT0 + 1000);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].contact, "sip:alice@192.0.2.10:5060");
  EXPECT_EQ(found[0].callId, "call-1");
  EXPECT_EQ(found[0].cseq, 1u);
  EXPECT_EQ(found[0].expiresAtMs, kT0 + 600'000);
  EXPECT_EQ(remainingExpires(found[0], kT0 + 1000), 599u);
  EXPECT_EQ(registrar.aorCount(), 1u);
  EXPECT_EQ(registrar.bindingCount(), 1u);
  EXPECT_TRUE(registrar.lookup("sip:bob@example.com", kT0).empty());
}

TEST(RegistrarTest, QueryWithoutContactListsBindings) {
  Registrar registrar;
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 600), kT0).status, 200);
  const auto result = registrar.apply(reg("", std::nullopt, 2), kT0 + 5000);
  EXPECT_EQ(result.status, 200);
  ASSERT_EQ(result.bindings.size(), 1u);
  EXPECT_EQ(remainingExpires(result.bindings[0], kT0 + 5000), 595u);
}

TEST(RegistrarTest, RefreshUpdatesExpiry) {
  Registrar registrar;
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 600), kT0).status, 200);
  const auto result = registrar.apply(reg("sip:alice@192.0.2.10", 900, 2), kT0 + 300'000);
  ASSERT_EQ(result.status, 200);
  const auto found = registrar.lookup(kAor, kT0 + 300'000);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].expiresAtMs, kT0 + 300'000 + 900'000);
  EXPECT_EQ(found[0].cseq, 2u);
  EXPECT_EQ(registrar.bindingCount(), 1u);
}

TEST(RegistrarTest, ExpiresHeaderAndDefaultApplyAndMaxClamps) {
  Registrar registrar(60, 3600, 1800);
  auto r = reg("sip:alice@192.0.2.10");
  r.contacts.emplace_back("sip:alice@192.0.2.11", 120);  // the parameter beats the header
  r.expiresHeader = 300;
  auto result = registrar.apply(r, kT0);
  ASSERT_EQ(result.status, 200);
  auto found = registrar.lookup(kAor, kT0);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(remainingExpires(found[0], kT0), 300u);
  EXPECT_EQ(remainingExpires(found[1], kT0), 120u);

  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.12", std::nullopt, 2), kT0).status, 200);
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.13", 86400, 3), kT0).status, 200);
  int checked = 0;
  for (const Binding& b : registrar.lookup(kAor, kT0)) {
    if (b.contact == "sip:alice@192.0.2.12") {
      EXPECT_EQ(remainingExpires(b, kT0), 1800u);
      ++checked;
    } else if (b.contact == "sip:alice@192.0.2.13") {
      EXPECT_EQ(remainingExpires(b, kT0), 3600u);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2);
}

TEST(RegistrarTest, ExpiresZeroRemoves) {
  Registrar registrar;
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 600), kT0).status, 200);
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.11", 600, 2), kT0).status, 200);
  const auto result = registrar.apply(reg("sip:alice@192.0.2.10", 0, 3), kT0 + 1);
  ASSERT_EQ(result.status, 200);
  ASSERT_EQ(result.bindings.size(), 1u);
  EXPECT_EQ(result.bindings[0].contact, "sip:alice@192.0.2.11");
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.11", 0, 4), kT0 + 2).status, 200);
  EXPECT_TRUE(registrar.lookup(kAor, kT0 + 2).empty());
  EXPECT_EQ(registrar.aorCount(), 0u);
  EXPECT_EQ(registrar.bindingCount(), 0u);
}

TEST(RegistrarTest, ExpiresZeroViaHeaderRemoves) {
  Registrar registrar;
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 600), kT0).status, 200);
  auto r = reg("sip:alice@192.0.2.10", std::nullopt, 2);
  r.expiresHeader = 0;
  EXPECT_EQ(registrar.apply(r, kT0).status, 200);
  EXPECT_TRUE(registrar.lookup(kAor, kT0).empty());
}

TEST(RegistrarTest, StarRemovesAll) {
  Registrar registrar;
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 600, 1, "a"), kT0).status, 200);
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.11", 600, 7, "b"), kT0).status, 200);
  auto r = reg("", std::nullopt, 1, "c");
  r.star = true;
  r.expiresHeader = 0;
  const auto result = registrar.apply(r, kT0 + 1);
  EXPECT_EQ(result.status, 200);
  EXPECT_TRUE(result.bindings.empty());
  EXPECT_TRUE(registrar.lookup(kAor, kT0 + 1).empty());
  EXPECT_EQ(registrar.bindingCount(), 0u);
}

TEST(RegistrarTest, StarWithOtherContactIs400) {
  Registrar registrar;
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 600), kT0).status, 200);
  auto r = reg("sip:alice@192.0.2.11", std::nullopt, 2);
  r.star = true;
  r.expiresHeader = 0;
  auto result = registrar.apply(r, kT0);
  EXPECT_EQ(result.status, 400);
  EXPECT_EQ(result.reason, "Contact * with other contacts");

  auto noExpires = reg("", std::nullopt, 3);
  noExpires.star = true;
  result = registrar.apply(noExpires, kT0);
  EXPECT_EQ(result.status, 400);
  EXPECT_EQ(result.reason, "Contact * needs Expires: 0");
  noExpires.expiresHeader = 60;
  EXPECT_EQ(registrar.apply(noExpires, kT0).status, 400);
  EXPECT_EQ(registrar.lookup(kAor, kT0).size(), 1u);
}

TEST(RegistrarTest, StarWithOldCseqOnSameCallIdIs500) {
  Registrar registrar;
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 600, 5), kT0).status, 200);
  auto r = reg("", std::nullopt, 5);
  r.star = true;
  r.expiresHeader = 0;
  EXPECT_EQ(registrar.apply(r, kT0).status, 500);
  EXPECT_EQ(registrar.lookup(kAor, kT0).size(), 1u);
}

TEST(RegistrarTest, TooBriefIs423WithMinExpires) {
  Registrar registrar(60);
  const auto result = registrar.apply(reg("sip:alice@192.0.2.10", 30), kT0);
  EXPECT_EQ(result.status, 423);
  EXPECT_EQ(result.reason, "Interval Too Brief");
  EXPECT_EQ(result.minExpires, 60u);
  EXPECT_TRUE(registrar.lookup(kAor, kT0).empty());
  EXPECT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 60, 2), kT0).status, 200);
}

TEST(RegistrarTest, OutOfOrderCseqRejected) {
  Registrar registrar;
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 600, 10), kT0).status, 200);
  for (uint32_t cseq : {10u, 9u}) {
    const auto result = registrar.apply(reg("sip:alice@192.0.2.10", 0, cseq), kT0 + 1);
    EXPECT_EQ(result.status, 500);
    EXPECT_EQ(result.reason, "Out of order CSeq");
  }
  EXPECT_EQ(registrar.lookup(kAor, kT0 + 1).size(), 1u);
  // A different Call-ID (the UA restarted) replaces the binding regardless of CSeq.
  EXPECT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 300, 1, "call-2"), kT0 + 2).status, 200);
  const auto found = registrar.lookup(kAor, kT0 + 2);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].callId, "call-2");
}

TEST(RegistrarTest, FailedRequestChangesNothing) {
  Registrar registrar;
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 600, 10), kT0).status, 200);
  // First contact would be added, second is out of order: neither may be committed (§10.3 step 7).
  auto r = reg("sip:alice@192.0.2.99", 600, 10);
  r.contacts.emplace_back("sip:alice@192.0.2.10", 0);
  EXPECT_EQ(registrar.apply(r, kT0 + 1).status, 500);
  const auto found = registrar.lookup(kAor, kT0 + 1);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].contact, "sip:alice@192.0.2.10");
}

TEST(RegistrarTest, MultipleContactsOrderedByQ) {
  Registrar registrar;
  auto r = reg("sip:alice@192.0.2.10", 600);
  r.contacts.emplace_back("sip:alice@192.0.2.11", 600);
  r.contacts.emplace_back("sip:alice@192.0.2.12", 600);
  r.qValues = {0.1f, 0.9f, 0.5f};
  const auto result = registrar.apply(r, kT0);
  ASSERT_EQ(result.status, 200);
  ASSERT_EQ(result.bindings.size(), 3u);
  EXPECT_EQ(result.bindings[0].contact, "sip:alice@192.0.2.11");
  const auto found = registrar.lookup(kAor, kT0);
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].contact, "sip:alice@192.0.2.11");
  EXPECT_FLOAT_EQ(found[0].q, 0.9f);
  EXPECT_EQ(found[1].contact, "sip:alice@192.0.2.12");
  EXPECT_EQ(found[2].contact, "sip:alice@192.0.2.10");
}

TEST(RegistrarTest, ExpiredBindingsPurged) {
  Registrar registrar;
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 60), kT0).status, 200);
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.11", 600, 2), kT0).status, 200);
  auto bob = reg("sip:bob@192.0.2.20", 60);
  bob.aor = "sip:bob@example.com";
  ASSERT_EQ(registrar.apply(bob, kT0).status, 200);
  ASSERT_EQ(registrar.bindingCount(), 3u);

  EXPECT_EQ(registrar.lookup(kAor, kT0 + 60'000).size(), 1u);  // hidden before purge
  EXPECT_EQ(registrar.purge(kT0 + 59'999), 0u);
  EXPECT_EQ(registrar.purge(kT0 + 60'000), 2u);
  EXPECT_EQ(registrar.bindingCount(), 1u);
  EXPECT_EQ(registrar.aorCount(), 1u);
  EXPECT_TRUE(registrar.lookup("sip:bob@example.com", kT0 + 60'000).empty());
  EXPECT_EQ(registrar.purge(kT0 + 600'000), 1u);
  EXPECT_EQ(registrar.aorCount(), 0u);
}

TEST(RegistrarTest, ExpiredBindingDoesNotBlockNewRegistration) {
  Registrar registrar;
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 60, 10), kT0).status, 200);
  // Same Call-ID, lower CSeq, but the old binding has lapsed: it no longer exists (§10.3).
  EXPECT_EQ(registrar.apply(reg("sip:alice@192.0.2.10", 60, 3), kT0 + 61'000).status, 200);
}

TEST(RegistrarTest, SourceAddressRemembered) {
  Registrar registrar;
  auto r = reg("sip:alice@10.0.0.5:5060", 600);
  r.sourceIp = "203.0.113.9";
  r.sourcePort = 61000;
  r.transport = "UDP";
  ASSERT_EQ(registrar.apply(r, kT0).status, 200);
  auto found = registrar.lookup(kAor, kT0);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].sourceIp, "203.0.113.9");
  EXPECT_EQ(found[0].sourcePort, 61000);
  EXPECT_EQ(found[0].transport, "udp");
  EXPECT_EQ(found[0].connectionId, 0u);

  // The NAT mapping moved: a refresh follows it.
  r.cseq = 2;
  r.sourcePort = 61500;
  ASSERT_EQ(registrar.apply(r, kT0 + 1000).status, 200);
  found = registrar.lookup(kAor, kT0 + 1000);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].sourcePort, 61500);
}

TEST(RegistrarTest, KeepaliveTargetsAreLiveUdpBindings) {
  Registrar registrar;
  auto nated = reg("sip:alice@10.0.0.5", 600);  // private Contact, public source
  ASSERT_EQ(registrar.apply(nated, kT0).status, 200);
  auto stun = reg("sip:carol@198.51.100.8:5070", 60);  // advertises its public mapping
  stun.aor = "sip:carol@example.com";
  stun.sourceIp = "198.51.100.8";
  stun.sourcePort = 5070;
  ASSERT_EQ(registrar.apply(stun, kT0).status, 200);
  auto tcp = reg("sip:dave@10.0.0.6;transport=tcp", 600);
  tcp.aor = "sip:dave@example.com";
  tcp.transport = "tcp";
  tcp.connectionId = 7;
  ASSERT_EQ(registrar.apply(tcp, kT0).status, 200);

  auto targets = registrar.keepaliveTargets(kT0);
  ASSERT_EQ(targets.size(), 2u);
  std::sort(targets.begin(), targets.end(),
            [](const Binding& a, const Binding& b) { return a.contact < b.contact; });
  EXPECT_EQ(targets[0].contact, "sip:alice@10.0.0.5");
  EXPECT_EQ(targets[0].sourceIp, "198.51.100.7");
  EXPECT_EQ(targets[0].sourcePort, 40001);
  EXPECT_EQ(targets[1].contact, "sip:carol@198.51.100.8:5070");
  ASSERT_EQ(registrar.keepaliveTargets(kT0 + 60'000).size(), 1u);  // carol expired
  EXPECT_TRUE(registrar.keepaliveTargets(kT0 + 600'000).empty());
}

TEST(RegistrarTest, RefreshOverANewConnectionMovesTheBindingToIt) {
  Registrar registrar;
  auto r = reg("sip:alice@10.0.0.5;transport=tcp", 600);
  r.transport = "tcp";
  r.connectionId = 1;
  r.sourcePort = 40001;
  ASSERT_EQ(registrar.apply(r, kT0).status, 200);
  r.cseq = 2;
  r.connectionId = 2;  // reconnected and re-registered
  r.sourcePort = 40002;
  ASSERT_EQ(registrar.apply(r, kT0 + 1).status, 200);
  const auto found = registrar.lookup(kAor, kT0 + 1);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].connectionId, 2u);
  EXPECT_EQ(found[0].sourcePort, 40002);
  EXPECT_EQ(registrar.bindingCount(), 1u);
}

TEST(RegistrarTest, ContactLimitEvictsOldestUnmentionedBinding) {
  Registrar registrar(60, 3600, 3600, 2);
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.1", 100, 1, "a"), kT0).status, 200);
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.2", 200, 1, "b"), kT0).status, 200);
  ASSERT_EQ(registrar.apply(reg("sip:alice@192.0.2.3", 300, 1, "c"), kT0).status, 200);
  auto found = registrar.lookup(kAor, kT0);
  ASSERT_EQ(found.size(), 2u);
  for (const Binding& b : found) EXPECT_NE(b.contact, "sip:alice@192.0.2.1");

  auto many = reg("sip:alice@192.0.2.4", 600, 1, "d");
  many.contacts.emplace_back("sip:alice@192.0.2.5", 600);
  many.contacts.emplace_back("sip:alice@192.0.2.6", 600);
  const auto result = registrar.apply(many, kT0);
  EXPECT_EQ(result.status, 403);
  EXPECT_EQ(registrar.lookup(kAor, kT0).size(), 2u);
}

TEST(RegistrarTest, CanonicalAorNormalizesToRfc3261Section10_3Form) {
  EXPECT_EQ(canonicalAor("sip:alice@example.com"), "sip:alice@example.com");
  EXPECT_EQ(canonicalAor("SIP:Alice@EXAMPLE.com:5060;transport=udp?subject=x"), "sip:Alice@example.com");
  EXPECT_EQ(canonicalAor(" <sip:%61lice%40home@Example.COM:5080;user=phone> "),
            "sip:alice@home@example.com:5080");
  EXPECT_EQ(canonicalAor("\"Alice\" <sips:alice@example.com:5061>"), "sips:alice@example.com");
  EXPECT_EQ(canonicalAor("sips:alice@example.com:5060"), "sips:alice@example.com:5060");
  EXPECT_EQ(canonicalAor("sip:alice:secret@example.com"), "sip:alice@example.com");
  EXPECT_EQ(canonicalAor("sip:+15551234;phone-context=x@example.com"),
            "sip:+15551234;phone-context=x@example.com");
  EXPECT_EQ(canonicalAor("sip:[2001:DB8::1]:5060"), "sip:[2001:db8::1]");
  EXPECT_EQ(canonicalAor("sip:example.com"), "sip:example.com");
}

TEST(RegistrarTest, CanonicalAorRejectsNonSipAndBrokenUris) {
  for (const char* bad : {"", "tel:+15551234", "http://example.com", "sip:", "sip:alice@", "sip:@example.com",
                          "sip:al%4ice@example.com", "sip:alice%4@example.com", "sip:alice@example.com:99999",
                          "sip:alice@example.com:", "sip:alice@exa mple.com", "sip:alice@[::1", "<sip:a@b"}) {
    EXPECT_EQ(canonicalAor(bad), "") << bad;
  }
}

TEST(RegistrarTest, EmptyAorIs400) {
  Registrar registrar;
  auto r = reg("sip:alice@192.0.2.10", 600);
  r.aor.clear();
  EXPECT_EQ(registrar.apply(r, kT0).status, 400);
}

}  // namespace
}  // namespace rdv::sip
