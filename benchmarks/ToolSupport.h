#pragma once
// What the load-generator tools (rtp_load, conf_load) share around their main loop: reading
// command-line values, the descriptor limit, their own CPU time and the key=value report lines
// their drivers parse.

#include <string>

namespace rdv::bench {

// Walks argv. A bad option ends the process through usage() with a one-line reason.
class ArgReader {
 public:
  // `tool` names the program in messages; `synopsis` is the usage text after "usage: ".
  ArgReader(int argc, char** argv, const char* tool, const char* synopsis)
      : argc_(argc), argv_(argv), tool_(tool), synopsis_(synopsis) {}

  // Prints `why` (if any) and the synopsis, then exits with `status` (on stdout when 0).
  [[noreturn]] void usage(const std::string& why, int status = 2) const;

  bool more() const { return i_ + 1 < argc_; }
  // The next option name (advances).
  std::string next() { return argv_[++i_]; }
  // The value of the option just read.
  std::string value();
  // The value of the option just read as a number in [lo, hi].
  double number(double lo, double hi);

 private:
  int argc_;
  char** argv_;
  const char* tool_;
  const char* synopsis_;
  int i_ = 0;
};

// Raises the soft RLIMIT_NOFILE to the hard limit (one socket per stream).
void raiseFileLimit();

// This process's user + system CPU time, in seconds.
double cpuSeconds();

// Writes "key=value\n" to stdout and flushes, so a driver sees phase lines as they happen.
void emit(const char* key, const std::string& value);

// v with `decimals` digits after the point.
std::string fixed(double v, int decimals);

}  // namespace rdv::bench
