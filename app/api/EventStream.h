#pragma once
// Server-sent events (GET /api/v1/events): the control thread publishes one JSON text per event,
// HTTP threads stream them to clients. Keeps the last `keep` events so a client that reconnects
// with Last-Event-ID gets what it missed; bounded clients, since each holds an HTTP thread.
// Thread-safe (one mutex; events are rare: joins, leaves, talker changes).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

namespace rdv::api {

class EventStream {
 public:
  explicit EventStream(size_t keep = 512, size_t maxClients = 2) : keep_(keep), maxClients_(maxClients) {}

  // Any thread: one event of type `type` with `json` as its data.
  void publish(std::string_view type, std::string json);
  // The id of the newest event (0 before any): a new client starts after it.
  uint64_t lastId() const;
  // Waits up to `wait` for events after `after`, appends them as SSE frames to `out` and moves
  // `after` on. False once close() was called.
  bool next(uint64_t& after, std::string& out, std::chrono::milliseconds wait);
  // A client slot; false when maxClients are connected.
  bool acquire();
  void release();
  // Wakes and ends every stream (server stop).
  void close();

 private:
  struct Event {
    uint64_t id;
    std::string frame;  // "id: ..\nevent: ..\ndata: ..\n\n"
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  uint64_t lastId_ = 0;
  size_t keep_;
  size_t maxClients_;
  size_t clients_ = 0;
  bool closed_ = false;
};

}  // namespace rdv::api
