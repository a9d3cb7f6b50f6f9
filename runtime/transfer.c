/* The transfer state machine: every state change goes through set_state(),
 * and each state's work is its own small function (curl's mstate() with
 * its entry-action table, without the 4,000-line file). The byte-moving
 * states live in transfer_send.c, transfer_recv.c and transfer_tls.c.
 *
 *   INIT -> RESOLVING -> PENDING -> CONNECTING -> TLS -> SENDING -> RECEIVING -> DONE
 *
 * RESOLVING and PENDING are skipped when the answer or the connection is
 * there at once; a redirect or a safe retry loops back to resolve or
 * connect inside the same transfer. */
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "multi.h"
#include "transfer.h"

static const char *const state_names[XFER__ST_COUNT] = {
    [XFER__ST_IDLE] = "IDLE",
    [XFER__ST_INIT] = "INIT",
    [XFER__ST_RESOLVING] = "RESOLVING",
    [XFER__ST_PENDING] = "PENDING",
    [XFER__ST_CONNECTING] = "CONNECTING",
    [XFER__ST_TLS] = "TLS",
    [XFER__ST_SENDING] = "SENDING",
    [XFER__ST_RECEIVING] = "RECEIVING",
    [XFER__ST_DONE] = "DONE",
};

/* Waiting states arm the connect deadline on entry. A transfer that takes a
 * warm connection never enters one, so the keep-alive path touches the
 * timer heap only when the application set a total timeout. */
static void arm_timer(struct xfer_multi *m, struct xfer_easy *e) { xfer__transfer_set_timer(m, e); }

static void enter_pending(struct xfer_multi *m, struct xfer_easy *e) {
  xfer__queue_insert_tail(&m->pending, &e->x.pending_link);
  m->npending++;
  arm_timer(m, e);
}

static void leave_pending(struct xfer_multi *m, struct xfer_easy *e) {
  xfer__queue_remove(&e->x.pending_link);
  m->npending--;
}

/* Entry and exit actions, indexed by state; NULL where there is none. */
static void (*const on_enter[XFER__ST_COUNT])(struct xfer_multi *, struct xfer_easy *) = {
    [XFER__ST_RESOLVING] = arm_timer,
    [XFER__ST_PENDING] = enter_pending,
    [XFER__ST_CONNECTING] = arm_timer,
};
static void (*const on_leave[XFER__ST_COUNT])(struct xfer_multi *, struct xfer_easy *) = {
    [XFER__ST_PENDING] = leave_pending,
};

void xfer__set_state(struct xfer_multi *m, struct xfer_easy *e, enum xfer__state st, int line) {
  enum xfer__state old = e->x.state;
  if (old == st)
    return;
  if (on_leave[old])
    on_leave[old](m, e);
  e->x.state = st;
  /* The state trace is for debug callbacks; stderr gets libcurl's lines. */
  if (e->opt.verbose && e->opt.debug_cb) {
    char buf[96];
    int n = snprintf(buf, sizeof buf, "STATE: %s => %s (transfer.c:%d)\n", state_names[old],
                     state_names[st], line);
    xfer__easy_debug(e, XFERINFO_TEXT, buf, (size_t)n);
  }
  if (on_enter[st])
    on_enter[st](m, e);
}

/* ---- timers ------------------------------------------------------------ */

/* libcurl's built-in connect timeout when none is set (300 s). */
#define DEFAULT_CONNECT_TIMEOUT_MS 300000L

static uint64_t total_deadline(const struct xfer_easy *e) {
  return e->opt.timeout_ms > 0 ? e->x.t_start + (uint64_t)e->opt.timeout_ms * 1000u : UINT64_MAX;
}

static uint64_t connect_deadline(const struct xfer_easy *e) {
  long ms = e->opt.connecttimeout_ms > 0 ? e->opt.connecttimeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
  return e->x.t_start + (uint64_t)ms * 1000u;
}

/* The states that wait for a connection, which the connect deadline
 * covers; the TLS handshake is one, as in libcurl. INIT is not: a transfer
 * leaves it within the turn, into one of these or onto a warm connection,
 * and arming the 300 s deadline there cost a heap insert and removal on
 * every keep-alive request. */
