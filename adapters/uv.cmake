# SPDX-License-Identifier: MIT
# libuv adapter (seam-uv): found through pkg-config, skipped without it.
pkg_check_modules(UV IMPORTED_TARGET libuv)
if(UV_FOUND)
  seam_add_adapter(uv uv.c LIBS PkgConfig::UV REQUIRES libuv)
else()
  message(STATUS "seam: libuv not found (pkg-config libuv) - uv adapter skipped")
endif()
