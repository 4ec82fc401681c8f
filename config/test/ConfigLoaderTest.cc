#include "config/ConfigLoader.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include "config/ConfigKeys.h"

namespace rdv::config {
namespace {

std::string readFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ConfigLoader, DefaultFileMatchesEmbeddedDefaultsAndDocumentsEveryKey) {
  std::string text = readFile(RDV_DEFAULT_TOML);
  ASSERT_FALSE(text.empty());
  Config fromFile;
  // Start from values that differ from every default, so each key must come from the file.
  for (const auto& k : allKeys()) {
    if (k.type == KeyType::String) k.str(fromFile) = "sentinel";
    else k.num(fromFile) = 7;
  }
  std::vector<ConfigError> errors;
  applyToml(fromFile, text, "rendezvous.toml", errors);
  ASSERT_TRUE(errors.empty()) << errors.front().str();
  Config defaults;
  for (const auto& k : allKeys()) {
    EXPECT_EQ(formatValue(k, fromFile), formatValue(k, defaults)) << k.name;
  }
}

TEST(ConfigLoader, ReportsUnknownKeyWithLine) {
  Config c;
  std::vector<ConfigError> errors;
  applyToml(c, "[relay]\nport_min = 40000\nbogus = 1\n", "x.toml", errors);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].str(), "x.toml:3: unknown key 'relay.bogus'");
  EXPECT_EQ(c.relay.portMin, 40000U);
}

TEST(ConfigLoader, ReportsSyntaxErrorWithLine) {
  Config c;
  std::vector<ConfigError> errors;
  applyToml(c, "[relay]\nport_min = \n", "y.toml", errors);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].line, 2U);
  EXPECT_NE(errors[0].str().find("y.toml:2:"), std::string::npos);
}

TEST(ConfigLoader, RejectsWrongTypeAndOutOfRange) {
  Config c;
  std::vector<ConfigError> errors;
  applyToml(c, "[relay]\nport_min = \"low\"\nport_max = 70000\n", "z.toml", errors);
  ASSERT_EQ(errors.size(), 2U);
  EXPECT_EQ(errors[0].line, 2U);
  EXPECT_EQ(errors[1].line, 3U);
  EXPECT_NE(errors[1].message.find("outside"), std::string::npos);
}

