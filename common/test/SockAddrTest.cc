#include "common/SockAddr.h"

#include <gtest/gtest.h>

namespace rdv::common {
namespace {

TEST(SockAddrTest, ParsesIpv4HostPort) {
  auto a = SockAddr::parseHostPort("127.0.0.1:5060");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->isV6());
  EXPECT_EQ(a->ip(), "127.0.0.1");
  EXPECT_EQ(a->port(), 5060);
  EXPECT_EQ(a->str(), "127.0.0.1:5060");
}

TEST(SockAddrTest, ParsesBracketedIpv6HostPort) {
  auto a = SockAddr::parseHostPort("[::1]:2223");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->isV6());
  EXPECT_EQ(a->ip(), "::1");
  EXPECT_EQ(a->port(), 2223);
  EXPECT_EQ(a->str(), "[::1]:2223");
}

TEST(SockAddrTest, PortZeroAndMaxAccepted) {
  EXPECT_EQ(SockAddr::parseHostPort("0.0.0.0:0")->port(), 0);
  EXPECT_EQ(SockAddr::parseHostPort("0.0.0.0:65535")->port(), 65535);
}

TEST(SockAddrTest, RejectsWhatIsNotNumericHostPort) {
  for (const char* bad : {"", ":", "127.0.0.1", "127.0.0.1:", ":5060", "localhost:5060", "127.0.0.1:65536",
                          "127.0.0.1:50x", "127.0.0.1:-1", "::1:5060", "[127.0.0.1]:5060", "[::1]", "[::1:5060",
                          "1.2.3.4.5:1", "127.0.0.1: 5060"}) {
    EXPECT_FALSE(SockAddr::parseHostPort(bad)) << bad;
  }
}

TEST(SockAddrTest, EqualityIsFamilyAddressAndPort) {
  auto a = *SockAddr::fromIp("10.0.0.1", 1);
  auto b = *SockAddr::fromIp("10.0.0.1", 1);
  auto c = *SockAddr::fromIp("10.0.0.1", 2);
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a == c);
  EXPECT_TRUE(a.sameIp(c));
  c.setPort(1);
  EXPECT_EQ(a, c);
}

TEST(SockAddrTest, DefaultIsInvalid) {
  SockAddr a;
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(a.str(), "-");
}

}  // namespace
}  // namespace rdv::common
