#pragma once
// Appends call detail records (one JSON line each) to a file from its own thread, so that the
// control thread only queues a string: a slow or full disk never holds up signalling or media.
// The queue is bounded; a line that does not fit is dropped and counted. The file is rotated by
// size and by age (renamed to <file>.<UTC timestamp>), and reopened on request (SIGUSR1 after
// logrotate moved it). A write error (a full disk) is counted and logged once per minute; the line
// is lost, the server goes on. Optionally every line also goes to syslog (LOG_INFO, LOG_LOCAL0).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "common/Counter.h"
#include "common/Fd.h"

namespace rdv::cdr {

struct CdrWriterOptions {
  std::string path;             // the file appended to
  uint64_t rotateBytes = 0;     // rotate when the file reaches this size (0: never)
  uint64_t rotateSeconds = 0;   // rotate when the file is this old (0: never)
  bool syslog = false;
  size_t queueLines = 10'000;
};

class CdrWriter {
 public:
  explicit CdrWriter(CdrWriterOptions opts);
  ~CdrWriter();  // writes what is queued, then stops
  CdrWriter(const CdrWriter&) = delete;
  CdrWriter& operator=(const CdrWriter&) = delete;

  // Queues one line (no newline); never blocks on the disk.
  void write(std::string&& line);
  // Close and reopen the file at `path` before the next line (logrotate's SIGUSR1).
  void reopen();
  // Blocks until every line queued before the call is written or dropped (tests, shutdown).
  void sync();

  const common::Counter& written() const { return written_; }
  const common::Counter& dropped() const { return dropped_; }          // queue full
  const common::Counter& writeErrors() const { return writeErrors_; }  // lost to a failed write
  const common::Counter& rotations() const { return rotations_; }

 private:
  void run();
  void writeLine(const std::string& line);
  void openFile();
  void rotateIfDue(size_t nextBytes);

  const CdrWriterOptions opts_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::string> queue_;
  bool stop_ = false;
  bool reopen_ = false;
  uint64_t enqueued_ = 0;  // lines queued, and lines taken off the queue by the writer (under mu_)
  uint64_t done_ = 0;
  // Writer thread only.
  common::Fd fd_;
  uint64_t fileBytes_ = 0;
  uint64_t openedAtS_ = 0;
  uint64_t lastErrorLogS_ = 0;
  common::Counter written_, dropped_, writeErrors_, rotations_;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace rdv::cdr
