#pragma once
// Pipelined NG client: keeps up to `window` requests in flight on one UDP socket, each with a
// unique cookie, retransmits a request (same cookie, so the server answers from its cache) after
// kRetransmitAfter without a reply, and gives up after kMaxTries sends. Used to measure how fast
// a relay sets calls up, so it batches its own I/O (sendmmsg / recvmmsg).

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "benchmarks/NgCommands.h"
#include "benchmarks/UdpSocket.h"
#include "common/Expected.h"
#include "signaling/ng/Bencode.h"

namespace rdv::bench {

class NgClient {
 public:
  static constexpr std::chrono::milliseconds kRetransmitAfter{500};
  static constexpr int kMaxTries = 3;

  enum class Status { Ok, Error, Timeout, BadReply };

  // How one request ended. `reply` is filled for Ok and Error; `detail` describes BadReply.
  struct Outcome {
    Status status = Status::Timeout;
    NgReply reply;
    std::string detail;
  };

  // Called once per request, with the tag given to enqueue(); may enqueue further requests.
  using OnDone = std::function<void(uint64_t tag, Outcome&& outcome)>;

  // Opens a socket connected to `server` (which must be loopback).
  [[nodiscard]] static Expected<std::unique_ptr<NgClient>, std::string> open(const sockaddr_in& server, size_t window);

  // Queues a request. Urgent requests go before those already queued (an answer completing a
  // call jumps ahead of offers opening new ones).
  void enqueue(uint64_t tag, const ng::BValue& request, bool urgent = false);

  // Sends, retransmits and collects replies until nothing is queued or in flight. Bounded: every
  // request ends within kMaxTries * kRetransmitAfter of its first send.
  void runUntilIdle(const OnDone& onDone);

  uint64_t retransmits() const { return retransmits_; }
  uint64_t strayReplies() const { return strayReplies_; }

 private:
  struct Pending {
    uint64_t tag;
    std::string body;  // bencoded dictionary
  };
  struct InFlight {
    uint64_t tag;
    std::string datagram;  // "<cookie> <body>"
    int tries;
    std::chrono::steady_clock::time_point deadline;
  };

  NgClient(common::Fd fd, size_t window);
  void fillWindow(std::chrono::steady_clock::time_point now);
  void sendBatch(const std::vector<const std::string*>& datagrams);
  void receiveReplies(const OnDone& onDone);
  void expire(std::chrono::steady_clock::time_point now, const OnDone& onDone);

  common::Fd fd_;
  size_t window_;
  std::string cookiePrefix_;
  uint64_t nextSeq_ = 0;
  std::deque<Pending> queue_;
  std::unordered_map<uint64_t, InFlight> inFlight_;  // by cookie sequence number
  std::vector<char> rxStorage_;  // receive batch buffers
  uint64_t retransmits_ = 0;
  uint64_t strayReplies_ = 0;
};

}  // namespace rdv::bench
