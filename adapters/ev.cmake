# SPDX-License-Identifier: MIT
# libev adapter (seam-ev). libev ships no pkg-config file: find the header
# and library directly, skip the adapter without them.
find_path(EV_INCLUDE_DIR ev.h PATH_SUFFIXES libev)
find_library(EV_LIBRARY ev)
if(EV_INCLUDE_DIR AND EV_LIBRARY)
  seam_add_adapter(ev ev.c LIBS ${EV_LIBRARY} INCLUDES ${EV_INCLUDE_DIR})
else()
  message(STATUS "seam: libev not found (ev.h, libev) - ev adapter skipped")
endif()
