#pragma once
// NG protocol transport: `<cookie> <bencoded dictionary>` datagrams over UDP. Replies carry the
// request's cookie; a repeated cookie is a retransmission and gets the cached reply without the
// command running twice. The socket is non-blocking and read from the control thread's loop.

#include <chrono>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

#include "media/Expected.h"
#include "relay/Fd.h"
#include "signaling/NgHandler.h"

namespace rdv::signaling {

class NgServer {
 public:
  NgServer(NgHandler& handler, std::chrono::seconds cacheTtl) : handler_(handler), ttl_(cacheTtl) {}

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
    std::chrono::steady_clock::time_point expires;
  };
  void expire(std::chrono::steady_clock::time_point now);

  NgHandler& handler_;
  std::chrono::seconds ttl_;
  relay::Fd sock_;
  std::unordered_map<std::string, Cached> cache_;
  std::deque<std::string> order_;  // cookies by insertion, for expiry
  NgCounters counters_;
};

}  // namespace rdv::signaling
