#include "media/NarrowbandCodec.h"

// The G.722 decoder's state is copied and its eight_k flag switched (decodeG722Low): spandsp's
// own switch for the structures it otherwise keeps opaque.
#define SPANDSP_EXPOSE_INTERNAL_STRUCTURES
#include <spandsp.h>

#include <algorithm>
#include <atomic>
#include <cassert>

#include "media/G711.h"

namespace rdv::media {
namespace {

constexpr int kG722BitRate = 64000;
constexpr uint32_t kG722BothBandsEvery = 8;  // decodeG722Low

// Decoders made one after another (a room's joins) code both bands on different level-only
// decodes, not all on the same tick.
std::atomic<uint32_t> nextLevelPhase{0};

size_t nativeFrame(CodecId id) { return codecInfo(id).sampleRate / 1000 * kFrameMs; }

const uint8_t* u8(std::span<const std::byte> b) { return reinterpret_cast<const uint8_t*>(b.data()); }

// A G.711 payload (one byte a sample) into `out`, which is at least its size.
bool decodeG711(CodecId id, std::span<const std::byte> payload, std::span<int16_t> out, size_t samples) {
  if (payload.size() != samples) return false;
  (id == CodecId::Pcmu ? g711::decodeUlaw : g711::decodeAlaw)(payload, out.first(samples));
  return true;
}

}  // namespace

struct NarrowbandDecoder::State {
  plc_state_t plc{};
  g722_decode_state_t* g722 = nullptr;
  // The G.722 decoder as it was before the last level-only decode, when that decode coded the
  // lower band only (lowBand); a frame completed after it is decoded again, in full, from here.
  g722_decode_state_t beforeLow{};
  bool lowBand = false;
  uint32_t levelDecodes = 0;  // G.722: every kG722BothBandsEvery-th level-only decode codes both bands
  ~State() {
    if (g722 != nullptr) g722_decode_free(g722);
  }
};

struct NarrowbandEncoder::State {
  g722_encode_state_t* g722 = nullptr;
  ~State() {
    if (g722 != nullptr) g722_encode_free(g722);
  }
};

NarrowbandDecoder::NarrowbandDecoder(CodecId id)
    : id_(id), nativeSamples_(nativeFrame(id)), s_(std::make_unique<State>()),
      up_(codecInfo(id).sampleRate, kMixerRate) {
  assert(id != CodecId::Opus && nativeSamples_ <= kMaxNativeFrame);
  plc_init(&s_->plc);
  if (id == CodecId::G722) {
    s_->g722 = g722_decode_init(nullptr, kG722BitRate, 0);
    s_->levelDecodes = nextLevelPhase.fetch_add(1, std::memory_order_relaxed) % kG722BothBandsEvery;
  }
}

NarrowbandDecoder::~NarrowbandDecoder() = default;

bool NarrowbandDecoder::ok() const { return up_.valid() && (id_ != CodecId::G722 || s_->g722 != nullptr); }

// One payload byte per sample for G.711; G.722 at 64 kbit/s packs two 16 kHz samples per byte.
bool NarrowbandDecoder::decodeNative(std::span<const std::byte> payload, std::span<int16_t> native) {
  switch (id_) {
    case CodecId::Pcmu:
    case CodecId::Pcma:
      return decodeG711(id_, payload, native, native.size());
    case CodecId::G722:
      if (payload.size() * 2 != native.size() || s_->g722 == nullptr) return false;
      return g722_decode(s_->g722, native.data(), u8(payload), static_cast<int>(payload.size())) ==
             static_cast<int>(native.size());
    case CodecId::Opus:
      break;
  }
  return false;
}

bool NarrowbandDecoder::decode(std::span<const std::byte> payload, PcmFrame out) {
  s_->lowBand = false;  // the state saved before a level-only decode is behind this frame now
  const std::span<int16_t> native(native_.data(), nativeSamples_);
  if (!decodeNative(payload, native)) {
    conceal({}, out);
    return false;
  }
  plc_rx(&s_->plc, native.data(), static_cast<int>(native.size()));
  upsample(out);
  return true;
}

void NarrowbandDecoder::upsample(PcmFrame out) {
  if (upStale_) up_.reset();
  upStale_ = false;
  up_.process(std::span<const int16_t>(native_.data(), nativeSamples_), out);
}

size_t NarrowbandDecoder::decodeForLevel(std::span<const std::byte> payload, PcmFrame out) {
  upStale_ = true;
  s_->lowBand = false;
  const std::span<int16_t> native(native_.data(), nativeSamples_);
  if (id_ == CodecId::G722 && ++s_->levelDecodes % kG722BothBandsEvery != 0) {
    const size_t n = decodeG722Low(payload, out);
    if (n == 0) std::fill(native.begin(), native.end(), int16_t{0});
    return n;
  }
  if (!decodeNative(payload, native)) {
    std::fill(native.begin(), native.end(), int16_t{0});
    return 0;
  }
  plc_rx(&s_->plc, native.data(), static_cast<int>(native.size()));
  std::copy(native.begin(), native.end(), out.begin());
  return native.size();
}

// G.722's lower sub-band alone (0-4 kHz at 8 kHz, spandsp's eight_k mode): 2.6 µs a frame against
// 7.0 for both bands and the QMF here, and the level of voice, which lies nearly all below 4 kHz.
// The upper band's ADPCM state stands still meanwhile. One level-only decode in
// kG722BothBandsEvery codes both bands, so that state stays adapted to the quiet signal and the
// upper band of a talker's first frames comes out at its level (AudioCodecTest: from a state left
// at its start it took three frames, 60 ms, to re-adapt). The PLC history skips these frames:
// nobody hears them, and a talker's frames refill it.
size_t NarrowbandDecoder::decodeG722Low(std::span<const std::byte> payload, PcmFrame out) {
  g722_decode_state_t& g = *s_->g722;
  if (payload.size() * 2 != nativeSamples_) return 0;
  s_->beforeLow = g;
  s_->lowBand = true;
  g.eight_k = 1;
  const int n = g722_decode(&g, out.data(), u8(payload), static_cast<int>(payload.size()));
  g.eight_k = 0;
  return n > 0 ? static_cast<size_t>(n) : 0;
}

size_t NarrowbandDecoder::peekForLevel(std::span<const std::byte> payload, PcmFrame out) const {
  switch (id_) {
    case CodecId::Pcmu:
    case CodecId::Pcma:
      return decodeG711(id_, payload, out, nativeSamples_) ? nativeSamples_ : 0;
    case CodecId::G722: {
      // The lower band as decodeG722Low codes it, from a copy: the frame's ADPCM starts from the
      // state the decoder is in, which the next decode must still find.
      if (payload.size() * 2 != nativeSamples_ || s_->g722 == nullptr) return 0;
      g722_decode_state_t copy = *s_->g722;
      copy.eight_k = 1;
      const int n = g722_decode(&copy, out.data(), u8(payload), static_cast<int>(payload.size()));
      return n > 0 ? static_cast<size_t>(n) : 0;
    }
    case CodecId::Opus:
      break;
  }
  return 0;
}

bool NarrowbandDecoder::completeFrame(std::span<const std::byte> payload, PcmFrame out) {
  if (!s_->lowBand) {  // G.711, or a G.722 frame decoded with both bands: upsample what it left
    upsample(out);
    return true;
  }
  *s_->g722 = s_->beforeLow;
  s_->lowBand = false;
  return decode(payload, out);
}

void NarrowbandDecoder::conceal(std::span<const std::byte> /*next*/, PcmFrame out) {
  s_->lowBand = false;
  const std::span<int16_t> native(native_.data(), nativeSamples_);
  // spandsp 0.0.6's plc_fillin first rotates its history ring to start at buf_ptr with memcpy
  // between overlapping ranges whenever buf_ptr < PLC_HISTORY_LEN / 2 (undefined behaviour that
  // AddressSanitizer reports; 160-sample frames hit it every few frames). Rotating it here with
  // std::rotate, which is overlap-safe, leaves buf_ptr 0, for which spandsp skips its own copy.
  plc_state_t& plc = s_->plc;
  if (plc.buf_ptr > 0 && plc.buf_ptr < PLC_HISTORY_LEN) {
    std::rotate(std::begin(plc.history), std::begin(plc.history) + plc.buf_ptr, std::end(plc.history));
    plc.buf_ptr = 0;
  }
  plc_fillin(&plc, native.data(), static_cast<int>(native.size()));
  upsample(out);
}

void NarrowbandDecoder::reset() {
  plc_init(&s_->plc);
  s_->lowBand = false;
  if (s_->g722 != nullptr) g722_decode_init(s_->g722, kG722BitRate, 0);
  up_.reset();
  upStale_ = false;
}

NarrowbandEncoder::NarrowbandEncoder(CodecId id)
    : id_(id), nativeSamples_(nativeFrame(id)), s_(std::make_unique<State>()),
      down_(kMixerRate, codecInfo(id).sampleRate) {
  assert(id != CodecId::Opus && nativeSamples_ <= kMaxNativeFrame);
  if (id == CodecId::G722) s_->g722 = g722_encode_init(nullptr, kG722BitRate, 0);
}

NarrowbandEncoder::~NarrowbandEncoder() = default;

bool NarrowbandEncoder::ok() const { return down_.valid() && (id_ != CodecId::G722 || s_->g722 != nullptr); }

size_t NarrowbandEncoder::encode(ConstPcmFrame in, std::span<std::byte> out) {
  const std::span<int16_t> native(native_.data(), nativeSamples_);
  down_.process(in, native);
  switch (id_) {
    case CodecId::Pcmu:
      g711::encodeUlaw(native, out.first(native.size()));
      return native.size();
    case CodecId::Pcma:
      g711::encodeAlaw(native, out.first(native.size()));
      return native.size();
    case CodecId::G722: {
      if (s_->g722 == nullptr) return 0;
      const int n = g722_encode(s_->g722, reinterpret_cast<uint8_t*>(out.data()), native.data(),
                                static_cast<int>(native.size()));
      return n > 0 ? static_cast<size_t>(n) : 0;
    }
    case CodecId::Opus:
      break;
  }
  return 0;
}

void NarrowbandEncoder::reset() {
  if (s_->g722 != nullptr) g722_encode_init(s_->g722, kG722BitRate, 0);
  down_.reset();
}

}  // namespace rdv::media
