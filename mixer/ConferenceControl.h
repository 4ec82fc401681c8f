#pragma once
// The conference service on the control thread: rooms by name, their participants, and the glue
// between the relay (one local stream per participant: a socket facing the participant whose
// other leg ends in a mixer, relay/MediaSession.h LegParams::localEndpoint) and the mixer workers
// (rooms sharded over them by id). It implements Conferences for signalling and offers the
// operator calls the HTTP API needs (mute, deaf, gain, kick, lock, close, reports).
//
// Threading: every method runs on the control thread. Mixer threads talk back only through a
// lock-free queue and an eventfd (fd()/drain()): talker changes, DTMF keys and report replies.
// Nothing here is on the per-packet path.

#include <concurrentqueue/concurrentqueue.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/Clock.h"
#include "common/Fd.h"
#include "mixer/Conferences.h"
#include "mixer/MixerWorker.h"
#include "mixer/RelaySink.h"
#include "relay/RelayControl.h"

namespace rdv::mixer {

struct RoomPolicy {
  std::string pin;               // empty: none
  uint32_t maxParticipants = 0;  // 0: ConferenceControlOptions::maxParticipants
};

struct ConferenceControlOptions {
  std::string advertise = "127.0.0.1";  // the address participants send to (relay.advertise)
  size_t workers = 1;                   // mixer threads
  size_t decodeHelpers = 0;
  uint32_t tickSlots = 4;               // MixerWorkerOptions::tickSlots
  ConferenceOptions conference;         // talkers, encoder bitrate
  LoadGovernorOptions governor;         // each mixer thread's adaptive encoding
  int realtimePriority = 0;             // MixerWorkerOptions::realtimePriority
  uint32_t maxParticipants = 100;
  bool createOnJoin = true;
  uint32_t pinAttempts = 3;
  std::map<std::string, RoomPolicy> rooms;  // declared rooms: exist from the start, never removed when empty
};

// What happened, for the log and GET /api/v1/events.
struct ConferenceEvent {
  std::string type;  // join, leave, talking, silent, mute, unmute, deaf, undeaf, dtmf, lock, unlock,
                     // room_created, room_closed, pin_accepted, pin_wrong
  std::string room;
  ParticipantId participant = 0;  // 0 for room events
  std::string detail;             // the digit, the leave reason, the participant's label
  uint64_t unixMs = 0;
};

// One participant as the API lists it (control-side facts; the mixer's live state comes with
// report()).
struct MemberInfo {
  ParticipantId id = 0;
  std::string room;
  std::string label;
  media::CodecId codec = media::CodecId::Opus;
  uint16_t port = 0;
  common::SockAddr advertised;
  uint64_t joinedUnixMs = 0;
  bool muted = false;
  bool deaf = false;
  bool pinPending = false;
  bool talking = false;
};

struct RoomInfo {
  std::string name;
  ConferenceId id = 0;
  bool locked = false;
  bool declared = false;
  bool hasPin = false;
  uint32_t maxParticipants = 0;
  uint64_t createdUnixMs = 0;
  std::vector<ParticipantId> members;
};

enum class OpResult : uint8_t { Ok, UnknownRoom, UnknownParticipant };

class ConferenceControl final : public Conferences {
 public:
  // Starts the mixer threads and attaches them to every relay worker. `relay` and `clock` outlive
  // this object, which must be destroyed before the relay (it stops its mixers first).
  ConferenceControl(relay::RelayControl& relay, const ConferenceControlOptions& opts, const common::Clock& clock);
  ~ConferenceControl() override;

  // Conferences
  Expected<JoinResult, JoinError> join(const JoinRequest& req) override;
  bool leave(ParticipantId id, LeaveReason reason) override;
  void setOnLeft(std::function<void(ParticipantId, LeaveReason)> fn) override { onLeft_ = std::move(fn); }

  void setOnEvent(std::function<void(const ConferenceEvent&)> fn) { onEvent_ = std::move(fn); }

