#include "benchmarks/NgCommands.h"

#include <arpa/inet.h>

#include <charconv>
#include <functional>

namespace rdv::bench {

using ng::BValue;

namespace {

BValue replaceList() {
  BValue list = BValue::list();
  list.push(BValue::string("origin"));
  list.push(BValue::string("session-connection"));
  return list;
}

BValue sdpRequest(std::string_view command, const CallIds& ids, std::string sdp, bool withToTag) {
  BValue d;
  d.set("sdp", BValue::string(std::move(sdp)));
  d.set("call-id", BValue::string(ids.callId));
  d.set("from-tag", BValue::string(ids.fromTag));
  if (withToTag) {
    d.set("to-tag", BValue::string(ids.toTag));
  }
  d.set("replace", replaceList());
  d.set("command", BValue::string(std::string(command)));
  return d;
}

// Next line of an SDP (CRLF or LF terminated); advances pos past it.
std::string_view nextLine(std::string_view text, size_t& pos) {
  size_t end = text.find('\n', pos);
  if (end == std::string_view::npos) {
    end = text.size();
  }
  std::string_view line = text.substr(pos, end - pos);
  pos = end + 1;
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

// "c=IN IP4 <addr>" -> addr, or empty when the line is not an IPv4 connection line.
std::string_view ip4Connection(std::string_view line) {
  constexpr std::string_view kPrefix = "c=IN IP4 ";
  if (line.substr(0, kPrefix.size()) != kPrefix) {
    return {};
  }
  std::string_view addr = line.substr(kPrefix.size());
  return addr.substr(0, addr.find_first_of(" /"));
}

}  // namespace

std::string phoneSdp(uint64_t sessionId, uint16_t rtpPort, std::string_view crypto) {
  std::string id = std::to_string(sessionId);
  std::string port = std::to_string(rtpPort);
  std::string sdp = "v=0\r\no=- " + id + " 1 IN IP4 127.0.0.1\r\n";
  sdp += "s=rtp_load\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n";
  sdp += "m=audio " + port + (crypto.empty() ? " RTP/AVP 0\r\n" : " RTP/SAVP 0\r\n");
  sdp += "a=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n";
  if (!crypto.empty()) {
    sdp += "a=crypto:" + std::string(crypto) + "\r\n";
  }
  return sdp;
}

BValue makeOffer(const CallIds& ids, uint16_t callerRtpPort, std::string_view crypto) {
  BValue d = sdpRequest("offer", ids,
                        phoneSdp(std::hash<std::string>{}(ids.callId) >> 20, callerRtpPort, crypto), false);
  if (!crypto.empty()) {
    d.set("transport-protocol", BValue::string("RTP/AVP"));
  }
  return d;
}

BValue makeAnswer(const CallIds& ids, uint16_t calleeRtpPort) {
  return sdpRequest("answer", ids, phoneSdp(std::hash<std::string>{}(ids.toTag) >> 20, calleeRtpPort), true);
}

BValue makeDelete(const CallIds& ids) {
  BValue d;
  d.set("call-id", BValue::string(ids.callId));
  d.set("from-tag", BValue::string(ids.fromTag));
  d.set("command", BValue::string("delete"));
  return d;
}

Expected<NgReply, std::string> parseReply(std::string_view body) {
  auto parsed = ng::parseBencode(body);
  if (!parsed) {
    return Unexpected("bencode: " + parsed.error().reason + " at offset " + std::to_string(parsed.error().offset));
  }
  if (!parsed->isDict()) {
    return Unexpected(std::string("reply is not a dictionary"));
  }
  auto result = parsed->getString("result");
  if (!result) {
    return Unexpected(std::string("reply has no string 'result'"));
  }
  NgReply reply;
  reply.result = std::string(*result);
  reply.ok = (*result == "ok" || *result == "pong");
  if (auto reason = parsed->getString("error-reason")) {
    reply.errorReason = std::string(*reason);
  }
  if (auto sdp = parsed->getString("sdp")) {
    reply.sdp = std::string(*sdp);
  }
  return reply;
}

Expected<sockaddr_in, std::string> audioDestination(std::string_view sdp) {
  std::string_view sessionAddr;
  std::string_view mediaAddr;
  bool inAudio = false;
  bool anyMedia = false;
  long port = -1;
  size_t pos = 0;
  while (pos < sdp.size()) {
    std::string_view line = nextLine(sdp, pos);
    if (line.substr(0, 2) == "m=") {
      anyMedia = true;
      if (inAudio) {
        break;  // end of the first audio section
      }
      if (line.substr(0, 8) == "m=audio ") {
        std::string_view rest = line.substr(8);
        long value = 0;
        auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
        if (ec != std::errc() || ptr == rest.data() || value <= 0 || value > 65535) {
          return Unexpected("bad audio m-line: " + std::string(line));
        }
        port = value;
        inAudio = true;
      }
      continue;
    }
    std::string_view addr = ip4Connection(line);
    if (addr.empty()) {
      continue;
    }
    if (inAudio) {
      mediaAddr = addr;
    } else if (!anyMedia) {
      sessionAddr = addr;
    }
  }
  if (port < 0) {
    return Unexpected(std::string("no audio m-line in SDP"));
  }
  std::string addr(mediaAddr.empty() ? sessionAddr : mediaAddr);
  if (addr.empty()) {
    return Unexpected(std::string("no IPv4 c= line for the audio stream"));
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, addr.c_str(), &a.sin_addr) != 1) {
    return Unexpected("bad c= address '" + addr + "'");
  }
  return a;
}

std::string_view audioCrypto(std::string_view sdp) {
  constexpr std::string_view kCrypto = "a=crypto:";
  bool inAudio = false;
  size_t pos = 0;
  while (pos < sdp.size()) {
    std::string_view line = nextLine(sdp, pos);
    if (line.substr(0, 2) == "m=") {
      if (inAudio) {
        break;
      }
      inAudio = line.substr(0, 8) == "m=audio ";
    } else if (inAudio && line.substr(0, kCrypto.size()) == kCrypto) {
      return line.substr(kCrypto.size());
    }
  }
  return {};
}

}  // namespace rdv::bench
