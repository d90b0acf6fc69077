# SPDX-License-Identifier: MIT
# SeamPackaging.cmake - Debian packages with CPack (scripts/package.sh):
#   libseam0     the shared libraries (core and adapters)
#   libseam-dev  headers, static libraries, .so links, pkg-config and CMake
#                files, section 3 man pages
#   seam         the command-line tool and seam(1)
# Library dependencies come from dpkg-shlibdeps; the -dev package depends
# on the -dev packages of what the headers and .pc files name. Files are
# stripped, each package has a changelog.Debian.gz, and the libraries are
# registered by dpkg's ldconfig trigger.
#
# The maintainer is a placeholder in the reserved .invalid domain: whoever
# publishes packages sets their own (scripts/package.sh passes
# $SEAM_PACKAGE_MAINTAINER).
set(SEAM_PACKAGE_MAINTAINER "the seam authors <seam@seam.invalid>"
    CACHE STRING "Maintainer field of the Debian packages")
option(SEAM_DEBIAN_DOCS "Install each package's /usr/share/doc/PACKAGE/copyright (for the .deb packages)" OFF)

set(seam_deb_runtime libseam${PROJECT_VERSION_MAJOR})
if(SEAM_DEBIAN_DOCS)
  install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${seam_deb_runtime}
          RENAME copyright COMPONENT runtime)
  install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/libseam-dev
          RENAME copyright COMPONENT dev)
  install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/seam RENAME copyright
          COMPONENT tool)
  # Every binary package of a non-native version carries a Debian
  # changelog. Its date is SOURCE_DATE_EPOCH's when set (reproducible
  # builds), else the configure time.
  find_program(GZIP gzip REQUIRED)
  string(TIMESTAMP seam_deb_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
  set(seam_deb_changelog ${PROJECT_BINARY_DIR}/debian/changelog.Debian)
  file(WRITE ${seam_deb_changelog}
       "seam (${PROJECT_VERSION}-1) unstable; urgency=medium\n\n"
       "  * Packaged from the upstream release ${PROJECT_VERSION} with scripts/package.sh.\n\n"
       " -- ${SEAM_PACKAGE_MAINTAINER}  ${seam_deb_date}\n")
  execute_process(COMMAND ${GZIP} -9nf ${seam_deb_changelog} COMMAND_ERROR_IS_FATAL ANY)
  foreach(pair runtime:${seam_deb_runtime} dev:libseam-dev tool:seam)
    string(REPLACE ":" ";" pair ${pair})
    list(GET pair 0 component)
    list(GET pair 1 package)
    install(FILES ${seam_deb_changelog}.gz DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package}
            COMPONENT ${component})
  endforeach()
endif()

set(CPACK_PACKAGE_NAME seam)
set(CPACK_PACKAGE_VENDOR "the seam authors")
set(CPACK_PACKAGE_CONTACT "${SEAM_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_COMPONENTS_ALL runtime dev)
if(SEAM_BUILD_TOOLS)
  list(APPEND CPACK_COMPONENTS_ALL tool)
endif()
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
set(CPACK_COMPONENT_TOOL_DEPENDS runtime)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The tool's libraries are the runtime package's, not yet installed.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR}/core ${PROJECT_BINARY_DIR}/adapters)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${seam_deb_runtime})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# dpkg's ldconfig trigger, not maintainer scripts calling ldconfig (CPack
# writes those unless the package brings its own postinst and postrm).
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/cmake/debian/triggers ${PROJECT_SOURCE_DIR}/cmake/debian/postinst
    ${PROJECT_SOURCE_DIR}/cmake/debian/postrm)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
    "${PROJECT_DESCRIPTION} - shared libraries
seam carries typed, XPC-like messages (CBOR, framed over Unix sockets)
inside the event loop a program already has: libuv, libev or a poll()
loop. This package holds the core library and the adapters.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libseam-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(seam_dev_depends "libcbor-dev, libjansson-dev, pkg-config")
if(TARGET seam-uv)
  string(APPEND seam_dev_depends ", libuv1-dev")
endif()
if(TARGET seam-ev)
  string(APPEND seam_dev_depends ", libev-dev")
endif()
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${seam_dev_depends}")
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "${PROJECT_DESCRIPTION} - development files
Headers, static libraries, pkg-config files (seam, seam-poll, seam-uv ...),
the CMake package (find_package(seam): seam::seam, seam::poll, seam::uv ...)
and the section 3 manual pages.")

set(CPACK_DEBIAN_TOOL_PACKAGE_NAME seam)
set(CPACK_DEBIAN_TOOL_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_TOOL_DESCRIPTION
    "${PROJECT_DESCRIPTION} - command-line tool
seam listens, sends, calls, pings and floods seam endpoints from a shell,
and encodes or decodes seam's CBOR values.")

include(CPack)
