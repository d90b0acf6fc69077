# SPDX-License-Identifier: MIT
# The conformance suite on the libdispatch adapter (main queue, drained by
# the driver on the main thread).
if(TARGET seam-dispatch)
  seam_add_conformance(dispatch drivers/dispatch.c INPROC LIBS seam-dispatch_static)
endif()