TEST(ConfigLoader, SetOverridesAnyKey) {
  Config c;
  std::vector<ConfigError> errors;
  applySet(c, "relay.port_min=40000", errors);
  applySet(c, "ng.listen=127.0.0.1:2299", errors);
  applySet(c, "metrics.listen=", errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(c.relay.portMin, 40000U);
  EXPECT_EQ(c.ng.listen, "127.0.0.1:2299");
  EXPECT_TRUE(c.metrics.listen.empty());
  applySet(c, "relay.workers=many", errors);
  applySet(c, "nope.key=1", errors);
  applySet(c, "novalue", errors);
  EXPECT_EQ(errors.size(), 3U);
}

TEST(ConfigLoader, ValidateRejectsInvertedPortRangeAndBadAddresses) {
  Config c;
  c.relay.portMin = 40000;
  c.relay.portMax = 30000;
  c.relay.interface = "not-an-ip";
  c.ng.listen = "127.0.0.1";
  c.log.level = "loud";
  std::vector<ConfigError> errors;
  validate(c, errors);
  EXPECT_EQ(errors.size(), 4U);
  std::vector<ConfigError> none;
  validate(Config{}, none);
  EXPECT_TRUE(none.empty());
}

TEST(ConfigLoader, MediaEncryptTakesOnlyTheFourPolicies) {
  Config c;
  std::vector<ConfigError> errors;
  applyToml(c, "[media]\nencrypt_caller = \"require\"\nencrypt_callee = \"never\"\n", "t.toml", errors);
  ASSERT_TRUE(errors.empty()) << errors.front().str();
  EXPECT_EQ(c.sip.media.encryptCaller, "require");
  EXPECT_EQ(c.sip.media.encryptCallee, "never");
  validate(c, errors);
  EXPECT_TRUE(errors.empty());
  applySet(c, "media.encrypt_callee=mandatory", errors);
  validate(c, errors);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_NE(errors[0].message.find("media.encrypt_callee"), std::string::npos) << errors[0].message;
}

TEST(ConfigLoader, DtlsCertificateAndKeyGoTogether) {
  Config c;
  std::vector<ConfigError> errors;
  applyToml(c, "[media]\ndtls_certificate = \"/etc/rdv/dtls.pem\"\n", "t.toml", errors);
  ASSERT_TRUE(errors.empty()) << errors.front().str();
  EXPECT_EQ(c.sip.media.dtlsCertificate, "/etc/rdv/dtls.pem");
  validate(c, errors);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_NE(errors[0].message.find("media.dtls_private_key"), std::string::npos) << errors[0].message;
  errors.clear();
  applySet(c, "media.dtls_private_key=/etc/rdv/dtls.key", errors);
  validate(c, errors);
  EXPECT_TRUE(errors.empty());
}

TEST(ConfigLoader, ValidateRequiresCertificateAndKeyForTlsListen) {
  Config c;
  c.sip.tlsListen = "127.0.0.1:5061";
  std::vector<ConfigError> errors;
  validate(c, errors);
  ASSERT_EQ(errors.size(), 2U);
  EXPECT_NE(errors[0].message.find("sip.tls_cert"), std::string::npos);
  EXPECT_NE(errors[1].message.find("sip.tls_key"), std::string::npos);
  c.sip.tlsCert = "/etc/rendezvous/cert.pem";
  c.sip.tlsKey = "/etc/rendezvous/key.pem";
  std::vector<ConfigError> none;
  validate(c, none);
  EXPECT_TRUE(none.empty());
  c.sip.tlsListen = "localhost";
  std::vector<ConfigError> bad;
  validate(c, bad);
  ASSERT_EQ(bad.size(), 1U);
  EXPECT_NE(bad[0].message.find("sip.tls_listen"), std::string::npos);
}

TEST(ConfigLoader, ValidateChecksWebSocketListenersAndTheWssCertificate) {
  Config c;
  c.sip.wsListen = "127.0.0.1:8088";
  std::vector<ConfigError> none;
  validate(c, none);
  EXPECT_TRUE(none.empty());
  c.sip.wsListen = "8088";
  c.sip.wssListen = "127.0.0.1:8089";
  std::vector<ConfigError> errors;
  validate(c, errors);
  ASSERT_EQ(errors.size(), 2U);
  EXPECT_NE(errors[0].message.find("sip.ws_listen"), std::string::npos) << errors[0].message;
  EXPECT_NE(errors[1].message.find("sip.tls_cert"), std::string::npos) << errors[1].message;
  c.sip.wsListen.clear();
  c.sip.tlsCert = "/etc/rendezvous/cert.pem";
  c.sip.tlsKey = "/etc/rendezvous/key.pem";
  std::vector<ConfigError> ok;
  validate(c, ok);
  EXPECT_TRUE(ok.empty());
}

// Messages of `cfg`'s validation problems.
std::vector<std::string> problems(const Config& cfg) {
  std::vector<ConfigError> errors;
  validate(cfg, errors);
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(e.message);
  return out;
}

TEST(ConfigLoader, ApiBeyondLoopbackNeedsAToken) {
  Config c;
  c.api.listen = "0.0.0.0:8080";
  auto open = problems(c);
  ASSERT_EQ(open.size(), 1U);
  EXPECT_NE(open[0].find("api.token"), std::string::npos) << open[0];
  c.api.token = "t";
  EXPECT_TRUE(problems(c).empty());
  c.api.token.clear();
  for (const char* loopback : {"127.0.0.1:8080", "127.0.0.2:0", "[::1]:8080", ""}) {
    c.api.listen = loopback;
    EXPECT_TRUE(problems(c).empty()) << loopback;
  }
  c.api.listen = "[2001:db8::1]:8080";
  EXPECT_EQ(problems(c).size(), 1U) << "IPv6 beyond ::1 too";
  c.api.listen = "localhost:8080";
  auto bad = problems(c);
  ASSERT_EQ(bad.size(), 1U);
  EXPECT_EQ(bad[0], "api.listen 'localhost:8080' is not host:port");
}

TEST(ConfigLoader, LoadAppliesTheFileThenTheSetsThenValidates) {
  const std::string path = ::testing::TempDir() + "rdv-load-test-" + std::to_string(::getpid()) + ".toml";
  {
    std::ofstream f(path);
    f << "[log]\nlevel = \"debug\"\n[relay]\nbatch = 8\n";
  }
  std::vector<ConfigError> errors;
  Config c = load(ConfigSource{path, {"relay.batch=16"}}, errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.relay.batch, 16U) << "--set wins over the file";

  std::vector<ConfigError> invalid;
  load(ConfigSource{path, {"relay.port_min=50000", "relay.port_max=40000"}}, invalid);
  ASSERT_EQ(invalid.size(), 1U) << "validate() ran";

  std::vector<ConfigError> missing;
  load(ConfigSource{path + ".absent", {}}, missing);
  ASSERT_EQ(missing.size(), 1U);
  EXPECT_EQ(missing[0].str(), path + ".absent: cannot open");
}

TEST(ConfigKeys, ChangedKeysNamesEachDifferingKeyInTableOrder) {
  Config a;
  Config b;
  EXPECT_TRUE(changedKeys(a, b).empty());
  b.log.level = "debug";
  b.relay.portMin = 40000;
  b.api.token = "secret";
  b.sip.users["alice"] = "pw";
  EXPECT_EQ(changedKeys(a, b),
            (std::vector<std::string>{"relay.port_min", "api.token", "log.level", "sip.users"}));
}

TEST(ConfigLoader, ConferenceRoomsAreDeclaredWithPinAndSizeAndBadSpecsNameTheLine) {
  Config c;
  std::vector<ConfigError> errors;
  applyToml(c, "[conference.rooms]\nboard = \"4711\"\nlobby = \"/20\"\nquiet = \"\"\nbad = \"12a4\"\n", "x.toml", errors);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].line, 5U);
  EXPECT_NE(errors[0].message.find("conference.rooms.bad"), std::string::npos) << errors[0].message;
  ASSERT_EQ(c.conference.rooms.size(), 3U);
  auto board = parseRoomSpec(c.conference.rooms["board"]);
  ASSERT_TRUE(board);
  EXPECT_EQ(board->pin, "4711");
  EXPECT_EQ(board->maxParticipants, 0U);
  auto lobby = parseRoomSpec(c.conference.rooms["lobby"]);
  ASSERT_TRUE(lobby);
  EXPECT_EQ(lobby->pin, "");
  EXPECT_EQ(lobby->maxParticipants, 20U);
  for (const char* bad : {"/0", "/x", "1/2/3", "12345678901234567", "/100001"}) EXPECT_FALSE(parseRoomSpec(bad)) << bad;
  errors.clear();
  applySet(c, "conference.rooms.x=/abc", errors);
  ASSERT_EQ(errors.size(), 1U);
  applySet(c, "conference.rooms.y=99/3", errors);
  EXPECT_EQ(errors.size(), 1U);
  EXPECT_EQ(c.conference.rooms["y"], "99/3");
}

