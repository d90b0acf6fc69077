/* SPDX-License-Identifier: MIT */
/* list.c - `seam list`: the names in the runtime directory, and for each
 * the process that owns it. The owner is found from the name's lock (the
 * kernel lists flock holders in /proc/locks), not by connecting: a listing
 * must not show up in the servers' peers, logs or accept filters, and must
 * work for a server that would refuse us. */
#include "tool.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* The pid holding a flock on the file with this device and inode, or 0. */
static long lock_holder(dev_t dev, ino_t ino)
{
    FILE *f = fopen("/proc/locks", "r");
    if (f == NULL) {
        return 0;
    }
    char line[256];
    long found = 0;
    while (found == 0 && fgets(line, sizeof(line), f) != NULL) {
        char kind[16];
        long pid;
        unsigned maj;
        unsigned min;
        unsigned long inode;
        /* "1: FLOCK  ADVISORY  WRITE 1757 fe:00:16229104 0 EOF"; waiters
         * are listed as "1: -> FLOCK ..." and do not match */
        if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%lu", kind, &pid, &maj, &min, &inode) == 5 &&
            strcmp(kind, "FLOCK") == 0 && maj == major(dev) && min == minor(dev) &&
            inode == (unsigned long)ino) {
            found = pid;
        }
    }
    fclose(f);
    return found;
}

/* Seconds since the epoch at which the system booted, or 0. */
static long long boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[256];
    long long btime = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "btime %lld", &btime) == 1) {
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return btime;
}

