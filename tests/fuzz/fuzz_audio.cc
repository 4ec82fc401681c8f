// libFuzzer target for the mixer's receive path: RTP parse -> RFC 8285 extension lookup ->
// JitterBuffer -> AudioDecoder decode/conceal, for each codec.
//
// Input: byte 0 picks the codec (low 2 bits) and jitter-buffer bounds; the rest is a stream of
// records [len:u8][op:u8][len bytes]. Each record is parsed as RTP; a valid one is pushed with
// arrival time advanced by (op >> 1) ms. When op's low bit is set, one frame is popped and
// decoded or concealed, as a mixer tick does. The remainder is also decoded as one raw payload.
// Checks: depth and target stay within the buffer's bounds, popped payloads fit kMaxPayload,
// a pop never returns a Packet without a payload, decoders never write past a frame (ASan).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "media/AudioCodec.h"
#include "media/JitterBuffer.h"
#include "media/RtpPacket.h"

namespace {

using rdv::media::JitterBuffer;

void check(bool ok) {
  if (!ok) std::abort();
}

void tick(JitterBuffer& jb, rdv::media::AudioDecoder& dec, rdv::media::PcmFrame out) {
  const JitterBuffer::Frame f = jb.pop();
  check(f.payload.size() <= rdv::media::kMaxPayload && f.next.size() <= rdv::media::kMaxPayload);
  check(f.audioLevel >= -1 && f.audioLevel <= 127);
  switch (f.kind) {
    case JitterBuffer::FrameKind::Packet: (void)dec.decode(f.payload, out); break;
    case JitterBuffer::FrameKind::Lost: dec.conceal(f.next, out); break;
    case JitterBuffer::FrameKind::Empty: check(f.payload.empty()); break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  const auto codec = static_cast<rdv::media::CodecId>(data[0] & 3);
  const rdv::media::CodecInfo& info = rdv::media::codecInfo(codec);
  rdv::media::JitterBufferOptions opts{.clockRate = info.rtpClockRate, .frameTicks = info.rtpFrameTicks(),
                                       .minFrames = 1u + ((data[0] >> 2) & 3), .maxFrames = 1u + (data[0] >> 4)};
  JitterBuffer jb(opts);
  auto dec = rdv::media::makeDecoder(codec);
  check(dec != nullptr);
  std::array<int16_t, rdv::media::kFrameSamples> pcm{};
  const rdv::media::PcmFrame out(pcm.data(), pcm.size());

  uint64_t arrivalNs = 0;
  size_t at = 1;
  while (size - at >= 2) {
    const size_t length = data[at];
    const uint8_t op = data[at + 1];
    at += 2;
    if (length > size - at) break;
    const auto packet = input.subspan(at, length);
    at += length;
    arrivalNs += static_cast<uint64_t>(op >> 1) * 1'000'000;
    if (auto rtp = rdv::media::RtpView::parse(packet)) {
      const auto level = rdv::media::findOneByteExtension(*rtp, 1);
      check(level.size() <= 16);
      const int lv = level.empty() ? -1 : std::to_integer<int>(level[0]) & 0x7f;
      (void)jb.push(rtp->ssrc(), rtp->sequence(), rtp->timestamp(), rtp->payload(), arrivalNs, lv);
    }
    if ((op & 1) != 0) tick(jb, *dec, out);
    check(jb.depthMs() <= JitterBuffer::kSlots * rdv::media::kFrameMs);
    check(jb.targetMs() >= rdv::media::kFrameMs && jb.targetMs() <= (JitterBuffer::kSlots - 2) * rdv::media::kFrameMs);
  }
  (void)dec->decode(input.subspan(at), out);
  return 0;
}
