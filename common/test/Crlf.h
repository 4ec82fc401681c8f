#pragma once
// Test helper: SIP messages and SDP bodies in tests are written with LF and converted, since the
// wire uses CRLF.

#include <string>
#include <string_view>

namespace rdv::common::test {

inline std::string crlf(std::string_view lf) {
  std::string out;
  for (const char c : lf) {
    if (c == '\n') {
      out += '\r';
    }
    out += c;
  }
  return out;
}

}  // namespace rdv::common::test
