// ControlQueue: tasks run on the draining thread in order, the eventfd tells when there are any,
// the bound refuses, and a call() whose caller gave up never runs.

#include "app/api/ControlQueue.h"

#include "app/api/test/ControlThread.h"

#include <poll.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace rdv::api {
namespace {

bool readable(int fd, int timeoutMs = 0) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeoutMs) == 1;
}

TEST(ControlQueueTest, PostedTasksRunInOrderWhenDrainedAndTheFdSaysSo) {
  ControlQueue q(8);
  EXPECT_FALSE(readable(q.fd()));
  std::vector<int> ran;
  ASSERT_TRUE(q.post([&] { ran.push_back(1); }));
  ASSERT_TRUE(q.post([&] { ran.push_back(2); }));
  EXPECT_TRUE(readable(q.fd()));
  EXPECT_TRUE(ran.empty()) << "nothing runs before drain()";
  EXPECT_EQ(q.drain(), 2U);
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  EXPECT_FALSE(readable(q.fd()));
  EXPECT_EQ(q.waiting(), 0U);
}

TEST(ControlQueueTest, FullQueueRefusesAndKeepsWhatItHas) {
  ControlQueue q(1);
  int ran = 0;
  ASSERT_TRUE(q.post([&] { ++ran; }));
  EXPECT_FALSE(q.post([&] { ran += 100; }));
  EXPECT_EQ(q.drain(), 1U);
  EXPECT_EQ(ran, 1);
}

TEST(ControlQueueTest, CallReturnsWhatTheTaskComputedOnTheDrainingThread) {
  ControlQueue q;
  test::ControlThread control(q);
  auto r = q.call<std::thread::id>([] { return std::this_thread::get_id(); }, std::chrono::seconds(5));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, control.id());
}

TEST(ControlQueueTest, TimedOutCallNeverRunsItsTask) {
  ControlQueue q;
  auto ran = std::make_shared<std::atomic<bool>>(false);
  auto r = q.call<int>(
      [ran] {
        *ran = true;
        return 1;
      },
      std::chrono::milliseconds(20));  // nobody drains: the wait must end by itself
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), ControlFailure::TimedOut);
  EXPECT_EQ(q.drain(), 1U) << "the abandoned task is still taken off the queue";
  EXPECT_FALSE(*ran) << "a request answered 503 must not happen later";
}

TEST(ControlQueueTest, CallOnAFullQueueFailsAtOnce) {
  ControlQueue q(1);
  ASSERT_TRUE(q.post([] {}));
  auto r = q.call<int>([] { return 1; }, std::chrono::seconds(60));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), ControlFailure::QueueFull);
}

}  // namespace
}  // namespace rdv::api
