/* SPDX-License-Identifier: MIT */
/* require.c - the peer requirements of seam_server_config.require, checked
 * on an accepted peer before a byte of it is read: its uid, its groups
 * (the kernel's record from connect time, supplementary ones included)
 * and the executable its process runs, found through its pidfd so that a
 * reused pid cannot answer for it. */
#include "require.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int require_dup_ids(const uint32_t *in, size_t n, uint32_t **out)
{
    *out = NULL;
    if (n == 0) {
        return 0;
    }
    if (in == NULL) {
        return SEAM_EINVAL;
    }
    if (n > SIZE_MAX / sizeof(*in) || (*out = malloc(n * sizeof(*in))) == NULL) {
        return SEAM_ENOMEM;
    }
    memcpy(*out, in, n * sizeof(*in));
    return 0;
}

int seam__require_copy(const seam_peer_require *in, seam__require *out)
{
    memset(out, 0, sizeof(*out));
    if (in == NULL) {
        return 0;
    }
    if (in->exe != NULL && in->exe[0] != '/') {
        return SEAM_EINVAL;
    }
    int r = require_dup_ids(in->uids, in->nuids, &out->uids);
    if (r == 0) {
        r = require_dup_ids(in->gids, in->ngids, &out->gids);
    }
    if (r == 0 && in->exe != NULL && (out->exe = strdup(in->exe)) == NULL) {
        r = SEAM_ENOMEM;
    }
    if (r < 0) {
        seam__require_free(out);
        return r;
    }
    out->set = true;
    out->nuids = in->nuids;
    out->ngids = in->ngids;
    out->same_user = in->same_user;
    return 0;
}

void seam__require_free(seam__require *r)
{
    free(r->uids);
    free(r->gids);
    free(r->exe);
    memset(r, 0, sizeof(*r));
}

bool seam__require_wants_pidfd(const seam__require *r)
{
    return r->exe != NULL;
}

static bool require_listed(const uint32_t *ids, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* Whether one of the peer's groups is allowed: its primary group from the
 * credentials, else the supplementary ones the kernel recorded when it
 * connected (SO_PEERGROUPS), which a later setgroups() cannot change. */
static bool require_group_ok(const seam__require *r, seam__pipe *p, const seam_peer *peer,
                             size_t *nsupp)
{
    *nsupp = 0;
    if (require_listed(r->gids, r->ngids, peer->gid)) {
        return true;
    }
    uint32_t *groups = NULL;
    if (p->tran->peer_groups == NULL || p->tran->peer_groups(p, &groups, nsupp) < 0) {
        return false;
    }
    bool ok = false;
    for (size_t i = 0; i < *nsupp && !ok; i++) {
        ok = require_listed(r->gids, r->ngids, groups[i]);
    }
    free(groups);
    return ok;
}

/* Whether the peer's process runs the file at r->exe (the same device and
 * inode, so that links, bind mounts and a path spelled otherwise make no
 * difference). /proc/<pid> is opened first and only then is the pidfd
 * asked whether its process still runs (a pidfd turns readable when its
 * process exits): if it does, the pid was not reused between the two, so
 * the directory is that process's; if it went (or never had a pidfd),
 * nothing proves who runs under the pid and the peer is refused. Returns
 * 1, 0, or a negative code when it cannot tell. */
static int require_exe_ok(const char *exe, const seam_peer *peer)
{
    struct stat want;
    struct stat got;
    if (peer->pidfd < 0 || peer->pid <= 0) {
        return SEAM_ENOTSUP;
    }
    if (stat(exe, &want) < 0) {
        return -errno;
    }
    char dir[32];
    snprintf(dir, sizeof(dir), "/proc/%d", (int)peer->pid);
    int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        return -errno;
    }
    int r = 0;
    struct pollfd exited = {peer->pidfd, POLLIN, 0};
    int n = poll(&exited, 1, 0);
    if (n != 0) {
        r = n < 0 ? -errno : SEAM_ECONNRESET; /* gone: its pid may be another's now */
    } else if (fstatat(dfd, "exe", &got, 0) < 0) {
        r = -errno;
    } else {
        r = got.st_dev == want.st_dev && got.st_ino == want.st_ino;
    }
    close(dfd);
    return r;
}

const char *seam__require_check(const seam__require *r, seam__pipe *p, const seam_peer *peer,
                                char *reason, size_t len)
{
    bool creds = (peer->flags & SEAM_PEER_CREDS) != 0;
    if (!r->set) {
        return NULL;
    }
    if (r->same_user && (!creds || peer->uid != (uint32_t)geteuid())) {
        snprintf(reason, len, "uid %u is not the server's user", (unsigned)peer->uid);
        return "same_user";
    }
    if (r->nuids > 0 && (!creds || !require_listed(r->uids, r->nuids, peer->uid))) {
        snprintf(reason, len, "uid %u is not among the allowed users", (unsigned)peer->uid);
        return "uid";
    }
    size_t nsupp = 0;
    if (r->ngids > 0 && (!creds || !require_group_ok(r, p, peer, &nsupp))) {
        snprintf(reason, len, "neither gid %u nor its %zu supplementary groups are allowed",
                 (unsigned)peer->gid, nsupp);
        return "gid";
    }
    if (r->exe != NULL) {
        int ok = require_exe_ok(r->exe, peer);
        if (ok < 0) {
            snprintf(reason, len, "cannot verify the executable of pid %d: %s", (int)peer->pid,
                     seam_strerror(ok));
            return "exe";
        }
        if (ok == 0) {
            snprintf(reason, len, "pid %d does not run %s", (int)peer->pid, r->exe);
            return "exe";
        }
    }
    return NULL;
}
