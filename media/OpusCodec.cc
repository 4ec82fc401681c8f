#include "media/OpusCodec.h"

#include <opus/opus.h>

#include <algorithm>

namespace rdv::media {
namespace {

constexpr int kFrame = static_cast<int>(kFrameSamples);

const unsigned char* uc(std::span<const std::byte> b) {
  return reinterpret_cast<const unsigned char*>(b.data());
}

opus_int32 len(std::span<const std::byte> b) {
  return static_cast<opus_int32>(std::min<size_t>(b.size(), kMaxPayload));
}

// The narrowest Opus audio band that holds `hz` (RFC 6716 §2: NB 4, MB 6, WB 8, SWB 12, FB 20 kHz).
int maxBandwidth(uint32_t hz) {
  if (hz <= 4000) return OPUS_BANDWIDTH_NARROWBAND;
  if (hz <= 6000) return OPUS_BANDWIDTH_MEDIUMBAND;
  if (hz <= 8000) return OPUS_BANDWIDTH_WIDEBAND;
  if (hz <= 12000) return OPUS_BANDWIDTH_SUPERWIDEBAND;
  return OPUS_BANDWIDTH_FULLBAND;
}

int application(const EncoderOptions& opts) {
  return opts.celtOnly ? OPUS_APPLICATION_RESTRICTED_LOWDELAY : OPUS_APPLICATION_VOIP;
}

}  // namespace

bool opusSenderMarkedInactive(std::span<const std::byte> payload) {
  if (payload.empty()) return false;
  const auto toc = std::to_integer<unsigned>(payload[0]);
  const unsigned config = toc >> 3;  // 0-11 SILK only, 12-15 hybrid, 16-31 CELT only
  const bool oneFrame = (toc & 3) == 0;
  if (config >= 16 || !oneFrame) return false;
  if (payload.size() == 1) return true;
  // One VAD flag per 20 ms SILK frame (a 40 or 60 ms SILK-only frame, config % 4 = 2, 3, has 2,
  // 3), then the LBRR flag; a stereo packet (TOC bit 2) has the side channel's flags after those.
  const unsigned silkFrames = config < 12 && (config & 3) >= 2 ? (config & 3) : 1;
  unsigned vadBits = (0xFFu << (8 - silkFrames)) & 0xFFu;
  if ((toc & 0x04) != 0) vadBits |= ((1u << silkFrames) - 1) << (7 - 2 * silkFrames);
  return (std::to_integer<unsigned>(payload[1]) & vadBits) == 0;
}

bool opusSenderMarkedActive(std::span<const std::byte> payload) {
  if (payload.size() < 2) return false;
  const auto toc = std::to_integer<unsigned>(payload[0]);
  return (toc >> 3) < 16 && (toc & 3) == 0 && !opusSenderMarkedInactive(payload);
}

OpusAudioDecoder::OpusAudioDecoder() {
  int err = OPUS_OK;
  dec_ = opus_decoder_create(kMixerRate, 1, &err);
  if (err != OPUS_OK) dec_ = nullptr;
}

OpusAudioDecoder::~OpusAudioDecoder() {
  if (dec_ != nullptr) opus_decoder_destroy(dec_);
}

bool OpusAudioDecoder::useRate(uint32_t rate) {
  if (dec_ == nullptr) return false;
  if (rate_ != rate) {
    if (opus_decoder_init(dec_, static_cast<opus_int32>(rate), 1) != OPUS_OK) {
      // Cannot happen for the rates used here; keep the decoder usable at its last rate.
      (void)opus_decoder_init(dec_, static_cast<opus_int32>(rate_), 1);
      return false;
    }
    rate_ = rate;
  }
  return true;
}

size_t OpusAudioDecoder::decodeForLevel(std::span<const std::byte> payload, PcmFrame out) {
  constexpr int kLevelFrame = static_cast<int>(kLevelRate / 1000 * kFrameMs);
  if (payload.empty() || payload.size() > kMaxPayload || !useRate(kLevelRate) ||
      opus_packet_get_nb_samples(uc(payload), len(payload), kMixerRate) != kFrame) {
    return 0;
  }
  const int n = opus_decode(dec_, uc(payload), len(payload), out.data(), kLevelFrame, 0);
  return n == kLevelFrame ? static_cast<size_t>(n) : 0;
}

bool OpusAudioDecoder::decode(std::span<const std::byte> payload, PcmFrame out) {
  if (!useRate(kMixerRate) || payload.empty() || payload.size() > kMaxPayload ||
      opus_decoder_get_nb_samples(dec_, uc(payload), len(payload)) != kFrame ||
      opus_decode(dec_, uc(payload), len(payload), out.data(), kFrame, 0) != kFrame) {
    conceal({}, out);
    return false;
  }
  return true;
}

void OpusAudioDecoder::conceal(std::span<const std::byte> next, PcmFrame out) {
  if (!useRate(kMixerRate)) {
    std::fill(out.begin(), out.end(), int16_t{0});
    return;
  }
  // decode_fec=1 decodes the LBRR copy of the previous frame that `next` carries; when it has
  // none, libopus falls back to PLC itself. With no next packet, a null payload asks for PLC.
  const bool fec = !next.empty() && next.size() <= kMaxPayload &&
                   opus_packet_get_nb_samples(uc(next), len(next), kMixerRate) == kFrame;
  const int n = fec ? opus_decode(dec_, uc(next), len(next), out.data(), kFrame, 1)
                    : opus_decode(dec_, nullptr, 0, out.data(), kFrame, 0);
  if (n != kFrame) std::fill(out.begin(), out.end(), int16_t{0});
}

void OpusAudioDecoder::reset() {
  if (dec_ != nullptr) opus_decoder_ctl(dec_, OPUS_RESET_STATE);
}

OpusAudioEncoder::OpusAudioEncoder(const EncoderOptions& opts) : opts_(opts) {
  int err = OPUS_OK;
  enc_ = opus_encoder_create(kMixerRate, 1, application(opts), &err);
  if (err != OPUS_OK) {
    enc_ = nullptr;
    return;
  }
  applyOptions(opts);
}

bool OpusAudioEncoder::applyOptions(const EncoderOptions& opts) {
  bool ok = opus_encoder_ctl(enc_, OPUS_SET_BITRATE(static_cast<opus_int32>(opts.bitrate))) == OPUS_OK;
  ok = opus_encoder_ctl(enc_, OPUS_SET_COMPLEXITY(opts.complexity)) == OPUS_OK && ok;
  opus_encoder_ctl(enc_, OPUS_SET_INBAND_FEC(1));
  opus_encoder_ctl(enc_, OPUS_SET_PACKET_LOSS_PERC(opts.expectedLossPercent));
  opus_encoder_ctl(enc_, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
  const int bandwidth = opts.maxBandwidthHz != 0 ? maxBandwidth(opts.maxBandwidthHz) : OPUS_BANDWIDTH_FULLBAND;
  opus_encoder_ctl(enc_, OPUS_SET_MAX_BANDWIDTH(bandwidth));
  if (ok) opts_ = opts;
  return ok;
}

// libopus fixes the application at init (OPUS_SET_APPLICATION is refused once a frame has been
// coded, and RESTRICTED_LOWDELAY also drops the SILK delay compensation at init), so a change of
// celtOnly re-initialises the state in place: opus_encoder_init needs no memory beyond what
// opus_encoder_create allocated, whatever the application.
bool OpusAudioEncoder::reconfigure(const EncoderOptions& opts) {
  if (enc_ == nullptr) return false;
  if (opts.celtOnly != opts_.celtOnly) {
    if (opus_encoder_init(enc_, kMixerRate, 1, application(opts)) != OPUS_OK) {
      // Cannot happen for these arguments; keep the encoder usable with its old options.
      (void)opus_encoder_init(enc_, kMixerRate, 1, application(opts_));
      applyOptions(opts_);
      return false;
    }
  }
  return applyOptions(opts);
}

int OpusAudioEncoder::complexity() const {
  opus_int32 v = -1;
  if (enc_ != nullptr) opus_encoder_ctl(enc_, OPUS_GET_COMPLEXITY(&v));
  return v;
}

bool OpusAudioEncoder::celtOnly() const {
  opus_int32 v = 0;
  if (enc_ != nullptr) opus_encoder_ctl(enc_, OPUS_GET_APPLICATION(&v));
  return v == OPUS_APPLICATION_RESTRICTED_LOWDELAY;
}

OpusAudioEncoder::~OpusAudioEncoder() {
  if (enc_ != nullptr) opus_encoder_destroy(enc_);
}

size_t OpusAudioEncoder::encode(ConstPcmFrame in, std::span<std::byte> out) {
  if (enc_ == nullptr) return 0;
  const opus_int32 n = opus_encode(enc_, in.data(), kFrame, reinterpret_cast<unsigned char*>(out.data()),
                                   static_cast<opus_int32>(std::min(out.size(), kMaxPayload)));
  return n > 0 ? static_cast<size_t>(n) : 0;
}

void OpusAudioEncoder::reset() {
  if (enc_ != nullptr) opus_encoder_ctl(enc_, OPUS_RESET_STATE);
}

}  // namespace rdv::media
