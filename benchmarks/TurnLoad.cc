// turn_load: one-way TURN load at a fixed rate, for turn_bench.py. One allocation over UDP (401
// challenge, then long-term credentials), ChannelBind 0x4000 to a local peer socket, then
// ChannelData frames at --rate datagrams/s sent with sendmmsg; a thread counts what reaches the
// peer with recvmmsg. Prints key=value figures. Bounded: --seconds of sending, then at most 1 s of
// draining.
//
//   turn_load --server 127.0.0.1:3478 --user U --password P [--rate 100000] [--seconds 5]
//             [--length 120]
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/Fd.h"
#include "common/SockAddr.h"
#include "relay/stun/ChannelData.h"
#include "relay/stun/StunBuilder.h"
#include "relay/stun/StunIntegrity.h"

namespace {

using namespace rdv;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string server, user, password;
  double rate = 100000, seconds = 5;
  size_t length = 120;
};

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--server") a.server = v;
    else if (k == "--user") a.user = v;
    else if (k == "--password") a.password = v;
    else if (k == "--rate") a.rate = std::stod(v);
    else if (k == "--seconds") a.seconds = std::stod(v);
    else if (k == "--length") a.length = std::stoul(v);
    else return false;
  }
  return !a.server.empty() && !a.user.empty() && a.length > 0 && a.length <= 1400;
}

// Sends one request and returns the answer (empty after 2 s).
std::vector<std::byte> exchange(int fd, std::span<const std::byte> request) {
  if (::send(fd, request.data(), request.size(), 0) < 0) return {};
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 2000) != 1) return {};
  std::vector<std::byte> buf(2048);
  const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
  buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return buf;
}

int codeOf(std::span<const std::byte> reply) {
  auto m = stun::StunView::parse(reply);
  if (!m) return -1;
  if (m->messageClass() == stun::MessageClass::SuccessResponse) return 0;
  return m->errorCode() ? m->errorCode()->code : -1;
}

// Allocate + ChannelBind 0x4000 to `peer`; an error message or "".
std::string setUp(int fd, const Args& a, const common::SockAddr& peer) {
  std::array<std::byte, 512> buf{};
  stun::TransactionId id{};
  id[0] = std::byte{1};
  stun::StunBuilder first(buf, stun::method::kAllocate, stun::MessageClass::Request, id);
  first.addRequestedTransport(17);
  auto challenge = exchange(fd, first.bytes());
  auto m = stun::StunView::parse(challenge);
  if (!m || !m->text(stun::attr::kNonce) || !m->text(stun::attr::kRealm)) return "no 401 challenge";
  const std::string nonce(*m->text(stun::attr::kNonce)), realm(*m->text(stun::attr::kRealm));
  const auto key = stun::longTermKey(a.user, realm, a.password);
  auto signedRequest = [&](uint16_t method, uint8_t n, auto&& fill) {
    id[0] = std::byte{n};
    stun::StunBuilder b(buf, method, stun::MessageClass::Request, id);
    fill(b);
    b.addText(stun::attr::kUsername, a.user).addText(stun::attr::kRealm, realm).addText(stun::attr::kNonce, nonce);
    b.addIntegrity(key);
    return codeOf(exchange(fd, b.bytes()));
  };
  if (int c = signedRequest(stun::method::kAllocate, 2, [](auto& b) { b.addRequestedTransport(17); }); c != 0) {
    return "Allocate answered " + std::to_string(c);
  }
  if (int c = signedRequest(stun::method::kChannelBind, 3,
                            [&](auto& b) { b.addChannelNumber(0x4000).addXorAddress(stun::attr::kXorPeerAddress, peer); });
      c != 0) {
    return "ChannelBind answered " + std::to_string(c);
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr, "usage: turn_load --server HOST:PORT --user U --password P [--rate N] [--seconds S] [--length L]\n");
    return 2;
  }
  const auto server = common::SockAddr::parseHostPort(a.server);
  if (!server) return 2;
  common::Fd client(::socket(AF_INET, SOCK_DGRAM, 0)), peer(::socket(AF_INET, SOCK_DGRAM, 0));
  const int big = 32 << 20;
  ::setsockopt(peer.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));  // root; else capped below
  ::setsockopt(peer.get(), SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  const auto loopback = *common::SockAddr::fromIp("127.0.0.1", 0);
  ::bind(peer.get(), loopback.sa(), loopback.len());
  common::SockAddr peerAddr;
  socklen_t len = common::SockAddr::kStorage;
  ::getsockname(peer.get(), peerAddr.storage(), &len);
  if (::connect(client.get(), server->sa(), server->len()) != 0) return 1;
  if (auto problem = setUp(client.get(), a, peerAddr); !problem.empty()) {
    std::fprintf(stderr, "turn_load: %s\n", problem.c_str());
    return 1;
  }

  std::atomic<bool> sending{true};
  std::atomic<uint64_t> received{0};
  std::thread counter([&] {
    std::vector<std::array<std::byte, 2048>> bufs(64);
    std::vector<iovec> iov(64);
    std::vector<mmsghdr> msgs(64);
    auto quietSince = Clock::now();
    while (sending.load() || Clock::now() - quietSince < std::chrono::milliseconds(1000)) {
      pollfd p{peer.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      for (size_t i = 0; i < msgs.size(); ++i) {
        iov[i] = {bufs[i].data(), bufs[i].size()};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      const int n = ::recvmmsg(peer.get(), msgs.data(), static_cast<unsigned>(msgs.size()), MSG_DONTWAIT, nullptr);
      if (n > 0) {
        received.fetch_add(static_cast<uint64_t>(n));
        quietSince = Clock::now();
      }
    }
  });

  std::vector<std::byte> frame(4 + a.length, std::byte{0x5a});
  stun::writeChannelDataHeader(frame, 0x4000, static_cast<uint16_t>(a.length));
  std::vector<iovec> iov(64, iovec{frame.data(), frame.size()});
  std::vector<mmsghdr> msgs(64);
  for (size_t i = 0; i < msgs.size(); ++i) {
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  const auto total = static_cast<uint64_t>(a.rate * a.seconds);
  uint64_t sent = 0;
  const auto start = Clock::now();
  while (sent < total) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const uint64_t due = std::min<uint64_t>(total, static_cast<uint64_t>(elapsed * a.rate));
    if (due <= sent) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    const auto batch = static_cast<unsigned>(std::min<uint64_t>(due - sent, msgs.size()));
    const int n = ::sendmmsg(client.get(), msgs.data(), batch, 0);
    if (n > 0) sent += static_cast<uint64_t>(n);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  sending.store(false);
  counter.join();
  const uint64_t got = received.load();
  std::printf("sent=%llu\nreceived=%llu\nloss_pct=%.4f\nachieved_rate=%.0f\nseconds=%.3f\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(got),
              sent ? 100.0 * static_cast<double>(sent - std::min(sent, got)) / static_cast<double>(sent) : 0.0,
              static_cast<double>(sent) / elapsed, elapsed);
  return 0;
}
