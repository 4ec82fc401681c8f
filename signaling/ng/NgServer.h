#pragma once
// NG protocol transport: `<cookie> <bencoded dictionary>` datagrams over UDP. Replies carry the
// request's cookie; a repeated cookie is a retransmission and gets the cached reply without the
// command running twice. The socket is non-blocking and read from the control thread's loop.
//
// Commands that wait for a relay worker (query, delete) answer later: the server remembers the
// cookie as pending, goes on serving other requests, and sends the reply to the request's source
// when it is ready. A retransmission of a pending cookie is counted and not run again; its
// answer is the one reply sent when the command completes.

#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/Clock.h"
#include "common/Expected.h"
#include "common/Fd.h"
#include "common/SockAddr.h"
#include "signaling/ng/NgHandler.h"

namespace rdv::ng {

class NgServer {
 public:
  // Replies are cached for `cacheTtl` of `clock`'s monotonic time; both references must outlive
  // the server.
  NgServer(NgHandler& handler, std::chrono::seconds cacheTtl, const common::Clock& clock)
      : handler_(handler), ttl_(cacheTtl), clock_(clock) {}

  // Binds the UDP socket ("host:port"); the error names the address and the reason.
  Expected<bool, std::string> bind(const std::string& listen);
  int fd() const { return sock_.get(); }

  // Reads and answers every datagram waiting on the socket.
  void onReadable();

  // One datagram from `from` in; the reply datagram out when it is ready now, "" otherwise (no
  // cookie; a command still waiting for a worker; a retransmission of one). A reply that becomes
  // ready later goes to `from` through the sender.
  std::string process(std::string_view datagram, const common::SockAddr& from = common::SockAddr());

  // Where deferred replies go; by default sendto() on the NG socket. Tests capture them.
  using Sender = std::function<void(std::string_view datagram, const common::SockAddr& to)>;
  void setSender(Sender s) { send_ = std::move(s); }

  const NgCounters& counters() const { return counters_; }
  // Commands waiting for a relay worker.
  size_t pending() const { return pending_; }

 private:
  struct Cached {
    std::string reply;  // empty while pending
    uint64_t expiresNs;
    bool pending = false;
  };
  void complete(const std::string& cookie, const common::SockAddr& from, BValue reply);
  void expire(uint64_t nowNs);

  NgHandler& handler_;
  std::chrono::seconds ttl_;
  const common::Clock& clock_;
  common::Fd sock_;
  std::unordered_map<std::string, Cached> cache_;
  std::deque<std::string> order_;  // cookies by insertion, for expiry
  NgCounters counters_;
  Sender send_;
  size_t pending_ = 0;
  // The cookie process() is running now: its reply, if ready before handle() returns, is
  // returned rather than sent.
  const std::string* inProcess_ = nullptr;
  std::string immediate_;
};

}  // namespace rdv::ng
