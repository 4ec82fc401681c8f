#pragma once
// The operator API's conference routes (mixer/ConferenceControl underneath):
//   GET    /api/v1/conferences                      rooms: participants, locked, declared, PIN
//   GET    /api/v1/conferences/{room}               one room with every participant: codec, talking,
//                                                   muted, deaf, packets, loss, jitter, jitter-buffer
//                                                   depth (read from its mixer, so the reply waits)
//   DELETE /api/v1/conferences/{room}               close it: every participant leaves (SIP ones get BYE)
//   POST   /api/v1/conferences/{room}/lock|unlock
//   POST   /api/v1/conferences/{room}/participants  {"rtp": {"ip", "port"}, "codec": "opus"|"g722"|
//                                                   "pcmu"|"pcma", optional "payload_type",
//                                                   "dtmf_payload_type", "rtcp_mux", "pin", "label"}
//                                                   -> 201 {"id", "rtp": {"ip", "port"}, "pin_pending"}
//   DELETE /api/v1/conferences/{room}/participants/{id}
//   POST   /api/v1/conferences/{room}/participants/{id}/mute|unmute|deaf|undeaf, .../gain {"db": x}
//   GET    /api/v1/events                           server-sent events: join, leave, talking, silent,
//                                                   mute, dtmf, lock, room_created, room_closed, ...
// Errors: 400 bad body, 404 unknown room or participant, 409 locked, 403 wrong PIN, 503 full or no
// media ports. Handlers run on the control thread.

#include <memory>

#include "app/api/ApiServer.h"
#include "app/api/EventStream.h"

namespace rdv::mixer {
class ConferenceControl;
struct ConferenceEvent;
}  // namespace rdv::mixer

namespace rdv::app {

class ConferenceApi {
 public:
  explicit ConferenceApi(mixer::ConferenceControl& conferences)
      : conferences_(conferences), events_(std::make_shared<api::EventStream>()) {}

  void addRoutes(api::ApiServer& api);
  // Publishes a conference event to the event stream (control thread).
  void publish(const mixer::ConferenceEvent& e);

 private:
  api::ApiReply join(const api::ApiRequest& req);
  void show(const std::string& room, api::ApiServer::Done done);
  api::ApiReply participantAction(const api::ApiRequest& req, const std::string& action);

  mixer::ConferenceControl& conferences_;
  std::shared_ptr<api::EventStream> events_;
};

}  // namespace rdv::app
