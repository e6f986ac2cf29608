/*
 * asan-preload.so: preloaded after libasan.so into the stock
 * /usr/sbin/nginx when it runs the ASan build of the module
 * (EVENTLY_ASAN=1, see scripts/build and EVENTLY_NGINX_ENV in
 * scripts/env.sh). Built by `scripts/build --asan` with nginx's headers.
 * Test tooling only; never loaded otherwise.
 *
 * 1. dlclose() is a no-op: nginx unloads its dynamic modules when the
 *    cycle pool is destroyed, before LeakSanitizer runs at exit, and the
 *    module's frames would print as "<unknown module>".
 *
 * 2. nginx never frees the worker's connection and event arrays
 *    (cycle->connections, cycle->read_events, cycle->write_events,
 *    allocated by ngx_event_process_init() with ngx_alloc()): once the
 *    cycle pool is destroyed at exit they are an "Indirect leak" of
 *    nginx itself in every report. Their addresses are noted at each
 *    epoll_wait() (the event loop runs in workers and with
 *    master_process off) and an atexit() handler, which runs before
 *    LeakSanitizer's (registered earlier), frees them. Freeing, rather
 *    than keeping a reference, hides nothing that they point to.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <dlfcn.h>
#include <sys/epoll.h>


typedef int (*epoll_wait_pt)(int epfd, struct epoll_event *events,
    int maxevents, int timeout);


int dlclose(void *handle);
int epoll_wait(int epfd, struct epoll_event *events, int maxevents,
    int timeout);


static void  *evently_connections;
static void  *evently_read_events;
static void  *evently_write_events;
static pid_t  evently_pid;


int
dlclose(void *handle)
{
    (void) handle;

    return 0;
}


static void
evently_free_arrays(void)
{
    /* only in the process that noted them (not in a forked child) */

    if (evently_pid != getpid()) {
        return;
    }

    free(evently_connections);
    free(evently_read_events);
    free(evently_write_events);

    evently_connections = NULL;
    evently_read_events = NULL;
    evently_write_events = NULL;
}


int
epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    static epoll_wait_pt   real;
    static pid_t           registered;
    volatile ngx_cycle_t  *cycle;

    if (real == NULL) {
        real = (epoll_wait_pt) dlsym(RTLD_NEXT, "epoll_wait");
    }

    cycle = ngx_cycle;

    if (cycle != NULL && cycle->connections != NULL) {
        evently_connections = cycle->connections;
        evently_read_events = cycle->read_events;
        evently_write_events = cycle->write_events;
        evently_pid = getpid();

        if (registered != evently_pid) {
            registered = evently_pid;
            atexit(evently_free_arrays);
        }
    }

    return real(epfd, events, maxevents, timeout);
}