static int waiting_for_connection(const struct xfer_easy *e) {
  return e->x.state == XFER__ST_RESOLVING || e->x.state == XFER__ST_PENDING ||
         e->x.state == XFER__ST_CONNECTING || e->x.state == XFER__ST_TLS;
}

/* For the timeout's sentence: no connection yet. */
static int connecting_phase(const struct xfer_easy *e) {
  return waiting_for_connection(e) || e->x.state == XFER__ST_INIT;
}

void xfer__transfer_set_timer(struct xfer_multi *m, struct xfer_easy *e) {
  uint64_t when = total_deadline(e);
  if (waiting_for_connection(e)) {
    uint64_t c = connect_deadline(e);
    if (c < when)
      when = c;
  }
  if (when == UINT64_MAX) {
    xfer__heap_remove(&m->timers, &e->x.timer);
    return;
  }
  if (xfer__heap_node_active(&e->x.timer) && e->x.timer.when == when)
    return;
  /* Cannot fail: add_handle reserved a heap slot for every added transfer,
   * so arming a timer never needs memory in the middle of a state change. */
  (void)xfer__heap_set(&m->timers, &e->x.timer, when);
}

void xfer__transfer_timeout(struct xfer_multi *m, struct xfer_easy *e) {
  uint64_t now = m->now;
  long elapsed = (long)((now - e->x.t_start) / 1000u);
  if (now >= total_deadline(e)) {
    if (connecting_phase(e))
      xfer__transfer_fail(m, e, XFERE_OPERATION_TIMEDOUT,
                          "Operation timed out after %ld milliseconds before a connection "
                          "was made",
                          elapsed);
    else
      xfer__transfer_fail(m, e, XFERE_OPERATION_TIMEDOUT,
                          "Operation timed out after %ld milliseconds with %lld bytes received",
                          elapsed, (long long)e->info.size_download);
    return;
  }
  if (waiting_for_connection(e) && now >= connect_deadline(e)) {
    xfer__transfer_fail(m, e, XFERE_OPERATION_TIMEDOUT,
                        "Connection timed out after %ld milliseconds", elapsed);
    return;
  }
  /* The connect deadline passed after the connection was made: only the
   * total one is left. */
  xfer__transfer_set_timer(m, e);
}

/* ---- start, finish, abort ------------------------------------------------ */

static void reset_response(struct xfer_easy *e) {
  struct xfer__transfer *x = &e->x;
  x->head_done = 0;
  x->head_scanned = 0;
  x->resp_bytes = 0;
  x->req_sent = 0;
  x->body_sent = 0;
  x->body_eof = 0;
  x->req_on_wire = 0;
  x->deliver_body = 1;
  memset(&x->head, 0, sizeof x->head);
}

void xfer__transfer_start(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__transfer *x = &e->x;
  x->result = XFERE_OK;
  x->conn = NULL;
  x->dns = NULL;
  x->tls = NULL;
  /* A redirect target of the previous run is not needed any more. */
  xfer__url_free(&x->redirect_url);
  x->url = &e->url;
  x->retried = 0;
  x->want_fresh = 0;
  x->method_get_like = 0;
  x->head_total = 0;
  xfer__heap_node_init(&x->timer);
  reset_response(e);
  memset(&e->info, 0, sizeof e->info);
  e->info.content_length_download = -1;
  e->x.state = XFER__ST_INIT;
  xfer__queue_insert_tail(&m->ready, &x->ready_link);
  m->nrunning++;
}

/* Stops the transfer's activity wherever it is (lookup, queue, timer) and
 * detaches its connection, which the caller pools or closes. */
static struct xfer__conn *stop(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__transfer *x = &e->x;
  if (x->state == XFER__ST_RESOLVING)
    xfer__dns_cancel(m, e);
  xfer__queue_remove(&x->ready_link);
  xfer__heap_remove(&m->timers, &x->timer);
  struct xfer__conn *c = x->conn;
  x->conn = NULL;
  if (c)
    c->owner = NULL;
  return c;
}

