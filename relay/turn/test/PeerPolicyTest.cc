#include "relay/turn/PeerPolicy.h"

#include <gtest/gtest.h>

namespace rdv::turn {
namespace {

common::SockAddr ip(const char* text) { return *common::SockAddr::fromIp(text, 5000); }

TEST(PeerPolicyTest, DeniesInternalRangesByDefault) {
  auto p = PeerPolicy::create({});
  ASSERT_TRUE(p);
  for (const char* bad : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.1.1",
                          "100.64.0.1", "100.127.255.255", "0.0.0.0", "224.0.0.1", "239.1.1.1", "255.255.255.255",
                          "::1", "::", "fe80::1", "fc00::1", "fd12::1", "ff02::1", "::ffff:127.0.0.1",
                          "::ffff:10.0.0.1"}) {
    EXPECT_FALSE(p->allowed(ip(bad))) << bad;
  }
  for (const char* good : {"8.8.8.8", "172.32.0.1", "100.128.0.1", "192.0.2.1", "198.51.100.7", "2001:db8::1",
                           "::ffff:8.8.8.8"}) {
    EXPECT_TRUE(p->allowed(ip(good))) << good;
  }
}

TEST(PeerPolicyTest, AllowListOverridesTheDefaults) {
  auto p = PeerPolicy::create({"127.0.0.0/8", "fd00::/8", "10.9.9.9"});
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->allowed(ip("127.0.0.1")));
  EXPECT_TRUE(p->allowed(ip("fd00::5")));
  EXPECT_TRUE(p->allowed(ip("10.9.9.9")));
  EXPECT_FALSE(p->allowed(ip("10.9.9.8")));
  EXPECT_FALSE(p->allowed(ip("192.168.0.1")));
}

TEST(PeerPolicyTest, RejectsBadCidrs) {
  EXPECT_FALSE(PeerPolicy::create({"10.0.0.0/33"}));
  EXPECT_FALSE(PeerPolicy::create({"example.com/8"}));
  EXPECT_FALSE(PeerPolicy::create({"10.0.0.0/x"}));
  EXPECT_FALSE(PeerPolicy::create({"::/129"}));
}

}  // namespace
}  // namespace rdv::turn
