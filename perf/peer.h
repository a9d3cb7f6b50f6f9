/* The HTTP peer the benchmarks load: a separate process on 127.0.0.1 at a
 * port the kernel picks, serving the 13-byte "Hello, world!" of the
 * performance baselines' /small endpoint on keep-alive connections. */
#ifndef XFER_PERF_PEER_H
#define XFER_PERF_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct xb_peer {
  pid_t pid;
  uint16_t port;
  /* "builtin" (xfer-load's single-threaded epoll server) or "nginx". */
  const char *kind;
  /* The CPUs the peer and the caller were pinned to, -1 when not pinned
   * (a single CPU). */
  int peer_cpu;
  int client_cpu;
  /* nginx's scratch directory (config, logs, temp paths); empty for the
   * built-in server. */
  char dir[64];
};

/* Starts the peer chosen by XFER_BENCH_PEER (builtin, the default, or nginx)
 * and waits until it answers a request. With two or more CPUs the peer is
 * pinned to CPU 0 and the calling thread to CPU 1, as the baselines were
 * measured; XFER_BENCH_CLIENT_CPU=0 puts the caller on the peer's CPU
 * instead (the baselines' "same CPU" row). The peer dies with the caller.
 * Returns 0, or -1 with the reason in why. */
int peer_start(struct xb_peer *p, char *why, size_t whylen);

/* Stops the peer and removes its scratch directory. */
void peer_stop(struct xb_peer *p);

#endif
