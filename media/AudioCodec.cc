#include "media/AudioCodec.h"

#include "media/NarrowbandCodec.h"
#include "media/OpusCodec.h"

namespace rdv::media {

const CodecInfo& codecInfo(CodecId id) {
  static constexpr CodecInfo kPcmu{"pcmu", 8000, 8000, 0};
  static constexpr CodecInfo kPcma{"pcma", 8000, 8000, 8};
  static constexpr CodecInfo kG722{"g722", 8000, 16000, 9};
  static constexpr CodecInfo kOpus{"opus", 48000, 48000, 111};
  switch (id) {
    case CodecId::Pcmu: return kPcmu;
    case CodecId::Pcma: return kPcma;
    case CodecId::G722: return kG722;
    case CodecId::Opus: return kOpus;
  }
  return kPcmu;
}

namespace {

// Returns `codec` if its library initialised, else nullptr (the factories' contract).
template <typename T>
std::unique_ptr<T> checked(std::unique_ptr<T> codec) {
  return codec->ok() ? std::move(codec) : nullptr;
}

}  // namespace

std::unique_ptr<AudioDecoder> makeDecoder(CodecId id) {
  if (id == CodecId::Opus) return checked(std::make_unique<OpusAudioDecoder>());
  return checked(std::make_unique<NarrowbandDecoder>(id));
}

std::unique_ptr<AudioEncoder> makeEncoder(CodecId id, const EncoderOptions& opts) {
  if (id == CodecId::Opus) return checked(std::make_unique<OpusAudioEncoder>(opts));
  return checked(std::make_unique<NarrowbandEncoder>(id));
}

}  // namespace rdv::media
