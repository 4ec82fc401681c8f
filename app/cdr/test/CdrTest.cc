// Call detail records: the JSON line, pairing the SIP and media halves, and the file writer
// (rotation, reopen after logrotate, a full disk, a full queue).

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cdr/CdrJoiner.h"
#include "app/cdr/CdrLine.h"
#include "app/cdr/CdrWriter.h"

namespace rdv::cdr {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

b2bua::CallRecord answeredCall() {
  return b2bua::CallRecord{"call-1", "b-1@rendezvous", "\"Boss, Big\" <sip:alice@example.com>", "<sip:bob@example.com>",
                           "sip:bob@198.18.0.3:5060", 1'700'000'000'000, 1'700'000'002'500, 1'700'000'062'500,
                           b2bua::EndReason::CalleeBye, 200, 2};
}

relay::SessionReport media(std::string callId) {
  relay::SessionReport r;
  r.callId = std::move(callId);
  std::array<relay::LegReport, 2> s{};
  s[0].counters.rtpPackets = 3000;
  s[0].counters.rtpBytes = 516'000;
  s[0].rtpExpected = 3030;
  s[0].rtpLost = 30;
  s[0].lossFraction = 30.0 / 3030;
  s[0].jitterMs = 4.25;
  s[0].quality.rttMs = 42;
  s[0].burstGap = media::BurstGapMetrics{.burstDensity = 0.25, .gapDensity = 0.01, .burstMs = 60, .gapMs = 2000,
                                         .bursts = 3, .gaps = 4};
  s[0].quality.xr = media::XrVoipMetrics{.ssrc = 0xB, .lossRate = 13, .roundTripDelayMs = 180,
                                         .endSystemDelayMs = 60, .rFactor = 78, .mosLq = 39, .mosCq = 37};
  s[0].latched = *common::SockAddr::fromIp("198.18.0.2", 40000);
  s[0].mos.add(media::MosSample{4.1, 1, 4, 42, 0});
  s[0].mos.add(media::MosSample{4.3, 0, 4, 42, 0});
  s[1].counters.rtpPackets = 2990;
  s[1].codec = media::VoiceCodec::Opus;
  r.streams.push_back(s);
  return r;
}

TEST(CdrLine, AnsweredSipCallCarriesPartiesTimesReasonAndPerLegQuality) {
  auto call = answeredCall();
  auto rep = media("call-1");
  json j = json::parse(cdrLine(&call, &rep));
  EXPECT_EQ(j["source"], "sip");
  EXPECT_EQ(j["call_id"], "call-1");
  EXPECT_EQ(j["caller"], "\"Boss, Big\" <sip:alice@example.com>");
  EXPECT_EQ(j["start"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(j["answer"], "2023-11-14T22:13:22.500Z");
  EXPECT_EQ(j["duration_s"], 60.0);
  EXPECT_EQ(j["end_reason"], "callee_bye");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["branches"], 2);
  ASSERT_EQ(j["legs"].size(), 2U);
  const json& a = j["legs"][0];
  EXPECT_EQ(a["side"], "caller");
  EXPECT_EQ(a["packets"], 3000);
  EXPECT_EQ(a["bytes"], 516000);
  EXPECT_EQ(a["lost"], 30);
  EXPECT_EQ(a["loss_percent"], 0.99);
  EXPECT_EQ(a["jitter_ms"], 4.25);
  EXPECT_EQ(a["rtt_ms"], 42.0);
  EXPECT_EQ(a["latched"], "198.18.0.2:40000");
  EXPECT_EQ(a["burst_density_percent"], 25.0);
  EXPECT_EQ(a["gap_density_percent"], 1.0);
  EXPECT_EQ(a["burst_ms"], 60.0);
  EXPECT_EQ(a["gap_ms"], 2000.0);
  const json& xr = a["xr"];
  ASSERT_TRUE(xr.is_object()) << a.dump();
  EXPECT_EQ(xr["ssrc"], 0xB);
  EXPECT_EQ(xr["mos_lq"], 3.9);
  EXPECT_EQ(xr["mos_cq"], 3.7);
  EXPECT_EQ(xr["r_factor"], 78.0);
  EXPECT_TRUE(xr["ext_r_factor"].is_null()) << "127: unavailable";
  EXPECT_EQ(xr["loss_rate_percent"], 5.08);  // 13/256
  EXPECT_EQ(xr["round_trip_delay_ms"], 180);
  EXPECT_EQ(xr["end_system_delay_ms"], 60);
  EXPECT_EQ(a["mos"]["min"], 4.1);
  EXPECT_EQ(a["mos"]["avg"], 4.2);
  EXPECT_EQ(a["mos"]["max"], 4.3);
  const json& b = j["legs"][1];
  EXPECT_EQ(b["codec"], "opus");
  EXPECT_TRUE(b["rtt_ms"].is_null()) << "never measured";
  EXPECT_TRUE(b["mos"].is_null());
  EXPECT_TRUE(b["latched"].is_null());
  EXPECT_TRUE(b["xr"].is_null()) << "no RTCP XR from that party";
  EXPECT_EQ(b["burst_density_percent"], 0.0);
  EXPECT_EQ(b["gap_ms"], 0.0);
}

TEST(CdrLine, NgCallAndUnansweredCallAndBadUtf8) {
  auto rep = media("ng-1");
  json ng = json::parse(cdrLine(nullptr, &rep, "ng_delete"));
  EXPECT_EQ(ng["source"], "ng");
  EXPECT_EQ(ng["call_id"], "ng-1");
  EXPECT_EQ(ng["end_reason"], "ng_delete");
  auto participant = media("conf-team-7");  // an API conference participant's relay session
  json conf = json::parse(cdrLine(nullptr, &participant, "conference_kicked"));
  EXPECT_EQ(conf["source"], "conference");
  EXPECT_EQ(conf["end_reason"], "conference_kicked");
  EXPECT_EQ(conf["legs"].size(), 2U);
  auto call = answeredCall();
  call.answerUnixMs = 0;
  call.reason = b2bua::EndReason::CallerCancel;
  call.status = 487;
  call.caller = "\xff\xfe <sip:x@y>";
  json c = json::parse(cdrLine(&call, nullptr));
  EXPECT_TRUE(c["answer"].is_null());
  EXPECT_EQ(c["duration_s"], 0.0);
  EXPECT_EQ(c["end_reason"], "caller_cancel");
  EXPECT_TRUE(c["legs"].empty());
  EXPECT_NE(c["caller"].get<std::string>().find("<sip:x@y>"), std::string::npos);
}

TEST(CdrJoiner, PairsBothHalvesInEitherOrderAndWritesLoneHalvesAfterTheGrace) {
  std::vector<json> out;
  CdrJoiner j(2000, [&](std::string&& line) { out.push_back(json::parse(line)); });
  j.onCall(answeredCall(), 1000);
  EXPECT_TRUE(out.empty());
  j.onMedia(media("call-1"), "released", 1100);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0]["legs"].size(), 2U);
  EXPECT_EQ(out[0]["end_reason"], "callee_bye");

