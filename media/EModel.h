#pragma once
// Listening/conversational quality of a voice stream from what a relay can measure (packet loss,
// jitter, round-trip time): the ITU-T G.107 E-model, simplified the way rtpengine simplifies it,
// mapped to a MOS with G.107 Annex B. Pure functions; no allocation, no exceptions, usable per
// report tick in a relay worker, by the NG layer, /metrics and the operator API alike.
//
// The model (G.107 (06/2015) §7, eq. 7-1):   R = Ro - Is - Id - Ie,eff + A
//
// Simplifications (what is not measured is taken at its G.107 Table 3 default):
//  1. Ro - Is + A: the default-parameter value, so that a connection with no delay and no loss
//     rates R = 93.2 (G.107 §7.7: "the default values ... result in R = 93.2"). Noise, loudness
//     ratings, sidetone and the advantage factor are the endpoints' and stay at their defaults.
//  2. Id = Idd only. Talker/listener echo (Idte, Idle) is the endpoints' business (echo
//     cancellers) and is folded into the 93.2 of (1), as in rtpengine's model; Idd is G.107
//     eq. 7-28 with mT = 100 ms, sT = 1 (defaults): 0 up to 100 ms, then
//        X = log10(Ta/100) / log10(2)
//        Idd = 25 * ((1 + X^6)^(1/6) - 3 * (1 + (X/3)^6)^(1/6) + 2).
//  3. Ta, the absolute one-way delay, is estimated as rtpengine does (its "effective latency"):
//        Ta = RTT + 2 * jitter + 10 ms
//     RTT is the relay <-> peer round trip of one leg; with a relay in the middle the
//     mouth-to-ear path crosses two legs, so one leg's round trip stands for the two one-way
//     halves. 2 * jitter is the jitter buffer a receiver needs; 10 ms covers codec look-ahead and
//     packetisation beyond the frame. An unknown RTT counts as 0 (MOS-LQ, as rtpengine without
//     RTCP).
//  4. Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)  (G.107 eq. 7-29), Ppl in percent,
//     BurstR = 1 (random loss: the relay sees losses, not the loss process).
//  5. Wideband codecs (G.722, Opus) use G.107.1: Ro,wb = 129, Id,wb = 1.29 * Id,
//     Ie,eff,wb = Ie,wb + (129 - Ie,wb) * Ppl / (Ppl / BurstR + Bpl), and are reported on the
//     narrowband scale R = Rwb / 1.29 so that every stream shares one MOS range (G.107.1 Annex A's
//     transformation). A clean G.722 call then rates R = (129 - 13) / 1.29 = 89.9.
//  6. MOS = 1 for R <= 0; 1 + 0.035 R + R (R - 60)(100 - R) 7e-6 for 0 < R < 100; 4.5 for
//     R >= 100 (G.107 Annex B, eq. B-4).
//
// Codec values (Ie, Bpl), random loss:
//  - G.711 without PLC: Ie 0, Bpl 4.3 (G.113 Appendix I, Table I.3; G.107 Table 3 default).
//  - G.711 with PLC (G.711 Appendix I): Ie 0, Bpl 25.1 (G.113 Appendix I, Table I.3).
//  - G.722 64 kbit/s: Ie,wb 13 (G.113 Appendix IV). Its Bpl is a planning assumption, 25.1:
//    the same concealment robustness as G.711 with PLC.
//  - Opus (wideband or better): no ITU-T tabulated values; treated as G.722 (Ie,wb 13,
//    Bpl 25.1), a conservative placeholder that never rates Opus above G.722.
// Unknown codecs rate as G.711 with PLC.

#include <cstdint>
#include <string_view>

namespace rdv::media {

enum class VoiceCodec : uint8_t { G711, G711Plc, G722, Opus };

struct CodecImpairment {
  double ie;       // equipment impairment (Ie, or Ie,wb for wideband codecs)
  double bpl;      // packet-loss robustness factor
  bool wideband;   // rated with G.107.1 (Ro,wb = 129) and mapped to the narrowband scale
};

CodecImpairment codecImpairment(VoiceCodec c);

// The codec for an SDP encoding name (rtpmap, case-insensitive): PCMU/PCMA -> G711Plc (endpoints
// conceal loss today), G722 -> G722, opus -> Opus; anything else -> G711Plc.
VoiceCodec voiceCodecFromEncoding(std::string_view name);

// G.107 eq. 7-28 (mT = 100 ms, sT = 1): 0 for Ta <= 100 ms.
double delayImpairment(double oneWayDelayMs);

// G.107 eq. 7-29 with `maxImpairment` = 95 (narrowband) or 129 (wideband); lossPercent in [0, 100].
double effectiveEquipmentImpairment(double ie, double bpl, double lossPercent, double burstR = 1.0,
                                    double maxImpairment = 95.0);

// G.107 Annex B, eq. B-4.
double mosFromR(double r);

struct QualityInput {
  double lossPercent = 0;  // packets lost / expected, in percent
  double jitterMs = 0;     // RFC 3550 interarrival jitter
  double rttMs = -1;       // relay <-> peer round trip; < 0 = unknown (counts as 0)
  // The receiver's own delay (jitter buffer, decoder, playout) as its RTCP XR VoIP Metrics block
  // reports it (RFC 3611 §4.7.3 end system delay); < 0 = not reported.
  double endSystemDelayMs = -1;
  VoiceCodec codec = VoiceCodec::G711Plc;
};

// Ta of simplification 3: RTT + 2 x jitter + 10 ms, or RTT + the end system delay when the
// receiver reported it (then its real buffering replaces the estimate).
double effectiveDelayMs(const QualityInput& in);

struct QualityScore {
  double r;    // narrowband scale, [0, 100] before clamping by mosFromR
  double mos;  // [1, 4.5]
};

// R and MOS for one measurement, with every simplification above.
QualityScore estimateQuality(const QualityInput& in);

}  // namespace rdv::media
