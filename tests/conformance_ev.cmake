# SPDX-License-Identifier: MIT
# The conformance suite on libev: a loop from ev_loop_new() per test, the
# default loop shared by all tests, and seam's watchers unreferenced
# (SEAM_EV_UNREF).
if(TARGET seam-ev)
  seam_add_conformance(ev drivers/ev.c INPROC LIBS seam-ev_static)
  seam_add_conformance(ev_default drivers/ev.c LIBS seam-ev_static DEFS SEAM_DRIVER_DEFAULT)
  seam_add_conformance(ev_unref drivers/ev.c LIBS seam-ev_static DEFS SEAM_DRIVER_UNREF)
endif()
