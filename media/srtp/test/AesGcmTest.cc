// AesGcm (AES-NI + PCLMULQDQ) against the GCM spec's test vectors and, on random inputs, against
// OpenSSL's EVP aes-128-gcm / aes-256-gcm; open() must refuse any flipped bit before it decrypts.
// Skipped on a CPU without AES-NI or PCLMULQDQ (CompactSrtp keeps EVP there).
#include "media/srtp/AesGcm.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <random>
#include <string>
#include <vector>

#include "media/srtp/test/SrtpTestUtil.h"

namespace rdv::srtp::detail {
namespace {

using test::Bytes;
using test::fromHex;

struct Sealed {
  Bytes ciphertext;
  Bytes tag;
};

Sealed sealWith(const AesGcm& gcm, const Bytes& iv, const Bytes& aad, Bytes payload) {
  Sealed s{std::move(payload), Bytes(AesGcm::kTagLength)};
  gcm.seal(std::span(iv).first<AesGcm::kIvLength>(), aad, s.ciphertext,
           std::span(s.tag).first<AesGcm::kTagLength>());
  return s;
}

bool openWith(const AesGcm& gcm, const Bytes& iv, const Bytes& aad, Bytes& payload, const Bytes& tag) {
  return gcm.open(std::span(iv).first<AesGcm::kIvLength>(), aad, payload,
                  std::span(tag).first<AesGcm::kTagLength>());
}

// The reference: OpenSSL EVP, one-shot.
Sealed evpSeal(const Bytes& key, const Bytes& iv, const Bytes& aad, const Bytes& plain) {
  const auto u = [](const Bytes& b) { return reinterpret_cast<const unsigned char*>(b.data()); };
  Sealed s{Bytes(plain.size()), Bytes(AesGcm::kTagLength)};
  std::array<unsigned char, 16> none{};
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  int n = 0;
  const bool ok = EVP_EncryptInit_ex(c, key.size() == 32 ? EVP_aes_256_gcm() : EVP_aes_128_gcm(), nullptr,
                                     u(key), u(iv)) == 1 &&
                  EVP_EncryptUpdate(c, nullptr, &n, u(aad), static_cast<int>(aad.size())) == 1 &&
                  EVP_EncryptUpdate(c, reinterpret_cast<unsigned char*>(s.ciphertext.data()), &n, u(plain),
                                    static_cast<int>(plain.size())) == 1 &&
                  EVP_EncryptFinal_ex(c, none.data(), &n) == 1 &&
                  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, s.tag.data()) == 1;
  EVP_CIPHER_CTX_free(c);
  EXPECT_TRUE(ok);
  return s;
}

Bytes randomBytes(std::mt19937& rng, size_t n) {
  Bytes b(n);
  for (auto& x : b) x = std::byte(rng() & 0xff);
  return b;
}

class AesGcmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!AesGcm::supported()) GTEST_SKIP() << "no AES-NI or PCLMULQDQ: CompactSrtp keeps EVP";
  }
};

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases 1-4 (AES-128) and
// 13-16 (AES-256): the ones with 96-bit IVs. Empty plaintext, one zero block, 64 bytes without
// AAD, 60 bytes with 20 bytes of AAD.
TEST_F(AesGcmTest, McGrewViegaTestCasesWith96BitIvs) {
  const std::string p =
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
  const std::string a = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
  const std::string k = "feffe9928665731c6d6a8f9467308308";
  const std::string iv = "cafebabefacedbaddecaf888";
  const std::string zeroIv(24, '0');
  const std::string c3 =
      "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
      "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985";
  const std::string c15 =
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";
  struct Case {
    int number;
    std::string key, plain, aad, iv, cipher, tag;
  };
  const std::vector<Case> cases{
      {1, std::string(32, '0'), "", "", zeroIv, "", "58e2fccefa7e3061367f1d57a4e7455a"},
      {2, std::string(32, '0'), std::string(32, '0'), "", zeroIv, "0388dace60b6a392f328c2b971b2fe78",
       "ab6e47d42cec13bdf53a67b21257bddf"},
      {3, k, p, "", iv, c3, "4d5c2af327cd64a62cf35abd2ba6fab4"},
      {4, k, p.substr(0, 120), a, iv, c3.substr(0, 120), "5bc94fbc3221a5db94fae95ae7121a47"},
      {13, std::string(64, '0'), "", "", zeroIv, "", "530f8afbc74536b9a963b4f1c4cb738b"},
      {14, std::string(64, '0'), std::string(32, '0'), "", zeroIv, "cea7403d4d606b6e074ec5d3baf39d18",
       "d0d1c8a799996bf0265b98b5d48ab919"},
      {15, k + k, p, "", iv, c15, "b094dac5d93471bdec1a502270e3cc6c"},
      {16, k + k, p.substr(0, 120), a, iv, c15.substr(0, 120), "76fc6ece0f4e1768cddf8853bb2d551b"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("test case " + std::to_string(c.number));
    const AesGcm gcm(fromHex(c.key));
    const Sealed s = sealWith(gcm, fromHex(c.iv), fromHex(c.aad), fromHex(c.plain));
    EXPECT_EQ(s.ciphertext, fromHex(c.cipher));
    EXPECT_EQ(s.tag, fromHex(c.tag));
    Bytes opened = fromHex(c.cipher);
    EXPECT_TRUE(openWith(gcm, fromHex(c.iv), fromHex(c.aad), opened, fromHex(c.tag)));
    EXPECT_EQ(opened, fromHex(c.plain));
  }
}

// Every payload length 0..80 (all partial-block and 4-block-batch boundaries), then steps to 1600,
// AAD of 0..100 bytes, random keys and IVs (fixed seed), both key sizes: the same ciphertext and
// tag as EVP, and open() restores the plaintext.
TEST_F(AesGcmTest, SealsLikeOpenSslEvpForEveryLengthAndOpensItsOutput) {
  std::mt19937 rng(20261207);
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 80; ++n) lengths.push_back(n);
  for (size_t n = 81; n < 1600; n += 37) lengths.push_back(n);
  lengths.push_back(1600);
  for (const size_t keyLength : {size_t{16}, size_t{32}}) {
    for (size_t round = 0; round < 2; ++round) {
      for (const size_t n : lengths) {
        SCOPED_TRACE("key " + std::to_string(keyLength) + " payload " + std::to_string(n));
        const Bytes key = randomBytes(rng, keyLength);
        const Bytes iv = randomBytes(rng, AesGcm::kIvLength);
        const Bytes aad = randomBytes(rng, rng() % 101);
        const Bytes plain = randomBytes(rng, n);
        const AesGcm gcm(key);
        const Sealed ours = sealWith(gcm, iv, aad, plain);
        const Sealed evp = evpSeal(key, iv, aad, plain);
        ASSERT_EQ(ours.ciphertext, evp.ciphertext) << "aad " << aad.size();
        ASSERT_EQ(ours.tag, evp.tag) << "aad " << aad.size();
        Bytes opened = ours.ciphertext;
        ASSERT_TRUE(openWith(gcm, iv, aad, opened, ours.tag));
        ASSERT_EQ(opened, plain);
      }
    }
  }
}