  // Operator actions.
  OpResult setMuted(ParticipantId id, bool muted);
  OpResult setDeaf(ParticipantId id, bool deaf);
  OpResult setGainDb(ParticipantId id, double db);
  OpResult kick(ParticipantId id);  // leaves with Kicked; onLeft tells signalling
  OpResult setLocked(const std::string& room, bool locked);
  OpResult closeRoom(const std::string& room);  // everyone leaves with RoomClosed

  std::vector<RoomInfo> rooms() const;
  const RoomInfo* room(const std::string& name) const;
  const MemberInfo* member(ParticipantId id) const;
  // The mixer's view of the room (talking, packets, jitter buffer); `done` runs from drain(), or
  // at once with nullopt for an unknown room.
  void report(const std::string& room, std::function<void(std::optional<ConferenceReport>)> done);

  // A relay session ended: when it was a participant's, why the participant left (a media
  // timeout makes it leave now, with MediaTimeout, and tells onLeft); nullopt for other sessions.
  std::optional<LeaveReason> onSessionEnded(const relay::SessionReport& report, bool timedOut);

  // Readable when the mixers have something for the control thread: poll it, then call drain().
  int fd() const { return wake_.get(); }
  void drain();

  size_t participantCount() const { return members_.size(); }
  const std::vector<std::unique_ptr<MixerWorker>>& workers() const { return mixers_; }
  uint64_t sinkRefused() const;  // mixer packets a full relay queue refused

  // Mixer threads (through ConferenceEvents); public for the adapter only.
  struct MixerNote {
    enum class Kind : uint8_t { Talking, Silent, Dtmf, Report, EncodingLevel, TickOverrun } kind = Kind::Talking;
    ConferenceId room = 0;  // EncodingLevel, TickOverrun: the mixer worker's index
    ParticipantId who = 0;
    char digit = 0;
    uint64_t request = 0;
    std::shared_ptr<ConferenceReport> report;
    int levelFrom = 0, levelTo = 0;  // EncodingLevel
    double busy = 0;
    TickOverrun overrun{};  // TickOverrun
  };
  void note(MixerNote&& n);

 private:
  struct Room {
    RoomInfo info;
    size_t worker = 0;
    RoomPolicy policy;
  };
  struct Member {
    MemberInfo info;
    uint64_t session = 0;
    size_t worker = 0;  // mixer
    uint8_t payloadType = 0;
    std::string digits;
    uint32_t wrongPins = 0;
  };
  class Events;

  Room* findRoom(const std::string& name);
  Room* roomById(ConferenceId id);
  Expected<Room*, JoinError> admit(const JoinRequest& req, bool& pinPending);
  Room& createRoom(const std::string& name, const RoomPolicy& policy, bool declared);
  void removeRoom(Room& r);
  ParticipantId nextEndpoint(size_t relayWorker);
  // Removes the participant everywhere; `tell` calls onLeft.
  void depart(ParticipantId id, LeaveReason reason, bool tell);
  void onDigit(Member& m, char digit);
  void postFlags(const Member& m);
  void logOverrun(ConferenceId worker, const TickOverrun& o);
  void emit(std::string type, const std::string& room, ParticipantId who, std::string detail = {});

  relay::RelayControl& relay_;
  ConferenceControlOptions opts_;
  const common::Clock& clock_;
  std::unique_ptr<Events> events_;
  std::vector<std::unique_ptr<RelaySink>> sinks_;
  std::vector<std::unique_ptr<MixerWorker>> mixers_;
  std::map<std::string, Room> rooms_;
  std::unordered_map<ParticipantId, Member> members_;
  struct SessionOwner {
    ParticipantId id = 0;
    LeaveReason reason = LeaveReason::Hangup;  // set when the participant left
  };
  std::unordered_map<uint64_t, SessionOwner> bySession_;
  ConferenceId nextRoomId_ = 1;
  uint32_t nextSeq_ = 1;
  uint64_t nextRequest_ = 1;
  std::unordered_map<uint64_t, std::function<void(std::optional<ConferenceReport>)>> pending_;
  moodycamel::ConcurrentQueue<MixerNote> notes_;
  common::Fd wake_;
  std::function<void(ParticipantId, LeaveReason)> onLeft_;
  std::function<void(const ConferenceEvent&)> onEvent_;
};

}  // namespace rdv::mixer
