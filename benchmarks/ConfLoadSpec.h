#pragma once
// conf_load's participants file (benchmarks/ConfLoad.cc): one participant per line,
//
//   LOCAL_PORT REMOTE_IP:PORT CODEC PT ROLE HZ [LEVEL_EXT_ID]
//
// blank lines and '#' comments skipped; REMOTE on loopback only.

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "common/Expected.h"
#include "common/SockAddr.h"
#include "media/AudioCodec.h"

namespace rdv::bench {

inline constexpr size_t kMaxParticipants = 5000;

struct Spec {
  uint16_t localPort = 0;
  common::SockAddr remote;
  media::CodecId codec = media::CodecId::Opus;
  uint8_t pt = 111;
  bool talker = false;
  double hz = 0;
  uint8_t levelExtId = 0;  // 0: no audio level extension
};

// One line, or what is wrong with it.
Expected<Spec, std::string> parseSpec(const std::string& line);

// Every participant of a file, or the first error with its line number (also: none, or more
// than kMaxParticipants).
Expected<std::vector<Spec>, std::string> readSpecs(std::istream& in);

}  // namespace rdv::bench
