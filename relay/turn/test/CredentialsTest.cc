#include "relay/turn/Credentials.h"

#include <gtest/gtest.h>

#include "relay/turn/NonceIssuer.h"

namespace rdv::turn {
namespace {

Credentials make(std::string secret = "") {
  return Credentials("rdv", {{"alice", "wonderland"}}, std::move(secret));
}

TEST(CredentialsTest, ConfiguredUserGetsTheMd5LongTermKey) {
  auto c = make();
  auto key = c.keyFor("alice", 1000);
  ASSERT_TRUE(key);
  EXPECT_EQ(*key, stun::longTermKey("alice", "rdv", "wonderland"));
  EXPECT_EQ(c.keyFor("bob", 1000).error(), AuthError::UnknownUser);
  EXPECT_EQ(c.keyFor("", 1000).error(), AuthError::Malformed);
}

TEST(CredentialsTest, SharedSecretPasswordIsBase64HmacSha1) {
  // coturn's documented example: secret "north", username "1433895918:gorst".
  EXPECT_EQ(Credentials::sharedSecretPassword("north", "1433895918:gorst").size(), 28u);
  // HMAC-SHA1("key", "The quick brown fox jumps over the lazy dog") = de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9.
  EXPECT_EQ(Credentials::sharedSecretPassword("key", "The quick brown fox jumps over the lazy dog"),
            "3nybhbi3iqa8ino29wqQcBydtNk=");
}

TEST(CredentialsTest, TimeLimitedUsernamesWorkUntilTheyExpire) {
  auto c = make("s3cret");
  const std::string user = "2000:carol";
  auto key = c.keyFor(user, 1999);
  ASSERT_TRUE(key);
  EXPECT_EQ(*key, stun::longTermKey(user, "rdv", Credentials::sharedSecretPassword("s3cret", user)));
  EXPECT_TRUE(c.keyFor(user, 2000));
  EXPECT_EQ(c.keyFor(user, 2001).error(), AuthError::Expired);
  EXPECT_EQ(c.keyFor("soon:carol", 1).error(), AuthError::UnknownUser);
  EXPECT_EQ(make().keyFor(user, 1).error(), AuthError::UnknownUser);  // no secret configured
}

TEST(NonceIssuerTest, NoncesExpireAndAreBoundToTheClientAddress) {
  NonceIssuer n(600, "fixed");
  const auto client = *common::SockAddr::fromIp("198.51.100.1", 4000);
  const auto other = *common::SockAddr::fromIp("198.51.100.2", 4000);
  const auto nonce = n.issue(10'000, client);
  EXPECT_TRUE(n.valid(nonce, 10'000, client));
  EXPECT_TRUE(n.valid(nonce, 10'600, client));
  EXPECT_FALSE(n.valid(nonce, 10'601, client));
  EXPECT_FALSE(n.valid(nonce, 10'000, other));
  auto forged = nonce;
  forged[0] = forged[0] == '0' ? '1' : '0';
  EXPECT_FALSE(n.valid(forged, 10'000, client));
  EXPECT_FALSE(n.valid("short", 10'000, client));
  EXPECT_FALSE(NonceIssuer(600, "other").valid(nonce, 10'000, client));
}

}  // namespace
}  // namespace rdv::turn
