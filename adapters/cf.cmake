# SPDX-License-Identifier: MIT
# CFRunLoop adapter (seam-cf): CoreFoundation.framework on Darwin, a Swift
# toolchain's CoreFoundation (inside libFoundation) elsewhere.
include(${PROJECT_SOURCE_DIR}/cmake/SeamSwiftToolchain.cmake)
if(SEAM_CF_FOUND)
  seam_add_adapter(cf cfrunloop.c LIBS ${SEAM_CF_LIBRARIES} INCLUDES ${SEAM_CF_INCLUDE_DIRS})
  seam_swift_compat(seam-cf seam-cf_static)
else()
  message(STATUS "seam: CoreFoundation not found (set SEAM_SWIFT_ROOT to a Swift toolchain) - CFRunLoop adapter skipped")
endif()
