#pragma once
// A fresh SQLite file path for one test, removed (with its WAL and shared-memory files) after it.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>

namespace rdv::im::test {

class TempDb {
 public:
  TempDb() {
    static std::atomic<int> n{0};
    path_ = ::testing::TempDir() + "rdv-im-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".db";
    removeFiles();
  }
  ~TempDb() { removeFiles(); }
  TempDb(const TempDb&) = delete;
  TempDb& operator=(const TempDb&) = delete;
  const std::string& path() const { return path_; }

 private:
  void removeFiles() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path_ + suffix).c_str());
  }
  std::string path_;
};

}  // namespace rdv::im::test
