// Shared by Braid's addons: a failed system call as a JavaScript error, in one shape.
#pragma once
#include <node_api.h>
#include <stdio.h>
#include <string.h>

namespace braid {

// Throws an Error for `err` (an errno value) from `syscall`, with
//   message  "<syscall> failed: <strerror(err)>"
//   errno    -err (negative, as on Node's own system errors)
//   syscall  "<syscall>"
// and no `code`: JavaScript names the errno (errnoCode() in src/native/errno.ts, from the
// platform's own list) so that no addon keeps a partial table of names.
// Returns nullptr, for `return ThrowErrno(...)` from a Node-API callback.
inline napi_value ThrowErrno(napi_env env, int err, const char* syscall) {
  char text[160];
  snprintf(text, sizeof text, "%s failed: %s", syscall, strerror(err));
  napi_value message, error, errno_value, syscall_value;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, nullptr, message, &error);
  napi_create_int32(env, -err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  napi_throw(env, error);
  return nullptr;
}

}  // namespace braid
