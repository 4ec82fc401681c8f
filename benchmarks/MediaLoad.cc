#include "benchmarks/MediaLoad.h"

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "benchmarks/UdpSocket.h"

namespace rdv::bench {

namespace {

constexpr size_t kRxBatch = 8;
constexpr int kMaxEvents = 512;
constexpr uint32_t kSsrcBase = 0x52445600;  // "RDV\0"
constexpr size_t kMaxSendBurst = 256;

int64_t clockNs(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t monotonicNs() {
  return clockNs(CLOCK_MONOTONIC);
}
int64_t realtimeNs() {
  return clockNs(CLOCK_REALTIME);
}

void putBe16(std::byte* p, uint16_t v) {
  p[0] = std::byte(v >> 8);
  p[1] = std::byte(v);
}

void putBe32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    p[i] = std::byte(v >> (24 - 8 * i));
  }
}

template <typename T>
void putLe(std::byte* p, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    p[i] = std::byte(static_cast<uint64_t>(v) >> (8 * i));
  }
}

template <typename T>
T getLe(const std::byte* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    v |= static_cast<uint64_t>(p[i]) << (8 * i);
  }
  return static_cast<T>(v);
}

}  // namespace

MediaLoad::MediaLoad(std::vector<MediaStream> streams, std::vector<MediaReceiver> receivers,
                     MediaConfig config)
    : streams_(std::move(streams)),
      receivers_(std::move(receivers)),
      config_(config),
      seq_(streams_.size(), 0),
      timestamp_(streams_.size(), 0),
      txBuffer_(kRtpHeaderBytes + std::max(config.payload, kStampBytes) + srtp::kMaxTrailer),
      plainLength_(kRtpHeaderBytes + std::max(config.payload, kStampBytes)),
      rx_(kRxBatch) {}

void MediaLoad::fillRtp(std::byte* p, size_t stream, int64_t now) {
  p[0] = std::byte{0x80};  // V=2, no padding/extension/CSRC
  p[1] = std::byte{0x00};  // M=0, PT=0
  putBe16(p + 2, seq_[stream]++);
  putBe32(p + 4, timestamp_[stream]);
  timestamp_[stream] += static_cast<uint32_t>(8000 / config_.rate);  // PCMU: 8 kHz clock
  putBe32(p + 8, kSsrcBase + static_cast<uint32_t>(stream));
  putLe<int64_t>(p + kRtpHeaderBytes, now);
  putLe<uint32_t>(p + kRtpHeaderBytes + 8, static_cast<uint32_t>(stream));
}

void MediaLoad::sendPacket(size_t stream, int64_t now, MediaResult& result) {
  std::byte* p = txBuffer_.data();
  fillRtp(p, stream, now);
  const MediaStream& s = streams_[stream];
  size_t length = plainLength_;
  if (s.protect != nullptr) {
    const auto n = s.protect->protectRtp(txBuffer_, plainLength_);
    if (!n) {
      ++result.sendErrors;
      return;
    }
    length = *n;
  }
  bool ok;
  if (config_.sendApi == SendApi::SendMmsg) {
    iovec iov{p, length};
    mmsghdr msg{};
    msg.msg_hdr.msg_name = const_cast<sockaddr_in*>(&s.dest);
    msg.msg_hdr.msg_namelen = sizeof s.dest;
    msg.msg_hdr.msg_iov = &iov;
    msg.msg_hdr.msg_iovlen = 1;
    ok = ::sendmmsg(s.fd, &msg, 1, 0) == 1;
  } else {
    ok = ::sendto(s.fd, p, length, 0, reinterpret_cast<const sockaddr*>(&s.dest), sizeof s.dest) >= 0;
  }
  ++(ok ? result.sent : result.sendErrors);
}

