#include "signaling/sip/DigestAuth.h"

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <string>

namespace rdv::sip {
namespace {

using Verdict = DigestAuthenticator::Verdict;

constexpr std::string_view kRealm = "rendezvous.test";
constexpr std::string_view kUri = "sip:rendezvous.test";
constexpr std::string_view kPassword = "s3cret";
constexpr uint64_t kT0 = 1'700'000'000'000;

DigestChallenge firstChallenge(DigestAuthenticator& auth, uint64_t nowMs, DigestAlgorithm alg) {
  const auto values = auth.challenges(nowMs);
  for (const std::string& v : values) {
    auto ch = DigestChallenge::parse(v);
    EXPECT_TRUE(ch.has_value()) << v;
    if (ch && digestAlgorithmFromName(ch->algorithm) == alg) return *ch;
  }
  ADD_FAILURE() << "no challenge for the algorithm";
  return {};
}

// What a well-behaved UA sends back for `ch` (RFC 2617 §3.2.2).
DigestCredentials answer(const DigestChallenge& ch, std::string_view password,
                         std::string_view nc = "00000001", DigestAlgorithm alg = DigestAlgorithm::Sha256,
                         std::string_view user = "alice") {
  DigestCredentials c;
  c.username = user;
  c.realm = ch.realm;
  c.nonce = ch.nonce;
  c.uri = kUri;
  c.algorithm = digestAlgorithmName(alg);
  c.cnonce = "0a4f113b";
  c.opaque = ch.opaque;
  c.qop = "auth";
  c.nc = nc;
  c.response =
      digestResponse(alg, c.username, c.realm, password, "REGISTER", c.uri, c.nonce, c.nc, c.cnonce, c.qop);
  return c;
}

DigestAuthenticator makeAuth() {
  return DigestAuthenticator(std::string(kRealm), std::chrono::seconds(30), "fixed test secret");
}

// ---- digestResponse: published vectors ----------------------------------------------------------

TEST(DigestResponseTest, MatchesRfc2617Section3_5Example) {
  EXPECT_EQ(
      digestResponse(DigestAlgorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life", "GET",
                     "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth"),
      "6629fae49393a05397450978507c4ef1");
}

TEST(DigestResponseTest, MatchesRfc7616Section3_9_1Examples) {
  constexpr std::string_view kNonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  constexpr std::string_view kCnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  EXPECT_EQ(digestResponse(DigestAlgorithm::Sha256, "Mufasa", "http-auth@example.org", "Circle of Life",
                           "GET", "/dir/index.html", kNonce, "00000001", kCnonce, "auth"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
  EXPECT_EQ(digestResponse(DigestAlgorithm::Md5, "Mufasa", "http-auth@example.org", "Circle of Life", "GET",
                           "/dir/index.html", kNonce, "00000001", kCnonce, "auth"),
            "8ca523f5e9506fed4657c9700eebdbec");
}

TEST(DigestResponseTest, WithoutQopUsesRfc2069Form) {
  // RFC 2617 §3.5 inputs without qop: H(HA1:nonce:HA2).
  const std::string withQop =
      digestResponse(DigestAlgorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life", "GET",
                     "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth");
  const std::string without =
      digestResponse(DigestAlgorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life", "GET",
                     "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "", "", "");
  EXPECT_EQ(without.size(), 32u);
  EXPECT_NE(without, withQop);
}

// ---- DigestCredentials::parse ---------------------------------------------------------------------

TEST(DigestCredentialsTest, ParsesTypicalAuthorizationValue) {
  auto c = DigestCredentials::parse(
      "Digest username=\"alice\", realm=\"rendezvous.test\", nonce=\"abc\", uri=\"sip:rendezvous.test\", "
      "response=\"0123abcd\", algorithm=SHA-256, cnonce=\"xyz\", opaque=\"op\", qop=auth, nc=00000001");
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->username, "alice");
  EXPECT_EQ(c->realm, "rendezvous.test");
  EXPECT_EQ(c->nonce, "abc");
  EXPECT_EQ(c->uri, "sip:rendezvous.test");
  EXPECT_EQ(c->response, "0123abcd");
  EXPECT_EQ(c->algorithm, "SHA-256");
  EXPECT_EQ(c->cnonce, "xyz");
  EXPECT_EQ(c->opaque, "op");
  EXPECT_EQ(c->qop, "auth");
  EXPECT_EQ(c->nc, "00000001");
}

TEST(DigestCredentialsTest, AcceptsCaseInsensitiveNamesLwsEscapesAndUnknownParams) {
  auto c = DigestCredentials::parse(
      "  digest\tUserName = \"a\\\"b\\\\c\" ,, REALM=r,nonce=\"n\", uri=\"sip:x\",response=\"r\", "
      "qop=\"auth\", nc=00000002, cnonce=c, x-vendor=\"ignored\"  ");
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->username, "a\"b\\c");
  EXPECT_EQ(c->realm, "r");
  EXPECT_EQ(c->qop, "auth");
  EXPECT_EQ(c->cnonce, "c");
}

TEST(DigestCredentialsTest, RejectsMalformedValues) {
  const char* bad[] = {
      "",
      "Basic dXNlcjpwYXNz",
      "Digest",
      "Digestusername=\"a\"",
      "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\"",                // no response
      "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x",  // unterminated
      "Digest username=\"a\", username=\"b\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\"",  // dup
      "Digest username=\"a\" realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\"",             // no comma
      "Digest username=, realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\"",                 // empty token
      "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\", qop=auth",  // no nc/cnonce
      "Digest username=\"a\r\nVia: x\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\"",  // CRLF
      "Digest =\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\"",
  };
  for (const char* v : bad) {
    auto c = DigestCredentials::parse(v);
    EXPECT_FALSE(c.has_value()) << "accepted: " << v;
    if (!c) {
      EXPECT_FALSE(c.error().empty());
    }
  }
}

TEST(DigestCredentialsTest, NamesTheMissingParameter) {
  auto c = DigestCredentials::parse("Digest username=\"a\", realm=\"r\", uri=\"u\", response=\"x\"");
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error(), "missing nonce parameter");
}

TEST(DigestCredentialsTest, RejectsOversizedValue) {
  std::string v = "Digest username=\"" + std::string(DigestCredentials::kMaxValueBytes + 1, 'a') +
                  "\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\"";
  EXPECT_FALSE(DigestCredentials::parse(v).has_value());
}

TEST(DigestCredentialsTest, HeaderValueRoundTrips) {
  DigestCredentials c;
  c.username = "we\"ird\\user";
  c.realm = "r";
  c.nonce = "n";
  c.uri = "sip:a@b;transport=tcp";
  c.response = "abc";
  c.algorithm = "SHA-256";
  c.cnonce = "cn";
  c.opaque = "op";
  c.qop = "auth";
  c.nc = "00000001";
  auto back = DigestCredentials::parse(c.toHeaderValue());
  ASSERT_TRUE(back.has_value()) << back.error();
  EXPECT_EQ(back->username, c.username);
  EXPECT_EQ(back->uri, c.uri);
  EXPECT_EQ(back->algorithm, c.algorithm);
  EXPECT_EQ(back->nc, c.nc);
  EXPECT_EQ(back->toHeaderValue(), c.toHeaderValue());
}

// ---- DigestAuthenticator --------------------------------------------------------------------------

TEST(DigestAuthenticatorTest, ChallengeOffersSha256ThenMd5) {
  auto auth = makeAuth();
  const auto values = auth.challenges(kT0);
  ASSERT_EQ(values.size(), 2u);
  auto sha = DigestChallenge::parse(values[0]);
  auto md5 = DigestChallenge::parse(values[1]);
  ASSERT_TRUE(sha.has_value()) << values[0];
  ASSERT_TRUE(md5.has_value()) << values[1];
  EXPECT_EQ(sha->algorithm, "SHA-256");
  EXPECT_EQ(md5->algorithm, "MD5");
  for (const auto* ch : {&*sha, &*md5}) {
    EXPECT_EQ(ch->realm, kRealm);
    EXPECT_EQ(ch->qop, "auth");
    EXPECT_EQ(ch->opaque, auth.opaque());
    EXPECT_FALSE(ch->stale);
  }
  EXPECT_EQ(sha->nonce, md5->nonce);
  EXPECT_NE(values[0].find("qop=\"auth\""), std::string::npos);
}

TEST(DigestAuthenticatorTest, ChallengeMarksStaleWhenAsked) {
  auto auth = makeAuth();
  for (const std::string& v : auth.challenges(kT0, true)) {
    auto ch = DigestChallenge::parse(v);
    ASSERT_TRUE(ch.has_value());
    EXPECT_TRUE(ch->stale);
  }
}

TEST(DigestAuthenticatorTest, EachChallengeHasAFreshNonce) {
  auto auth = makeAuth();
  EXPECT_NE(firstChallenge(auth, kT0, DigestAlgorithm::Sha256).nonce,
            firstChallenge(auth, kT0, DigestAlgorithm::Sha256).nonce);
}

TEST(DigestAuthenticatorTest, CorrectSha256AndMd5CredentialsAccepted) {
  auto auth = makeAuth();
  for (DigestAlgorithm alg : {DigestAlgorithm::Sha256, DigestAlgorithm::Md5}) {
    const auto ch = firstChallenge(auth, kT0, alg);
    EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword, "00000001", alg), kPassword, kT0 + 10),
              Verdict::Ok);
  }
}