void tool_proc_owner(long pid, tool_owner *o)
{
    memset(o, 0, sizeof(*o));
    o->pid = pid;
    o->uid = -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/status", o->pid);
    FILE *f = fopen(path, "r");
    char line[512];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        long real;
        long effective;
        if (sscanf(line, "Uid: %ld %ld", &real, &effective) == 2) {
            o->uid = effective;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%ld/exe", o->pid);
    ssize_t n = readlink(path, o->exe, sizeof(o->exe) - 1);
    o->exe[n > 0 ? n : 0] = 0;
    /* field 22 of /proc/PID/stat: start time in clock ticks after boot;
     * the command name (field 2) may hold spaces, so count from its ')' */
    snprintf(path, sizeof(path), "/proc/%ld/stat", o->pid);
    f = fopen(path, "r");
    char stat[1024];
    size_t len = f != NULL ? fread(stat, 1, sizeof(stat) - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    stat[len] = 0;
    char *p = strrchr(stat, ')');
    unsigned long long ticks;
    long hz = sysconf(_SC_CLK_TCK);
    long long btime = boot_time();
    if (p != NULL && hz > 0 && btime > 0 &&
        sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &ticks) == 1) {
        o->started_us = btime * 1000000 + (int64_t)(ticks * 1000000ULL / (unsigned long long)hz);
    }
}

static void find_owner(const char *dir, const char *name, tool_owner *o)
{
    memset(o, 0, sizeof(*o));
    o->uid = -1;
    char lock[768];
    snprintf(lock, sizeof(lock), "%s/%s.lock", dir, name);
    struct stat st;
    if (stat(lock, &st) < 0) {
        return;
    }
    long pid = lock_holder(st.st_dev, st.st_ino);
    if (pid > 0) {
        tool_proc_owner(pid, o);
    }
}

static const char *state_name(int owned, const tool_owner *o)
{
    if (owned == 1) {
        return "alive";
    }
    if (owned == SEAM_EEXIST) {
        return "not a socket";
    }
    return o->pid > 0 ? "starting" : owned == 0 ? "stale" : "unknown";
}

static seam_value *entry_json(const char *name, const char *state, const tool_owner *o)
{
    seam_value *e = seam_value_new_dict();
    seam_dict_set_string(e, "name", name);
    seam_dict_set_string(e, "state", state);
    bool known = o->pid > 0;
    seam_dict_set_take(e, "pid", known ? seam_value_new_int64(o->pid) : seam_value_new_null());
    seam_dict_set_take(e, "uid",
                       o->uid >= 0 ? seam_value_new_int64(o->uid) : seam_value_new_null());
    struct passwd *pw = o->uid >= 0 ? getpwuid((uid_t)o->uid) : NULL;
    seam_dict_set_take(e, "user",
                       pw != NULL ? seam_value_new_string(pw->pw_name) : seam_value_new_null());
    seam_dict_set_take(e, "exe",
                       o->exe[0] != 0 ? seam_value_new_string(o->exe) : seam_value_new_null());
    seam_dict_set_take(e, "started_us",
                       o->started_us > 0 ? seam_value_new_int64(o->started_us)
                                         : seam_value_new_null());
    return e;
}

void tool_user_name(long uid, char *buf, size_t len)
{
    struct passwd *pw = uid >= 0 ? getpwuid((uid_t)uid) : NULL;
    if (pw != NULL) {
        snprintf(buf, len, "%s", pw->pw_name);
    } else if (uid >= 0) {
        snprintf(buf, len, "%ld", uid);
    } else {
        snprintf(buf, len, "-");
    }
}

void tool_time_text(int64_t us, char *buf, size_t len)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    if (us <= 0 || localtime_r(&secs, &tm) == NULL) {
        snprintf(buf, len, "-");
        return;
    }
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static void entry_text(const char *name, const char *state, const tool_owner *o)
{
    char pid[24] = "-";
    char user[64];
    char started[32];
    if (o->pid > 0) {
        snprintf(pid, sizeof(pid), "%ld", o->pid);
    }
    tool_user_name(o->uid, user, sizeof(user));
    tool_time_text(o->started_us, started, sizeof(started));
    printf("%-32s %-8s %7s %-10s %-19s %s\n", name, state, pid, user, started,
           o->exe[0] != 0 ? o->exe : "-");
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tool_list(tool_ctx *t, int argc, char **argv)
{
    bool names_only = false;
    const tool_opt opts[] = {
        {"--names", 0, NULL, 0, 0, &names_only},
        {0},
    };
    int status;
    if (!tool_parse(t, argc, argv, opts, NULL, 0, 0, NULL, &status)) {
        return status;
    }
    char dir[512] = "";
    int r = seam_runtime_dir(dir, sizeof(dir));
    if (r < 0) {
        fprintf(stderr, "seam list: runtime directory %s: %s (%s)\n", dir, seam_strerror(r),
                seam_errname(r));
        return tool_exit_code(r);
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        return tool_fail(t, dir, -errno);
    }
    /* sorted, so that listings compare */
    char **names = NULL;
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 5 || strcmp(e->d_name + n - 5, ".sock") != 0) {
            continue;
        }
        char **more = realloc(names, (count + 1) * sizeof(*names));
        char *name = more != NULL ? strndup(e->d_name, n - 5) : NULL;
        if (name == NULL) {
            names = more != NULL ? more : names;
            break;
        }
        names = more;
        names[count++] = name;
    }
    closedir(d);
    qsort(names, count, sizeof(*names), by_name);
    seam_value *all = seam_value_new_array();
    if (!t->json && !names_only) {
        printf("%-32s %-8s %7s %-10s %-19s %s\n", "NAME", "STATE", "PID", "USER", "STARTED",
               "EXECUTABLE");
    }
    for (size_t i = 0; i < count; i++) {
        const char *name = names[i];
        if (names_only && !t->json) {
            printf("%s\n", name);
            continue;
        }
        tool_owner o;
        find_owner(dir, name, &o);
        const char *state = state_name(seam_name_owned(name), &o);
        if (t->json && names_only) {
            seam_array_append_take(all, seam_value_new_string(name));
        } else if (t->json) {
            seam_array_append_take(all, entry_json(name, state, &o));
        } else {
            entry_text(name, state, &o);
        }
    }
    for (size_t i = 0; i < count; i++) {
        free(names[i]);
    }
    free(names);
    if (t->json) {
        tool_print_json(all);
    } else {
        seam_value_unref(all);
    }
    return 0;
}
