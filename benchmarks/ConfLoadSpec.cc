// conf_load's participants file: benchmarks/ConfLoadSpec.h.
#include "benchmarks/ConfLoadSpec.h"

#include <optional>
#include <sstream>

#include "benchmarks/UdpSocket.h"

namespace rdv::bench {

using media::CodecId;

namespace {

std::optional<CodecId> codecByName(const std::string& name) {
  for (CodecId id : {CodecId::Pcmu, CodecId::Pcma, CodecId::G722, CodecId::Opus}) {
    if (media::codecInfo(id).name == name) {
      return id;
    }
  }
  return std::nullopt;
}

}  // namespace

Expected<Spec, std::string> parseSpec(const std::string& line) {
  std::istringstream in(line);
  long port = 0, pt = 0, ext = 0;
  double hz = 0;
  std::string remote, codec, role;
  if (!(in >> port >> remote >> codec >> pt >> role >> hz)) {
    return Unexpected(std::string("expected LOCAL_PORT REMOTE_IP:PORT CODEC PT ROLE HZ [LEVEL_EXT_ID]"));
  }
  if (!(in >> ext)) {
    ext = 0;
  }
  Spec s;
  auto addr = parseLoopbackEndpoint(remote);
  if (!addr) {
    return Unexpected(addr.error());
  }
  auto id = codecByName(codec);
  if (port < 1 || port > 65535 || pt < 0 || pt > 127 || ext < 0 || ext > 14 || !id || hz < 0 || hz > 4000 ||
      (role != "talker" && role != "silent") || (role == "talker" && hz < 50)) {
    return Unexpected(std::string("a field is out of range (port 1-65535, pt 0-127, codec opus|g722|pcmu|pcma, "
                                  "role talker|silent, talker hz 50-4000, level id 0-14)"));
  }
  s.localPort = static_cast<uint16_t>(port);
  s.remote = *common::SockAddr::fromSockaddr(reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  s.codec = *id;
  s.pt = static_cast<uint8_t>(pt);
  s.talker = role == "talker";
  s.hz = hz;
  s.levelExtId = static_cast<uint8_t>(ext);
  return s;
}

Expected<std::vector<Spec>, std::string> readSpecs(std::istream& in) {
  std::vector<Spec> specs;
  std::string line;
  for (size_t lineNo = 1; std::getline(in, line); ++lineNo) {
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') {
      continue;
    }
    if (specs.size() == kMaxParticipants) {
      return Unexpected("more than " + std::to_string(kMaxParticipants) + " participants");
    }
    auto spec = parseSpec(line);
    if (!spec) {
      return Unexpected("line " + std::to_string(lineNo) + ": " + spec.error());
    }
    specs.push_back(*spec);
  }
  if (specs.empty()) {
    return Unexpected(std::string("no participants"));
  }
  return specs;
}

}  // namespace rdv::bench