  auto second = answeredCall();
  second.callId = "call-2";
  j.onMedia(media("call-2"), "media_timeout", 1200);
  j.onCall(std::move(second), 1200);
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[1]["source"], "sip");

  auto lone = answeredCall();
  lone.callId = "call-3";
  j.onCall(std::move(lone), 1300);
  j.onMedia(media("ng-4"), "ng_delete", 1400);
  EXPECT_EQ(j.nextDeadline(), 3300U);
  j.flush(3299);
  EXPECT_EQ(out.size(), 2U);
  j.flush(3400);
  ASSERT_EQ(out.size(), 4U);
  EXPECT_EQ(out[2]["call_id"], "call-3");
  EXPECT_TRUE(out[2]["legs"].empty());
  EXPECT_EQ(out[3]["source"], "ng");
  EXPECT_EQ(out[3]["end_reason"], "ng_delete");
  EXPECT_EQ(j.waiting(), 0U);
  EXPECT_EQ(j.nextDeadline(), UINT64_MAX);
}

class CdrWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rdv-cdr-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/cdr.jsonl";
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::vector<std::string> lines(const std::string& file) {
    std::vector<std::string> out;
    std::ifstream in(file);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  std::vector<std::string> rotatedFiles() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().string() != path_) out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string dir_, path_;
};

TEST_F(CdrWriterTest, AppendsLinesAndRotatesBySizeWithoutLosingAny) {
  CdrWriter w({path_, 200, 0, false, 100});
  for (int i = 0; i < 10; ++i) w.write(fmt::format("{{\"n\":{},\"pad\":\"{}\"}}", i, std::string(40, 'x')));
  w.sync();
  EXPECT_EQ(w.written().get(), 10U);
  EXPECT_GE(w.rotations().get(), 2U);
  std::vector<std::string> all;
  for (const auto& f : rotatedFiles()) {
    auto l = lines(f);
    EXPECT_LE(fs::file_size(f), 200U) << f;
    all.insert(all.end(), l.begin(), l.end());
  }
  auto current = lines(path_);
  all.insert(all.end(), current.begin(), current.end());
  ASSERT_EQ(all.size(), 10U);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(json::parse(all[i])["n"], i) << "in order, none lost";
}

TEST_F(CdrWriterTest, ReopenAfterLogrotateMovedTheFileWritesANewOne) {
  CdrWriter w({path_, 0, 0, false, 100});
  w.write("{\"n\":1}");
  w.sync();
  fs::rename(path_, path_ + ".1");  // what logrotate does before sending SIGUSR1
  w.write("{\"n\":2}");
  w.sync();
  w.reopen();
  w.write("{\"n\":3}");
  w.sync();
  EXPECT_EQ(lines(path_ + ".1"), (std::vector<std::string>{"{\"n\":1}", "{\"n\":2}"}));
  EXPECT_EQ(lines(path_), std::vector<std::string>{"{\"n\":3}"});
}

TEST_F(CdrWriterTest, AFullDiskIsCountedNeverFatal) {
  CdrWriter w({"/dev/full", 0, 0, false, 100});
  w.write("{\"n\":1}");
  w.write("{\"n\":2}");
  w.sync();
  EXPECT_EQ(w.writeErrors().get(), 2U);
  EXPECT_EQ(w.written().get(), 0U);
}

TEST_F(CdrWriterTest, AFullQueueDropsAndCounts) {
  CdrWriter w({path_, 0, 0, false, 0});
  w.write("{\"n\":1}");
  w.sync();
  EXPECT_EQ(w.dropped().get(), 1U);
  EXPECT_TRUE(lines(path_).empty());
}

}  // namespace
}  // namespace rdv::cdr
