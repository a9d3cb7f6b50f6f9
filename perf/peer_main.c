/* xfer-bench-peer: the benchmarks' peer on its own, for clients that are not
 * linked with perf/ (wrk, curl_multi_load) to be measured against exactly
 * the same server, pinning and port choice. Prints "port N" once the peer
 * answers, then serves until SIGTERM or SIGINT.
 *   XFER_BENCH_PEER=nginx xfer-bench-peer > port.txt & */
#include "peer.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

/* A forgotten peer goes away by itself: longer than any run of perf/run.sh,
 * short enough not to linger for days. */
#define MAX_LIFETIME_S 1800

int main(void) {
  struct xb_peer peer;
  char why[256];
  if (peer_start(&peer, why, sizeof why) < 0) {
    fprintf(stderr, "xfer-bench-peer: %s\n", why);
    return 1;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGALRM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  alarm(MAX_LIFETIME_S);
  printf("port %u peer %s cpu %d\n", (unsigned)peer.port, peer.kind, peer.peer_cpu);
  fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  peer_stop(&peer);
  return 0;
}
