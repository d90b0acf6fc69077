/* SPDX-License-Identifier: MIT */
/* bench_sdbus.c - an sd-bus peer-to-peer method call, no bus daemon: the
 * two processes share a socketpair, one side is an anonymous sd-bus server
 * exporting Echo(ay) -> ay, the other calls it synchronously. rtt only. */
#include "common.h"

#include <systemd/sd-bus.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OBJ   "/org/seam/Bench"
#define IFACE "org.seam.Bench"

static int echo(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
    const void *p;
    size_t n;
    int r = sd_bus_message_read_array(m, 'y', &p, &n);
    if (r < 0) {
        return r;
    }
    sd_bus_message *reply = NULL;
    r = sd_bus_message_new_method_return(m, &reply);
    if (r >= 0) {
        r = sd_bus_message_append_array(reply, 'y', p, n);
    }
    if (r >= 0) {
        r = sd_bus_send(NULL, reply, NULL);
    }
    sd_bus_message_unref(reply);
    return r;
}

static const sd_bus_vtable vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Echo", "ay", "ay", echo, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

static int server_child(const bench_opts *o, bench_child *self, void *arg)
{
    int *sv = arg;
    close(sv[0]);
    sd_bus *bus = NULL;
    sd_id128_t id;
    int r = sd_bus_new(&bus);
    if (r >= 0) {
        r = sd_bus_set_fd(bus, sv[1], sv[1]);
    }
    if (r >= 0) {
        r = sd_id128_randomize(&id);
    }
    if (r >= 0) {
        r = sd_bus_set_server(bus, 1, id);
    }
    if (r >= 0) {
        r = sd_bus_set_anonymous(bus, 1);
    }
    if (r >= 0) {
        r = sd_bus_add_object_vtable(bus, NULL, OBJ, IFACE, vtable, NULL);
    }
    if (r >= 0) {
        r = sd_bus_start(bus);
    }
    if (r < 0) {
        fprintf(stderr, "sd-bus server: %s\n", strerror(-r));
        return 1;
    }
    for (;;) {
        r = sd_bus_process(bus, NULL);
        if (r < 0) {
            break; /* the client hung up */
        }
        if (r > 0) {
            continue;
        }
        if (sd_bus_wait(bus, UINT64_MAX) < 0) {
            break;
        }
    }
    sd_bus_flush_close_unref(bus);
    return 0;
}

static int run(const bench_opts *o)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return 1;
    }
    bench_child child;
    if (bench_fork(o, &child, server_child, sv) < 0) {
        return 1;
    }
    close(sv[1]);
    sd_bus *bus = NULL;
    int r = sd_bus_new(&bus);
    if (r >= 0) {
        r = sd_bus_set_fd(bus, sv[0], sv[0]);
    }
    if (r >= 0) {
        r = sd_bus_set_anonymous(bus, 1);
    }
    if (r >= 0) {
        r = sd_bus_start(bus);
    }
    uint8_t *buf = calloc(1, o->size);
    bench_rtt rtt;
    if (r < 0 || buf == NULL || bench_rtt_init(&rtt, o) < 0) {
        fprintf(stderr, "sd-bus client: %s\n", strerror(r < 0 ? -r : 12));
        return 1;
    }
    int status = 0;
    bool done = false;
    while (!done) {
        rtt.t0 = bench_now_ns();
        sd_bus_message *m = NULL;
        sd_bus_message *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        const void *p = NULL;
        size_t n = 0;
        r = sd_bus_message_new_method_call(bus, &m, NULL, OBJ, IFACE, "Echo");
        if (r >= 0) {
            r = sd_bus_message_append_array(m, 'y', buf, o->size);
        }
        if (r >= 0) {
            r = sd_bus_call(bus, m, 0, &err, &reply);
        }
        if (r >= 0) {
            r = sd_bus_message_read_array(reply, 'y', &p, &n);
        }
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&err);
        if (r < 0 || n != o->size) {
            fprintf(stderr, "sd-bus call: %s\n", strerror(r < 0 ? -r : 71));
            status = 1;
            break;
        }
        done = bench_rtt_record(&rtt);
    }
    if (status == 0) {
        bench_rtt_emit(&rtt, o, "sd-bus");
    }
    bench_rtt_free(&rtt);
    sd_bus_flush_close_unref(bus);
    free(buf);
    if (bench_wait(&child) != 0) {
        status = 1;
    }
    return status;
}

int main(int argc, char **argv)
{
    return bench_main(argc, argv, run);
}
