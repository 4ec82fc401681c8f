#include "media/NarrowbandCodec.h"

#include <spandsp.h>

#include <algorithm>
#include <cassert>

#include "media/G711.h"

namespace rdv::media {
namespace {

constexpr int kG722BitRate = 64000;

size_t nativeFrame(CodecId id) { return codecInfo(id).sampleRate / 1000 * kFrameMs; }

const uint8_t* u8(std::span<const std::byte> b) { return reinterpret_cast<const uint8_t*>(b.data()); }

}  // namespace

struct NarrowbandDecoder::State {
  plc_state_t plc{};
  g722_decode_state_t* g722 = nullptr;
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
  if (id == CodecId::G722) s_->g722 = g722_decode_init(nullptr, kG722BitRate, 0);
}

NarrowbandDecoder::~NarrowbandDecoder() = default;

bool NarrowbandDecoder::ok() const { return up_.valid() && (id_ != CodecId::G722 || s_->g722 != nullptr); }

// One payload byte per sample for G.711; G.722 at 64 kbit/s packs two 16 kHz samples per byte.
bool NarrowbandDecoder::decodeNative(std::span<const std::byte> payload, std::span<int16_t> native) {
  switch (id_) {
    case CodecId::Pcmu:
      if (payload.size() != native.size()) return false;
      g711::decodeUlaw(payload, native);
      return true;
    case CodecId::Pcma:
      if (payload.size() != native.size()) return false;
      g711::decodeAlaw(payload, native);
      return true;
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
  const std::span<int16_t> native(native_.data(), nativeSamples_);
  upStale_ = true;
  if (!decodeNative(payload, native)) {
    std::fill(native.begin(), native.end(), int16_t{0});
    return 0;
  }
  plc_rx(&s_->plc, native.data(), static_cast<int>(native.size()));
  std::copy(native.begin(), native.end(), out.begin());
  return native.size();
}

bool NarrowbandDecoder::completeFrame(std::span<const std::byte> /*payload*/, PcmFrame out) {
  upsample(out);
  return true;
}

void NarrowbandDecoder::conceal(std::span<const std::byte> /*next*/, PcmFrame out) {
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
