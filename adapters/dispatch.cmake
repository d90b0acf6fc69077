# SPDX-License-Identifier: MIT
# libdispatch adapter (seam-dispatch): the system's on Darwin, a Swift
# toolchain's or the distribution's elsewhere.
include(${PROJECT_SOURCE_DIR}/cmake/SeamSwiftToolchain.cmake)
if(SEAM_DISPATCH_FOUND)
  seam_add_adapter(dispatch dispatch.c LIBS ${SEAM_DISPATCH_LIBRARIES}
                   INCLUDES ${SEAM_DISPATCH_INCLUDE_DIRS})
  seam_swift_compat(seam-dispatch seam-dispatch_static)
else()
  message(STATUS "seam: libdispatch not found (set SEAM_SWIFT_ROOT to a Swift toolchain) - dispatch adapter skipped")
endif()
