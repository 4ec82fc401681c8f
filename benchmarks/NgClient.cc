#include "benchmarks/NgClient.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <random>

namespace rdv::bench {

namespace {

constexpr size_t kRecvBatch = 32;
constexpr size_t kMaxDatagram = 65536;

}  // namespace

Expected<std::unique_ptr<NgClient>, std::string> NgClient::open(const sockaddr_in& server, size_t window) {
  if ((ntohl(server.sin_addr.s_addr) >> 24) != 127) {
    return Unexpected(std::string("NG server must be on loopback"));
  }
  auto sock = openLoopbackUdp(4 << 20);
  if (!sock) {
    return Unexpected(sock.error());
  }
  if (::connect(sock->fd.get(), reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0) {
    return Unexpected(std::string("connect NG socket: ") + std::strerror(errno));
  }
  return std::unique_ptr<NgClient>(new NgClient(std::move(sock->fd), std::max<size_t>(window, 1)));
}

NgClient::NgClient(common::Fd fd, size_t window)
    : fd_(std::move(fd)), window_(window), rxStorage_(kRecvBatch * kMaxDatagram) {
  // Cookies must not repeat across runs against the same relay: a relay caches replies by cookie.
  std::random_device rd;
  cookiePrefix_ = std::to_string(::getpid()) + "x" + std::to_string(rd() & 0xffffff) + "_";
}

void NgClient::enqueue(uint64_t tag, const ng::BValue& request, bool urgent) {
  Pending p{tag, ng::encodeBencode(request)};
  if (urgent) {
    queue_.push_front(std::move(p));
  } else {
    queue_.push_back(std::move(p));
  }
}

void NgClient::sendBatch(const std::vector<const std::string*>& datagrams) {
  size_t done = 0;
  while (done < datagrams.size()) {
    constexpr size_t kBatch = 64;
    std::array<mmsghdr, kBatch> msgs{};
    std::array<iovec, kBatch> iovs{};
    size_t n = std::min(kBatch, datagrams.size() - done);
    for (size_t i = 0; i < n; ++i) {
      const std::string* d = datagrams[done + i];
      iovs[i] = iovec{const_cast<char*>(d->data()), d->size()};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int sent = ::sendmmsg(fd_.get(), msgs.data(), static_cast<unsigned>(n), 0);
    if (sent <= 0) {
      // A lost request is recovered by the retransmission timer; nothing else to do here.
      if (sent < 0 && errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED && errno != EINTR) {
        std::fprintf(stderr, "rtp_load: NG sendmmsg: %s\n", std::strerror(errno));
      }
      return;
    }
    done += static_cast<size_t>(sent);
  }
}

void NgClient::fillWindow(std::chrono::steady_clock::time_point now) {
  std::vector<const std::string*> batch;
  while (inFlight_.size() < window_ && !queue_.empty()) {
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    uint64_t seq = nextSeq_++;
    InFlight f{p.tag, cookiePrefix_ + std::to_string(seq) + " " + p.body, 1, now + kRetransmitAfter};
    auto [it, inserted] = inFlight_.emplace(seq, std::move(f));
    batch.push_back(&it->second.datagram);
  }
  // unordered_map never moves its elements, so the pointers stay valid for the batch.
  sendBatch(batch);
}

void NgClient::receiveReplies(const OnDone& onDone) {
  std::vector<char>& storage = rxStorage_;
  std::array<mmsghdr, kRecvBatch> msgs{};
  std::array<iovec, kRecvBatch> iovs{};
  for (;;) {
    for (size_t i = 0; i < kRecvBatch; ++i) {
      iovs[i] = iovec{storage.data() + i * kMaxDatagram, kMaxDatagram};
      msgs[i].msg_hdr = msghdr{};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = ::recvmmsg(fd_.get(), msgs.data(), kRecvBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) {
      return;  // EAGAIN, or ECONNREFUSED while the relay is not listening: timers handle both
    }
    for (int i = 0; i < n; ++i) {
      std::string_view dgram(storage.data() + static_cast<size_t>(i) * kMaxDatagram, msgs[i].msg_len);
      size_t space = dgram.find(' ');
      std::string_view cookie = dgram.substr(0, space);
      if (space == std::string_view::npos || cookie.substr(0, cookiePrefix_.size()) != cookiePrefix_) {
        ++strayReplies_;
        continue;
      }
      std::string_view seqText = cookie.substr(cookiePrefix_.size());
      uint64_t seq = 0;
      auto [ptr, ec] = std::from_chars(seqText.data(), seqText.data() + seqText.size(), seq);
      auto it = inFlight_.find(seq);
      if (ec != std::errc() || ptr != seqText.data() + seqText.size() || it == inFlight_.end()) {
        ++strayReplies_;  // e.g. the answer to a retransmission that already completed
        continue;
      }
      uint64_t tag = it->second.tag;
      inFlight_.erase(it);
      Outcome out;
      auto reply = parseReply(dgram.substr(space + 1));
      if (!reply) {
        out.status = Status::BadReply;
        out.detail = reply.error();
      } else {
        out.status = reply->ok ? Status::Ok : Status::Error;
        out.reply = std::move(*reply);
      }
      onDone(tag, std::move(out));
    }
    if (static_cast<size_t>(n) < kRecvBatch) {
      return;
    }
  }
}

void NgClient::expire(std::chrono::steady_clock::time_point now, const OnDone& onDone) {
  std::vector<const std::string*> resend;
  std::vector<uint64_t> dead;
  for (auto& [seq, f] : inFlight_) {
    if (f.deadline > now) {
      continue;
    }
    if (f.tries >= kMaxTries) {
      dead.push_back(seq);
      continue;
    }
    ++f.tries;
    ++retransmits_;
    f.deadline = now + kRetransmitAfter;
    resend.push_back(&f.datagram);
  }
  sendBatch(resend);
  for (uint64_t seq : dead) {
    auto it = inFlight_.find(seq);
    uint64_t tag = it->second.tag;
    inFlight_.erase(it);
    Outcome out;
    out.status = Status::Timeout;
    out.detail = "no reply after " + std::to_string(kMaxTries) + " tries";
    onDone(tag, std::move(out));
  }
}

void NgClient::runUntilIdle(const OnDone& onDone) {
  using Clock = std::chrono::steady_clock;
  while (!queue_.empty() || !inFlight_.empty()) {
    auto now = Clock::now();
    fillWindow(now);
    auto next = now + kRetransmitAfter;
    for (const auto& [seq, f] : inFlight_) {
      next = std::min(next, f.deadline);
    }
    auto waitMs = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
    pollfd pfd{fd_.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(waitMs, 0)));
    if (r > 0) {
      receiveReplies(onDone);
    }
    expire(Clock::now(), onDone);
  }
}

}  // namespace rdv::bench