/* The transfer ends with `code`: its connection goes back to the pool when
 * the response left it clean, one message is queued, and a connection slot
 * may have freed up for a pending transfer. */
void xfer__transfer_finish(struct xfer_multi *m, struct xfer_easy *e, xfer_code code,
                           int reusable) {
  struct xfer__transfer *x = &e->x;
  if (x->state == XFER__ST_DONE || x->state == XFER__ST_IDLE)
    return;
  struct xfer__conn *c = stop(m, e);
  if (c)
    xfer__pool_release(m, c, reusable && code == XFERE_OK && !e->opt.forbid_reuse);
  x->result = code;
  e->info.t_total = (int64_t)(m->now - x->t_start);
  XFER__SET_STATE(m, e, XFER__ST_DONE);
  e->msg.msg = XFERMSG_DONE;
  e->msg.easy_handle = e;
  e->msg.data.result = code;
  e->msg_queued = 1;
  xfer__queue_insert_tail(&m->msgs, &e->msg_link);
  m->nmsgs++;
  m->nrunning--;
  xfer__transfer_promote(m);
}

void xfer__transfer_fail(struct xfer_multi *m, struct xfer_easy *e, xfer_code code, const char *fmt,
                         ...) {
  if (fmt && e->opt.errorbuffer) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->opt.errorbuffer, XFER_ERROR_SIZE, fmt, ap);
    va_end(ap);
  }
  if (fmt && e->opt.verbose) {
    char buf[XFER_ERROR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
      n = 0;
    if ((size_t)n > sizeof buf - 2)
      n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    xfer__easy_debug(e, XFERINFO_TEXT, buf, (size_t)n);
  }
  xfer__transfer_finish(m, e, code, 0);
}

void xfer__transfer_abort(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__transfer *x = &e->x;
  int running = x->state != XFER__ST_DONE && x->state != XFER__ST_IDLE;
  struct xfer__conn *c = stop(m, e);
  /* Stopped mid-exchange: what is on the wire is unknown, so the
   * connection cannot be trusted with another request. */
  if (c)
    xfer__pool_close(m, c);
  XFER__SET_STATE(m, e, XFER__ST_IDLE);
  if (running) {
    m->nrunning--;
    xfer__transfer_promote(m);
  }
}

/* ---- setup, resolve, connect ------------------------------------------- */

static void do_connect(struct xfer_multi *m, struct xfer_easy *e);

static void do_setup(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__transfer *x = &e->x;
  x->t_start = m->now;
  int rc = xfer__easy_prepare(e);
  if (rc < 0) {
    /* The error buffer was filled by prepare. */
    xfer__transfer_finish(m, e, xfer__code_of(rc, XFERE_FAILED_INIT), 0);
    return;
  }
  x->url = &e->url;
  xfer__transfer_set_request(e, e->req_buf, e->req_len);
  if (e->opt.timeout_ms > 0)
    xfer__transfer_set_timer(m, e); /* the total deadline runs from here */
  xfer__transfer_resolve(m, e);
}

static int reuse_idle(struct xfer_multi *m, struct xfer_easy *e);

void xfer__transfer_resolve(struct xfer_multi *m, struct xfer_easy *e) {
  /* A pooled connection needs no name: the pool is asked first, as
   * libcurl's does, so a warm keep-alive request never touches the resolver
   * or its cache (parsing a numeric host alone cost some 300 instructions
   * per request under callgrind). */
  if (!e->opt.fresh_connect && !e->x.want_fresh && reuse_idle(m, e) != 0)
    return;
  int rc = xfer__dns_resolve(m, e);
  if (rc < 0) {
    /* The error buffer was filled by the resolver. */
    xfer__transfer_finish(m, e, xfer__code_of(rc, XFERE_COULDNT_RESOLVE_HOST), 0);
    return;
  }
  if (rc == 1) {
    XFER__SET_STATE(m, e, XFER__ST_RESOLVING);
    return;
  }
  e->info.t_namelookup = (int64_t)(m->now - e->x.t_start);
  do_connect(m, e);
}

