# SPDX-License-Identifier: MIT
# SeamSwiftToolchain.cmake - finds libdispatch and CoreFoundation for the
# dispatch and CFRunLoop adapters.
#
# On Darwin both are system frameworks. Elsewhere they ship with a Swift
# toolchain (usr/lib/swift/{dispatch,os,Block,CoreFoundation} headers,
# usr/lib/swift/<os>/ libraries; CoreFoundation is linked into
# libFoundation), searched in this order:
#   1. SEAM_SWIFT_ROOT (cache variable or environment): the toolchain root,
#      the directory holding usr/;
#   2. the toolchain of the swiftc on PATH (its runtime resource path);
#   3. /opt/swift, then the system prefix (a distribution's libdispatch).
#
# Sets SEAM_DISPATCH_FOUND / SEAM_CF_FOUND, SEAM_DISPATCH_INCLUDE_DIRS,
# SEAM_DISPATCH_LIBRARIES, SEAM_CF_INCLUDE_DIRS, SEAM_CF_LIBRARIES, and
# SEAM_SWIFT_COMPAT_OPTIONS: compile options every user of these headers
# needs when the compiler is not clang (see adapters/swift_compat.h).
include_guard(GLOBAL)

set(SEAM_SWIFT_ROOT "$ENV{SEAM_SWIFT_ROOT}" CACHE PATH "Swift toolchain root (holding usr/) for libdispatch and CoreFoundation")

set(SEAM_DISPATCH_FOUND FALSE)
set(SEAM_CF_FOUND FALSE)
set(SEAM_SWIFT_COMPAT_OPTIONS "")

# Off for builds whose libraries must depend on distribution packages only
# (the .deb packages: a toolchain under /opt is no package dependency).
option(SEAM_WITH_SWIFT "Build the libdispatch and CFRunLoop adapters when their libraries are found" ON)
if(NOT SEAM_WITH_SWIFT)
  message(STATUS "seam: SEAM_WITH_SWIFT is off - dispatch and CFRunLoop adapters skipped")
  function(seam_swift_compat)
  endfunction()
  return()
endif()

if(APPLE)
  find_library(SEAM_CF_FRAMEWORK CoreFoundation)
  set(SEAM_DISPATCH_FOUND TRUE) # libdispatch is part of libSystem
  set(SEAM_DISPATCH_INCLUDE_DIRS "")
  set(SEAM_DISPATCH_LIBRARIES "")
  if(SEAM_CF_FRAMEWORK)
    set(SEAM_CF_FOUND TRUE)
    set(SEAM_CF_INCLUDE_DIRS "")
    set(SEAM_CF_LIBRARIES ${SEAM_CF_FRAMEWORK})
  endif()
  return()
endif()

# Resource directories (usr/lib/swift) to try, best first.
set(_seam_swift_resource_dirs "")
if(SEAM_SWIFT_ROOT)
  list(APPEND _seam_swift_resource_dirs ${SEAM_SWIFT_ROOT}/usr/lib/swift ${SEAM_SWIFT_ROOT}/lib/swift)
endif()
find_program(SEAM_SWIFTC swiftc)
if(SEAM_SWIFTC)
  execute_process(COMMAND ${SEAM_SWIFTC} -print-target-info OUTPUT_VARIABLE _seam_info
                  RESULT_VARIABLE _seam_rc ERROR_QUIET)
  if(_seam_rc EQUAL 0)
    string(JSON _seam_res ERROR_VARIABLE _seam_err GET "${_seam_info}" paths runtimeResourcePath)
    if(NOT _seam_err AND _seam_res)
      list(APPEND _seam_swift_resource_dirs ${_seam_res})
    endif()
  endif()
endif()
list(APPEND _seam_swift_resource_dirs /opt/swift/usr/lib/swift)

string(TOLOWER ${CMAKE_SYSTEM_NAME} _seam_os)
set(_seam_swift_resource "")
foreach(dir ${_seam_swift_resource_dirs})
  if(EXISTS ${dir}/dispatch/dispatch.h AND EXISTS ${dir}/${_seam_os}/libdispatch.so)
    set(_seam_swift_resource ${dir})
    break()
  endif()
endforeach()

