// The offline message store on a temporary SQLite file: order per recipient, both quotas,
// expiry, removal, and what a reopened file still holds.

#include "signaling/im/MessageStore.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "signaling/im/test/TempDb.h"

namespace rdv::im::test {
namespace {

NewMessage msg(std::string_view to, std::string_view body, uint64_t expiresMs = 2'000) {
  return NewMessage{to, "<sip:alice@example.com>;tag=1", "text/plain", body, 1'000, expiresMs};
}

std::vector<std::string> bodies(const std::vector<StoredMessage>& ms) {
  std::vector<std::string> out;
  for (const auto& m : ms) out.push_back(m.body);
  return out;
}

class MessageStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<MessageStore> open(StoreLimits limits = {}) {
    auto s = MessageStore::open(db_.path(), limits);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error());
    return s ? std::move(*s) : nullptr;
  }
  TempDb db_;
};

TEST_F(MessageStoreTest, PendingListsARecipientsMessagesOldestFirstWithEveryField) {
  auto s = open();
  ASSERT_TRUE(s->store(msg("bob", "one")).has_value());
  ASSERT_TRUE(s->store(msg("carol", "other")).has_value());
  ASSERT_TRUE(s->store(msg("bob", "two")).has_value());
  ASSERT_TRUE(s->store(msg("bob", "")).has_value());
  auto p = s->pending("bob");
  EXPECT_EQ(bodies(p), (std::vector<std::string>{"one", "two", ""}));
  EXPECT_LT(p[0].id, p[1].id);
  EXPECT_EQ(p[0].recipient, "bob");
  EXPECT_EQ(p[0].sender, "<sip:alice@example.com>;tag=1");
  EXPECT_EQ(p[0].contentType, "text/plain");
  EXPECT_EQ(p[0].storedUnixMs, 1'000U);
  EXPECT_EQ(p[0].expiresUnixMs, 2'000U);
  EXPECT_EQ(s->size(), 4U);
  EXPECT_TRUE(s->pending("dave").empty());
}

TEST_F(MessageStoreTest, BodiesAreKeptByteForByte) {
  auto s = open();
  const std::string binary("a\0b\xff", 4);
  ASSERT_TRUE(s->store(msg("bob", binary)).has_value());
  EXPECT_EQ(s->pending("bob").at(0).body, binary);
}

TEST_F(MessageStoreTest, PerUserQuotaIsUserFullAndTotalQuotaIsStoreFull) {
  auto s = open(StoreLimits{.perUser = 2, .total = 3});
  ASSERT_TRUE(s->store(msg("bob", "1")).has_value());
  ASSERT_TRUE(s->store(msg("bob", "2")).has_value());
  auto full = s->store(msg("bob", "3"));
  ASSERT_FALSE(full.has_value());
  EXPECT_EQ(full.error(), StoreError::UserFull);
  ASSERT_TRUE(s->store(msg("carol", "1")).has_value());
  auto total = s->store(msg("dave", "1"));
  ASSERT_FALSE(total.has_value());
  EXPECT_EQ(total.error(), StoreError::StoreFull);
  ASSERT_TRUE(s->remove(s->pending("bob").front().id));
  EXPECT_TRUE(s->store(msg("dave", "1")).has_value()) << "room again once one is removed";
}

TEST_F(MessageStoreTest, RemoveDropsOneMessageOnceOnly) {
  auto s = open();
  auto id = s->store(msg("bob", "1"));
  ASSERT_TRUE(s->store(msg("bob", "2")).has_value());
  ASSERT_TRUE(id.has_value());
  EXPECT_TRUE(s->remove(*id));
  EXPECT_FALSE(s->remove(*id));
  EXPECT_EQ(bodies(s->pending("bob")), std::vector<std::string>{"2"});
}

TEST_F(MessageStoreTest, PendingWithALimitGivesTheOldestOnes) {
  auto s = open();
  for (const char* body : {"1", "2", "3"}) ASSERT_TRUE(s->store(msg("bob", body)).has_value());
  EXPECT_EQ(bodies(s->pending("bob", 1)), std::vector<std::string>{"1"});
  EXPECT_EQ(bodies(s->pending("bob", 2)), (std::vector<std::string>{"1", "2"}));
  ASSERT_TRUE(s->remove(s->pending("bob", 1).front().id));
  EXPECT_EQ(bodies(s->pending("bob", 1)), std::vector<std::string>{"2"});
  EXPECT_TRUE(s->pending("bob", 0).empty());
}

TEST_F(MessageStoreTest, ExpireDropsMessagesDueAtOrBeforeNow) {
  auto s = open();
  ASSERT_TRUE(s->store(msg("bob", "early", 5'000)).has_value());
  ASSERT_TRUE(s->store(msg("bob", "late", 9'000)).has_value());
  EXPECT_EQ(s->expire(4'999), 0U);
  EXPECT_EQ(s->expire(5'000), 1U);
  EXPECT_EQ(bodies(s->pending("bob")), std::vector<std::string>{"late"});
}

TEST_F(MessageStoreTest, AReopenedFileStillHoldsItsMessagesInOrder) {
  {
    auto s = open();
    ASSERT_TRUE(s->store(msg("bob", "before")).has_value());
    ASSERT_TRUE(s->store(msg("bob", "restart")).has_value());
  }
  auto s = open();
  EXPECT_EQ(bodies(s->pending("bob")), (std::vector<std::string>{"before", "restart"}));
  ASSERT_TRUE(s->store(msg("bob", "after")).has_value());
  EXPECT_EQ(bodies(s->pending("bob")).back(), "after");
}

TEST_F(MessageStoreTest, AnUnopenablePathIsAnErrorNamingIt) {
  auto s = MessageStore::open("/nonexistent-dir/x.db", {});
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().find("/nonexistent-dir/x.db"), std::string::npos);
}

}  // namespace
}  // namespace rdv::im::test