TEST(DigestAuthenticatorTest, ParsedHeaderFromClientVerifies) {
  auto auth = makeAuth();
  const auto ch = firstChallenge(auth, kT0, DigestAlgorithm::Md5);
  auto parsed =
      DigestCredentials::parse(answer(ch, kPassword, "00000001", DigestAlgorithm::Md5).toHeaderValue());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(auth.verify("REGISTER", *parsed, kPassword, kT0, kUri), Verdict::Ok);
}

TEST(DigestAuthenticatorTest, WrongPasswordRejected) {
  auto auth = makeAuth();
  const auto ch = firstChallenge(auth, kT0, DigestAlgorithm::Sha256);
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, "guess"), kPassword, kT0), Verdict::BadCredentials);
  // A failed attempt does not burn the nc: the real user can still use it.
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword), kPassword, kT0), Verdict::Ok);
}

TEST(DigestAuthenticatorTest, WrongMethodOrUriRejected) {
  auto auth = makeAuth();
  const auto ch = firstChallenge(auth, kT0, DigestAlgorithm::Sha256);
  const auto c = answer(ch, kPassword);
  EXPECT_EQ(auth.verify("INVITE", c, kPassword, kT0), Verdict::BadCredentials);
  EXPECT_EQ(auth.verify("REGISTER", c, kPassword, kT0, "sip:other.test"), Verdict::BadCredentials);
  EXPECT_EQ(auth.verify("REGISTER", c, kPassword, kT0, "SIP:Rendezvous.Test"), Verdict::Ok);
}

