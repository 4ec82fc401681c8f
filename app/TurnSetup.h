#pragma once
// Builds the TURN server (relay/turn/) from the [turn] configuration.

#include <memory>
#include <string>

#include "common/Clock.h"
#include "common/Expected.h"
#include "config/Config.h"
#include "relay/turn/TurnServer.h"

namespace rdv::app {

// nullptr (and a log line) when TURN is disabled: turn.listen empty, or no credential configured
// (neither turn.users nor turn.secret). An error for a bad turn.allow_peers or a listen address
// that cannot be bound. With `ownThread` false the server has no thread: a relay worker hosts it.
Expected<std::unique_ptr<turn::TurnServer>, std::string> startTurn(const config::Config& cfg,
                                                                   const common::Clock& clock,
                                                                   bool ownThread);

}  // namespace rdv::app
