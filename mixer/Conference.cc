#include "mixer/Conference.h"

#include "mixer/LoadGovernor.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

namespace rdv::mixer {

using media::CodecId;

namespace {

int16_t saturate(int32_t v) { return static_cast<int16_t>(std::clamp<int32_t>(v, INT16_MIN, INT16_MAX)); }

}  // namespace

Conference::Conference(ConferenceId id, const ConferenceOptions& opts, MediaSink& sink, ConferenceEvents* events)
    : id_(id), opts_(opts), sink_(sink), events_(events) {
  opts_.maxTalkers = std::clamp<size_t>(opts_.maxTalkers, 1, kMaxTalkersLimit);
}

Conference::~Conference() = default;

Conference::CodecGroup* Conference::group(CodecId codec) {
  for (auto& g : groups_) {
    if (g->codec == codec) return g.get();
  }
  return nullptr;
}

const Conference::CodecGroup* Conference::group(CodecId codec) const {
  for (const auto& g : groups_) {
    if (g->codec == codec) return g.get();
  }
  return nullptr;
}

media::EncoderOptions Conference::sharedEncoderOptions() const { return encoderAtLevel(opts_.encoder, encodingLevel_); }

// The talkers' configured complexity is their ceiling at every level.
media::EncoderOptions Conference::talkerEncoderOptions() const {
  media::EncoderOptions e = opts_.encoder;
  if (opts_.talkerOpusComplexity >= 0) e.complexity = opts_.talkerOpusComplexity;
  return encoderAtLevel(e, encodingLevel_);
}

void Conference::setEncodingLevel(int level) {
  if (level == encodingLevel_) return;
  encodingLevel_ = level;
  const media::EncoderOptions shared = sharedEncoderOptions();
  const media::EncoderOptions talker = talkerEncoderOptions();
  for (auto& g : groups_) {
    if (g->codec != CodecId::Opus) continue;
    g->sharedEncoder->reconfigure(shared);
    for (auto& e : g->talkerEncoders) e->reconfigure(talker);
  }
}

const media::AudioEncoder* Conference::sharedEncoderForTest(CodecId codec) const {
  const CodecGroup* g = group(codec);
  return g != nullptr ? g->sharedEncoder.get() : nullptr;
}

const media::AudioEncoder* Conference::talkerEncoderForTest(CodecId codec, size_t slot) const {
  const CodecGroup* g = group(codec);
  return g != nullptr && slot < g->talkerEncoders.size() ? g->talkerEncoders[slot].get() : nullptr;
}

// A codec's group is created with its first member: one shared encoder plus one encoder per
// possible talker, so becoming a talker never allocates.
Conference::CodecGroup* Conference::addToGroup(CodecId codec) {
  CodecGroup* g = group(codec);
  if (g == nullptr) {
    auto made = std::make_unique<CodecGroup>();
    made->codec = codec;
    made->sharedEncoder = media::makeEncoder(codec, sharedEncoderOptions());
    if (!made->sharedEncoder) return nullptr;
    g = made.get();
    groups_.push_back(std::move(made));
  }
  // No more talkers than members can talk at once: the pool grows with the group (here, on the
  // control path) up to maxTalkers, so a small group does not carry encoders it can never use.
  if (g->talkerEncoders.size() < std::min(opts_.maxTalkers, g->members + 1)) {
    auto enc = media::makeEncoder(codec, talkerEncoderOptions());
    if (!enc) return nullptr;
    g->talkerEncoders.push_back(std::move(enc));
    g->talkerEncoderBusy.push_back(false);
  }
  ++g->members;
  return g;
}

bool Conference::addParticipant(const ParticipantConfig& cfg) {
  if (find(cfg.id) != nullptr) return false;
  auto decoder = media::makeDecoder(cfg.codec);
  if (!decoder) return false;
  media::JitterBufferOptions jb = opts_.jitter;
  jb.clockRate = media::codecInfo(cfg.codec).rtpClockRate;
  jb.frameTicks = media::codecInfo(cfg.codec).rtpFrameTicks();
  auto p = std::make_unique<Participant>(cfg, std::move(decoder), opts_.vad, jb);
  p->setLevelOnlyDecode(opts_.levelOnlyDecode);
  p->setSenderVad(opts_.senderVad);
  if (addToGroup(cfg.codec) == nullptr) return false;
  participants_.push_back(std::move(p));
  return true;
}

bool Conference::removeParticipant(ParticipantId id) {
  auto it = std::find_if(participants_.begin(), participants_.end(), [id](const auto& p) { return p->id() == id; });
  if (it == participants_.end()) return false;
  Participant& p = **it;
  if (p.talkerSlot() >= 0) {
    releaseTalker(p);
    auto end = std::remove(talkers_.begin(), talkers_.begin() + static_cast<ptrdiff_t>(talkerCount_), &p);
    talkerCount_ = static_cast<size_t>(end - talkers_.begin());
  }
  if (CodecGroup* g = group(p.config().codec)) --g->members;
  participants_.erase(it);
  return true;
}

Participant* Conference::find(ParticipantId id) {
  for (auto& p : participants_) {
    if (p->id() == id) return p.get();
  }
  return nullptr;
}

ConferenceReport Conference::report() const {
  ConferenceReport r{id_, {}};
  r.participants.reserve(participants_.size());
  for (const auto& p : participants_) {
    const media::JitterBuffer& jb = p->jitterBuffer();
    r.participants.push_back({p->id(), p->config().codec, p->talkerSlot() >= 0, p->config().muted, p->config().deaf,
                              p->config().gainDb, p->stats(), jb.stats(), jb.depthMs(), jb.targetMs(), jb.jitterMs()});
  }
  return r;
}

bool Conference::setMuted(ParticipantId id, bool muted) {
  Participant* p = find(id);
  if (p != nullptr) p->setMuted(muted);  // leaves the mix at the next tick's selection
  return p != nullptr;
}

bool Conference::setDeaf(ParticipantId id, bool deaf) {
  Participant* p = find(id);
  if (p != nullptr) p->setDeaf(deaf);
  return p != nullptr;
}

bool Conference::setGainDb(ParticipantId id, double db) {
  Participant* p = find(id);
  if (p != nullptr) p->setGainDb(db);
  return p != nullptr;
}

void Conference::setTalker(Participant& p, bool talking) {
  if (talking) {
    CodecGroup* g = group(p.config().codec);
    assert(g != nullptr);
    auto free = std::find(g->talkerEncoderBusy.begin(), g->talkerEncoderBusy.end(), false);
    assert(free != g->talkerEncoderBusy.end());  // min(maxTalkers, members) encoders, as many talkers at most
    *free = true;
    p.setTalkerSlot(static_cast<int>(free - g->talkerEncoderBusy.begin()));
    p.setForwardedLast(false);
    g->talkerEncoders[static_cast<size_t>(p.talkerSlot())]->reset();
  } else {
    releaseTalker(p);
  }
  if (events_ != nullptr) events_->onTalking(id_, p.id(), talking);
}

void Conference::releaseTalker(Participant& p) {
  if (CodecGroup* g = group(p.config().codec); g != nullptr && p.talkerSlot() >= 0) {
    g->talkerEncoderBusy[static_cast<size_t>(p.talkerSlot())] = false;
  }
  p.setTalkerSlot(-1);
}

// The loudest maxTalkers detected, unmuted speakers, current talkers ranked talkerHysteresisDb
// higher. Participants who left or joined the set are told through the events interface.
void Conference::selectTalkers() {
  std::array<Participant*, kMaxTalkersLimit> best{};
  std::array<double, kMaxTalkersLimit> bestScore{};
  size_t n = 0;
  for (auto& up : participants_) {
    Participant& p = *up;
    if (!p.talking() || p.config().muted) continue;
    const double score = p.score() + (p.talkerSlot() >= 0 ? opts_.talkerHysteresisDb : 0.0);
    size_t at = n;
    while (at > 0 && bestScore[at - 1] < score) --at;
    if (at >= opts_.maxTalkers) continue;
    n = std::min(n + 1, opts_.maxTalkers);
    for (size_t i = n - 1; i > at; --i) {
      best[i] = best[i - 1];
      bestScore[i] = bestScore[i - 1];
    }
    best[at] = &p;
    bestScore[at] = score;
  }
  const auto chosen = [&](const Participant* p) { return std::find(best.begin(), best.begin() + static_cast<ptrdiff_t>(n), p) != best.begin() + static_cast<ptrdiff_t>(n); };
  for (size_t i = 0; i < talkerCount_; ++i) {
    if (!chosen(talkers_[i])) setTalker(*talkers_[i], false);
  }
  for (size_t i = 0; i < n; ++i) {
    if (best[i]->talkerSlot() < 0) setTalker(*best[i], true);
  }
  talkers_ = best;
  talkerCount_ = n;
}

void Conference::mixTalkers() {
  std::fill(mix_.begin(), mix_.end(), 0);
  for (size_t t = 0; t < talkerCount_; ++t) {
    talkers_[t]->applyGain();
    const auto pcm = talkers_[t]->pcm();
    for (size_t i = 0; i < media::kFrameSamples; ++i) mix_[i] += pcm[i];
  }
  sharedReady_ = false;
}

void Conference::send(Participant& p, std::span<const std::byte> payload, TickStats& st) {
  const size_t header = media::writeRtpHeader(packet_, p.nextHeader());
  std::memcpy(packet_.data() + header, payload.data(), payload.size());
  sink_.send(p.id(), std::span<const std::byte>(packet_.data(), header + payload.size()));
  ++p.stats().sent;
  ++st.packetsSent;
}

// The listeners' payload of one codec group for this tick: the room's only talker's own frame
// when it is in the group's codec (forwarded, no encode), otherwise the saturated mix encoded
// once. An encoder that sat out while frames were forwarded restarts from a clean state.
void Conference::prepareShared(CodecGroup& g, TickStats& st) {
  g.sharedPrepared = true;
  if (opts_.forwardSingleTalker && talkerCount_ == 1 && talkers_[0]->config().codec == g.codec) {
    g.shared = talkers_[0]->forwardable();
    if (!g.shared.empty()) {
      g.sharedForwarded = true;
      ++st.forwards;
      return;
    }
  }
  if (!sharedReady_) {
    for (size_t i = 0; i < media::kFrameSamples; ++i) shared_[i] = saturate(mix_[i]);
    sharedReady_ = true;
  }
  if (std::exchange(g.sharedForwarded, false)) g.sharedEncoder->reset();
  const size_t n = g.sharedEncoder->encode(shared_, g.sharedPayload);
  g.shared = std::span<const std::byte>(g.sharedPayload.data(), n);
  ++st.encodes;
  st.opusEncodes += g.codec == media::CodecId::Opus ? 1 : 0;
}

// Everyone who is not a talker hears the same mix: the first listener of each codec group in a
// tick prepares it, the others reuse the payload.
void Conference::sendToListener(Participant& p, TickStats& st) {
  CodecGroup* g = group(p.config().codec);
  if (!g->sharedPrepared) prepareShared(*g, st);
  if (g->shared.empty()) {
    p.advanceSilently();  // the encoder failed: skip the frame rather than send garbage
    return;
  }
  send(p, g->shared, st);
}

// The one other talker when `p`'s mix-minus is exactly that talker's voice in p's codec.
const Participant* Conference::soleOtherTalker(const Participant& p) const {
  if (!opts_.forwardSingleTalker || talkerCount_ != 2) return nullptr;
  const Participant* other = talkers_[0] == &p ? talkers_[1] : talkers_[0];
  return other->config().codec == p.config().codec ? other : nullptr;
}

// A talker hears the mix without its own (gain-adjusted) voice, in an encode of its own, or the
// other talker's frame itself when that is all the mix-minus holds.
void Conference::sendToTalker(Participant& p, TickStats& st) {
  if (const Participant* other = soleOtherTalker(p)) {
    if (const auto frame = other->forwardable(); !frame.empty()) {
      p.setForwardedLast(true);
      ++st.forwards;
      send(p, frame, st);
      return;
    }
  }
  media::AudioEncoder& enc = *group(p.config().codec)->talkerEncoders[static_cast<size_t>(p.talkerSlot())];
  if (p.forwardedLast()) {
    enc.reset();  // its history is from before the forwarded frames
    p.setForwardedLast(false);
  }
  const auto pcm = p.pcm();
  for (size_t i = 0; i < media::kFrameSamples; ++i) own_[i] = saturate(mix_[i] - pcm[i]);
  const size_t n = enc.encode(own_, talkerPayload_);
  ++st.encodes;
  st.opusEncodes += p.config().codec == media::CodecId::Opus ? 1 : 0;
  if (n == 0) {
    p.advanceSilently();
    return;
  }
  send(p, std::span<const std::byte>(talkerPayload_.data(), n), st);
}

TickStats Conference::decodeShard(size_t shard, size_t shards) {
  TickStats st;
  for (size_t i = shard; i < participants_.size(); i += shards) {
    Participant& p = *participants_[i];
    const uint64_t concealed = p.stats().concealed;
    st.decodes += p.pullFrame(p.talkerSlot() >= 0);
    st.concealed += static_cast<uint32_t>(p.stats().concealed - concealed);
  }
  return st;
}

TickStats Conference::mixAndSend() {
  TickStats st;
  for (auto& g : groups_) g->sharedPrepared = false;
  selectTalkers();
  mixTalkers();
  for (auto& p : participants_) {
    if (p->config().deaf) {
      p->advanceSilently();
    } else if (p->talkerSlot() >= 0) {
      sendToTalker(*p, st);
    } else {
      sendToListener(*p, st);
    }
  }
  st.talkers = static_cast<uint32_t>(talkerCount_);
  return st;
}

void Conference::skipPeriods(uint64_t n) {
  for (auto& p : participants_) p->skipPeriods(n);
}

TickStats Conference::tick() {
  TickStats st = decodeShard(0, 1);
  st += mixAndSend();
  return st;
}

}  // namespace rdv::mixer
