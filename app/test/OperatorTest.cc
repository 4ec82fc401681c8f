// Operator: readiness (draining, relay out of ports), drain state pushed to the NG handler, exit
// when idle only after the last reply, and reload (refused whole on errors, log.level applied,
// every other change reported as needing a restart, the running config untouched by those).

#include "app/Operator.h"

#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <fstream>

#include "relay/RelayControl.h"
#include "relay/test/TestPeer.h"
#include "signaling/anchor/MediaAnchor.h"
#include "signaling/ng/NgHandler.h"
#include "signaling/sip/SipTransport.h"
#include "signaling/sip/test/TestCertificate.h"

namespace rdv::app {
namespace {

constexpr const char* kSdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                             "m=audio 40000 RTP/AVP 0\r\n";

class OperatorTest : public ::testing::Test {
 protected:
  void TearDown() override { spdlog::set_level(spdlog::level::info); }

  void writeConfig(const std::string& text) {
    std::ofstream(path_) << text;
  }
  // Deletes `callId` and runs the relay's reply (bounded wait), as the control loop would.
  void deleteCall(const std::string& callId) {
    bool done = false;
    anchor_.remove(anchor::DeleteRequest{callId, {}, {}, {}}, [&](auto) { done = true; });
    EXPECT_FALSE(op_.exitDue()) << "the delete's reply is still to come";
    for (int i = 0; i < 200 && !done; ++i) {
      pollfd p{relay_.replyFd(), POLLIN, 0};
      ::poll(&p, 1, 10);
      relay_.drainReplies();
    }
    ASSERT_TRUE(done);
  }

  relay::RelayOptions opts_ = relay::test::loopbackOptions(2);  // room for one call
  relay::RelayControl relay_{opts_};
  common::ManualClock clock_;
  anchor::MediaAnchor anchor_{relay_, "127.0.0.1", clock_};
  ng::NgHandler ng_{anchor_};
  // One file per test and process: CTest runs the cases in parallel.
  std::string path_ = ::testing::TempDir() + "rdv-operator-" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
                      std::to_string(::getpid()) + ".toml";
  config::Config running_;
  Operator op_{running_, config::ConfigSource{path_, {"relay.workers=2"}},
               Operator::Planes{relay_, anchor_, ng_, nullptr, nullptr}};
};

TEST_F(OperatorTest, ReadyUntilTheRelayRunsOutOfPortsOrDrains) {
  EXPECT_EQ(op_.ready().status, 200);
  EXPECT_EQ(op_.ready().body, nlohmann::json({{"ready", true}}));
  ASSERT_TRUE(anchor_.offer("c1", "a", kSdp, {}));
  auto full = op_.ready();
  EXPECT_EQ(full.status, 503);
  EXPECT_EQ(full.body, nlohmann::json({{"ready", false}, {"reason", "no free relay ports"}}));
  deleteCall("c1");
  op_.drain(false);
  EXPECT_EQ(op_.ready().body, nlohmann::json({{"ready", false}, {"reason", "draining"}}));
  op_.undrain();
  EXPECT_EQ(op_.ready().status, 200);
}

TEST_F(OperatorTest, DrainWithExitWaitsForTheLastCallAndItsReply) {
  ASSERT_TRUE(anchor_.offer("c1", "a", kSdp, {}));
  auto r = op_.drain(true);
  EXPECT_EQ(r.body["active_calls"], 1);
  EXPECT_FALSE(op_.exitDue());
  deleteCall("c1");
  EXPECT_TRUE(op_.exitDue());
  op_.undrain();
  EXPECT_FALSE(op_.exitDue()) << "undrain cancels the exit";
}

TEST_F(OperatorTest, ReloadAppliesLogLevelAndListsTheRestAsRestartRequired) {
  writeConfig("[log]\nlevel = \"debug\"\n[relay]\nbatch = 16\nworkers = 4\n");
  auto r = op_.reload("test");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["applied"], nlohmann::json({"log.level"}));
  EXPECT_EQ(r.body["restart_required"], nlohmann::json({"relay.workers", "relay.batch"}))
      << "relay.workers=2 from --set wins over the file's 4";
  EXPECT_EQ(running_.log.level, "debug");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  EXPECT_EQ(running_.relay.batch, 32U) << "not applied, so the running config keeps it";
  auto again = op_.reload("test");
  EXPECT_EQ(again.body["applied"], nlohmann::json::array());
  EXPECT_EQ(again.body["restart_required"], nlohmann::json({"relay.workers", "relay.batch"}))
      << "still differs from what runs";
}

TEST_F(OperatorTest, BadFileIsRefusedWholeWithFileLineErrors) {
  writeConfig("[log]\nlevel = \"warn\"\n[relay]\nport_min = 5\n");
  auto r = op_.reload("test");
  EXPECT_EQ(r.status, 400);
  ASSERT_EQ(r.body["errors"].size(), 1U) << r.body.dump();
  EXPECT_EQ(r.body["errors"][0].get<std::string>().rfind(path_ + ":4: relay.port_min", 0), 0U) << r.body.dump();
  EXPECT_EQ(running_.log.level, "info") << "the valid log.level of a refused file is not applied";
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::info);
}

