// Per-packet ChaCha20-Poly1305 and ChaCha20 header protection on OpenSSL's EVP interface,
// through the OpenSSL that Node itself links (its headers ship with Node's, its symbols are
// exported by the node binary). One cipher context per key, reused for every packet: only
// the nonce changes, so a packet costs the cipher work and one Node-API call — node:crypto
// needs a new cipher object per packet, libsodium's portable code is ~3x slower here
// (docs/crypto.md has the measurements). A separate addon from braid_udp so that a Node
// without exported OpenSSL symbols loses only this speed-up, not batched I/O.
//
// Nothing here throws for bad input from the network: open() returns -1.

#include <node_api.h>
#include <openssl/evp.h>
#include <string.h>

#include "napi_typed.h"

namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
constexpr size_t kSampleBytes = 16;

struct Aead {
  EVP_CIPHER_CTX* seal = nullptr;
  EVP_CIPHER_CTX* open = nullptr;
};

// Header protection needs one ChaCha20 block per packet (RFC 9001 §5.4.4). EVP's per-call
// re-initialisation costs more than the block itself, so the block function (RFC 8439 §2.3)
// is computed here; test/crypto/native-crypto.test.ts checks it against libsodium and the
// RFC 9001 A.5 vector.
struct HeaderKey {
  uint32_t key[8];
};

// Tags ChaChaHeaderKey objects, so sealProtect can verify the object it is handed.
const napi_type_tag kHeaderKeyTag = {0x6272616964687031ULL, 0x636861636861686bULL};

inline uint32_t Load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

inline uint32_t Rotl(uint32_t v, int c) { return (v << c) | (v >> (32 - c)); }

inline void QuarterRound(uint32_t& a, uint32_t& b, uint32_t& c, uint32_t& d) {
  a += b; d ^= a; d = Rotl(d, 16);
  c += d; b ^= c; b = Rotl(b, 12);
  a += b; d ^= a; d = Rotl(d, 8);
  c += d; b ^= c; b = Rotl(b, 7);
}

// The first 5 bytes of ChaCha20 block(key, counter, nonce), i.e. of the keystream.
void ChaChaMask(const uint32_t key[8], const uint8_t* sample, uint8_t* out) {
  uint32_t s[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574, key[0], key[1], key[2], key[3],
                    key[4],     key[5],     key[6],     key[7],     Load32(sample), Load32(sample + 4),
                    Load32(sample + 8), Load32(sample + 12)};
  uint32_t x[16];
  memcpy(x, s, sizeof x);
  for (int i = 0; i < 10; i++) {
    QuarterRound(x[0], x[4], x[8], x[12]);
    QuarterRound(x[1], x[5], x[9], x[13]);
    QuarterRound(x[2], x[6], x[10], x[14]);
    QuarterRound(x[3], x[7], x[11], x[15]);
    QuarterRound(x[0], x[5], x[10], x[15]);
    QuarterRound(x[1], x[6], x[11], x[12]);
    QuarterRound(x[2], x[7], x[8], x[13]);
    QuarterRound(x[3], x[4], x[9], x[14]);
  }
  uint32_t w0 = x[0] + s[0];
  uint32_t w1 = x[1] + s[1];
  out[0] = w0 & 0xff;
  out[1] = (w0 >> 8) & 0xff;
  out[2] = (w0 >> 16) & 0xff;
  out[3] = (w0 >> 24) & 0xff;
  out[4] = w1 & 0xff;
}

using braid::TypedData;

napi_value Int(napi_env env, int32_t value) {
  napi_value result;
  napi_create_int32(env, value, &result);
  return result;
}

template <typename T>
T* Unwrap(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  napi_value self;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, argc, argv, &self, nullptr) != napi_ok) return nullptr;
  if (napi_unwrap(env, self, &data) != napi_ok) return nullptr;
  return static_cast<T*>(data);
}

void FinalizeAead(napi_env, void* data, void*) {
  Aead* a = static_cast<Aead*>(data);
  EVP_CIPHER_CTX_free(a->seal);
  EVP_CIPHER_CTX_free(a->open);
  delete a;
}

// new ChaChaPolyKey(key: Uint8Array(32))
napi_value AeadConstruct(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  napi_get_cb_info(env, info, &argc, argv, &self, nullptr);
  size_t key_len = 0;
  uint8_t* key = argc == 1 ? TypedData(env, argv[0], &key_len) : nullptr;
  if (!key || key_len != kKeyBytes) {
    napi_throw_range_error(env, nullptr, "ChaChaPolyKey needs a 32-byte key");
    return nullptr;
  }
  Aead* a = new Aead();
  a->seal = EVP_CIPHER_CTX_new();
  a->open = EVP_CIPHER_CTX_new();
  if (!a->seal || !a->open || EVP_EncryptInit_ex(a->seal, EVP_chacha20_poly1305(), nullptr, key, nullptr) != 1 ||
      EVP_DecryptInit_ex(a->open, EVP_chacha20_poly1305(), nullptr, key, nullptr) != 1) {
    FinalizeAead(env, a, nullptr);
    napi_throw_error(env, nullptr, "EVP chacha20-poly1305 unavailable");
    return nullptr;
  }
  napi_wrap(env, self, a, FinalizeAead, nullptr, nullptr);
  return self;
}