void MediaLoad::receiveFrom(const MediaReceiver& r, MediaResult& result) {
  // Level-triggered epoll: whatever is left after one batch is reported again.
  const int n = rx_.receive(r.fd);
  if (n <= 0) {
    return;
  }
  int64_t now = monotonicNs();
  for (int i = 0; i < n; ++i) {
    std::span<const std::byte> datagram = rx_.datagram(static_cast<size_t>(i));
    if (r.unprotect != nullptr) {
      const auto plain = r.unprotect->unprotectRtp(rx_.datagram(static_cast<size_t>(i)));
      if (!plain) {
        ++result.srtpFailures;
        continue;
      }
      datagram = datagram.first(*plain);
    }
    const std::byte* p = datagram.data();
    if (datagram.size() < kRtpHeaderBytes + kStampBytes || (p[0] & std::byte{0xc0}) != std::byte{0x80}) {
      ++result.foreign;
      continue;
    }
    auto sentAt = getLe<int64_t>(p + kRtpHeaderBytes);
    auto stream = getLe<uint32_t>(p + kRtpHeaderBytes + 8);
    if (stream >= streams_.size() || sentAt > now) {
      ++result.foreign;
      continue;
    }
    // Arrival = when the kernel queued the datagram (SO_TIMESTAMPNS, wall clock, mapped onto the
    // monotonic clock with the offset sampled this tick); our own read time if it is missing.
    int64_t arrival = now;
    if (auto stamp = kernelStampNs(rx_.header(static_cast<size_t>(i)))) {
      arrival = std::clamp(*stamp - realMinusMonoNs_, sentAt, now);
    }
    ++result.received;
    result.latency.record(arrival - sentAt);
  }
}

Expected<MediaResult, std::string> MediaLoad::run() {
  common::Fd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep.valid()) {
    return Unexpected(std::string("epoll_create1: ") + std::strerror(errno));
  }
  for (size_t r = 0; r < receivers_.size(); ++r) {
    const int fd = receivers_[r].fd;
    int on = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0) {
      return Unexpected(std::string("SO_TIMESTAMPNS: ") + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = r;
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      return Unexpected(std::string("epoll_ctl: ") + std::strerror(errno));
    }
  }

  MediaResult result;
  const auto streamCount = static_cast<int64_t>(streams_.size());
  const int64_t period = 1'000'000'000 / config_.rate;
  const int64_t start = monotonicNs();
  const int64_t endSend = start + static_cast<int64_t>(config_.seconds * 1e9);
  const int64_t endDrain = endSend + static_cast<int64_t>(config_.drainSeconds * 1e9);
  // Slot g is packet g / streamCount of stream g % streamCount, due at start + g * period / streamCount:
  // the streams are spread evenly over one period and each keeps exactly `rate` packets/s.
  int64_t slot = 0;
  auto dueOf = [&](int64_t g) { return start + (streamCount == 0 ? endSend : g * period / streamCount); };
  std::array<epoll_event, kMaxEvents> events{};

  const bool ticking = config_.tickNs > 0;
  int64_t nextTick = start;
  for (;;) {
    int64_t now = monotonicNs();
    if (now >= endDrain) {
      break;
    }
    realMinusMonoNs_ = realtimeNs() - now;
    if (ticking) {
      // Everything that arrived since the last tick; the kernel's arrival stamps keep the
      // latency figures exact however late we look.
      int n;
      do {
        n = ::epoll_wait(ep.get(), events.data(), kMaxEvents, 0);
        for (int i = 0; i < n; ++i) {
          receiveFrom(receivers_[events[static_cast<size_t>(i)].data.u64], result);
        }
      } while (n == kMaxEvents);
      now = monotonicNs();
    }
    int64_t due = dueOf(slot);
    // Bounded burst: a generator that falls behind must still read, or the sockets overflow and
    // every late packet counts as lost.
    for (size_t burst = 0; burst < kMaxSendBurst && due <= now && due < endSend; ++burst) {
      result.maxSendLagNs = std::max(result.maxSendLagNs, now - due);
      sendPacket(static_cast<size_t>(slot % streamCount), now, result);
      ++slot;
      due = dueOf(slot);
      now = monotonicNs();
    }
    if (ticking) {
      if (due <= now && due < endSend) {
        continue;  // behind schedule: no sleep
      }
      nextTick = std::max(nextTick + config_.tickNs, now);
      timespec ts{static_cast<time_t>(nextTick / 1'000'000'000), static_cast<long>(nextTick % 1'000'000'000)};
      ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      continue;
    }
    // Event mode: wake for every arrival, and for the next due send (millisecond resolution).
    int64_t wakeAt = due < endSend ? due : endDrain;
    int64_t waitNs = std::max<int64_t>(wakeAt - now, 0);
    int waitMs = static_cast<int>((waitNs + 999'999) / 1'000'000);
    int n = ::epoll_wait(ep.get(), events.data(), kMaxEvents, waitMs);
    for (int i = 0; i < n; ++i) {
      receiveFrom(receivers_[events[static_cast<size_t>(i)].data.u64], result);
    }
  }
  return result;
}

}  // namespace rdv::bench