void xfer__transfer_resolved(struct xfer_multi *m, struct xfer_easy *e, int err) {
  if (err < 0) {
    xfer__transfer_finish(m, e, xfer__code_of(err, XFERE_COULDNT_RESOLVE_HOST), 0);
    return;
  }
  e->info.t_namelookup = (int64_t)(m->now - e->x.t_start);
  do_connect(m, e);
}

/* Records the connection's two ends on it, once, when it is up. */
static void learn_addresses(struct xfer__conn *c) {
  const struct sockaddr_storage *peer = &c->peer;
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  if (peer->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)peer;
    inet_ntop(AF_INET6, &s6->sin6_addr, c->peer_ip, sizeof c->peer_ip);
    c->peer_port = ntohs(s6->sin6_port);
  } else {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)peer;
    inet_ntop(AF_INET, &s4->sin_addr, c->peer_ip, sizeof c->peer_ip);
    c->peer_port = ntohs(s4->sin_port);
  }
  c->local_port = 0;
  if (getsockname(c->fd, (struct sockaddr *)&local, &len) == 0)
    c->local_port = local.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&local)->sin6_port)
                                                : ntohs(((struct sockaddr_in *)&local)->sin_port);
}

static void note_addresses(struct xfer_easy *e, const struct xfer__conn *c) {
  memcpy(e->info.primary_ip, c->peer_ip, sizeof c->peer_ip);
  e->info.primary_port = c->peer_port;
  e->info.local_port = c->local_port;
}

static void attach(struct xfer_multi *m, struct xfer_easy *e, struct xfer__conn *c, int reused) {
  e->x.conn = c;
  e->x.reused_conn = (unsigned)reused;
  c->owner = e;
}

/* The connection is up: record where it goes and start the request. */
static void connected(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__conn *c = e->x.conn;
  /* Counted once it is up: addresses that refused were attempts only. */
  e->info.num_connects++;
  learn_addresses(c);
  note_addresses(e, c);
  e->info.t_connect = (int64_t)(m->now - e->x.t_start);
  if (e->opt.verbose)
    xfer__easy_verbose(e, "Connected to %s (%s) port %ld", e->x.url->host, e->info.primary_ip,
                       e->info.primary_port);
  /* The connect deadline armed on entering CONNECTING goes on covering
   * the handshake; sending re-keys the timer. */
  if (c->origin->https)
    xfer__tls_begin(m, e);
  else
    xfer__transfer_send(m, e);
}

static int set_nodelay(int fd) {
  int one = 1;
  return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0 ? 0 : -errno;
}

/* Why no connection could be made: the last failure, and where it came
 * from: socket(2) (no descriptor, say), the connect, or the library. */
enum open_step { FROM_LIBRARY, FROM_SOCKET, FROM_CONNECT };
struct open_error {
  int err;
  enum open_step step;
};

/* Opens a socket to the next address and submits its connect; the backend
 * starts it (io_uring's CONNECT op, connect(2) elsewhere). Returns 0 when a
 * connect is on its way, or a negative code with *why updated: a socket(2)
 * failure moves on to the next address, an allocation failure stops. */
static int open_next(struct xfer_multi *m, struct xfer_easy *e, struct xfer__origin *o,
                     struct open_error *why) {
  while (e->x.next_addr < e->x.naddrs) {
    const struct sockaddr_storage *sa = &e->x.addrs[e->x.next_addr];
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      why->err = -errno;
      why->step = FROM_SOCKET;
      e->x.next_addr++;
      continue;
    }
    if (e->opt.tcp_nodelay)
      (void)set_nodelay(fd);
    struct xfer__conn *c;
    int prc = xfer__pool_new_conn(m, o, fd, &c);
    if (prc < 0) {
      close(fd);
      why->err = prc;
      why->step = FROM_LIBRARY;
      return prc;
    }
    c->peer = *sa;
    attach(m, e, c, 0);
    XFER__SET_STATE(m, e, XFER__ST_CONNECTING);
    c->tx.kind = XFER__OP_CONNECT;
    c->tx.addr = (const struct sockaddr *)&c->peer;
    c->tx.addrlen =
        sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    xfer__multi_submit(m, &c->tx);
    return 0;
  }
  return why->err;
}

