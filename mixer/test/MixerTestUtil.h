#pragma once
// Test participants for the mixer: a Sender that encodes a tone (or silence) into real RTP
// packets of its codec, and a Receiver that decodes what the mixer sent one participant and
// keeps the PCM for spectrum checks (media/test/AudioTestUtil.h).

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "media/AudioCodec.h"
#include "media/RtpPacket.h"
#include "media/test/AudioTestUtil.h"
#include "mixer/MixerSink.h"

namespace rdv::mixer::testutil {

using media::testutil::Tone;

struct NullSink : MediaSink {
  void send(ParticipantId, std::span<const std::byte>) override {}
};

class Sender {
 public:
  // hz == 0 sends silence frames (encoded, not DTX).
  Sender(media::CodecId codec, uint8_t pt, uint32_t ssrc, double hz, double amplitude = 8000)
      : codec_(codec), pt_(pt), ssrc_(ssrc), tone_(hz, hz == 0 ? 0 : amplitude), enc_(media::makeEncoder(codec)) {}

  // The next 20 ms packet; valid until the next call.
  std::span<const std::byte> next() {
    tone_.next(pcm_);
    media::RtpHeaderFields h{pt_, seq_ == 0, seq_, ts_, ssrc_};
    const size_t header = media::writeRtpHeader(buf_, h);
    const size_t n = enc_->encode(pcm_, std::span(buf_).subspan(header));
    ++seq_;
    ts_ += media::codecInfo(codec_).rtpFrameTicks();
    return std::span<const std::byte>(buf_.data(), header + n);
  }
  uint16_t seq() const { return seq_; }

 private:
  media::CodecId codec_;
  uint8_t pt_;
  uint32_t ssrc_;
  Tone tone_;
  std::unique_ptr<media::AudioEncoder> enc_;
  std::array<int16_t, media::kFrameSamples> pcm_{};
  std::array<std::byte, 1500> buf_{};
  uint16_t seq_ = 0;
  uint32_t ts_ = 1000;
};

class Receiver {
 public:
  explicit Receiver(media::CodecId codec) : frameTicks_(media::codecInfo(codec).rtpFrameTicks()), dec_(media::makeDecoder(codec)) {}

  void onPacket(std::span<const std::byte> rtp) {
    ++packets;
    auto view = media::RtpView::parse(rtp);
    ASSERT_TRUE(view);
    if (packets > 1) {
      EXPECT_EQ(view->sequence(), static_cast<uint16_t>(lastSeq + 1));
      // Without a marker the stream kept time: one frame on from the last packet. With one, the
      // frames it skipped (a deaf spell, a period the mixer could not run) are counted.
      if (!view->marker()) {
        EXPECT_EQ(view->timestamp(), lastTs + frameTicks_);
      } else {
        ++markers;
        framesSkipped += (view->timestamp() - lastTs) / frameTicks_ - 1;
      }
      EXPECT_EQ(view->ssrc(), ssrc);
    }
    lastSeq = view->sequence();
    lastTs = view->timestamp();
    ssrc = view->ssrc();
    std::array<int16_t, media::kFrameSamples> out{};
    EXPECT_TRUE(dec_->decode(view->payload(), out));
    pcm.insert(pcm.end(), out.begin(), out.end());
  }
  // Amplitude of `hz` over the last `frames` frames received.
  double amplitude(double hz, size_t frames = 25) const {
    const size_t n = std::min(pcm.size(), frames * media::kFrameSamples);
    return media::testutil::toneAmplitude(std::span(pcm).last(n), hz);
  }

  // Amplitude of `hz` over `frames` frames starting at frame `from` of those received.
  double amplitudeAt(double hz, size_t from, size_t frames) const {
    const size_t begin = std::min(pcm.size(), from * media::kFrameSamples);
    const size_t n = std::min(pcm.size() - begin, frames * media::kFrameSamples);
    return media::testutil::toneAmplitude(std::span(pcm).subspan(begin, n), hz);
  }

  uint64_t packets = 0;
  uint64_t markers = 0;        // marked packets after the first
  uint64_t framesSkipped = 0;  // frames of timestamp the marked packets jumped over
  uint16_t lastSeq = 0;
  uint32_t lastTs = 0;
  uint32_t ssrc = 0;
  std::vector<int16_t> pcm;

 private:
  uint32_t frameTicks_;
  std::unique_ptr<media::AudioDecoder> dec_;
};

}  // namespace rdv::mixer::testutil