// SIP over TLS listening with `first_`'s certificate, as Server starts it.
class OperatorTlsTest : public OperatorTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sip_.listen("127.0.0.1:0"));
    ASSERT_TRUE(sip_.listenTls("127.0.0.1:0", first_.cert, first_.key));
    running_.relay.workers = 2;
    running_.sip.listen = "127.0.0.1:5060";
    running_.sip.tlsListen = "127.0.0.1:5061";
    running_.sip.tlsCert = first_.cert;
    running_.sip.tlsKey = first_.key;
  }
  void writeTlsConfig(const std::string& level, const std::string& cert, const std::string& key) {
    writeConfig("[log]\nlevel = \"" + level + "\"\n[sip]\nlisten = \"127.0.0.1:5060\"\n" +
                "tls_listen = \"127.0.0.1:5061\"\ntls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"\n");
  }

  sip::test::CertFiles first_;
  sip::test::CertFiles second_;
  sip::SipTransport sip_{[](sip::SipMessage&&, const sip::SipPeer&) {}, [](uint64_t) {}, clock_};
  Operator tlsOp_{running_, config::ConfigSource{path_, {"relay.workers=2"}},
                  Operator::Planes{relay_, anchor_, ng_, nullptr, &sip_}};
};

TEST_F(OperatorTlsTest, EveryReloadRereadsTheCertificateAndAppliesChangedFileNames) {
  writeTlsConfig("info", first_.cert, first_.key);
  auto r = tlsOp_.reload("test");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["tls_certificate"], "reloaded") << "same names: the files are read again (renewal)";
  EXPECT_EQ(r.body["applied"], nlohmann::json::array());

  writeTlsConfig("info", second_.cert, second_.key);
  r = tlsOp_.reload("test");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["tls_certificate"], "reloaded");
  EXPECT_EQ(r.body["applied"], nlohmann::json({"sip.tls_cert", "sip.tls_key"}));
  EXPECT_EQ(r.body["failed"], nlohmann::json::array());
  EXPECT_EQ(running_.sip.tlsCert, second_.cert);
  EXPECT_EQ(running_.sip.tlsKey, second_.key);
}

TEST_F(OperatorTlsTest, AFailedCertificateKeepsTheOldNamesAndOtherKeysStillApply) {
  writeTlsConfig("debug", first_.cert, second_.key);
  auto r = tlsOp_.reload("test");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_NE(r.body["tls_certificate"].get<std::string>().find(second_.key), std::string::npos)
      << r.body.dump();
  EXPECT_EQ(r.body["failed"], nlohmann::json({"sip.tls_key"}));
  EXPECT_EQ(r.body["applied"], nlohmann::json({"log.level"}));
  EXPECT_EQ(r.body["restart_required"], nlohmann::json::array());
  EXPECT_EQ(running_.sip.tlsKey, first_.key);
  EXPECT_EQ(running_.log.level, "debug");
}

TEST(OperatorWithoutFile, ReloadSaysThereIsNothingToReRead) {
  relay::RelayOptions opts = relay::test::loopbackOptions(2);
  relay::RelayControl relay(opts);
  common::ManualClock clock;
  anchor::MediaAnchor anchor(relay, "127.0.0.1", clock);
  ng::NgHandler ng(anchor);
  config::Config running;
  Operator op(running, config::ConfigSource{}, Operator::Planes{relay, anchor, ng, nullptr, nullptr});
  EXPECT_EQ(op.reload("test").status, 409);
}

}  // namespace
}  // namespace rdv::app
