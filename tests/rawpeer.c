/* SPDX-License-Identifier: MIT */
/* rawpeer.c - a peer that is not seam (see rawpeer.h). */
#include "rawpeer.h"

#include "support.h"

#include <seam.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const uint8_t rawpeer_hello[48] = {
    0x20, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xa3, 0x64, 0x73, 0x65, 0x61, 0x6d, 0x01, 0x69, 0x6d, 0x61, 0x78, 0x5f, 0x66, 0x72, 0x61, 0x6d,
    0x65, 0x1a, 0x01, 0x00, 0x00, 0x00, 0x67, 0x6d, 0x61, 0x78, 0x5f, 0x66, 0x64, 0x73, 0x18, 0x40};

void rawpeer_put_header(uint8_t out[16], uint32_t len, uint8_t kind, uint8_t flags, uint16_t nfds,
                        uint64_t id)
{
    memset(out, 0, 16);
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(len >> (8 * i));
    }
    out[4] = kind;
    out[5] = flags;
    out[6] = (uint8_t)nfds;
    out[7] = (uint8_t)(nfds >> 8);
    for (int i = 0; i < 8; i++) {
        out[8 + i] = (uint8_t)(id >> (8 * i));
    }
}

uint32_t rawpeer_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t rawpeer_get_id(const uint8_t hdr[16])
{
    uint64_t id = 0;
    for (int i = 7; i >= 0; i--) {
        id = id << 8 | hdr[8 + i];
    }
    return id;
}

void rawpeer_make_hello(uint8_t out[48], uint32_t max_frame)
{
    memcpy(out, rawpeer_hello, sizeof(rawpeer_hello));
    /* max_frame is the big-endian u32 after 0x1a in the payload. */
    out[16 + 18] = (uint8_t)(max_frame >> 24);
    out[16 + 19] = (uint8_t)(max_frame >> 16);
    out[16 + 20] = (uint8_t)(max_frame >> 8);
    out[16 + 21] = (uint8_t)max_frame;
}

bool rawpeer_name_addr(const char *name, struct sockaddr_un *addr)
{
    char path[PATH_MAX];
    if (seam_name_path(name, path, sizeof(path)) < 0 || strlen(path) >= sizeof(addr->sun_path)) {
        return false;
    }
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, strlen(path) + 1);
    return true;
}

int rawpeer_connect(const char *name)
{
    struct sockaddr_un addr;
    if (!rawpeer_name_addr(name, &addr)) {
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

int rawpeer_listen(const char *name)
{
    struct sockaddr_un addr;
    if (!rawpeer_name_addr(name, &addr)) {
        return -1;
    }
    unlink(addr.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 8) < 0)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

int rawpeer_handshake(const char *name)
{
    int fd = rawpeer_connect(name);
    uint8_t hdr[16];
    if (fd < 0) {
        return -1;
    }
    if (!support_write_full(fd, rawpeer_hello, sizeof(rawpeer_hello)) ||
        rawpeer_read_frame(fd, hdr, NULL, 0, SUPPORT_DEADLINE_MS) < 0 || hdr[4] != RAWPEER_HELLO) {
        close(fd);
        return -1;
    }
    return fd;
}

long rawpeer_read_frame(int fd, uint8_t hdr[16], uint8_t *buf, size_t cap, int timeout_ms)
{
    if (!support_read_full(fd, hdr, 16, timeout_ms)) {
        return -1;
    }
    uint32_t len = rawpeer_get_u32(hdr);
    uint8_t sink[4096];
    for (uint32_t got = 0; got < len;) {
        size_t n = len - got < sizeof(sink) ? len - got : sizeof(sink);
        uint8_t *to = got + n <= cap ? buf + got : sink;
        if (!support_read_full(fd, to, n, timeout_ms)) {
            return -1;
        }
        got += (uint32_t)n;
    }
    return (long)len;
}

bool rawpeer_wait_closed(int fd, int timeout_ms)
{
    long long deadline = support_now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - support_now_ms();
        if (left <= 0) {
            return false;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0) {
            continue;
        }
        uint8_t buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return true;
        }
    }
}

bool rawpeer_send_with_fds(int fd, const void *bytes, size_t len, const int *fds, size_t nfds)
{
    struct iovec iov = {(void *)bytes, len};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 64)];
    } ctl;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 64) {
        return false;
    }
    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        m.msg_control = ctl.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    return sendmsg(fd, &m, MSG_NOSIGNAL) == (ssize_t)len;
}

int rawpeer_payload_code(const uint8_t *bytes, size_t len)
{
    seam_value *v = NULL;
    int64_t code = 0;
    if (len > 0 && seam_value_decode(bytes, len, NULL, &v) == 0) {
        seam_dict_get_int64(v, "code", &code);
    }
    seam_value_unref(v);
    return (int)code;
}

int rawpeer_goodbye_code(int fd, int timeout_ms)
{
    uint8_t hdr[16];
    uint8_t payload[256];
    int code = 0;
    long len;
    while ((len = rawpeer_read_frame(fd, hdr, payload, sizeof(payload), timeout_ms)) >= 0) {
        if (hdr[4] == RAWPEER_BYE) {
            code = rawpeer_payload_code(payload, (size_t)len);
        }
    }
    return code;
}