/* No connection could be made; docs/internals/errors.md gives the codes. A
 * socket(2) failure is COULDNT_CONNECT as in libcurl's socket_open(), with
 * a sentence of its own so that running out of descriptors never reads like
 * a refusal; running out of memory is OUT_OF_MEMORY. */
static void connect_failed(struct xfer_multi *m, struct xfer_easy *e,
                           const struct open_error *why) {
  xfer_code code = why->step == FROM_LIBRARY ? xfer__code_of(why->err, XFERE_COULDNT_CONNECT)
                                             : xfer__code_of_call(why->err, XFERE_COULDNT_CONNECT);
  if (code == XFERE_OUT_OF_MEMORY) {
    xfer__transfer_fail(m, e, code, "Out of memory opening a connection");
    return;
  }
  xfer__transfer_fail(m, e, code, "Failed to %s %s port %u: %s",
                      why->step == FROM_SOCKET ? "open a socket for" : "connect to", e->x.url->host,
                      (unsigned)e->x.url->port, xfer__err_text(why->err));
}

/* What a reused TLS connection's handshake did, for this transfer's infos. */
static void note_tls(struct xfer_easy *e, const struct xfer__conn *c) {
  if (!c->tls.ssl)
    return;
  e->info.t_appconnect = e->info.t_connect;
  e->info.ssl_verifyresult = c->tls.verify_result;
  e->info.tls_backend = c->tls.ctx->vt->id;
  e->info.tls_resumed = c->tls.resumed;
}

/* The pool origin of the transfer's URL, from the handle's cache when it is
 * the same URL in the same multi with the same TLS context. */
static struct xfer__origin *origin_of(struct xfer_multi *m, struct xfer_easy *e) {
  const struct xfer__url *u = e->x.url;
  int own = u == &e->url; /* not a redirect's target */
  if (own && e->origin_last && e->origin_last_multi == m->id && e->origin_last_tls == e->x.tls)
    return e->origin_last;
  struct xfer__origin *o = xfer__pool_origin(m, u->host, u->port, u->scheme[4] == 's', e->x.tls);
  if (o && own) {
    e->origin_last = o;
    e->origin_last_multi = m->id;
    e->origin_last_tls = e->x.tls;
  }
  return o;
}

/* The transfer's origin, with its TLS settings chosen for an https URL;
 * NULL after failing the transfer with the reason. */
static struct xfer__origin *origin_or_fail(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__origin *o = origin_of(m, e);
  if (!o)
    xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY, "Out of memory creating a pool entry");
  return o;
}

static struct xfer__origin *select_origin(struct xfer_multi *m, struct xfer_easy *e) {
  e->x.tls = NULL;
  if (e->x.url->scheme[4] == 's' && xfer__tls_select(m, e) < 0)
    return NULL; /* failed with the reason */
  return origin_or_fail(m, e);
}

/* Sends on c, an idle connection taken from the pool. */
static void reuse(struct xfer_multi *m, struct xfer_easy *e, struct xfer__conn *c) {
  attach(m, e, c, 1);
  /* A reused connection's addresses are the ones it was opened with, and
   * no name was looked up for it. */
  note_addresses(e, c);
  e->info.t_namelookup = (int64_t)(m->now - e->x.t_start);
  e->info.t_connect = e->info.t_namelookup;
  note_tls(e, c);
  xfer__transfer_send(m, e);
}

/* Sends on an idle pooled connection of the transfer's origin when there
 * is one: 1 when it did, 0 when there is none, -1 after failing the
 * transfer. */
static int reuse_idle(struct xfer_multi *m, struct xfer_easy *e) {
  /* An https transfer tries the pool before the lookup only with the TLS
   * context it already had: making a context can fail (a bad CA file), and
   * that failure must still come after the name's, as libcurl reports. */
  e->x.tls = NULL;
  if (e->x.url->scheme[4] == 's' && !xfer__tls_select_cached(m, e))
    return 0;
  struct xfer__origin *o = origin_or_fail(m, e);
  if (!o)
    return -1;
  struct xfer__conn *c = xfer__pool_checkout(m, o);
  if (!c)
    return 0;
  reuse(m, e, c);
  return 1;
}