// ChaCha20-Poly1305 in place: buf[0, headerLen) authenticated, the payload encrypted where it
// is, the tag written after it. The caller has checked the bounds.
bool SealInPlace(Aead* a, uint8_t* buf, uint32_t header_len, uint32_t payload_len, const uint8_t* nonce) {
  int out_len = 0;
  uint8_t* payload = buf + header_len;
  return EVP_EncryptInit_ex(a->seal, nullptr, nullptr, nullptr, nonce) == 1 &&
         EVP_EncryptUpdate(a->seal, nullptr, &out_len, buf, static_cast<int>(header_len)) == 1 &&
         EVP_EncryptUpdate(a->seal, payload, &out_len, payload, static_cast<int>(payload_len)) == 1 &&
         EVP_EncryptFinal_ex(a->seal, payload + out_len, &out_len) == 1 &&
         EVP_CIPHER_CTX_ctrl(a->seal, EVP_CTRL_AEAD_GET_TAG, kTagBytes, payload + payload_len) == 1;
}

// seal(buf, headerLen, payloadLen, nonce) → end (headerLen + payloadLen + 16), or -1.
// In place: buf[0, headerLen) is the associated data, the payload is encrypted where it is
// and the tag written after it.
napi_value AeadSeal(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  Aead* a = Unwrap<Aead>(env, info, &argc, argv);
  if (!a || argc < 4) return Int(env, -1);
  size_t buf_len = 0, nonce_len = 0;
  uint8_t* buf = TypedData(env, argv[0], &buf_len);
  uint8_t* nonce = TypedData(env, argv[3], &nonce_len);
  uint32_t header_len = 0, payload_len = 0;
  napi_get_value_uint32(env, argv[1], &header_len);
  napi_get_value_uint32(env, argv[2], &payload_len);
  if (!buf || !nonce || nonce_len != kNonceBytes || static_cast<size_t>(header_len) + payload_len + kTagBytes > buf_len)
    return Int(env, -1);
  if (!SealInPlace(a, buf, header_len, payload_len, nonce)) return Int(env, -1);
  return Int(env, static_cast<int32_t>(header_len + payload_len + kTagBytes));
}

// sealProtect(buf, headerLen, payloadLen, nonce, headerKey, pnOffset, pnLength) → end, or -1.
// seal() followed by header protection (RFC 9001 §5.4.1: the low 4 or 5 bits of byte 0 and
// the packet-number bytes, masked from the 16-byte sample 4 bytes after the packet number)
// in one call: the sending side's per-packet crypto costs one crossing from JS.
napi_value AeadSealProtect(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  Aead* a = Unwrap<Aead>(env, info, &argc, argv);
  if (!a || argc < 7) return Int(env, -1);
  bool tagged = false;
  if (napi_check_object_type_tag(env, argv[4], &kHeaderKeyTag, &tagged) != napi_ok || !tagged) return Int(env, -1);
  void* header_data = nullptr;
  if (napi_unwrap(env, argv[4], &header_data) != napi_ok || header_data == nullptr) return Int(env, -1);
  size_t buf_len = 0, nonce_len = 0;
  uint8_t* buf = TypedData(env, argv[0], &buf_len);
  uint8_t* nonce = TypedData(env, argv[3], &nonce_len);
  uint32_t header_len = 0, payload_len = 0, pn_offset = 0, pn_length = 0;
  napi_get_value_uint32(env, argv[1], &header_len);
  napi_get_value_uint32(env, argv[2], &payload_len);
  napi_get_value_uint32(env, argv[5], &pn_offset);
  napi_get_value_uint32(env, argv[6], &pn_length);
  size_t end = static_cast<size_t>(header_len) + payload_len + kTagBytes;
  if (!buf || !nonce || nonce_len != kNonceBytes || end > buf_len || pn_length < 1 || pn_length > 4 ||
      pn_offset + pn_length > header_len || static_cast<size_t>(pn_offset) + 4 + kSampleBytes > end)
    return Int(env, -1);
  if (!SealInPlace(a, buf, header_len, payload_len, nonce)) return Int(env, -1);
  uint8_t mask[5];
  ChaChaMask(static_cast<HeaderKey*>(header_data)->key, buf + pn_offset + 4, mask);
  buf[0] ^= mask[0] & ((buf[0] & 0x80) ? 0x0f : 0x1f);
  for (uint32_t i = 0; i < pn_length; i++) buf[pn_offset + i] ^= mask[1 + i];
  return Int(env, static_cast<int32_t>(end));
}

