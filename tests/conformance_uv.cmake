# SPDX-License-Identifier: MIT
# The conformance suite on a libuv loop, with seam's handles referenced (as
# programs get them by default) and unreferenced (SEAM_UV_UNREF).
if(TARGET seam-uv)
  seam_add_conformance(uv drivers/uv.c INPROC LIBS seam-uv_static)
  seam_add_conformance(uv_unref drivers/uv.c LIBS seam-uv_static DEFS SEAM_DRIVER_UNREF)
endif()
