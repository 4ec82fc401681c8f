#pragma once
// Voice codecs at the conference mixer's boundary: every decoder turns an RTP payload into one
// 20 ms frame of 16-bit mono PCM at kMixerRate, and every encoder turns such a frame back into a
// payload, resampling (speexdsp) inside when the codec runs at another rate. Decoder and encoder
// are separate objects because their state has different owners: a decoder belongs to the one
// participant who sends the stream, an encoder to an output stream that many listeners may share.
//
// Contracts common to all implementations (no exceptions, no allocation after construction):
//  - a frame is exactly kFrameSamples samples; spans of another size are a programming error;
//  - decode() rejects a payload it cannot take (empty, garbage, not 20 ms) by returning false,
//    leaving `out` filled with concealment so the caller can still mix it;
//  - conceal() produces a frame for a packet that never came, from the codec's own loss
//    concealment; `next` is the following packet when the jitter buffer has it (Opus recovers
//    the lost frame from its in-band FEC), otherwise empty.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace rdv::media {

// The mixer works on 48 kHz mono: Opus decodes there natively, and 8/16 kHz codecs upsample to
// it by integer ratios (6 and 3), so one internal rate serves every codec without fractional
// resampling.
inline constexpr uint32_t kMixerRate = 48000;
inline constexpr uint32_t kFrameMs = 20;
inline constexpr size_t kFrameSamples = kMixerRate / 1000 * kFrameMs;  // 960
// Largest payload an encoder writes or the jitter buffer keeps: one Opus frame is at most 1275
// bytes (RFC 6716 §3.2.1); G.711/G.722 need 160 bytes per 20 ms.
inline constexpr size_t kMaxPayload = 1276;

enum class CodecId : uint8_t { Pcmu, Pcma, G722, Opus };

// Fixed facts about a codec: its RTP clock (RFC 3551 §4.5.2: G.722 advertises 8000 though it
// samples at 16000), the rate it codes at and the payload type used when SDP says nothing else.
struct CodecInfo {
  std::string_view name;      // lower case as in the API: "pcmu", "pcma", "g722", "opus"
  uint32_t rtpClockRate;
  uint32_t sampleRate;
  uint8_t defaultPayloadType;  // dynamic for Opus (commonly 111)
  // RTP timestamp units per 20 ms frame.
  uint32_t rtpFrameTicks() const { return rtpClockRate / 1000 * kFrameMs; }
};

const CodecInfo& codecInfo(CodecId id);

using PcmFrame = std::span<int16_t, kFrameSamples>;
using ConstPcmFrame = std::span<const int16_t, kFrameSamples>;

class AudioDecoder {
 public:
  virtual ~AudioDecoder() = default;
  // Decodes one 20 ms payload into `out`. False (and `out` concealed) when the payload is not a
  // valid 20 ms frame of this codec.
  virtual bool decode(std::span<const std::byte> payload, PcmFrame out) = 0;
  // Fills `out` for a lost frame; `next` is the following payload if known (may be empty).
  virtual void conceal(std::span<const std::byte> next, PcmFrame out) = 0;
  // Forgets the stream (a new SSRC): the next frame decodes as if it were the first.
  virtual void reset() = 0;
  // For talker detection only (a frame nobody will hear): decodes `payload` as cheaply as the
  // codec allows into the start of `out` and returns the number of samples written, at whatever
  // rate the codec finds cheapest (only the level is measured); 0 when the payload is not a valid
  // 20 ms frame. A later decode()/conceal() may start from a reset state (Opus switches its
  // output rate). Default: a full decode().
  virtual size_t decodeForLevel(std::span<const std::byte> payload, PcmFrame out) {
    return decode(payload, out) ? kFrameSamples : 0;
  }
  // The frame just given to decodeForLevel() is to be mixed after all: writes it into `out` at
  // kMixerRate (Opus decodes `payload` again; G.711 upsamples the frame it kept; G.722 decodes
  // `payload` again in full from its state before, or upsamples when it had decoded both bands).
  virtual bool completeFrame(std::span<const std::byte> payload, PcmFrame out) { return decode(payload, out); }
  // For a judgement on a frame before it is decoded (a jitter buffer about to drop it): like
  // decodeForLevel() but leaves the decoder as it was. 0 when the codec cannot, or not cheaply
  // (default; Opus). G.711 decodes by table, G.722 its lower band from a copy of its state.
  virtual size_t peekForLevel(std::span<const std::byte> payload, PcmFrame out) const {
    (void)payload;
    (void)out;
    return 0;
  }
};

struct EncoderOptions {
  uint32_t bitrate = 32000;  // Opus only; G.711/G.722 have fixed rates
  // Opus 0..10. 5 halves the encode cost of 8-10 (about 120 µs against 250 µs per 20 ms frame
  // of mixed speech here) for a small quality loss; a mixer encodes once per talker and per
  // codec group every tick, so this is its main CPU lever.
  int complexity = 5;
  int expectedLossPercent = 5;  // Opus: sizes in-band FEC (OPUS_SET_PACKET_LOSS_PERC)
  // Opus: the widest audio band coded (OPUS_SET_MAX_BANDWIDTH), in Hz: 4000 (narrowband), 6000,
  // 8000 (wideband: SILK only, no CELT layer), 12000, 20000 (fullband); 0 lets libopus choose
  // (fullband hybrid at 32 kbit/s). Wideband costs ~20 % less per encode here (benchmarks/README.md).
  uint32_t maxBandwidthHz = 0;
  // Opus: code CELT only (OPUS_APPLICATION_RESTRICTED_LOWDELAY) instead of libopus's voice modes
  // (SILK or hybrid at 32 kbit/s). About half the encode cost and 4 ms less algorithmic delay, but
  // no in-band FEC (LBRR is a SILK feature) and less efficient on a single voice at low bitrates.
  // In 100 rooms of 10 it halves the mixer's CPU per tick (benchmarks/README.md).
  bool celtOnly = false;
};

class AudioEncoder {
 public:
  virtual ~AudioEncoder() = default;
  // Encodes one frame into `out` (at least kMaxPayload bytes); returns the payload size, 0 on a
  // codec failure (the caller skips the frame).
  virtual size_t encode(ConstPcmFrame in, std::span<std::byte> out) = 0;
  // Drops the coding history, as if newly created (an encoder reused for another stream).
  virtual void reset() = 0;
  // Takes new options without allocating (the mixer's load governor, rarely). Opus applies a new
  // complexity, bitrate or loss percentage in place, keeping its coding history; a change of
  // celtOnly re-initialises the encoder in place, which restarts it clean like reset(). Codecs
  // without options ignore them. False if the codec refused (the old settings stay).
  virtual bool reconfigure(const EncoderOptions& opts) {
    (void)opts;
    return true;
  }
};

// Factories. They allocate (codec state, resampler) and so belong on the control path or at
// participant creation; nullptr only if a library refuses to initialise.
std::unique_ptr<AudioDecoder> makeDecoder(CodecId id);
std::unique_ptr<AudioEncoder> makeEncoder(CodecId id, const EncoderOptions& opts = {});

}  // namespace rdv::media