TEST(DigestAuthenticatorTest, ForgedNonceRejected) {
  auto auth = makeAuth();
  auto ch = firstChallenge(auth, kT0, DigestAlgorithm::Sha256);
  // Flip one MAC digit; the client computes a perfectly good response over the forged nonce.
  ch.nonce.back() = ch.nonce.back() == '0' ? '1' : '0';
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword), kPassword, kT0), Verdict::BadCredentials);
  ch.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword), kPassword, kT0), Verdict::BadCredentials);
  // A nonce from another process (other secret) is not ours either.
  DigestAuthenticator other(std::string(kRealm), std::chrono::seconds(30));
  const auto foreign = firstChallenge(other, kT0, DigestAlgorithm::Sha256);
  EXPECT_EQ(auth.verify("REGISTER", answer(foreign, kPassword), kPassword, kT0), Verdict::BadCredentials);
}

TEST(DigestAuthenticatorTest, ExpiredNonceIsStale) {
  auto auth = makeAuth();
  const auto ch = firstChallenge(auth, kT0, DigestAlgorithm::Sha256);
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword), kPassword, kT0 + 30'001), Verdict::StaleNonce);
  // stale is only for a correct digest (RFC 2617 §3.2.1); a wrong one is just wrong.
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, "guess"), kPassword, kT0 + 30'001), Verdict::BadCredentials);
  // At exactly the TTL the nonce is still good.
  const auto ch2 = firstChallenge(auth, kT0, DigestAlgorithm::Sha256);
  EXPECT_EQ(auth.verify("REGISTER", answer(ch2, kPassword), kPassword, kT0 + 30'000), Verdict::Ok);
}

TEST(DigestAuthenticatorTest, ReusedNcIsReplay) {
  auto auth = makeAuth();
  const auto ch = firstChallenge(auth, kT0, DigestAlgorithm::Sha256);
  const auto first = answer(ch, kPassword, "00000001");
  EXPECT_EQ(auth.verify("REGISTER", first, kPassword, kT0), Verdict::Ok);
  EXPECT_EQ(auth.verify("REGISTER", first, kPassword, kT0 + 1), Verdict::Replay);
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword, "00000002"), kPassword, kT0 + 2), Verdict::Ok);
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword, "00000002"), kPassword, kT0 + 3), Verdict::Replay);
}

TEST(DigestAuthenticatorTest, OutOfOrderNcAcceptedOnce) {
  auto auth = makeAuth();
  const auto ch = firstChallenge(auth, kT0, DigestAlgorithm::Sha256);
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword, "00000003"), kPassword, kT0), Verdict::Ok);
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword, "00000001"), kPassword, kT0), Verdict::Ok);
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword, "00000001"), kPassword, kT0), Verdict::Replay);
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword, "00000002"), kPassword, kT0), Verdict::Ok);
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword, "00000003"), kPassword, kT0), Verdict::Replay);
  // Far ahead, then something older than the window: refused.
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword, "00000100"), kPassword, kT0), Verdict::Ok);
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword, "00000004"), kPassword, kT0), Verdict::Replay);
}

