// Shared by Braid's addons: the bytes of a Uint8Array argument.
#pragma once
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

namespace braid {

// The data and length of `value` if it is a Uint8Array (or Buffer), else nullptr with length 0.
// A zero-length view may have a null data pointer: callers check lengths, not only the pointer.
inline uint8_t* TypedData(napi_env env, napi_value value, size_t* length) {
  *length = 0;
  napi_typedarray_type type;
  size_t count = 0;
  void* data = nullptr;
  napi_value arraybuffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, value, &type, &count, &data, &arraybuffer, &offset) != napi_ok) return nullptr;
  if (type != napi_uint8_array) return nullptr;
  *length = count;
  return static_cast<uint8_t*>(data);
}

}  // namespace braid
