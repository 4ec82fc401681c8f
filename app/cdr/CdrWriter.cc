#include "app/cdr/CdrWriter.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace rdv::cdr {
namespace {

uint64_t nowSeconds() { return static_cast<uint64_t>(std::time(nullptr)); }

// <path>.<UTC timestamp>, with a counter when that name is taken (two rotations in one second).
std::string rotatedName(const std::string& path) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const std::string base = fmt::format("{}.{:04}{:02}{:02}T{:02}{:02}{:02}Z", path, tm.tm_year + 1900, tm.tm_mon + 1,
                                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string name = base;
  struct stat st {};
  for (int n = 1; ::stat(name.c_str(), &st) == 0; ++n) name = fmt::format("{}.{}", base, n);
  return name;
}

}  // namespace

CdrWriter::CdrWriter(CdrWriterOptions opts) : opts_(std::move(opts)) {
  if (opts_.syslog) openlog("rendezvous-cdr", LOG_NDELAY | LOG_PID, LOG_LOCAL0);
  openFile();
  thread_ = std::thread([this] { run(); });
}

CdrWriter::~CdrWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
  if (opts_.syslog) closelog();
}

void CdrWriter::write(std::string&& line) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= opts_.queueLines) {
      dropped_.add(1);
      return;
    }
    queue_.push_back(std::move(line));
    ++enqueued_;
  }
  wake_.notify_one();
}

void CdrWriter::reopen() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    reopen_ = true;
    ++enqueued_;  // a no-op "line", so that sync() waits for the reopen too
    queue_.emplace_back();
  }
  wake_.notify_one();
}

void CdrWriter::sync() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = enqueued_;
  idle_.wait(lock, [&] { return done_ >= target; });
}

void CdrWriter::run() {
  pthread_setname_np(pthread_self(), "rdv-cdr");
  std::vector<std::string> batch;
  for (;;) {
    bool reopen = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty() && stop_) return;
      while (!queue_.empty()) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      reopen = std::exchange(reopen_, false);
    }
    if (reopen) {
      fd_.reset();
      openFile();
    }
    for (const std::string& line : batch) {
      if (!line.empty()) writeLine(line);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ += batch.size();
    }
    batch.clear();
    idle_.notify_all();
  }
}

void CdrWriter::openFile() {
  fd_ = common::Fd(::open(opts_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  struct stat st {};
  fileBytes_ = fd_.valid() && ::fstat(fd_.get(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  openedAtS_ = nowSeconds();
  if (!fd_.valid()) spdlog::error("cdr: cannot open {}: {}", opts_.path, std::strerror(errno));
}

void CdrWriter::rotateIfDue(size_t nextBytes) {
  const bool bySize = opts_.rotateBytes > 0 && fileBytes_ > 0 && fileBytes_ + nextBytes > opts_.rotateBytes;
  const bool byAge = opts_.rotateSeconds > 0 && nowSeconds() >= openedAtS_ + opts_.rotateSeconds && fileBytes_ > 0;
  if (!bySize && !byAge) return;
  const std::string to = rotatedName(opts_.path);
  if (::rename(opts_.path.c_str(), to.c_str()) != 0) {
    spdlog::warn("cdr: cannot rotate {} to {}: {}", opts_.path, to, std::strerror(errno));
    openedAtS_ = nowSeconds();  // try again at the next period, not on every line
    return;
  }
  rotations_.add(1);
  fd_.reset();
  openFile();
}

void CdrWriter::writeLine(const std::string& line) {
  if (opts_.syslog) ::syslog(LOG_INFO, "%s", line.c_str());
  rotateIfDue(line.size() + 1);
  if (!fd_.valid()) openFile();  // the directory may have come back
  std::string out = line + '\n';
  const ssize_t n = fd_.valid() ? ::write(fd_.get(), out.data(), out.size()) : -1;
  if (n == static_cast<ssize_t>(out.size())) {
    fileBytes_ += out.size();
    written_.add(1);
    return;
  }
  const int err = n < 0 ? errno : ENOSPC;  // a short write: the disk filled up mid-line
  writeErrors_.add(1);
  if (nowSeconds() >= lastErrorLogS_ + 60) {
    lastErrorLogS_ = nowSeconds();
    spdlog::error("cdr: writing {} failed: {} (records are lost until it works again; counted in "
                  "rdv_cdr_write_errors_total)", opts_.path, std::strerror(err));
  }
}

}  // namespace rdv::cdr
