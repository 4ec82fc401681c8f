#include "signaling/presence/SubscriptionTable.h"

#include <array>
#include <string>

#include <gtest/gtest.h>

#include "signaling/presence/WatcherInfo.h"

namespace rdv::presence {
namespace {

Subscription sub(std::string watcher, std::string presentity, std::string callId, uint64_t expiresAtMs,
                 Package package = Package::Presence) {
  Subscription s;
  s.package = package;
  EXPECT_TRUE(s.set(Field::Watcher, watcher));
  EXPECT_TRUE(s.set(Field::Presentity, presentity));
  EXPECT_TRUE(s.set(Field::CallId, callId));
  EXPECT_TRUE(s.set(Field::LocalTag, "t-" + callId));
  s.expiresAtMs = expiresAtMs;
  return s;
}

class SubscriptionTableTest : public ::testing::Test {
 protected:
  SubscriptionTable table{10, 3, 1000};
};

TEST_F(SubscriptionTableTest, InitialSubscriptionIsDueAtOnceAndFoundByDialog) {
  auto s = table.add(sub("bob", "alice", "c1", 60'000));
  ASSERT_TRUE(s);
  EXPECT_EQ(table.find("c1", "t-c1"), *s);
  EXPECT_EQ(table.find("c1", "other"), nullptr);
  EXPECT_EQ(table.due(5000), std::vector<uint64_t>{(*s)->id});
  EXPECT_EQ(table.nextDeadline(), 0U);
  EXPECT_EQ(subscriptionState(**s, 5000), "active;expires=55");
}

TEST_F(SubscriptionTableTest, OneNotifyInFlightAtATime) {
  Subscription* s = *table.add(sub("bob", "alice", "c1", 600'000));
  table.noteSent(*s, 5000);
  table.markChanged("alice", Package::Presence);
  EXPECT_TRUE(table.due(100'000).empty());  // the first one is unanswered
  table.noteAnswered(*s);
  EXPECT_EQ(table.due(100'000).size(), 1U);
}

TEST_F(SubscriptionTableTest, FlapsWithinTheIntervalCoalesceIntoOneNotifyAtItsEnd) {
  Subscription* s = *table.add(sub("bob", "alice", "c1", 600'000));
  table.noteSent(*s, 5000);
  table.noteAnswered(*s);
  // open -> closed -> open -> closed within 1 s: nothing may go before 6000.
  for (uint64_t t : {5100, 5300, 5600, 5900}) {
    table.markChanged("alice", Package::Presence);
    EXPECT_TRUE(table.due(t).empty()) << t;
  }
  EXPECT_EQ(table.nextDeadline(), 6000U);
  EXPECT_EQ(table.due(6000).size(), 1U);
  table.noteSent(*s, 6000);
  table.noteAnswered(*s);
  EXPECT_TRUE(table.due(9000).empty());  // told the latest state once; nothing more to send
}

TEST_F(SubscriptionTableTest, ChangesReachOnlyThatPresentitysWatchersOfThatPackage) {
  Subscription* a = *table.add(sub("bob", "alice", "c1", 600'000));
  Subscription* b = *table.add(sub("carol", "dave", "c2", 600'000));
  Subscription* w = *table.add(sub("alice", "alice", "c3", 600'000, Package::WatcherInfo));
  for (Subscription* s : {a, b, w}) {
    table.noteSent(*s, 1000);
    table.noteAnswered(*s);
  }
  table.markChanged("alice", Package::Presence);
  EXPECT_EQ(table.due(10'000), std::vector<uint64_t>{a->id});
  EXPECT_EQ(table.watchersOf("alice", Package::WatcherInfo), std::vector<uint64_t>{w->id});
}

TEST_F(SubscriptionTableTest, RefreshMovesTheExpiry) {
  Subscription* s = *table.add(sub("bob", "alice", "c1", 60'000));
  table.setExpiry(*s, 120'000);
  EXPECT_TRUE(table.expired(60'000).empty());
  EXPECT_EQ(table.expired(120'000), std::vector<uint64_t>{s->id});
  EXPECT_EQ(subscriptionState(*s, 60'000), "active;expires=60");
}

TEST_F(SubscriptionTableTest, ExpiredSubscriptionsAreListedThenRemovedCleanly) {
  Subscription* s = *table.add(sub("bob", "alice", "c1", 60'000));
  const uint64_t id = s->id;
  EXPECT_EQ(table.nextDeadline(), 0U);  // its initial NOTIFY
  table.noteSent(*s, 1000);
  EXPECT_EQ(table.nextDeadline(), 60'000U);
  EXPECT_EQ(table.expired(60'000), std::vector<uint64_t>{id});
  table.remove(id);
  EXPECT_EQ(table.size(), 0U);
  EXPECT_EQ(table.get(id), nullptr);
  EXPECT_EQ(table.find("c1", "t-c1"), nullptr);
  EXPECT_TRUE(table.watchersOf("alice", Package::Presence).empty());
  EXPECT_EQ(table.countOf("bob"), 0U);
  EXPECT_EQ(table.nextDeadline(), UINT64_MAX);
}

TEST_F(SubscriptionTableTest, PendingSubscriptionsSayPending) {
  Subscription s = sub("mallory", "alice", "c1", 60'000);
  s.state = SubState::Pending;
  EXPECT_EQ(subscriptionState(s, 0), "pending;expires=60");
}

TEST_F(SubscriptionTableTest, BoundedPerWatcherAndInAll) {
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(table.add(sub("bob", "u" + std::to_string(i), "b" + std::to_string(i), 1)));
  auto fourth = table.add(sub("bob", "u9", "b9", 1));
  ASSERT_FALSE(fourth);
  EXPECT_EQ(fourth.error(), AddError::WatcherFull);
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(table.add(sub("w" + std::to_string(i), "alice", "w" + std::to_string(i), 1)));
  auto full = table.add(sub("zed", "alice", "z", 1));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error(), AddError::TableFull);
  table.remove(table.find("b0", "t-b0")->id);
  EXPECT_TRUE(table.add(sub("bob", "u9", "b9", 1)));
}

TEST_F(SubscriptionTableTest, DialogsAreToldApartByCallIdAndOurTag) {
  Subscription a = sub("bob", "alice", "same", 60'000);
  Subscription b = sub("carol", "alice", "same", 60'000);
  ASSERT_TRUE(b.set(Field::LocalTag, "other"));
  Subscription* sa = *table.add(std::move(a));
  Subscription* sb = *table.add(std::move(b));
  EXPECT_EQ(table.find("same", "t-same"), sa);
  EXPECT_EQ(table.find("same", "other"), sb);
  table.remove(sa->id);
  EXPECT_EQ(table.find("same", "t-same"), nullptr);
  EXPECT_EQ(table.find("same", "other"), sb);
}

TEST_F(SubscriptionTableTest, ANewIntervalAppliesToSubscriptionsAlreadyWaiting) {
  Subscription* s = *table.add(sub("bob", "alice", "c1", 600'000));
  table.noteSent(*s, 5000);
  table.noteAnswered(*s);
  table.markChanged("alice", Package::Presence);
  EXPECT_EQ(table.nextDeadline(), 6000U);
  table.setLimits(10, 3, 200);
  EXPECT_EQ(table.nextDeadline(), 5200U);
  EXPECT_EQ(table.due(5200).size(), 1U);
}

TEST(Subscription, FieldsArePackedAndEachCanBeReplaced) {
  Subscription s;
  ASSERT_TRUE(s.set(Field::CallId, "c1@h"));
  ASSERT_TRUE(s.set(Field::RemoteTarget, "sip:w@10.0.0.1:5062"));
  ASSERT_TRUE(s.set(Field::Presentity, "alice"));
  const std::array<std::string_view, 2> routes{"<sip:p1;lr>", "<sip:p2;lr>"};
  s.setRoutes(routes);
  EXPECT_EQ(s.callId(), "c1@h");
  EXPECT_EQ(s.presentity(), "alice");
  EXPECT_EQ(s.remoteTarget(), "sip:w@10.0.0.1:5062");
  EXPECT_EQ(s.watcher(), "");
  EXPECT_EQ(s.routes(), (std::vector<std::string_view>{"<sip:p1;lr>", "<sip:p2;lr>"}));
  ASSERT_TRUE(s.set(Field::RemoteTarget, "sip:w@[2001:db8::1]:5070;transport=tcp"));  // a refresh's Contact
  EXPECT_EQ(s.remoteTarget(), "sip:w@[2001:db8::1]:5070;transport=tcp");
  EXPECT_EQ(s.callId(), "c1@h");
  EXPECT_EQ(s.routes().size(), 2U);
  EXPECT_TRUE(s.complete());
  EXPECT_FALSE(s.set(Field::RemoteId, std::string(Subscription::kMaxText, 'x')));
  EXPECT_FALSE(s.complete()) << "text beyond 64 KiB is refused, not truncated";
  EXPECT_EQ(s.remoteId(), "");
  EXPECT_LE(sizeof(Subscription), 176U) << "one subscription's fixed part";
}

TEST_F(SubscriptionTableTest, TheTableKeepsItsOwnCopyOfTheText) {
  Subscription s = sub("bob", "alice", std::string(200, 'c'), 60'000);
  Subscription* kept = *table.add(std::move(s));
  EXPECT_EQ(kept->callId(), std::string(200, 'c'));
  EXPECT_EQ(kept->watcher(), "bob");
  EXPECT_EQ(table.find(std::string(200, 'c'), "t-" + std::string(200, 'c')), kept);
}

TEST(WatcherInfo, FullDocumentListsEveryWatcherEscaped) {
  const std::string doc = buildWatcherInfo(
      "sip:alice@h", 3,
      {{"1", "sip:bob@h", "active", "subscribe"}, {"2", "sip:<x>@h", "pending", "subscribe"}});
  EXPECT_NE(doc.find("version=\"3\" state=\"full\""), std::string::npos);
  EXPECT_NE(doc.find("resource=\"sip:alice@h\" package=\"presence\""), std::string::npos);
  EXPECT_NE(doc.find("status=\"active\">sip:bob@h</watcher>"), std::string::npos);
  EXPECT_NE(doc.find("sip:&lt;x&gt;@h"), std::string::npos);
}

}  // namespace
}  // namespace rdv::presence