static void do_connect(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__origin *o = select_origin(m, e);
  if (!o)
    return;
  /* After a lookup (or a wait in the queue) a connection of the origin
   * may have come back to the pool meanwhile. */
  if (!e->opt.fresh_connect && !e->x.want_fresh) {
    struct xfer__conn *c = xfer__pool_checkout(m, o);
    if (c) {
      reuse(m, e, c);
      return;
    }
  }
  if (!xfer__pool_can_open(m, o)) {
    XFER__SET_STATE(m, e, XFER__ST_PENDING);
    return;
  }
  e->x.next_addr = 0;
  struct open_error why = {-ECONNREFUSED, FROM_CONNECT}; /* an empty address list */
  if (open_next(m, e, o, &why) < 0)
    connect_failed(m, e, &why);
}

/* A CONNECT op completed. */
void xfer__transfer_connect_done(struct xfer_multi *m, struct xfer_easy *e, int32_t res) {
  if (res == 0) {
    connected(m, e);
    return;
  }
  struct xfer__conn *c = e->x.conn;
  struct xfer__origin *o = c->origin;
  e->x.conn = NULL;
  c->owner = NULL;
  xfer__pool_close(m, c);
  struct open_error why = {res, FROM_CONNECT};
  /* The library could not even queue the connect: no other address will
   * do better, and it is not the peer's refusal. */
  if (res == XFER__EOPNOMEM) {
    connect_failed(m, e, &why);
    return;
  }
  e->x.next_addr++;
  if (open_next(m, e, o, &why) < 0)
    connect_failed(m, e, &why);
}

/* A slot may have freed up: start the oldest pending transfer that can go,
 * one at a time (curl #18017: waking them all at once costs seconds). */
void xfer__transfer_promote(struct xfer_multi *m) {
  struct xfer__queue *q;
  unsigned budget = 64; /* bounds the scan when many waiters cannot go */
  xfer__queue_foreach(q, &m->pending) {
    if (budget-- == 0)
      break;
    struct xfer_easy *e = xfer__container_of(q, struct xfer_easy, x.pending_link);
    struct xfer__origin *o = origin_of(m, e);
    if (!o)
      continue;
    if (xfer__queue_empty(&o->idle) && !xfer__pool_can_open(m, o))
      continue;
    /* Leaving PENDING unlinks it; do_connect picks the next state. */
    XFER__SET_STATE(m, e, XFER__ST_INIT);
    do_connect(m, e);
    return;
  }
}

/* ---- redirects and retries ------------------------------------------- */

/* Restarts the request on a fresh connection after a reused one died before
 * any response byte (once, and only when safe: RFC 9110 section 9.2.2). */
void xfer__transfer_retry(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__conn *c = e->x.conn;
  e->x.conn = NULL;
  if (c) {
    c->owner = NULL;
    xfer__pool_close(m, c);
  }
  e->x.retried = 1;
  e->x.want_fresh = 1;
  e->info.size_upload = 0;
  reset_response(e);
  XFER__SET_STATE(m, e, XFER__ST_INIT);
  /* The failed request may have been sent on a pooled connection without a
   * lookup, so the fresh one is resolved first. */
  xfer__transfer_resolve(m, e);
}

int xfer__transfer_can_retry(const struct xfer_easy *e) {
  const struct xfer__transfer *x = &e->x;
  if (!x->reused_conn || x->retried || x->resp_bytes)
    return 0;
  /* RFC 9110 section 9.2.2: a non-idempotent request is retried only when
   * none of it reached the wire, and a callback body cannot be replayed. */
  if ((x->req_sent || x->req_on_wire) && (!x->idempotent || x->body_from_cb))
    return 0;
  return 1;
}

