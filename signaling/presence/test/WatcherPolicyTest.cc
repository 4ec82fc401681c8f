#include "signaling/presence/WatcherPolicy.h"

#include <gtest/gtest.h>

namespace rdv::presence {
namespace {

TEST(WatcherPolicy, BuddyListAllowsNamedWatchersOnly) {
  config::PresenceConfig cfg;
  cfg.allowSameDomain = 0;
  cfg.lists["alice"] = "bob, carol";
  WatcherPolicy p(cfg);
  EXPECT_EQ(p.decide(Package::Presence, "bob", "h", "alice", "h"), Decision::Allow);
  EXPECT_EQ(p.decide(Package::Presence, "carol", "x", "alice", "h"), Decision::Allow);
  EXPECT_EQ(p.decide(Package::Presence, "mallory", "h", "alice", "h"), Decision::Reject);
  EXPECT_EQ(p.decide(Package::Presence, "bob", "h", "dave", "h"), Decision::Reject);
}

TEST(WatcherPolicy, SameDomainSwitchComparesHostsWithoutCase) {
  config::PresenceConfig cfg;
  cfg.allowSameDomain = 1;
  WatcherPolicy p(cfg);
  EXPECT_EQ(p.decide(Package::Presence, "bob", "Example.COM", "alice", "example.com"), Decision::Allow);
  EXPECT_EQ(p.decide(Package::Presence, "bob", "other.org", "alice", "example.com"), Decision::Reject);
}

TEST(WatcherPolicy, PoliteBlockingKeepsStrangersPending) {
  config::PresenceConfig cfg;
  cfg.allowSameDomain = 0;
  cfg.politeBlock = 1;
  WatcherPolicy p(cfg);
  EXPECT_EQ(p.decide(Package::Presence, "mallory", "h", "alice", "h"), Decision::Pending);
}

TEST(WatcherPolicy, WatcherInfoOnlyForOneself) {
  config::PresenceConfig cfg;
  cfg.lists["alice"] = "bob";
  WatcherPolicy p(cfg);
  EXPECT_EQ(p.decide(Package::WatcherInfo, "alice", "h", "alice", "h"), Decision::Allow);
  EXPECT_EQ(p.decide(Package::WatcherInfo, "bob", "h", "alice", "h"), Decision::Reject);
}

TEST(BuddyList, ParsesNamesAndRefusesJunk) {
  EXPECT_EQ(*config::parseBuddyList("bob,carol"), (std::vector<std::string>{"bob", "carol"}));
  EXPECT_FALSE(config::parseBuddyList("bob,,carol"));
  EXPECT_FALSE(config::parseBuddyList("bob,"));
  EXPECT_FALSE(config::parseBuddyList("b<o>b"));
}

}  // namespace
}  // namespace rdv::presence
