#include "signaling/presence/PublicationStore.h"

#include <gtest/gtest.h>

namespace rdv::presence {
namespace {

PidfDocument doc(Basic b, std::string note = {}) {
  PidfDocument d;
  d.entity = "pres:alice@h";
  d.basic = b;
  d.note = std::move(note);
  d.tuples = 1;
  return d;
}

class PublicationStoreTest : public ::testing::Test {
 protected:
  PublicationStore store{60, 3600, 3600, 100};
  const PidfDocument open = doc(Basic::Open, "here");
  const PidfDocument closed = doc(Basic::Closed, "away");
};

TEST_F(PublicationStoreTest, InitialPublishMintsAnEtagAndBecomesTheState) {
  auto r = store.publish({"alice", {}, &open, "<open/>", 120}, 1000);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->etag.empty());
  EXPECT_EQ(r->expires, 120U);
  EXPECT_TRUE(r->changed);
  const Publication* p = store.current("alice", 1000);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->body, "<open/>");
  EXPECT_EQ(*p->basic, Basic::Open);
  EXPECT_EQ(store.current("bob", 1000), nullptr);
}

TEST_F(PublicationStoreTest, RefreshWithoutBodyKeepsStateAndChangesTheEtag) {
  auto first = store.publish({"alice", {}, &open, "<open/>", 120}, 1000);
  auto refresh = store.publish({"alice", first->etag, nullptr, {}, 120}, 100'000);
  ASSERT_TRUE(refresh);
  EXPECT_NE(refresh->etag, first->etag);
  EXPECT_FALSE(refresh->changed);
  // Alive past the first expiry (1000 + 120 s) thanks to the refresh.
  ASSERT_NE(store.current("alice", 200'000), nullptr);
  // The old tag is spent.
  auto stale = store.publish({"alice", first->etag, nullptr, {}, 120}, 100'001);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().status, 412);
}

TEST_F(PublicationStoreTest, ModifyReplacesTheDocument) {
  auto first = store.publish({"alice", {}, &open, "<open/>", 120}, 1000);
  auto mod = store.publish({"alice", first->etag, &closed, "<closed/>", 120}, 2000);
  ASSERT_TRUE(mod);
  EXPECT_TRUE(mod->changed);
  EXPECT_EQ(store.current("alice", 2000)->body, "<closed/>");
  EXPECT_EQ(store.size(), 1U);
}

TEST_F(PublicationStoreTest, ExpiresZeroRemoves) {
  auto first = store.publish({"alice", {}, &open, "<open/>", 120}, 1000);
  auto gone = store.publish({"alice", first->etag, nullptr, {}, 0}, 2000);
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->changed);
  EXPECT_EQ(gone->expires, 0U);
  EXPECT_EQ(store.current("alice", 2000), nullptr);
  EXPECT_EQ(store.size(), 0U);
}

TEST_F(PublicationStoreTest, UnknownOrForeignEtagIs412) {
  auto first = store.publish({"alice", {}, &open, "<open/>", 120}, 1000);
  EXPECT_EQ(store.publish({"alice", "nope", nullptr, {}, 120}, 1000).error().status, 412);
  EXPECT_EQ(store.publish({"bob", first->etag, nullptr, {}, 120}, 1000).error().status, 412);
}

TEST_F(PublicationStoreTest, ShortIntervalIs423WithMinExpires) {
  auto r = store.publish({"alice", {}, &open, "<open/>", 10}, 1000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, 423);
  EXPECT_EQ(r.error().minExpires, 60U);
}

TEST_F(PublicationStoreTest, LongIntervalIsClampedAndMissingOneIsTheDefault) {
  EXPECT_EQ(store.publish({"alice", {}, &open, "a", 99999}, 1000)->expires, 3600U);
  EXPECT_EQ(store.publish({"bob", {}, &open, "b", std::nullopt}, 1000)->expires, 3600U);
}

TEST_F(PublicationStoreTest, InitialWithoutBodyIs400) {
  EXPECT_EQ(store.publish({"alice", {}, nullptr, {}, 120}, 1000).error().status, 400);
}

TEST_F(PublicationStoreTest, ExpiryPurgesAndNamesTheUser) {
  ASSERT_TRUE(store.publish({"alice", {}, &open, "a", 60}, 1000));
  EXPECT_TRUE(store.purge(60'999).empty());
  EXPECT_EQ(store.purge(61'000), std::vector<std::string>{"alice"});
  EXPECT_EQ(store.size(), 0U);
}

TEST_F(PublicationStoreTest, NewestPublicationWins) {
  auto phone = store.publish({"alice", {}, &open, "phone", 600}, 1000);
  ASSERT_TRUE(store.publish({"alice", {}, &closed, "laptop", 600}, 2000));
  EXPECT_EQ(store.current("alice", 3000)->body, "laptop");
  ASSERT_TRUE(store.publish({"alice", phone->etag, &open, "phone2", 600}, 4000));
  EXPECT_EQ(store.current("alice", 4000)->body, "phone2");
}

TEST_F(PublicationStoreTest, TotalBoundIs503) {
  PublicationStore small{60, 3600, 3600, 2};
  ASSERT_TRUE(small.publish({"a", {}, &open, "x", 60}, 1));
  ASSERT_TRUE(small.publish({"b", {}, &open, "x", 60}, 1));
  auto r = small.publish({"c", {}, &open, "x", 60}, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, 503);
}

}  // namespace
}  // namespace rdv::presence
