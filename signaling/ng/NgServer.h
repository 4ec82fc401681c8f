#pragma once
// NG protocol transport: `<cookie> <bencoded dictionary>` datagrams over UDP. Replies carry the
// request's cookie; a repeated cookie is a retransmission and gets the cached reply without the
// command running twice. The socket is non-blocking and read from the control thread's loop.

#include <chrono>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/Clock.h"
#include "common/Expected.h"
#include "common/Fd.h"
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

  // One datagram in, the reply datagram out ("" when there is nothing to answer: no cookie).
  std::string process(std::string_view datagram);

  const NgCounters& counters() const { return counters_; }

 private:
  struct Cached {
    std::string reply;
    uint64_t expiresNs;
  };
  void expire(uint64_t nowNs);

  NgHandler& handler_;
  std::chrono::seconds ttl_;
  const common::Clock& clock_;
  common::Fd sock_;
  std::unordered_map<std::string, Cached> cache_;
  std::deque<std::string> order_;  // cookies by insertion, for expiry
  NgCounters counters_;
};

}  // namespace rdv::ng