TEST(ConfigLoader, AdaptiveEncodingNeedsItsLowThresholdBelowItsHighOne) {
  Config c;
  std::vector<ConfigError> errors;
  applyToml(c, "[conference]\nadaptive_encoding = 0\nadaptive_high_percent = 70\nadaptive_low_percent = 60\n", "x.toml",
            errors);
  ASSERT_TRUE(errors.empty());
  EXPECT_EQ(c.conference.adaptiveEncoding, 0U);
  validate(c, errors);
  EXPECT_TRUE(errors.empty());
  applySet(c, "conference.adaptive_low_percent=70", errors);
  validate(c, errors);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_NE(errors[0].message.find("adaptive_low_percent"), std::string::npos) << errors[0].message;
  EXPECT_EQ(Config{}.conference.adaptiveEncoding, 1U) << "on by default";
}

// 0 = automatic: 55/45 for ordinary mixer threads, 45/35 for realtime ones (their busy time is CPU
// nobody else gets); an explicit mark stays, and the automatic low mark follows an explicit high.
TEST(ConfigLoader, AdaptiveMarksDefaultLowerForRealtimeMixers) {
  Config c;
  EXPECT_EQ(c.conference.adaptiveHigh(), 55U);
  EXPECT_EQ(c.conference.adaptiveLow(), 45U);
  std::vector<ConfigError> errors;
  applySet(c, "conference.realtime_priority=10", errors);
  EXPECT_EQ(c.conference.adaptiveHigh(), 45U);
  EXPECT_EQ(c.conference.adaptiveLow(), 35U);
  applySet(c, "conference.adaptive_high_percent=70", errors);
  EXPECT_EQ(c.conference.adaptiveHigh(), 70U);
  EXPECT_EQ(c.conference.adaptiveLow(), 60U);
  validate(c, errors);
  EXPECT_TRUE(errors.empty());
  applySet(c, "conference.adaptive_high_percent=5", errors);
  validate(c, errors);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_NE(errors[0].message.find("at least 10"), std::string::npos) << errors[0].message;
}

TEST(ConfigLoader, TickSlotsMustDivideThePeriod) {
  Config c;
  EXPECT_EQ(c.conference.tickSlots, 4U);
  std::vector<ConfigError> errors;
  applySet(c, "conference.tick_slots=5", errors);
  validate(c, errors);
  EXPECT_TRUE(errors.empty());
  applySet(c, "conference.tick_slots=3", errors);
  validate(c, errors);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_NE(errors[0].message.find("conference.tick_slots (3) must divide"), std::string::npos) << errors[0].message;
}

TEST(ConfigLoader, PresenceBuddyListsAreCheckedAndBadOnesNameTheLine) {
  Config c;
  std::vector<ConfigError> errors;
  applyToml(c, "[presence]\npolite_block = 1\n[presence.lists]\nalice = \"bob,carol\"\nbob = \"a b\"\n",
            "x.toml", errors);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].line, 5U);
  EXPECT_NE(errors[0].message.find("presence.lists.bob"), std::string::npos) << errors[0].message;
  EXPECT_EQ(c.sip.presence.lists["alice"], "bob,carol");
  EXPECT_EQ(c.sip.presence.politeBlock, 1U);
  errors.clear();
  applySet(c, "presence.lists.carol=dave,", errors);
  EXPECT_EQ(errors.size(), 1U);
  applySet(c, "presence.polite_block=2", errors);
  EXPECT_EQ(errors.size(), 2U);
  Config d = c;
  d.sip.presence.lists["carol"] = "alice";
  EXPECT_EQ(changedKeys(c, d), std::vector<std::string>{"presence.lists"});
  d = c;
  d.sip.presence.minExpires = 7200;
  validate(d, errors);
  EXPECT_EQ(errors.size(), 3U);
}

}  // namespace
}  // namespace rdv::config