if(_seam_swift_resource)
  set(_seam_libdir ${_seam_swift_resource}/${_seam_os})
  set(SEAM_DISPATCH_FOUND TRUE)
  set(SEAM_DISPATCH_INCLUDE_DIRS ${_seam_swift_resource})
  # Linked by full path: CMake then puts the directory in the build rpath.
  set(SEAM_DISPATCH_LIBRARIES ${_seam_libdir}/libdispatch.so)
  # CoreFoundation has no library of its own in current toolchains: it is
  # part of libFoundation (older ones shipped libCoreFoundation).
  foreach(lib CoreFoundation Foundation)
    if(EXISTS ${_seam_libdir}/lib${lib}.so AND EXISTS ${_seam_swift_resource}/CoreFoundation/CFRunLoop.h)
      set(SEAM_CF_FOUND TRUE)
      set(SEAM_CF_INCLUDE_DIRS ${_seam_swift_resource})
      set(SEAM_CF_LIBRARIES ${_seam_libdir}/lib${lib}.so)
      break()
    endif()
  endforeach()
  set(_seam_where "Swift toolchain at ${_seam_swift_resource}")
else()
  # A distribution's libdispatch (no CoreFoundation there).
  find_path(SEAM_DISPATCH_SYSTEM_INCLUDE dispatch/dispatch.h)
  find_library(SEAM_DISPATCH_SYSTEM_LIBRARY dispatch)
  if(SEAM_DISPATCH_SYSTEM_INCLUDE AND SEAM_DISPATCH_SYSTEM_LIBRARY)
    set(SEAM_DISPATCH_FOUND TRUE)
    set(SEAM_DISPATCH_INCLUDE_DIRS ${SEAM_DISPATCH_SYSTEM_INCLUDE})
    set(SEAM_DISPATCH_LIBRARIES ${SEAM_DISPATCH_SYSTEM_LIBRARY})
  endif()
  set(_seam_where "system libdispatch")
endif()

# The toolchain's headers are written for clang: gcc needs __has_feature,
# __has_extension and __LITTLE_ENDIAN__ defined before they are read.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  set(SEAM_SWIFT_COMPAT_OPTIONS "SHELL:-include ${PROJECT_SOURCE_DIR}/adapters/swift_compat.h")
endif()

if(SEAM_DISPATCH_FOUND)
  message(STATUS "seam: libdispatch from ${_seam_where}")
endif()
if(SEAM_CF_FOUND)
  message(STATUS "seam: CoreFoundation from ${_seam_where}")
endif()

# seam_swift_compat(targets...): gives targets (and, PUBLIC, their users)
# the compiler options the toolchain headers need, and keeps the toolchain's
# library directory in the rpath of installed shared libraries (it is not a
# system directory, so the loader would not find libdispatch there).
# Installed users get the same header, installed as seam/swift_compat.h, in
# the CMake target and in the pkg-config file; it is harmless with clang,
# whose users may not be the compiler seam was built with.
function(seam_swift_compat)
  foreach(t ${ARGN})
    if(SEAM_SWIFT_COMPAT_OPTIONS)
      target_compile_options(${t} PUBLIC $<BUILD_INTERFACE:${SEAM_SWIFT_COMPAT_OPTIONS}>)
    endif()
    if(NOT APPLE)
      target_compile_options(
        ${t} PUBLIC $<INSTALL_INTERFACE:-include$<INSTALL_PREFIX>/${CMAKE_INSTALL_INCLUDEDIR}/seam/swift_compat.h>)
      get_target_property(pc ${t} SEAM_PC_CFLAGS)
      if(NOT pc STREQUAL "pc-NOTFOUND")
        set_target_properties(${t} PROPERTIES SEAM_PC_CFLAGS "-include \${includedir}/seam/swift_compat.h")
      endif()
      get_property(installed GLOBAL PROPERTY SEAM_SWIFT_COMPAT_INSTALLED)
      if(NOT installed)
        install(FILES ${PROJECT_SOURCE_DIR}/adapters/swift_compat.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/seam
                COMPONENT dev)
        set_property(GLOBAL PROPERTY SEAM_SWIFT_COMPAT_INSTALLED TRUE)
      endif()
    endif()
    set_target_properties(${t} PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
  endforeach()
endfunction()
