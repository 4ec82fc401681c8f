"""The parts of the SIP benchmark driver (benchmarks/sip_bench.py is its entry point), one job per
module:

  common     paths, pass/stop thresholds, logging, percentiles, the context every phase shares
  procs      the port block, processes we start, CPU / RSS / PSS sampling
  servers    Rendezvous and Kamailio + rtpengine, started fresh for each phase
  sipp       sipp runs (UAS, bounded UAC) and the files they leave (CSV, rtt, error log)
  probe      the Python probe caller: kernel-stamped INVITE->180 / INVITE->200
  packets    iptables packet counters for mode 2, the RTP pcap sipp plays
  register   REGISTER load: sipp steps, Python worker processes
  phases     call steps (modes 1 and 2), concurrent calls, the flood
  report     the tables and the summary
  batch      for message_bench, presence_bench and presence_kamailio_bench: the phase loop of
             their main(), one bounded sipp batch and its counts, a phase's cleanup

Importing the package puts relay_bench.py and the integration tests' helpers on sys.path.
"""

import os
import sys

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ROOT = os.path.dirname(_HERE)
for _p in (_HERE, os.path.join(_ROOT, "tests", "integration"), os.path.join(_ROOT, "tests", "integration", "sip"),
           os.path.join(_ROOT, "tests", "integration", "kamailio")):
    if _p not in sys.path:
        sys.path.insert(0, _p)