// open(packet, headerLen, nonce, out) → plaintext length in out, or -1 if it does not authenticate.
// Never modifies packet (the caller may try other keys); out must hold length - headerLen - 16 bytes.
napi_value AeadOpen(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  Aead* a = Unwrap<Aead>(env, info, &argc, argv);
  if (!a || argc < 4) return Int(env, -1);
  size_t packet_len = 0, nonce_len = 0, out_cap = 0;
  uint8_t* packet = TypedData(env, argv[0], &packet_len);
  uint8_t* nonce = TypedData(env, argv[2], &nonce_len);
  uint8_t* out = TypedData(env, argv[3], &out_cap);
  uint8_t empty[1];
  if (!out && out_cap == 0) out = empty;  // a zero-length view may have no data pointer
  uint32_t header_len = 0;
  napi_get_value_uint32(env, argv[1], &header_len);
  if (!packet || !nonce || !out || nonce_len != kNonceBytes || packet_len < static_cast<size_t>(header_len) + kTagBytes)
    return Int(env, -1);
  size_t body_len = packet_len - header_len - kTagBytes;
  if (body_len > out_cap) return Int(env, -1);
  int out_len = 0;
  uint8_t tag[kTagBytes];
  memcpy(tag, packet + header_len + body_len, kTagBytes);
  if (EVP_DecryptInit_ex(a->open, nullptr, nullptr, nullptr, nonce) != 1 ||
      EVP_DecryptUpdate(a->open, nullptr, &out_len, packet, static_cast<int>(header_len)) != 1 ||
      EVP_DecryptUpdate(a->open, out, &out_len, packet + header_len, static_cast<int>(body_len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(a->open, EVP_CTRL_AEAD_SET_TAG, kTagBytes, tag) != 1)
    return Int(env, -1);
  int final_len = 0;
  if (EVP_DecryptFinal_ex(a->open, out + out_len, &final_len) != 1) {
    memset(out, 0, body_len);  // no unauthenticated plaintext left behind
    return Int(env, -1);
  }
  return Int(env, static_cast<int32_t>(body_len));
}

void FinalizeHeaderKey(napi_env, void* data, void*) {
  HeaderKey* h = static_cast<HeaderKey*>(data);
  memset(h->key, 0, sizeof h->key);
  delete h;
}

// new ChaChaHeaderKey(key: Uint8Array(32))
napi_value HeaderConstruct(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  napi_get_cb_info(env, info, &argc, argv, &self, nullptr);
  size_t key_len = 0;
  uint8_t* key = argc == 1 ? TypedData(env, argv[0], &key_len) : nullptr;
  if (!key || key_len != kKeyBytes) {
    napi_throw_range_error(env, nullptr, "ChaChaHeaderKey needs a 32-byte key");
    return nullptr;
  }
  HeaderKey* h = new HeaderKey();
  for (int i = 0; i < 8; i++) h->key[i] = Load32(key + 4 * i);
  napi_type_tag_object(env, self, &kHeaderKeyTag);
  napi_wrap(env, self, h, FinalizeHeaderKey, nullptr, nullptr);
  return self;
}

// mask(packet, sampleOffset, out5) → 0, or -1. RFC 9001 §5.4.4: the 16-byte sample is
// counter (4 bytes, little-endian) || nonce (12 bytes).
napi_value HeaderMask(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  HeaderKey* h = Unwrap<HeaderKey>(env, info, &argc, argv);
  if (!h || argc < 3) return Int(env, -1);
  size_t packet_len = 0, out_len = 0;
  uint8_t* packet = TypedData(env, argv[0], &packet_len);
  uint8_t* out = TypedData(env, argv[2], &out_len);
  uint32_t offset = 0;
  napi_get_value_uint32(env, argv[1], &offset);
  if (!packet || !out || out_len < 5 || static_cast<size_t>(offset) + kSampleBytes > packet_len) return Int(env, -1);
  ChaChaMask(h->key, packet + offset, out);
  return Int(env, 0);
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor aead_methods[] = {
      {"seal", nullptr, AeadSeal, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"open", nullptr, AeadOpen, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sealProtect", nullptr, AeadSealProtect, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_property_descriptor header_methods[] = {
      {"mask", nullptr, HeaderMask, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value aead, header;
  napi_define_class(env, "ChaChaPolyKey", NAPI_AUTO_LENGTH, AeadConstruct, nullptr, 3, aead_methods, &aead);
  napi_define_class(env, "ChaChaHeaderKey", NAPI_AUTO_LENGTH, HeaderConstruct, nullptr, 1, header_methods, &header);
  napi_set_named_property(env, exports, "ChaChaPolyKey", aead);
  napi_set_named_property(env, exports, "ChaChaHeaderKey", header);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
