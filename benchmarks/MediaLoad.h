#pragma once
// The media phase of the load generator: every stream sends RTP at a fixed rate from its own
// socket, streams are spread evenly over the packet period, and every socket is read back with
// epoll + recvmmsg to count arrivals and measure one-way latency. Latency runs from the send
// time stamped in the packet to the kernel's arrival stamp on our socket (SO_TIMESTAMPNS), so it
// does not include how long the generator took to look.
//
// Packet layout (RFC 3550 §5.1 fixed header, then the payload):
//   12-byte RTP header: V=2, PT=0 (PCMU), sequence and timestamp incrementing, SSRC per stream
//   payload[0..8)  CLOCK_MONOTONIC send time in ns (little-endian)
//   payload[8..12) stream index (little-endian)
//   rest           zeros

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "benchmarks/LatencyHistogram.h"
#include "benchmarks/UdpSocket.h"
#include "common/Expected.h"
#include "media/srtp/SrtpContext.h"

namespace rdv::bench {

// One direction of a call: packets of stream i leave from `fd` towards `dest`, SRTP-protected
// with `protect` when set (SDES, rtp_load --sdes).
struct MediaStream {
  int fd = -1;
  sockaddr_in dest{};
  srtp::SrtpContext* protect = nullptr;
};

// A socket to read; what arrives is SRTP-unprotected with `unprotect` when set.
struct MediaReceiver {
  int fd = -1;
  srtp::SrtpContext* unprotect = nullptr;
};

// How packets leave. Every stream has its own socket and at most one packet due per tick, so
// sendmmsg has nothing to batch; SendTo is the default (measured slightly cheaper, see README).
enum class SendApi { SendTo, SendMmsg };

struct MediaConfig {
  int rate = 50;            // packets per second per stream
  size_t payload = 160;     // RTP payload bytes (>= kStampBytes)
  double seconds = 10;      // sending time
  double drainSeconds = 1;  // receive-only time after the last send
  SendApi sendApi = SendApi::SendTo;
  // > 0: wake every tickNs, read everything that arrived, send everything due (few wake-ups, so
  // the generator leaves the cores to the relay). 0: wake for every arrival.
  int64_t tickNs = 500'000;
};

struct MediaResult {
  uint64_t sent = 0;
  uint64_t sendErrors = 0;
  uint64_t received = 0;
  uint64_t foreign = 0;       // datagrams that were not ours (bad header or stream index)
  uint64_t srtpFailures = 0;  // datagrams an unprotect refused (not counted as received)
  int64_t maxSendLagNs = 0;   // worst lateness of a send against its schedule
  LatencyHistogram latency;
};

class MediaLoad {
 public:
  static constexpr size_t kRtpHeaderBytes = 12;
  static constexpr size_t kStampBytes = 12;

  // streams[i] carries stream index i; receivers lists every socket to read.
  MediaLoad(std::vector<MediaStream> streams, std::vector<MediaReceiver> receivers, MediaConfig config);

  // Runs the whole phase (config.seconds + config.drainSeconds). Fails only on setup errors
  // (epoll); per-packet errors are counted in the result.
  [[nodiscard]] Expected<MediaResult, std::string> run();

 private:
  void fillRtp(std::byte* p, size_t stream, int64_t now);
  void sendPacket(size_t stream, int64_t now, MediaResult& result);
  void receiveFrom(const MediaReceiver& r, MediaResult& result);

  std::vector<MediaStream> streams_;
  std::vector<MediaReceiver> receivers_;
  MediaConfig config_;
  std::vector<uint16_t> seq_;
  std::vector<uint32_t> timestamp_;
  std::vector<std::byte> txBuffer_;  // one packet plus SRTP tailroom
  size_t plainLength_ = 0;
  RecvBatch rx_;
  int64_t realMinusMonoNs_ = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC, sampled every loop
};

}  // namespace rdv::bench
