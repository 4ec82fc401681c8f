#include "benchmarks/ToolSupport.h"

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>

namespace rdv::bench {

void ArgReader::usage(const std::string& why, int status) const {
  if (!why.empty()) {
    std::fprintf(stderr, "%s: %s\n", tool_, why.c_str());
  }
  std::fprintf(status == 0 ? stdout : stderr, "usage: %s\n", synopsis_);
  std::exit(status);
}

std::string ArgReader::value() {
  if (i_ + 1 >= argc_) {
    usage(std::string("missing value for ") + argv_[i_]);
  }
  return argv_[++i_];
}

double ArgReader::number(double lo, double hi) {
  std::string name = argv_[i_];
  std::string text = value();
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || v < lo || v > hi) {
    usage(name + " out of range: " + text);
  }
  return v;
}

void raiseFileLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

double cpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

void emit(const char* key, const std::string& value) {
  std::printf("%s=%s\n", key, value.c_str());
  std::fflush(stdout);
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace rdv::bench
