#include "signaling/sip/SipFraming.h"

// Reason phrases of framing errors. They go on the wire as the reason phrase of the error
// response and tests pin them: change them only together with the tests. Status 400 unless noted.
//
//   sipFrameLength
//     "Message Too Large"               (513) header section or whole frame above maxSize
//     "Missing Content-Length header"        mandatory on streams (RFC 3261 §18.3)
//     "Malformed Content-Length header"
//     "Duplicate Content-Length header"
//     "Content-Length too large"             above maxSize

#include <cstdint>
#include <optional>

#include "signaling/sip/SipGrammar.h"
#include "signaling/sip/SipLex.h"

namespace rdv::sip {

namespace {
using detail::parseBounded;
using detail::sipError;
}  // namespace

size_t skipKeepalive(std::string_view buf) {
  size_t n = 0;
  while (n < buf.size() && (buf[n] == '\r' || buf[n] == '\n')) {
    ++n;
  }
  return n;
}

Expected<size_t, SipError> sipFrameLength(std::string_view buf, size_t maxSize) {
  const size_t start = skipKeepalive(buf);
  std::optional<uint64_t> contentLength;
  size_t clStart = std::string_view::npos;  // the Content-Length value being read (it may be folded)
  size_t clEnd = 0;
  const auto finishContentLength = [&]() -> std::optional<SipError> {
    if (clStart == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view value = trimLws(buf.substr(clStart, clEnd - clStart));
    clStart = std::string_view::npos;
    if (contentLength) {
      return sipError("Duplicate Content-Length header");
    }
    contentLength = parseBounded(value, maxSize);
    if (!contentLength) {
      return sipError("Malformed Content-Length header");
    }
    if (*contentLength > maxSize) {
      return sipError("Content-Length too large");
    }
    return std::nullopt;
  };

  size_t pos = start;
  size_t headerEnd = 0;
  bool firstLine = true;
  while (true) {
    const size_t lf = buf.find('\n', pos);
    if (lf == std::string_view::npos) {
      if (buf.size() - start > maxSize) {
        return Unexpected(sipError("Message Too Large", 513));
      }
      return size_t{0};
    }
    if (lf + 1 - start > maxSize) {
      return Unexpected(sipError("Message Too Large", 513));
    }
    std::string_view line = buf.substr(pos, lf - pos);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      if (auto bad = finishContentLength()) {
        return Unexpected(std::move(*bad));
      }
      headerEnd = lf + 1;
      break;
    }
    if (firstLine) {
      firstLine = false;
    } else if (line[0] == ' ' || line[0] == '\t') {
      if (clStart != std::string_view::npos) {
        clEnd = lf;
      }
    } else {
      if (auto bad = finishContentLength()) {
        return Unexpected(std::move(*bad));
      }
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view name = line.substr(0, colon);
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
          name.remove_suffix(1);
        }
        if (equalsIgnoreCase(name, "Content-Length") || equalsIgnoreCase(name, "l")) {
          clStart = pos + colon + 1;
          clEnd = lf;
        }
      }
    }
    pos = lf + 1;
  }
  if (!contentLength) {
    return Unexpected(sipError("Missing Content-Length header"));
  }
  const size_t frame = headerEnd + static_cast<size_t>(*contentLength);
  if (frame - start > maxSize) {
    return Unexpected(sipError("Message Too Large", 513));
  }
  return buf.size() < frame ? size_t{0} : frame;
}

}  // namespace rdv::sip
