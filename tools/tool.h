/* SPDX-License-Identifier: MIT */
/* tool.h - shared by the seam tool's source files. */
#ifndef SEAM_TOOL_H
#define SEAM_TOOL_H

#include <seam.h>

#include <stdio.h>

int tool_usage(FILE *to);
int tool_fail(const char *what, int err);

int tool_listen(int argc, char **argv);
int tool_send(int argc, char **argv);
int tool_call(int argc, char **argv);
int tool_ping(int argc, char **argv);
int tool_flood(int argc, char **argv);
int tool_watch(int argc, char **argv);
int tool_list(int argc, char **argv);

#endif /* SEAM_TOOL_H */
