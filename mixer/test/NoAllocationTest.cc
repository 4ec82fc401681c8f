// The data path does not allocate: receiving packets and ticking a room (decode, conceal, mix,
// encode, send) run with a counting global operator new and malloc-free codecs. The counter
// only counts while `counting` is set, so the rest of the test binary is unaffected.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "mixer/MixerWorker.h"
#include "mixer/test/MixerTestUtil.h"

// ThreadSanitizer's runtime owns operator new; under it this test is skipped.
#if defined(__SANITIZE_THREAD__)
#define RDV_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RDV_TSAN 1
#endif
#endif

namespace {
std::atomic<bool> counting{false};
std::atomic<uint64_t> allocations{0};
}  // namespace

#ifndef RDV_TSAN
// These replace the global allocation functions, so new/free pairing is by design here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif

namespace rdv::mixer {
namespace {

using media::CodecId;

struct DropSink : MediaSink {
  uint64_t packets = 0;
  void send(ParticipantId, std::span<const std::byte>) override { ++packets; }
};

TEST(NoAllocationTest, ReceiveAndTickDoNotAllocate) {
#ifdef RDV_TSAN
  GTEST_SKIP() << "operator new belongs to ThreadSanitizer";
#endif
  DropSink sink;
  MixerWorker worker(MixerWorkerOptions{}, sink);
  std::vector<testutil::Sender> senders;
  const CodecId codecs[] = {CodecId::Opus, CodecId::Pcmu, CodecId::G722, CodecId::Pcma};
  ASSERT_NE(worker.createConference(1), nullptr);
  for (ParticipantId id = 0; id < 8; ++id) {
    const CodecId c = codecs[id % 4];
    const uint8_t pt = media::codecInfo(c).defaultPayloadType;
    ASSERT_TRUE(worker.addParticipant(1, {.id = id, .codec = c, .payloadType = pt, .ssrc = id}));
    senders.emplace_back(c, pt, 0x100 + id, id < 3 ? 300.0 + 200 * id : 0.0);
  }
  // A second room whose two Opus talkers hear each other's frames forwarded, and whose listener
  // hears the lone talker's frame when the other is lost.
  ASSERT_NE(worker.createConference(2), nullptr);
  for (ParticipantId id = 8; id < 11; ++id) {
    ASSERT_TRUE(worker.addParticipant(2, {.id = id, .codec = CodecId::Opus, .payloadType = 111, .ssrc = id}));
    senders.emplace_back(CodecId::Opus, 111, 0x100 + id, id < 10 ? 500.0 + 300 * (id - 8) : 0.0);
  }
  const auto tick = [&](int i) {
    for (ParticipantId id = 0; id < 11; ++id) {
      auto pkt = senders[id].next();
      if (i % 7 != static_cast<int>(id)) worker.inbound(0).push(id, pkt, uint64_t(i) * 20'000'000);  // some loss
    }
    worker.runTick();
    worker.accountTick(5'000'000);  // the load governor's bookkeeping, no level change
  };
  for (int i = 0; i < 30; ++i) tick(i);  // talkers chosen, buffers primed
  const uint64_t encodesBefore = worker.counters().encodes.get();
  const uint64_t forwardsBefore = worker.counters().forwards.get();
  counting = true;
  for (int i = 30; i < 130; ++i) tick(i);
  counting = false;
  // The senders' own encoders do not allocate either, so every allocation would be the mixer's.
  EXPECT_EQ(allocations.load(), 0u);
  EXPECT_GT(worker.counters().encodes.get(), encodesBefore);
  EXPECT_GT(worker.counters().forwards.get(), forwardsBefore);
  EXPECT_GT(worker.counters().framesConcealed.get(), 0u);
  EXPECT_EQ(worker.encodingLevel(), 0);
}

}  // namespace
}  // namespace rdv::mixer
