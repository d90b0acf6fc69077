/* SPDX-License-Identifier: MIT */
/* swift_compat.h - lets gcc read the libdispatch and CoreFoundation headers
 * of a Swift toolchain, which are written for clang. Force-included (-include)
 * ahead of every source that uses them; harmless where clang already
 * provides these. */
#ifndef SEAM_SWIFT_COMPAT_H
#define SEAM_SWIFT_COMPAT_H

/* os/generic_unix_base.h tests these before dispatch/base.h defines its own
 * fallbacks. */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#ifndef __has_extension
#define __has_extension(x) 0
#endif

/* CFTargetConditionals.h stops with "unknown endian" without one of these. */
#if !defined(__LITTLE_ENDIAN__) && !defined(__BIG_ENDIAN__) && defined(__BYTE_ORDER__)
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define __LITTLE_ENDIAN__ 1
#elif __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define __BIG_ENDIAN__ 1
#endif
#endif

#endif /* SEAM_SWIFT_COMPAT_H */
