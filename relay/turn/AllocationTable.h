#pragma once
// The TURN allocation rules of RFC 8656 as pure state: functions take the monotonic time in
// milliseconds, return a STUN error code (0 = success) and touch no sockets, so every rule is
// unit-testable. Quotas: allocations per username and in total (486 beyond them).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "relay/turn/Allocation.h"

namespace rdv::turn {

struct AllocationLimits {
  uint32_t perUser = 10;
  uint32_t total = 1000;
  uint32_t defaultLifetimeS = 600;  // §7.2
  uint32_t maxLifetimeS = 3600;
  uint32_t permissionLifetimeS = 300;  // §9
  uint32_t channelLifetimeS = 600;     // §12
  uint64_t maxBytesPerSecond = 0;      // relayed per allocation (turn.max_bps / 8); 0 = unlimited
};

class AllocationTable {
 public:
  explicit AllocationTable(AllocationLimits limits) : limits_(limits) {}

  // 0 if `tuple` may allocate for `username`: 437 when the tuple already has an allocation
  // (§7.2 step 2), 486 when the user's or the total quota is used up.
  uint16_t admit(const FiveTuple& tuple, std::string_view username) const;
  // Creates the allocation (after admit() returned 0). The returned pointer stays valid until
  // the allocation is removed.
  Allocation* create(const FiveTuple& tuple, std::string_view username, const stun::Md5Key& key,
                     const common::SockAddr& relayed, uint32_t requestedLifetimeS, uint64_t nowMs);
  // The granted lifetime: the default when absent (0 stays 0 for Refresh), capped at the max.
  uint32_t lifetimeFor(std::optional<uint32_t> requested) const;

  Allocation* find(const FiveTuple& tuple);
  Allocation* byId(uint32_t id);
  // §8: LIFETIME 0 deletes (the allocation is gone when this returns true).
  bool refresh(Allocation& a, uint32_t lifetimeS, uint64_t nowMs);
  void remove(uint32_t id);

  // §9.2: installs or refreshes a permission for the peer's IP.
  void permit(Allocation& a, const common::SockAddr& peer, uint64_t nowMs);
  bool permitted(const Allocation& a, const common::SockAddr& peer, uint64_t nowMs) const;
  // §11.2: 400 for a number outside stun::kMinChannel-kMaxChannel (see ChannelData.h), a number bound to another peer, or a peer
  // bound to another number; otherwise binds or refreshes, and refreshes the peer's permission.
  uint16_t bindChannel(Allocation& a, uint16_t number, const common::SockAddr& peer, uint64_t nowMs);
  const ChannelBinding* channel(const Allocation& a, uint16_t number, uint64_t nowMs) const;
  const ChannelBinding* channelFor(const Allocation& a, const common::SockAddr& peer, uint64_t nowMs) const;

  // Drops expired permissions and channels and removes expired allocations, calling
  // onRemoved(allocation) before each is destroyed.
  void expire(uint64_t nowMs, const std::function<void(const Allocation&)>& onRemoved);

  size_t size() const { return byId_.size(); }
  // The id the next create() will give (so the relayed socket can be opened for it first).
  uint32_t nextId() const { return nextId_; }
  size_t countFor(std::string_view username) const;

 private:
  AllocationLimits limits_;
  uint32_t nextId_ = 1;
  std::unordered_map<uint32_t, std::unique_ptr<Allocation>> byId_;
  std::unordered_map<FiveTuple, uint32_t, FiveTupleHash> byTuple_;
};

}  // namespace rdv::turn
