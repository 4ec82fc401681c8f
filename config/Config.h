#pragma once
// Rendezvous configuration: the schema with its embedded defaults. Every key is listed once in
// ConfigKeys.cc (name, type, range, documentation); loading a TOML file, `--set key=value` and
// `--help` all read that one table, and config/rendezvous.toml documents the same keys.

#include <cstdint>
#include <string>

namespace rdv::config {

struct RelayConfig {
  std::string interface = "127.0.0.1";  // address the media sockets bind to
  std::string advertise;                // address written into SDP; empty = interface
  uint32_t portMin = 30000;
  uint32_t portMax = 39999;
  uint32_t workers = 0;                 // 0 = one per core
  uint32_t timeoutSeconds = 60;         // no media for this long: session torn down
  uint32_t relatchSilenceMs = 1000;     // see relay/Latch.h
  uint32_t batch = 32;                  // datagrams per recvmmsg/sendmmsg
};

struct NgConfig {
  std::string listen = "127.0.0.1:2223";
  uint32_t cookieCacheSeconds = 30;     // how long replies are kept for retransmitted cookies
};

struct MetricsConfig {
  std::string listen = "127.0.0.1:9464";  // empty disables the HTTP endpoint
};

struct LogConfig {
  std::string level = "info";            // trace, debug, info, warn, error, off
};

struct Config {
  RelayConfig relay;
  NgConfig ng;
  MetricsConfig metrics;
  LogConfig log;
};

}  // namespace rdv::config