TEST(DigestAuthenticatorTest, EvictedNonceIsStaleNotReplayable) {
  auto auth = makeAuth();
  auth.setMaxTrackedNonces(2);
  const auto a = firstChallenge(auth, kT0, DigestAlgorithm::Sha256);
  const auto b = firstChallenge(auth, kT0 + 1, DigestAlgorithm::Sha256);
  const auto c = firstChallenge(auth, kT0 + 2, DigestAlgorithm::Sha256);
  EXPECT_EQ(auth.verify("REGISTER", answer(a, kPassword), kPassword, kT0 + 3), Verdict::Ok);
  EXPECT_EQ(auth.verify("REGISTER", answer(b, kPassword), kPassword, kT0 + 3), Verdict::Ok);
  EXPECT_EQ(auth.verify("REGISTER", answer(c, kPassword), kPassword, kT0 + 3), Verdict::Ok);  // evicts a
  EXPECT_EQ(auth.trackedNonceCount(), 2u);
  EXPECT_EQ(auth.verify("REGISTER", answer(a, kPassword), kPassword, kT0 + 4), Verdict::StaleNonce);
  EXPECT_EQ(auth.verify("REGISTER", answer(a, kPassword, "00000002"), kPassword, kT0 + 4),
            Verdict::StaleNonce);
}

TEST(DigestAuthenticatorTest, ExpiredNoncesLeaveTheReplayTable) {
  auto auth = makeAuth();
  for (int i = 0; i < 5; ++i) {
    const auto ch = firstChallenge(auth, kT0 + i, DigestAlgorithm::Md5);
    EXPECT_EQ(
        auth.verify("REGISTER", answer(ch, kPassword, "00000001", DigestAlgorithm::Md5), kPassword, kT0 + i),
        Verdict::Ok);
  }
  EXPECT_EQ(auth.trackedNonceCount(), 5u);
  const auto late = firstChallenge(auth, kT0 + 60'000, DigestAlgorithm::Md5);
  EXPECT_EQ(auth.verify("REGISTER", answer(late, kPassword, "00000001", DigestAlgorithm::Md5), kPassword,
                        kT0 + 60'000),
            Verdict::Ok);
  EXPECT_EQ(auth.trackedNonceCount(), 1u);
}

TEST(DigestAuthenticatorTest, UnknownUserAndMalformedCredentials) {
  auto auth = makeAuth();
  const auto ch = firstChallenge(auth, kT0, DigestAlgorithm::Sha256);
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword), "", kT0), Verdict::UnknownUser);

  auto c = answer(ch, kPassword);
  c.algorithm = "MD5-sess";
  EXPECT_EQ(auth.verify("REGISTER", c, kPassword, kT0), Verdict::Malformed);
  c = answer(ch, kPassword);
  c.qop = "auth-int";
  EXPECT_EQ(auth.verify("REGISTER", c, kPassword, kT0), Verdict::Malformed);
  c = answer(ch, kPassword);
  c.qop.clear();
  EXPECT_EQ(auth.verify("REGISTER", c, kPassword, kT0), Verdict::Malformed);
  c = answer(ch, kPassword, "1");
  EXPECT_EQ(auth.verify("REGISTER", c, kPassword, kT0), Verdict::Malformed);
  c = answer(ch, kPassword, "00000000");
  EXPECT_EQ(auth.verify("REGISTER", c, kPassword, kT0), Verdict::Malformed);
}

TEST(DigestAuthenticatorTest, WrongRealmOrOpaqueRejected) {
  auto auth = makeAuth();
  auto ch = firstChallenge(auth, kT0, DigestAlgorithm::Sha256);
  ch.realm = "elsewhere.test";
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword), kPassword, kT0), Verdict::BadCredentials);
  ch = firstChallenge(auth, kT0, DigestAlgorithm::Sha256);
  ch.opaque = "0000";
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword), kPassword, kT0), Verdict::BadCredentials);
  ch.opaque.clear();  // omitted opaque is tolerated
  EXPECT_EQ(auth.verify("REGISTER", answer(ch, kPassword), kPassword, kT0), Verdict::Ok);
}

TEST(DigestAuthenticatorTest, UppercaseHexResponseAccepted) {
  auto auth = makeAuth();
  const auto ch = firstChallenge(auth, kT0, DigestAlgorithm::Sha256);
  auto c = answer(ch, kPassword);
  for (char& ch2 : c.response) ch2 = static_cast<char>(std::toupper(static_cast<unsigned char>(ch2)));
  EXPECT_EQ(auth.verify("REGISTER", c, kPassword, kT0), Verdict::Ok);
}

TEST(DigestAuthenticatorTest, RealmIsQuotedSafelyInChallenges) {
  DigestAuthenticator auth("odd \"realm\"", std::chrono::seconds(30));
  auto ch = DigestChallenge::parse(auth.challenges(kT0)[0]);
  ASSERT_TRUE(ch.has_value());
  EXPECT_EQ(ch->realm, "odd \"realm\"");
  EXPECT_EQ(auth.realm(), "odd \"realm\"");
}

}  // namespace
}  // namespace rdv::sip
