#pragma once
// A self-signed P-256 certificate (CN 127.0.0.1) and its key written as PEM files into a fresh
// temporary directory, removed again on destruction; for SIP over TLS tests.

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace rdv::sip::test {

namespace fs = std::filesystem;

// A self-signed P-256 certificate and its key, written as PEM into a fresh directory.
struct CertFiles {
  fs::path dir;
  std::string cert;
  std::string key;
  std::string otherKey;  // a key that does not match `cert`

  CertFiles() {
    dir = fs::temp_directory_path() /
          ("rdv-tls-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::create_directories(dir);
    cert = (dir / "cert.pem").string();
    key = (dir / "key.pem").string();
    otherKey = (dir / "other.pem").string();
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    EVP_PKEY* other = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"),
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, pkey, EVP_sha256());
    write(cert, [&](FILE* f) { PEM_write_X509(f, x); });
    write(key, [&](FILE* f) { PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr); });
    write(otherKey, [&](FILE* f) { PEM_write_PrivateKey(f, other, nullptr, nullptr, 0, nullptr, nullptr); });
    X509_free(x);
    EVP_PKEY_free(pkey);
    EVP_PKEY_free(other);
  }
  ~CertFiles() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  CertFiles(const CertFiles&) = delete;
  CertFiles& operator=(const CertFiles&) = delete;

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  template <typename F>
  static void write(const std::string& path, F body) {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    body(f);
    std::fclose(f);
  }
};

}  // namespace rdv::sip::test
