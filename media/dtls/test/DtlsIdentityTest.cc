// DtlsIdentity: a generated certificate, PEM files loaded, bad files refused with their name.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "media/dtls/DtlsEndpoint.h"
#include "media/dtls/DtlsIdentity.h"
#include "media/dtls/test/DtlsTestPair.h"

namespace rdv::dtls {
namespace {

// A scratch directory removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/rdv-dtls-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const char* name) const { return (path / name).string(); }
};

// Writes a self-signed ECDSA certificate and its key as PEM (what an operator would configure).
void writePem(const std::string& certFile, const std::string& keyFile) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_sign(cert, key, EVP_sha256());
  FILE* f = std::fopen(certFile.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(keyFile.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

TEST(DtlsIdentity, GeneratedFingerprintIsSha256InUpperCaseHexPairs) {
  auto id = DtlsIdentity::generate();
  ASSERT_TRUE(id) << id.error();
  EXPECT_TRUE(std::regex_match((*id)->fingerprint(), std::regex("sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}")))
      << (*id)->fingerprint();
  auto other = DtlsIdentity::generate();
  ASSERT_TRUE(other);
  EXPECT_NE((*id)->fingerprint(), (*other)->fingerprint()) << "a fresh key each time";
}

TEST(DtlsIdentity, LoadsPemFilesAndHandshakesWithThem) {
  TempDir dir;
  writePem(dir.file("cert.pem"), dir.file("key.pem"));
  auto loaded = DtlsIdentity::load(dir.file("cert.pem"), dir.file("key.pem"));
  ASSERT_TRUE(loaded) << loaded.error();
  auto peer = test::identity();
  auto server = test::endpoint(**loaded, *peer, Role::Server);
  auto client = test::endpoint(*peer, **loaded, Role::Client);
  client->start(1);
  test::shuttle(*client, *server, 1);
  EXPECT_EQ(client->state(), State::Connected) << "the client checked the loaded certificate's fingerprint";
}

TEST(DtlsIdentity, MissingOrBadFilesAreRefusedByName) {
  TempDir dir;
  writePem(dir.file("cert.pem"), dir.file("key.pem"));
  writePem(dir.file("cert2.pem"), dir.file("key2.pem"));
  std::ofstream(dir.file("junk.pem")) << "not a PEM file\n";

  auto missing = DtlsIdentity::load(dir.file("nope.pem"), dir.file("key.pem"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("nope.pem"), std::string::npos) << missing.error();

  auto junkCert = DtlsIdentity::load(dir.file("junk.pem"), dir.file("key.pem"));
  ASSERT_FALSE(junkCert);
  EXPECT_NE(junkCert.error().find("junk.pem"), std::string::npos) << junkCert.error();

  auto junkKey = DtlsIdentity::load(dir.file("cert.pem"), dir.file("junk.pem"));
  ASSERT_FALSE(junkKey);
  EXPECT_NE(junkKey.error().find("junk.pem"), std::string::npos) << junkKey.error();

  auto mismatched = DtlsIdentity::load(dir.file("cert.pem"), dir.file("key2.pem"));
  ASSERT_FALSE(mismatched);
  EXPECT_NE(mismatched.error().find("key2.pem"), std::string::npos) << mismatched.error();
}

}  // namespace
}  // namespace rdv::dtls
