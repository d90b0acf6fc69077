/* SPDX-License-Identifier: MIT */
/* util.c - byte buffers, UTF-8 validation and service names, used across
 * the core. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int seam__buf_reserve(seam__buf *b, size_t extra)
{
    if (extra <= b->cap - b->len) {
        return 0;
    }
    if (extra > SIZE_MAX / 2 - b->len) {
        return SEAM_ENOMEM;
    }
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap *= 2;
    }
    uint8_t *data = realloc(b->data, cap);
    if (data == NULL) {
        return SEAM_ENOMEM;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

int seam__buf_append(seam__buf *b, const void *bytes, size_t len)
{
    int r = seam__buf_reserve(b, len);
    if (r < 0) {
        return r;
    }
    if (len > 0) {
        memcpy(b->data + b->len, bytes, len);
        b->len += len;
    }
    return 0;
}

void seam__buf_free(seam__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

bool seam__utf8_valid(const uint8_t *s, size_t len)
{
    if (len < 16) {
        /* Keys and short strings, ASCII nearly always: one pass. */
        uint8_t any = 0;
        for (size_t k = 0; k < len; k++) {
            any |= s[k];
        }
        if (any < 0x80) {
            return true;
        }
    }
    size_t i = 0;
    while (i < len) {
        /* Most text is ASCII: skip it eight bytes at a time. */
        while (len - i >= 8) {
            uint64_t word;
            memcpy(&word, s + i, 8);
            if ((word & 0x8080808080808080u) != 0) {
                break;
            }
            i += 8;
        }
        if (i == len) {
            break;
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        uint32_t min;
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= n) {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            uint8_t cc = s[i + k];
            if ((cc & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

bool seam__name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200 || name[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}
