# SPDX-License-Identifier: MIT
# The conformance suite on the CFRunLoop adapter (main run loop), and the
# cross-adapter test: clients on one adapter against servers on another,
# each side in its own process on its real loop.
if(TARGET seam-cf)
  seam_add_conformance(cf drivers/cf.c INPROC LIBS seam-cf_static)
  if(TARGET seam-dispatch)
    set(cross_libs seam-poll_static seam-cf_static seam-dispatch_static)
    if(TARGET seam-uv)
      list(APPEND cross_libs seam-uv_static)
    endif()
    # support.c needs a driver for the test process; it runs no loop itself.
    seam_add_test(cross_adapter cross_adapter.c support.c drivers/poll.c LIBS ${cross_libs})
    if(TARGET seam-uv)
      target_compile_definitions(cross_adapter PRIVATE SEAM_CROSS_UV)
    endif()
    set_tests_properties(cross_adapter PROPERTIES LABELS conformance TIMEOUT 300)
  endif()
endif()
