/* Name resolution that never blocks the loop. Numeric hosts and
 * XFEROPT_RESOLVE entries are answered at once; other names go to a small
 * pool of resolver threads running getaddrinfo(), whose answers land in a
 * per-multi cache with a TTL and wake the loop through an eventfd. */
#ifndef XFER_RUNTIME_DNS_H
#define XFER_RUNTIME_DNS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../backends/backend.h"
#include "queue.h"

struct xfer_multi;
struct xfer_easy;

/* libcurl's default DNS cache timeout (CURLOPT_DNS_CACHE_TIMEOUT, 60 s). */
#define XFER__DNS_TTL_US    (60u * 1000000u)
/* Enough threads that one slow name does not hold up the others; few
 * enough to be cheap when idle. */
#define XFER__DNS_THREADS   4
/* Addresses kept per name (and so per transfer): enough for a dual-stack
 * host with a few records; more are ignored, as a load balancer's long list
 * would be. */
#define XFER__DNS_MAX_ADDRS 8

struct xfer__dns_entry {
  char *host;
  uint16_t port;     /* RESOLVE entries are per port; cached answers use 0 */
  uint8_t permanent; /* from XFEROPT_RESOLVE: never expires */
  uint64_t expires;
  unsigned naddrs;
  struct sockaddr_storage addrs[XFER__DNS_MAX_ADDRS];
  struct xfer__queue link;
};

/* One lookup in flight. Shared with a resolver thread, so its fields are
 * guarded by the shared state's mutex until the answer is taken. */
struct xfer__dns_req {
  char *host;
  struct xfer_easy *owner; /* NULL once the transfer gave up on it */
  int err;                 /* getaddrinfo() result */
  unsigned naddrs;
  struct sockaddr_storage addrs[XFER__DNS_MAX_ADDRS];
  struct xfer__queue link;
};

/* The part resolver threads share; reference-counted so that
 * xfer_multi_cleanup never waits for a slow lookup (libcurl's pitfall,
 * issues #3371, #8515): the last thread to finish frees it. */
struct xfer__dns_shared {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct xfer__queue todo;
  struct xfer__queue done;
  unsigned refs;
  unsigned threads;
  unsigned idle_threads;
  int shutdown;
  int efd; /* eventfd: an answer is waiting */
};

struct xfer__dns {
  struct xfer__queue cache;
  struct xfer__dns_shared *shared; /* created at the first real lookup */
  struct xfer__op op;              /* POLL_IN on shared->efd */
};

void xfer__dns_init(struct xfer__dns *d);
void xfer__dns_destroy(struct xfer_multi *m);
/* Fills the transfer's address list. Returns 0 when answered at once, 1
 * when a lookup was started (the transfer is resumed by
 * xfer__dns_process), or a negative code (error.h) with the error buffer
 * set. */
int xfer__dns_resolve(struct xfer_multi *m, struct xfer_easy *e);
/* The transfer gives up on its lookup (removed, timed out). */
void xfer__dns_cancel(struct xfer_multi *m, struct xfer_easy *e);
/* Takes finished lookups and resumes their transfers. */
void xfer__dns_process(struct xfer_multi *m);

#endif
