// The record of every call that ends (B2bua::setOnCallEnded): parties, times and why it ended,
// one per call, counted by reason.

#include <gtest/gtest.h>

#include "signaling/b2bua/test/B2buaCallTest.h"

namespace rdv::b2bua::test {
namespace {

class B2buaCallRecordTest : public B2buaCallTest {
 protected:
  B2bua& withRecords() {
    b2b().setOnCallEnded([this](CallRecord&& r) { records_.push_back(std::move(r)); });
    return b2b();
  }
  uint64_t ended(EndReason r) { return b2b().counters().ended[static_cast<size_t>(r)].get(); }
  std::vector<CallRecord> records_;
};

constexpr uint64_t kWallMs = 1'700'000'000'000;  // the ManualClock's wall clock at kT0

TEST_F(B2buaCallRecordTest, AnsweredCallEndedByTheCalleeRecordsPartiesTimesAndReason) {
  withRecords();
  Dialogs d = establish();
  clock_.advanceNs(5'000'000'000);
  receive(fromBobLf(d, "BYE", 1), bob_);
  ASSERT_EQ(records_.size(), 1U);
  const CallRecord& r = records_[0];
  EXPECT_EQ(r.callId, "call-1");
  EXPECT_EQ(r.calleeCallId, d.bInvite->callId());
  EXPECT_EQ(r.caller, "Alice <sip:alice@example.com>");
  EXPECT_EQ(r.callee, "<sip:bob@127.0.0.1>");
  EXPECT_EQ(r.calleeContact, kBobContact);
  EXPECT_EQ(r.startUnixMs, kWallMs);
  EXPECT_EQ(r.answerUnixMs, kWallMs);
  EXPECT_EQ(r.endUnixMs, kWallMs + 5'000);
  EXPECT_EQ(toString(r.reason), "callee_bye");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.branches, 1U);
  EXPECT_EQ(ended(EndReason::CalleeBye), 1U);
}

TEST_F(B2buaCallRecordTest, CancelBusyAndRingTimeoutEachHaveTheirReasonAndStatus) {
  cfg_.ringTimeoutSeconds = 2;
  withRecords();
  registerBob();
  inviteBob("call-1");
  receive(cancelLf("call-1"), alice_);
  take();
  auto busy = inviteBob("call-2");
  receive(responseLf(busy, 486, "Busy Here", "b2", kBobContact), bob_);
  take();
  inviteBob("call-3");
  sip::test::runTimersUntil(clock_, b2b(), kT0 + 3'000);
  ASSERT_EQ(records_.size(), 3U);
  EXPECT_EQ(records_[0].reason, EndReason::CallerCancel);
  EXPECT_EQ(records_[0].status, 487);
  EXPECT_EQ(records_[0].answerUnixMs, 0U);
  EXPECT_TRUE(records_[0].calleeCallId.empty());
  EXPECT_EQ(records_[1].reason, EndReason::Rejected);
  EXPECT_EQ(records_[1].status, 486);
  EXPECT_EQ(records_[2].callId, "call-3");
  EXPECT_EQ(records_[2].reason, EndReason::RingTimeout);
  EXPECT_EQ(records_[2].status, 408);
  EXPECT_EQ(ended(EndReason::CallerCancel) + ended(EndReason::Rejected) + ended(EndReason::RingTimeout), 3U);
}

TEST_F(B2buaCallRecordTest, MediaTimeoutOfAnAnsweredCallIsRecordedOnce) {
  withRecords();
  establish();
  b2b().onMediaTimeout("call-1");
  b2b().onMediaTimeout("call-1");
  ASSERT_EQ(records_.size(), 1U);
  EXPECT_EQ(records_[0].reason, EndReason::MediaTimeout);
  EXPECT_EQ(ended(EndReason::MediaTimeout), 1U);
}

}  // namespace
}  // namespace rdv::b2bua::test
