// AES-GCM on AES-NI and PCLMULQDQ. GHASH follows Intel's white paper "Intel Carry-Less
// Multiplication Instruction and its Usage for Computing the GCM Mode" (Gueron, Kounavis): blocks
// are byte-reflected with PSHUFB so that a register holds the block as a big-endian integer, the
// 128x128-bit carry-less product is taken schoolbook (four PCLMULQDQ), shifted left by one bit
// (the reflected product is one bit short) and reduced modulo x^128 + x^7 + x^2 + x + 1 with
// shifts. Four blocks share one reduction: Y' = (Y ^ X1)·H^4 ^ X2·H^3 ^ X3·H^2 ^ X4·H, so the
// unreduced products are summed first (multiplication, shift and reduction are linear).
//
// Every function that uses the instructions carries RDV_GCM_TARGET; the member functions do not
// (GCC would take a target attribute on them for function multiversioning), they call into these.
#include "media/srtp/AesGcm.h"

#include <immintrin.h>
#include <openssl/crypto.h>
#include <wmmintrin.h>

#include <cassert>
#include <cstring>

namespace rdv::srtp::detail {

namespace {

#define RDV_GCM_TARGET __attribute__((target("aes,pclmul,sse4.1,ssse3")))

RDV_GCM_TARGET inline __m128i load(const void* p) {
  return _mm_loadu_si128(static_cast<const __m128i*>(p));
}

RDV_GCM_TARGET inline void store(void* p, __m128i v) {
  _mm_storeu_si128(static_cast<__m128i*>(p), v);
}

RDV_GCM_TARGET inline __m128i xor128(__m128i a, __m128i b) {
  return _mm_xor_si128(a, b);
}

// Byte order reversed: block bytes b0..b15 become the integer b0·2^120 + … + b15.
RDV_GCM_TARGET inline __m128i reflect(__m128i v) {
  return _mm_shuffle_epi8(v, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

// ---- AES (FIPS 197) ----

// Each 32-bit word XORed with all the words below it: w0, w0^w1, w0^w1^w2, w0^w1^w2^w3.
RDV_GCM_TARGET inline __m128i prefixXor(__m128i k) {
  k = xor128(k, _mm_slli_si128(k, 4));
  return xor128(k, _mm_slli_si128(k, 8));
}

// The next AES-128 round key, or AES-256's even one: SubWord(RotWord(last word)) ^ rcon.
template <int Rcon>
RDV_GCM_TARGET inline __m128i nextKeyRot(__m128i twoBack, __m128i last) {
  return xor128(prefixXor(twoBack), _mm_shuffle_epi32(_mm_aeskeygenassist_si128(last, Rcon), 0xff));
}

// AES-256's odd round keys: SubWord(last word), no rotation, no rcon.
RDV_GCM_TARGET inline __m128i nextKeySub(__m128i twoBack, __m128i last) {
  return xor128(prefixXor(twoBack), _mm_shuffle_epi32(_mm_aeskeygenassist_si128(last, 0), 0xaa));
}

RDV_GCM_TARGET void expand128(const std::byte* key, __m128i* rk) {
  rk[0] = load(key);
  rk[1] = nextKeyRot<0x01>(rk[0], rk[0]);
  rk[2] = nextKeyRot<0x02>(rk[1], rk[1]);
  rk[3] = nextKeyRot<0x04>(rk[2], rk[2]);
  rk[4] = nextKeyRot<0x08>(rk[3], rk[3]);
  rk[5] = nextKeyRot<0x10>(rk[4], rk[4]);
  rk[6] = nextKeyRot<0x20>(rk[5], rk[5]);
  rk[7] = nextKeyRot<0x40>(rk[6], rk[6]);
  rk[8] = nextKeyRot<0x80>(rk[7], rk[7]);
  rk[9] = nextKeyRot<0x1b>(rk[8], rk[8]);
  rk[10] = nextKeyRot<0x36>(rk[9], rk[9]);
}

RDV_GCM_TARGET void expand256(const std::byte* key, __m128i* rk) {
  rk[0] = load(key);
  rk[1] = load(key + 16);
  rk[2] = nextKeyRot<0x01>(rk[0], rk[1]);
  rk[3] = nextKeySub(rk[1], rk[2]);
  rk[4] = nextKeyRot<0x02>(rk[2], rk[3]);
  rk[5] = nextKeySub(rk[3], rk[4]);
  rk[6] = nextKeyRot<0x04>(rk[4], rk[5]);
  rk[7] = nextKeySub(rk[5], rk[6]);
  rk[8] = nextKeyRot<0x08>(rk[6], rk[7]);
  rk[9] = nextKeySub(rk[7], rk[8]);
  rk[10] = nextKeyRot<0x10>(rk[8], rk[9]);
  rk[11] = nextKeySub(rk[9], rk[10]);
  rk[12] = nextKeyRot<0x20>(rk[10], rk[11]);
  rk[13] = nextKeySub(rk[11], rk[12]);
  rk[14] = nextKeyRot<0x40>(rk[12], rk[13]);
}

RDV_GCM_TARGET inline __m128i encrypt(const __m128i* rk, uint32_t rounds, __m128i b) {
  b = xor128(b, load(rk));
  for (uint32_t r = 1; r < rounds; ++r) b = _mm_aesenc_si128(b, load(rk + r));
  return _mm_aesenclast_si128(b, load(rk + rounds));
}

// Four independent blocks interleaved, so the AES unit's latency overlaps.
// (A C array: std::array<__m128i, 4> would drop the vector type's alignment attribute.)
RDV_GCM_TARGET inline void encrypt4(const __m128i* rk, uint32_t rounds, __m128i (&b)[4]) {  // NOLINT
  __m128i k = load(rk);
  for (int i = 0; i < 4; ++i) b[i] = xor128(b[i], k);
  for (uint32_t r = 1; r < rounds; ++r) {
    k = load(rk + r);
    for (int i = 0; i < 4; ++i) b[i] = _mm_aesenc_si128(b[i], k);
  }
  k = load(rk + rounds);
  for (int i = 0; i < 4; ++i) b[i] = _mm_aesenclast_si128(b[i], k);
}

// ---- GHASH (SP 800-38D §6.4) on byte-reflected blocks ----

// An unreduced 256-bit carry-less product, or a sum of them, as its three schoolbook parts.
struct Wide {
  __m128i lo = _mm_setzero_si128();
  __m128i mid = _mm_setzero_si128();
  __m128i hi = _mm_setzero_si128();
};

RDV_GCM_TARGET inline void mulAdd(Wide& w, __m128i a, __m128i b) {
  w.lo = xor128(w.lo, _mm_clmulepi64_si128(a, b, 0x00));
  w.hi = xor128(w.hi, _mm_clmulepi64_si128(a, b, 0x11));
  w.mid = xor128(w.mid, xor128(_mm_clmulepi64_si128(a, b, 0x01), _mm_clmulepi64_si128(a, b, 0x10)));
}

// The field element of a product sum. After the shift left by one, bit k of the 256-bit value is
// the coefficient of x^(255-k): the high half is already reduced, the low half L stands for
// l(x)·x^128 ≡ l(x)·(1 + x + x^2 + x^7). In this bit order multiplying by x^s is a right shift by
// s; the s bits it pushes out below bit 0 are x^128 multiples again, folded in first (D).
RDV_GCM_TARGET inline __m128i reduce(const Wide& w) {
  __m128i lo = xor128(w.lo, _mm_slli_si128(w.mid, 8));
  __m128i hi = xor128(w.hi, _mm_srli_si128(w.mid, 8));
  const __m128i carryLo = _mm_srli_epi64(lo, 63);
  const __m128i carryHi = _mm_srli_epi64(hi, 63);
  lo = _mm_or_si128(_mm_slli_epi64(lo, 1), _mm_slli_si128(carryLo, 8));
  hi = _mm_or_si128(_mm_or_si128(_mm_slli_epi64(hi, 1), _mm_slli_si128(carryHi, 8)),
                    _mm_srli_si128(carryLo, 8));
  // D = L ^ (L << 127) ^ (L << 126) ^ (L << 121): only the low word's low 7 bits move, to the top.
  const __m128i up = xor128(xor128(_mm_slli_epi64(lo, 63), _mm_slli_epi64(lo, 62)), _mm_slli_epi64(lo, 57));
  const __m128i d = xor128(lo, _mm_slli_si128(up, 8));
  // D ^ (D >> 1) ^ (D >> 2) ^ (D >> 7) as 128-bit shifts: per word, plus the bits crossing words.
  const __m128i down = xor128(xor128(_mm_srli_epi64(d, 1), _mm_srli_epi64(d, 2)), _mm_srli_epi64(d, 7));
  const __m128i across = xor128(xor128(_mm_slli_epi64(d, 63), _mm_slli_epi64(d, 62)), _mm_slli_epi64(d, 57));
  return xor128(xor128(hi, d), xor128(down, _mm_srli_si128(across, 8)));
}

RDV_GCM_TARGET inline __m128i gfMul(__m128i a, __m128i b) {
  Wide w;
  mulAdd(w, a, b);
  return reduce(w);
}

// GHASH over a stream of blocks (AAD, ciphertext, lengths), four per reduction: the blocks wait in
// `pending` until four are there or the stream ends, then Y' = (Y ^ B1)·H^n ^ … ^ Bn·H.
struct Ghash {
  const __m128i* h;  // H..H^4
  __m128i y = _mm_setzero_si128();
  __m128i pending[4]{};  // NOLINT(modernize-avoid-c-arrays): std::array drops __m128i's alignment
  uint32_t count = 0;
};

RDV_GCM_TARGET inline void ghashFlush(Ghash& g) {
  if (g.count == 0) return;
  Wide w;
  mulAdd(w, xor128(g.y, g.pending[0]), load(g.h + g.count - 1));
  for (uint32_t i = 1; i < g.count; ++i) mulAdd(w, g.pending[i], load(g.h + g.count - 1 - i));
  g.y = reduce(w);
  g.count = 0;
}

// `block` byte-reflected.
RDV_GCM_TARGET inline void ghashBlock(Ghash& g, __m128i block) {
  g.pending[g.count++] = block;
  if (g.count == 4) ghashFlush(g);
}

// `data` as blocks, the last partial one padded with zeros (SP 800-38D §7.1 step 5).
RDV_GCM_TARGET void ghashData(Ghash& g, const std::byte* data, size_t length) {
  for (; length >= 16; data += 16, length -= 16) ghashBlock(g, reflect(load(data)));
  if (length > 0) {
    alignas(16) std::array<std::byte, 16> last{};
    std::memcpy(last.data(), data, length);
    ghashBlock(g, reflect(load(last.data())));
  }
}

// ---- GCM (SP 800-38D §7) with a 96-bit IV ----

struct Keys {
  const __m128i* rk;
  const __m128i* h;
  uint32_t rounds;
};

// IV || counter (big-endian), the counter in the last 32-bit word.
RDV_GCM_TARGET inline __m128i counterBlock(__m128i iv, uint32_t counter) {
  return _mm_insert_epi32(iv, static_cast<int>(__builtin_bswap32(counter)), 3);
}

RDV_GCM_TARGET inline __m128i loadIv(const std::byte* iv) {
  alignas(16) std::array<std::byte, 16> block{};
  std::memcpy(block.data(), iv, AesGcm::kIvLength);
  return load(block.data());
}

// GCTR from counter 2 (J0 + 1) over `payload`, in place, four blocks per batch; the last batch
// (one to four blocks, the final one maybe partial) through a keystream buffer.
// The keystream of counters `counter` .. `counter` + 3.
RDV_GCM_TARGET inline void keystream4(const Keys& k, __m128i iv, uint32_t counter, __m128i (&b)[4]) {  // NOLINT
  for (uint32_t i = 0; i < 4; ++i) b[i] = counterBlock(iv, counter + i);
  encrypt4(k.rk, k.rounds, b);
}

RDV_GCM_TARGET void ctr(const Keys& k, __m128i iv, std::byte* p, size_t length) {
  uint32_t counter = 2;
  __m128i b[4];  // NOLINT(modernize-avoid-c-arrays): std::array drops __m128i's alignment
  for (; length > 64; p += 64, length -= 64, counter += 4) {
    keystream4(k, iv, counter, b);
    for (int i = 0; i < 4; ++i) store(p + 16 * i, xor128(b[i], load(p + 16 * i)));
  }
  if (length == 0) return;
  keystream4(k, iv, counter, b);
  size_t i = 0;
  for (; length >= 16; ++i, p += 16, length -= 16) store(p, xor128(b[i], load(p)));
  if (length > 0) {
    alignas(16) std::array<std::byte, 16> stream{};
    store(stream.data(), b[i]);
    for (size_t j = 0; j < length; ++j) p[j] ^= stream[j];
  }
}

// The tag over `aad` and the ciphertext: GHASH with the lengths block, XOR E(K, J0).
RDV_GCM_TARGET __m128i tagOf(const Keys& k, __m128i iv, std::span<const std::byte> aad,
                             std::span<const std::byte> ciphertext) {
  Ghash g{k.h};
  ghashData(g, aad.data(), aad.size());
  ghashData(g, ciphertext.data(), ciphertext.size());
  // len(A) || len(C) in bits, big-endian: reflected, the integer with len(A) in its high half.
  ghashBlock(g, _mm_set_epi64x(static_cast<int64_t>(uint64_t{aad.size()} * 8),
                               static_cast<int64_t>(uint64_t{ciphertext.size()} * 8)));
  ghashFlush(g);
  return xor128(reflect(g.y), encrypt(k.rk, k.rounds, counterBlock(iv, 1)));
}

RDV_GCM_TARGET void setKey(const std::byte* key, size_t length, __m128i* rk, __m128i* h) {
  if (length == 32) {
    expand256(key, rk);
  } else {
    expand128(key, rk);
  }
  const __m128i h1 = reflect(encrypt(rk, length == 32 ? 14 : 10, _mm_setzero_si128()));
  const __m128i h2 = gfMul(h1, h1);
  const __m128i h3 = gfMul(h2, h1);
  store(h, h1);
  store(h + 1, h2);
  store(h + 2, h3);
  store(h + 3, gfMul(h3, h1));
}

RDV_GCM_TARGET void sealWith(const Keys& k, const std::byte* ivBytes, std::span<const std::byte> aad,
                             std::span<std::byte> payload, std::byte* tag) {
  const __m128i iv = loadIv(ivBytes);
  ctr(k, iv, payload.data(), payload.size());
  store(tag, tagOf(k, iv, aad, payload));
}

RDV_GCM_TARGET bool openWith(const Keys& k, const std::byte* ivBytes, std::span<const std::byte> aad,
                             std::span<std::byte> payload, const std::byte* tag) {
  const __m128i iv = loadIv(ivBytes);
  const __m128i diff = xor128(tagOf(k, iv, aad, payload), load(tag));
  if (_mm_testz_si128(diff, diff) == 0) return false;  // one compare of all 128 bits: constant time
  ctr(k, iv, payload.data(), payload.size());
  return true;
}

bool cpuSupports() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul") &&
         __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3");
}

}  // namespace

bool AesGcm::supported() {
  static const bool yes = cpuSupports();
  return yes;
}

AesGcm::AesGcm(std::span<const std::byte> key) : rounds_(key.size() == 32 ? 14 : 10) {
  assert((key.size() == 16 || key.size() == 32) && supported());
  setKey(key.data(), key.size(), reinterpret_cast<__m128i*>(roundKeys_.data()),
         reinterpret_cast<__m128i*>(h_.data()));
}

AesGcm::~AesGcm() {
  OPENSSL_cleanse(h_.data(), sizeof(h_));
  OPENSSL_cleanse(roundKeys_.data(), sizeof(roundKeys_));
}

void AesGcm::seal(std::span<const std::byte, kIvLength> iv, std::span<const std::byte> aad,
                  std::span<std::byte> payload, std::span<std::byte, kTagLength> tag) const {
  assert(keyed());
  const Keys k{reinterpret_cast<const __m128i*>(roundKeys_.data()),
               reinterpret_cast<const __m128i*>(h_.data()), rounds_};
  sealWith(k, iv.data(), aad, payload, tag.data());
}

bool AesGcm::open(std::span<const std::byte, kIvLength> iv, std::span<const std::byte> aad,
                  std::span<std::byte> payload, std::span<const std::byte, kTagLength> tag) const {
  assert(keyed());
  const Keys k{reinterpret_cast<const __m128i*>(roundKeys_.data()),
               reinterpret_cast<const __m128i*>(h_.data()), rounds_};
  return openWith(k, iv.data(), aad, payload, tag.data());
}

}  // namespace rdv::srtp::detail