void xfer__transfer_redirect(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__transfer *x = &e->x;
  const char *errmsg = NULL;
  struct xfer__url next;
  long status = x->head.status;
  if (e->opt.maxredirs >= 0 && e->info.redirect_count >= e->opt.maxredirs) {
    xfer__transfer_fail(m, e, XFERE_TOO_MANY_REDIRECTS, "Maximum (%ld) redirects followed",
                        e->opt.maxredirs);
    return;
  }
  int rc = xfer__url_resolve(&next, x->url, x->head.location, x->head.location_len, &errmsg);
  if (rc < 0) {
    xfer__transfer_fail(m, e, xfer__code_of(rc, XFERE_URL_MALFORMAT), "Bad redirect target: %s",
                        errmsg ? errmsg : xfer__err_text(rc));
    return;
  }
  e->info.redirect_count++;
  /* 303 turns every method but HEAD into GET; 301 and 302 turn a POST into
   * GET, as browsers and libcurl do. */
  int to_get = (status == 303 && !x->method_head) ||
               ((status == 301 || status == 302) &&
                (e->opt.post || e->opt.postfields || e->opt.copypostfields));
  if (to_get)
    x->method_get_like = 1;
  xfer__url_free(&x->redirect_url);
  x->redirect_url = next;
  x->url = &x->redirect_url;
  rc = xfer__transfer_build_redirect(e);
  if (rc < 0) {
    xfer__transfer_fail(m, e, xfer__code_of(rc, XFERE_BAD_FUNCTION_ARGUMENT),
                        "Could not build the redirected request: %s", xfer__err_text(rc));
    return;
  }
  reset_response(e);
  /* The sizes describe the final response, as libcurl's: the bodies of the
   * followed 3xx were never delivered. */
  e->info.size_download = 0;
  e->info.content_length_download = -1;
  x->retried = 0;
  x->want_fresh = 0;
  XFER__SET_STATE(m, e, XFER__ST_INIT);
  xfer__transfer_resolve(m, e);
}

/* ---- entry points from the loop ------------------------------------------ */

void xfer__transfer_run(struct xfer_multi *m, struct xfer_easy *e) {
  if (e->x.state == XFER__ST_INIT)
    do_setup(m, e);
}

/* Each queued receive in arrival order, taken off the queue before it is
 * handled (with data_only, only up to the first that is not bytes). One
 * may finish the transfer: whatever is still queued then is bytes past the
 * response, and the pool will not keep the connection. */
static void take_receives(struct xfer_multi *m, struct xfer_easy *e, struct xfer__conn *c,
                          int data_only) {
  while (c->rxq_len && e->x.conn == c && (!data_only || c->rxq[0].res > 0) &&
         (e->x.state == XFER__ST_RECEIVING || e->x.state == XFER__ST_SENDING ||
          e->x.state == XFER__ST_TLS)) {
    struct xfer__rx_entry en = c->rxq[0];
    c->rxq_len--;
    memmove(&c->rxq[0], &c->rxq[1], c->rxq_len * sizeof en);
    xfer__transfer_received(m, e, &en);
  }
}

void xfer__transfer_conn_event(struct xfer_multi *m, struct xfer__conn *c) {
  struct xfer_easy *e = c->owner;
  /* A send that failed while an answer waits to be read: a server that
   * answers early (a 413 during an upload) and closes with the rest of
   * the body unread makes its kernel reset the connection. The answer
   * came first and is what the transfer reports (RFC 9112 section 9.6);
   * the send error counts only if no complete answer came. Only bytes are
   * taken first: an end of stream or a receive error after them still
   * leaves the send error to speak. */
  if (c->tx_done && c->tx_res < 0 && !c->tls.ssl && e->x.state == XFER__ST_SENDING && c->rxq_len) {
    take_receives(m, e, c, 1);
    if (e->x.conn != c || e->x.state == XFER__ST_DONE)
      return;
  }
  if (c->tx_done) {
    c->tx_done = 0;
    if (e->x.state == XFER__ST_CONNECTING)
      xfer__transfer_connect_done(m, e, c->tx_res);
    else if (c->tls.ssl)
      xfer__tls_tx_done(m, e, c->tx_res); /* ciphertext: the TLS edge accounts */
    else if (e->x.state == XFER__ST_SENDING)
      xfer__transfer_sent(m, e, c->tx_res);
  }
  /* The send side may have finished the transfer or swapped its
   * connection; an rx result then belongs to nobody. */
  take_receives(m, e, c, 0);
}
