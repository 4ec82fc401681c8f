#pragma once
// Quality of live legs as Prometheus-style histograms, kept by each relay worker: every time the
// worker takes a leg's E-model sample (WorkerOptions::mosIntervalNs, 5 s) it observes the sample's
// MOS, loss, jitter and RTT here. Written only by the worker, read by the metrics collector, which
// sums the workers; fixed buckets, no allocation.

#include "common/FixedHistogram.h"

namespace rdv::relay {

using common::FixedHistogram;

struct QualityHistograms {
  FixedHistogram<9> mos{{1.0, 2.0, 2.5, 3.0, 3.5, 3.8, 4.0, 4.2, 4.4}, {}, {}, {}};
  FixedHistogram<8> lossPercent{{0.1, 0.5, 1, 2, 5, 10, 20, 50}, {}, {}, {}};
  FixedHistogram<9> jitterMs{{1, 2, 5, 10, 20, 30, 50, 100, 200}, {}, {}, {}};
  FixedHistogram<9> rttMs{{1, 5, 10, 25, 50, 100, 200, 400, 800}, {}, {}, {}};
};

}  // namespace rdv::relay