TEST_F(AesGcmTest, EveryAadLengthUpTo100MatchesOpenSslEvp) {
  std::mt19937 rng(7714);
  for (const size_t keyLength : {size_t{16}, size_t{32}}) {
    for (size_t a = 0; a <= 100; ++a) {
      const Bytes key = randomBytes(rng, keyLength);
      const Bytes iv = randomBytes(rng, AesGcm::kIvLength);
      const Bytes aad = randomBytes(rng, a);
      const Bytes plain = randomBytes(rng, rng() % 200);
      const Sealed ours = sealWith(AesGcm(key), iv, aad, plain);
      const Sealed evp = evpSeal(key, iv, aad, plain);
      ASSERT_EQ(ours.ciphertext, evp.ciphertext) << "aad " << a;
      ASSERT_EQ(ours.tag, evp.tag) << "aad " << a;
    }
  }
}

// A flipped bit anywhere — AAD, ciphertext, tag — fails open() and leaves the payload as it came:
// the tag is checked before anything is decrypted.
TEST_F(AesGcmTest, OpenRefusesAnyFlippedBitAndLeavesThePayloadUntouched) {
  std::mt19937 rng(3711);
  for (const size_t keyLength : {size_t{16}, size_t{32}}) {
    for (const size_t n : {size_t{0}, size_t{1}, size_t{37}, size_t{64}, size_t{100}}) {
      const Bytes key = randomBytes(rng, keyLength);
      const Bytes iv = randomBytes(rng, AesGcm::kIvLength);
      const Bytes aad = randomBytes(rng, 12 + n % 17);
      const AesGcm gcm(key);
      const Sealed s = sealWith(gcm, iv, aad, randomBytes(rng, n));
      // The three inputs one after the other as one bit string: flip bit `bit` of it.
      const size_t total = 8 * (aad.size() + n + AesGcm::kTagLength);
      for (size_t bit = 0; bit < total; ++bit) {
        Bytes a = aad;
        Bytes payload = s.ciphertext;
        Bytes tag = s.tag;
        const size_t byte = bit / 8;
        const auto mask = std::byte(1u << (bit % 8));
        if (byte < a.size()) {
          a[byte] ^= mask;
        } else if (byte < a.size() + n) {
          payload[byte - a.size()] ^= mask;
        } else {
          tag[byte - a.size() - n] ^= mask;
        }
        const Bytes before = payload;
        ASSERT_FALSE(openWith(gcm, iv, a, payload, tag))
            << "key " << keyLength << " payload " << n << " bit " << bit;
        ASSERT_EQ(payload, before) << "bit " << bit;
      }
      Bytes wrongIv = iv;
      wrongIv[11] ^= std::byte{0x80};
      Bytes payload = s.ciphertext;
      EXPECT_FALSE(openWith(gcm, wrongIv, aad, payload, s.tag));
      EXPECT_EQ(payload, s.ciphertext);
    }
  }
}

TEST_F(AesGcmTest, UnkeyedUntilAssignedAKey) {
  AesGcm gcm;
  EXPECT_FALSE(gcm.keyed());
  gcm = AesGcm(Bytes(16));
  EXPECT_TRUE(gcm.keyed());
  EXPECT_EQ(sealWith(gcm, Bytes(12), {}, {}).tag, fromHex("58e2fccefa7e3061367f1d57a4e7455a"));
}

}  // namespace
}  // namespace rdv::srtp::detail
