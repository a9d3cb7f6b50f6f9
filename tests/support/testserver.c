/*
 * Scriptable HTTP/1.1 test server; see testserver.h for the contract.
 *
 * Design notes:
 * - Blocking sockets, but every recv()/send()/sleep is preceded by a poll()
 *   on the socket plus a stop pipe with a finite timeout, so ts_stop() wakes
 *   every thread at once (one byte written to the pipe, never read, keeps it
 *   readable) and no call can block past its bound. SO_RCVTIMEO/SO_SNDTIMEO
 *   bound the calls themselves in case poll() and the call disagree.
 * - Routes and their step data are never freed before ts_stop(), so a
 *   connection thread can use a route it looked up without holding the lock
 *   while ts_route() adds a newer one.
 * - This is test code: plain malloc, and an allocation failure is a test
 *   environment failure (abort with a message) rather than a code path.
 */
#include "testserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ utils */

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "testserver: out of memory (%zu bytes)\n", n);
    abort();
  }
  return p;
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fprintf(stderr, "testserver: out of memory (%zu bytes)\n", n);
    abort();
  }
  return q;
}

static char *xmemdup(const void *p, size_t n) {
  char *q = xmalloc(n + 1);
  if (n)
    memcpy(q, p, n);
  q[n] = '\0';
  return q;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Growable string for response heads (the /headers/N head can be large). */
struct sb {
  char *p;
  size_t len, cap;
};

static void sb_add(struct sb *b, const char *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sb *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof tmp) {
    sb_add(b, tmp, (size_t)n);
    return;
  }
  char *big = xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_add(b, big, (size_t)n);
  free(big);
}

/* ---------------------------------------------------------------- pattern */

/* splitmix64 finaliser: a cheap, well-mixed function of the 8-byte word
 * index, so the pattern never repeats with a short period. */
static uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void ts_pattern(uint64_t offset, char *out, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint64_t o = offset + i;
    uint64_t w = mix64(o >> 3);
    for (unsigned k = (unsigned)(o & 7); k < 8 && i < len; k++)
      out[i++] = (char)(unsigned char)(w >> (8 * k));
  }
}

int ts_pattern_check(uint64_t offset, const char *buf, size_t len) {
  char tmp[4096];
  for (size_t done = 0; done < len;) {
    size_t k = len - done < sizeof tmp ? len - done : sizeof tmp;
    ts_pattern(offset + done, tmp, k);
    if (memcmp(tmp, buf + done, k) != 0)
      return 0;
    done += k;
  }
  return 1;
}

/* ------------------------------------------------------------ structures */

struct route {
  struct route *next;
  char *path;
  struct ts_step *steps; /* data owned (deep copies) */
  size_t n;
  unsigned flags;
  atomic_bool used; /* TS_ROUTE_ONCE */
};

struct logent {
  uint64_t conn;
  char *raw; /* first TS_LOG_KEEP bytes */
  size_t kept;
};

struct conn {
  struct conn *next;
  struct ts_server *s;
  int fd;
  uint64_t id;
  pthread_t th;
  atomic_bool done;
  bool peer_gone; /* saw EOF/reset from the client */
  bool nodelay;
  char *buf; /* read buffer */
  size_t cap, start, end;
  struct ts_step *accept_steps; /* snapshot taken at accept */
  size_t naccept;
};

struct ts_server {
  int lfd;
  uint16_t port;
  int stop_pipe[2];
  atomic_bool stopping;
  pthread_t acceptor;

  pthread_mutex_t mu;
  pthread_cond_t cv; /* counters changed */
  struct route *routes;
  struct route *dead_routes; /* replaced accept scripts, freed at stop */
  struct conn *conns;
  struct route *accept_script; /* NULL = none */

  _Atomic uint64_t nconn, nreq, nopen, nclient_close;
  atomic_int delivery;
  atomic_int accept_delay_ms;
  atomic_uint seed;

  /* under mu */
  struct logent *log;
  size_t nlog, caplog;
  char *last;
  size_t last_len;
  uint64_t last_idx; /* request index the "last" buffer belongs to */
};

/* Per-request state. */
struct req {
  char method[32];
  char *target;
  int minor;  /* HTTP/1.minor */
  int64_t cl; /* -1: none */
  bool chunked;
  bool expect100;
  bool conn_close;
  bool has_body;
  bool body_read;
  bool is_head;
  uint64_t idx; /* request index (log position) */
  char *raw;    /* raw bytes, at most TS_STORE_MAX kept */
  size_t len, cap;
  uint64_t total; /* raw bytes seen, kept or not */
};

static void req_free(struct req *r) {
  free(r->target);
  free(r->raw);
  memset(r, 0, sizeof *r);
}

static void req_add(struct req *r, const char *p, size_t n) {
  r->total += n;
  if (r->len >= TS_STORE_MAX)
    return;
  if (n > TS_STORE_MAX - r->len)
    n = TS_STORE_MAX - r->len;
  if (r->len + n > r->cap) {
    size_t cap = r->cap ? r->cap : 1024;
    while (cap < r->len + n)
      cap *= 2;
    r->raw = xrealloc(r->raw, cap);
    r->cap = cap;
  }
  memcpy(r->raw + r->len, p, n);
  r->len += n;
}

/* --------------------------------------------------------------- signals */

static void notify(struct ts_server *s) {
  pthread_mutex_lock(&s->mu);
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------- I/O */

/*
 * Wait for `ev` on the connection (or just for stop when fd < 0) for at most
 * ms. Returns 1 ready, 0 timeout, -1 stopping.
 */
static int wait_fd(struct ts_server *s, int fd, short ev, int ms) {
  struct pollfd p[2] = {{s->stop_pipe[0], POLLIN, 0}, {fd, ev, 0}};
  int64_t deadline = now_ms() + ms;
  /* Bounded: each turn either returns or waits until the deadline; EINTR
     * can only repeat a turn, and the deadline still holds. */
  for (int turn = 0; turn < 1000; turn++) {
    if (atomic_load(&s->stopping))
      return -1;
    int64_t left = deadline - now_ms();
    if (left < 0)
      left = 0;
    int r = poll(p, fd >= 0 ? 2 : 1, (int)left);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (p[0].revents)
      return -1;
    if (r > 0 && fd >= 0 && p[1].revents)
      return 1;
    if (left == 0)
      return 0;
  }
  return 0;
}

/* Stop-aware sleep. 0 slept, -1 stopping. */
static int ts_sleep(struct ts_server *s, int ms) {
  if (ms <= 0)
    return 0;
  if (ms > TS_WAIT_CAP_MS)
    ms = TS_WAIT_CAP_MS;
  return wait_fd(s, -1, 0, ms) < 0 ? -1 : 0;
}

static void mark_peer_gone(struct conn *c) {
  if (!c->peer_gone) {
    c->peer_gone = true;
    atomic_fetch_add(&c->s->nclient_close, 1);
    notify(c->s);
  }
}

/* Read more into c->buf. 1 got bytes, 0 EOF, -1 error/timeout/stop/full. */
static int conn_fill(struct conn *c, int ms) {
  if (c->fd < 0)
    return -1;
  if (c->start == c->end)
    c->start = c->end = 0;
  if (c->end == c->cap) {
    if (c->start > 0) {
      memmove(c->buf, c->buf + c->start, c->end - c->start);
      c->end -= c->start;
      c->start = 0;
    } else if (c->cap < TS_HEAD_MAX + 65536) {
      c->cap *= 2;
      c->buf = xrealloc(c->buf, c->cap);
    } else {
      return -1;
    }
  }
  int w = wait_fd(c->s, c->fd, POLLIN, ms);
  if (w <= 0)
    return -1;
  for (int tries = 0; tries < 3; tries++) {
    ssize_t n = recv(c->fd, c->buf + c->end, c->cap - c->end, 0);
    if (n > 0) {
      c->end += (size_t)n;
      return 1;
    }
    if (n == 0) {
      mark_peer_gone(c);
      return 0;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return -1;
    if (errno == ECONNRESET || errno == EPIPE)
      mark_peer_gone(c);
    return -1;
  }
  return -1;
}

static void set_nodelay(struct conn *c) {
  if (!c->nodelay && c->fd >= 0) {
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->nodelay = true;
  }
}

/* Send everything. 0 ok, -1 failed (peer gone, stop, no progress). */
static int send_all(struct conn *c, const char *p, size_t n) {
  if (c->fd < 0)
    return -1;
  while (n > 0) {
    /* The poll bounds the wait for progress; MSG_DONTWAIT then takes
         * what fits, so a client that stops reading cannot hold this thread
         * inside send() when ts_stop() wants it back. */
    if (wait_fd(c->s, c->fd, POLLOUT, TS_IO_MS) <= 0)
      return -1;
    ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        continue; /* bounded: the next wait_fd() has a deadline */
      if (errno == EPIPE || errno == ECONNRESET)
        mark_peer_gone(c);
      return -1;
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static int send_str(struct conn *c, const char *str) { return send_all(c, str, strlen(str)); }

static int send_bytewise(struct conn *c, const char *p, size_t n, int gap_ms) {
  set_nodelay(c);
  for (size_t i = 0; i < n; i++) {
    if (send_all(c, p + i, 1) < 0)
      return -1;
    if (gap_ms > 0 && i + 1 < n && ts_sleep(c->s, gap_ms) < 0)
      return -1;
  }
  return 0;
}

/* xorshift32: the split points only need to be reproducible per seed. */
static uint32_t xs32(uint32_t *st) {
  uint32_t x = *st ? *st : 0x9e3779b9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *st = x;
}

static int send_split(struct conn *c, const char *p, size_t n, uint32_t seed) {
  set_nodelay(c);
  uint32_t st = seed * 2654435761u + 1;
  while (n > 0) {
    /* Mostly small pieces (1..16), sometimes up to 512, so header and
         * chunk boundaries land everywhere. */
    uint32_t r = xs32(&st);
    size_t k = (r & 0x100) ? (size_t)(r % 512) + 1 : (size_t)(r % 16) + 1;
    if (k > n)
      k = n;
    if (send_all(c, p, k) < 0)
      return -1;
    p += k;
    n -= k;
  }
  return 0;
}

/* Send n pattern bytes starting at offset. */
static int send_pattern(struct conn *c, uint64_t off, uint64_t n) {
  char buf[65536];
  while (n > 0) {
    size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
    ts_pattern(off, buf, k);
    if (send_all(c, buf, k) < 0)
      return -1;
    off += k;
    n -= k;
  }
  return 0;
}

static void conn_close_rst(struct conn *c) {
  if (c->fd < 0)
    return;
  struct linger lg = {1, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(c->fd);
  c->fd = -1;
}

/*
 * Orderly close: FIN first, then read what the client still sends for a
 * bounded time, because close() with unread bytes in the receive queue sends
 * RST instead, which would make a clean close look like a reset.
 */
static void conn_close_fin(struct conn *c) {
  if (c->fd < 0)
    return;
  shutdown(c->fd, SHUT_WR);
  int64_t deadline = now_ms() + TS_DRAIN_MS;
  char tmp[4096];
  for (int turn = 0; turn < 100000; turn++) {
    int64_t left = deadline - now_ms();
    if (left <= 0 || wait_fd(c->s, c->fd, POLLIN, (int)left) <= 0)
      break;
    ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
    if (n == 0) {
      mark_peer_gone(c);
      break;
    }
    if (n < 0 && errno != EINTR)
      break;
  }
  close(c->fd);
  c->fd = -1;
}

/* ------------------------------------------------------------- log/stats */

static void log_head(struct ts_server *s, struct conn *c, struct req *r) {
  pthread_mutex_lock(&s->mu);
  r->idx = atomic_load(&s->nreq);
  if (s->nlog < TS_LOG_MAX) {
    if (s->nlog == s->caplog) {
      s->caplog = s->caplog ? s->caplog * 2 : 64;
      s->log = xrealloc(s->log, s->caplog * sizeof *s->log);
    }
    struct logent *e = &s->log[s->nlog++];
    e->conn = c->id;
    e->kept = r->len < TS_LOG_KEEP ? r->len : TS_LOG_KEEP;
    e->raw = xmemdup(r->raw, e->kept);
  }
  free(s->last);
  s->last = xmemdup(r->raw, r->len);
  s->last_len = r->len;
  s->last_idx = r->idx;
  /* Counted under the lock so request index and log position agree. */
  atomic_fetch_add(&s->nreq, 1);
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* The request grew (body): refresh its log entry and, if it is still the
 * most recent request, the "last" copy. */
static void log_update(struct ts_server *s, struct req *r) {
  pthread_mutex_lock(&s->mu);
  if (r->idx < s->nlog) {
    struct logent *e = &s->log[r->idx];
    size_t kept = r->len < TS_LOG_KEEP ? r->len : TS_LOG_KEEP;
    if (kept != e->kept) {
      free(e->raw);
      e->raw = xmemdup(r->raw, kept);
      e->kept = kept;
    }
  }
  if (s->last_idx == r->idx) {
    free(s->last);
    s->last = xmemdup(r->raw, r->len);
    s->last_len = r->len;
  }
  pthread_mutex_unlock(&s->mu);
}

/* --------------------------------------------------------- request parse */

/* Find the end of the head in buf[0..n): index just past the empty line, or
 * 0 if not complete. Accepts CRLF and bare LF. */
static size_t head_end(const char *buf, size_t n, size_t from) {
  for (size_t i = from; i < n; i++) {
    if (buf[i] != '\n')
      continue;
    if (i + 1 < n && buf[i + 1] == '\n')
      return i + 2;
    if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
      return i + 3;
  }
  return 0;
}

static bool token_in(const char *v, size_t vlen, const char *tok) {
  size_t tl = strlen(tok);
  for (size_t i = 0; i + tl <= vlen; i++) {
    if (strncasecmp(v + i, tok, tl) == 0) {
      bool left = i == 0 || v[i - 1] == ',' || v[i - 1] == ' ' || v[i - 1] == '\t';
      char after = i + tl < vlen ? v[i + tl] : ',';
      bool right = after == ',' || after == ' ' || after == '\t' || after == '\r';
      if (left && right)
        return true;
    }
  }
  return false;
}

/* Parse r->raw[0..hlen) (the head). 0 ok, -1 malformed. */
static int parse_head(struct req *r, size_t hlen) {
  const char *p = r->raw, *end = r->raw + hlen;
  const char *eol = memchr(p, '\n', (size_t)(end - p));
  if (!eol)
    return -1;
  const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
  if (!sp1 || sp1 == p || (size_t)(sp1 - p) >= sizeof r->method)
    return -1;
  memcpy(r->method, p, (size_t)(sp1 - p));
  r->method[sp1 - p] = '\0';
  const char *t = sp1 + 1;
  const char *sp2 = memchr(t, ' ', (size_t)(eol - t));
  if (!sp2 || sp2 == t)
    return -1;
  r->target = xmemdup(t, (size_t)(sp2 - t));
  const char *v = sp2 + 1;
  if (eol - v < 8 || memcmp(v, "HTTP/1.", 7) != 0 || v[7] < '0' || v[7] > '9')
    return -1;
  r->minor = v[7] - '0';
  r->is_head = strcmp(r->method, "HEAD") == 0;
  r->cl = -1;
  bool keep_alive = false;

  for (p = eol + 1; p < end;) {
    eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      break;
    const char *le = eol;
    if (le > p && le[-1] == '\r')
      le--;
    if (le == p)
      break; /* empty line: end of head */
    const char *colon = memchr(p, ':', (size_t)(le - p));
    if (colon) {
      size_t nl = (size_t)(colon - p);
      const char *val = colon + 1;
      while (val < le && (*val == ' ' || *val == '\t'))
        val++;
      size_t vl = (size_t)(le - val);
      if (nl == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
        int64_t x = 0;
        size_t i = 0;
        for (; i < vl && val[i] >= '0' && val[i] <= '9'; i++) {
          if (x > (INT64_MAX - 9) / 10)
            return -1;
          x = x * 10 + (val[i] - '0');
        }
        if (i == 0)
          return -1;
        r->cl = x;
      } else if (nl == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) {
        if (token_in(val, vl, "chunked"))
          r->chunked = true;
      } else if (nl == 6 && strncasecmp(p, "Expect", 6) == 0) {
        if (token_in(val, vl, "100-continue"))
          r->expect100 = true;
      } else if (nl == 10 && strncasecmp(p, "Connection", 10) == 0) {
        if (token_in(val, vl, "close"))
          r->conn_close = true;
        if (token_in(val, vl, "keep-alive"))
          keep_alive = true;
      }
    }
    p = eol + 1;
  }
  if (r->minor == 0 && !keep_alive)
    r->conn_close = true;
  r->has_body = r->chunked || r->cl > 0;
  return 0;
}

/*
 * Read one request head. 1 ok, 0 client closed or idle timeout before a
 * request began, -1 error mid-head (connection is unusable), -2 malformed
 * (caller answers 400), -3 too large (431).
 */
static int read_head(struct conn *c, struct req *r) {
  size_t scanned = 0;
  bool begun = false;
  for (int turn = 0; turn < 1000000; turn++) {
    /* Skip empty lines before a request line (RFC 9112 2.2). */
    while (!begun && c->start < c->end && (c->buf[c->start] == '\r' || c->buf[c->start] == '\n'))
      c->start++;
    size_t avail = c->end - c->start;
    if (avail > 0) {
      begun = true;
      size_t he = head_end(c->buf + c->start, avail, scanned);
      if (he > 0) {
        req_add(r, c->buf + c->start, he);
        c->start += he;
        return parse_head(r, he) == 0 ? 1 : -2;
      }
      scanned = avail >= 2 ? avail - 2 : 0;
      if (avail > TS_HEAD_MAX)
        return -3;
    }
    int f = conn_fill(c, begun ? TS_IO_MS : TS_KEEPALIVE_MS);
    if (f <= 0)
      return begun ? -1 : 0;
  }
  return -1;
}

/* Make at least one byte available. 0 ok, -1 gone. */
static int need(struct conn *c) {
  if (c->start < c->end)
    return 0;
  return conn_fill(c, TS_IO_MS) > 0 ? 0 : -1;
}

/* Consume n raw bytes into the request. 0 ok, -1 gone. */
static int take(struct conn *c, struct req *r, uint64_t n) {
  /* Bounded: every turn consumes at least one byte or fails. */
  while (n > 0) {
    if (need(c) < 0)
      return -1;
    size_t avail = c->end - c->start;
    size_t k = n < avail ? (size_t)n : avail;
    req_add(r, c->buf + c->start, k);
    c->start += k;
    n -= k;
  }
  return 0;
}

/* Consume one line (through LF) into the request; copy up to outlen-1 chars
 * of it (without CR/LF) into out. 0 ok, -1 gone/too long. */
static int take_line(struct conn *c, struct req *r, char *out, size_t outlen) {
  size_t got = 0, total = 0;
  for (int turn = 0; turn < 10000000; turn++) {
    if (need(c) < 0)
      return -1;
    char ch = c->buf[c->start++];
    req_add(r, &ch, 1);
    if (ch == '\n') {
      if (got > 0 && out[got - 1] == '\r')
        got--;
      out[got] = '\0';
      return 0;
    }
    if (got + 1 < outlen)
      out[got++] = ch;
    if (++total > 65536)
      return -1;
  }
  return -1;
}

/* Read the body as framed. 0 ok, -1 connection unusable, -2 malformed. */
static int read_body(struct conn *c, struct req *r) {
  if (r->body_read)
    return 0;
  r->body_read = true;
  int rc = 0;
  if (r->chunked) {
    char line[128];
    for (uint64_t chunks = 0;; chunks++) {
      if (chunks > 100000000u) {
        rc = -2;
        break;
      }
      if (take_line(c, r, line, sizeof line) < 0) {
        rc = -1;
        break;
      }
      uint64_t size = 0;
      int digits = 0;
      for (const char *q = line; *q; q++, digits++) {
        int d;
        if (*q >= '0' && *q <= '9')
          d = *q - '0';
        else if (*q >= 'a' && *q <= 'f')
          d = *q - 'a' + 10;
        else if (*q >= 'A' && *q <= 'F')
          d = *q - 'A' + 10;
        else
          break;
        if (digits >= 16)
          break;
        size = size * 16 + (uint64_t)d;
      }
      if (digits == 0 || digits > 16) {
        rc = -2;
        break;
      }
      if (size == 0) {
        /* Trailers until the empty line. */
        for (int t = 0; t < 100000; t++) {
          if (take_line(c, r, line, sizeof line) < 0) {
            rc = -1;
            break;
          }
          if (line[0] == '\0')
            break;
        }
        break;
      }
      if (take(c, r, size) < 0 || take_line(c, r, line, sizeof line) < 0) {
        rc = -1;
        break;
      }
    }
  } else if (r->cl > 0) {
    rc = take(c, r, (uint64_t)r->cl) < 0 ? -1 : 0;
  }
  if (r->has_body)
    log_update(c->s, r);
  return rc;
}

/* -------------------------------------------------------- built-in routes */

static const char *reason(int code) {
  switch (code) {
  case 100:
    return "Continue";
  case 101:
    return "Switching Protocols";
  case 103:
    return "Early Hints";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 206:
    return "Partial Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 303:
    return "See Other";
  case 304:
    return "Not Modified";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 413:
    return "Content Too Large";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  default:
    return "Status";
  }
}

/* Parse a decimal number at *p ending at '/', '?', or end of string;
 * advances *p. 0 ok, -1 malformed. */
static int parse_num(const char **p, uint64_t max, uint64_t *out) {
  const char *q = *p;
  uint64_t x = 0;
  int digits = 0;
  for (; *q >= '0' && *q <= '9'; q++, digits++) {
    if (digits >= 19)
      return -1;
    x = x * 10 + (uint64_t)(*q - '0');
  }
  if (digits == 0 || (*q && *q != '/' && *q != '?') || x > max)
    return -1;
  *p = q;
  *out = x;
  return 0;
}

static bool starts(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Percent-decode q[0..n) into a new string; NULL if it holds CR, LF, NUL. */
static char *pct_decode(const char *q, size_t n) {
  char *out = xmalloc(n + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = q[i];
    if (ch == '%' && i + 2 < n && hexval(q[i + 1]) >= 0 && hexval(q[i + 2]) >= 0) {
      ch = (char)(hexval(q[i + 1]) * 16 + hexval(q[i + 2]));
      i += 2;
    }
    if (ch == '\r' || ch == '\n' || ch == '\0') {
      free(out);
      return NULL;
    }
    out[o++] = ch;
  }
  out[o] = '\0';
  return out;
}

/* Head + optional fixed body. Returns 0 or -1. */
static int respond(struct conn *c, struct req *r, int code, const char *extra, const char *body,
                   size_t blen) {
  struct sb h = {0};
  sb_printf(&h, "HTTP/1.1 %d %s\r\n", code, reason(code));
  bool nobody_status = code == 204 || code == 304 || code < 200;
  if (!nobody_status)
    sb_printf(&h, "Content-Length: %zu\r\n", blen);
  if (extra)
    sb_add(&h, extra, strlen(extra));
  if (r->conn_close)
    sb_printf(&h, "Connection: close\r\n");
  sb_add(&h, "\r\n", 2);
  int rc = send_all(c, h.p, h.len);
  free(h.p);
  if (rc == 0 && !r->is_head && !nobody_status && blen > 0)
    rc = send_all(c, body, blen);
  return rc;
}

static int respond_pattern(struct conn *c, struct req *r, uint64_t n) {
  char head[256];
  snprintf(head, sizeof head,
           "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
           "Content-Length: %llu\r\n%s\r\n",
           (unsigned long long)n, r->conn_close ? "Connection: close\r\n" : "");
  if (send_str(c, head) < 0)
    return -1;
  return r->is_head ? 0 : send_pattern(c, 0, n);
}

static const size_t chunk_sizes[] = {1, 3, 16, 100, 1000, 4096, 7, 16384, 65536, 2};

static int respond_chunked(struct conn *c, struct req *r, uint64_t n) {
  char head[256];
  snprintf(head, sizeof head,
           "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
           "Transfer-Encoding: chunked\r\n%s\r\n",
           r->conn_close ? "Connection: close\r\n" : "");
  if (send_str(c, head) < 0)
    return -1;
  if (r->is_head)
    return 0;
  uint64_t off = 0;
  for (size_t i = 0; off < n; i++) {
    uint64_t k = chunk_sizes[i % (sizeof chunk_sizes / sizeof chunk_sizes[0])];
    if (k > n - off)
      k = n - off;
    char line[32];
    snprintf(line, sizeof line, "%llx\r\n", (unsigned long long)k);
    if (send_str(c, line) < 0 || send_pattern(c, off, k) < 0 || send_all(c, "\r\n", 2) < 0)
      return -1;
    off += k;
  }
  return send_all(c, "0\r\n\r\n", 5);
}

/* Returns 0 keep going, 1 connection closed/unusable. */
static int builtin(struct conn *c, struct req *r) {
  const char *t = r->target;
  uint64_t a = 0, b = 0;
  int rc = 0;
  bool closed = false;

  if (starts(t, "/bytes/")) {
    const char *p = t + 7;
    rc = parse_num(&p, UINT64_MAX >> 1, &a) < 0 ? respond(c, r, 400, NULL, "bad number\n", 11)
                                                : respond_pattern(c, r, a);
  } else if (starts(t, "/chunked/")) {
    const char *p = t + 9;
    rc = parse_num(&p, UINT64_MAX >> 1, &a) < 0 ? respond(c, r, 400, NULL, "bad number\n", 11)
                                                : respond_chunked(c, r, a);
  } else if (starts(t, "/close/")) {
    const char *p = t + 7;
    if (parse_num(&p, UINT64_MAX >> 1, &a) < 0) {
      rc = respond(c, r, 400, NULL, "bad number\n", 11);
    } else {
      rc = send_str(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                       "Connection: close\r\n\r\n");
      if (rc == 0 && !r->is_head)
        rc = send_pattern(c, 0, a);
      conn_close_fin(c);
      closed = true;
    }
  } else if (strcmp(t, "/echo") == 0 || starts(t, "/echo?")) {
    if (r->total > r->len)
      rc = respond(c, r, 413, NULL, "too large\n", 10);
    else
      rc = respond(c, r, 200, "Content-Type: application/octet-stream\r\n", r->raw, r->len);
  } else if (starts(t, "/status/")) {
    const char *p = t + 8;
    if (parse_num(&p, 599, &a) < 0 || a < 100) {
      rc = respond(c, r, 400, NULL, "bad status\n", 11);
    } else if (a < 200) {
      char line[64];
      snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n\r\n", (int)a, reason((int)a));
      rc = send_str(c, line);
      if (rc == 0)
        rc = respond(c, r, 200, NULL, NULL, 0);
    } else {
      rc = respond(c, r, (int)a, NULL, NULL, 0);
    }
  } else if (starts(t, "/delay/")) {
    const char *p = t + 7;
    if (parse_num(&p, TS_WAIT_CAP_MS, &a) < 0 || *p++ != '/' ||
        parse_num(&p, UINT64_MAX >> 1, &b) < 0) {
      rc = respond(c, r, 400, NULL, "bad number\n", 11);
    } else {
      rc = ts_sleep(c->s, (int)a);
      if (rc == 0)
        rc = respond_pattern(c, r, b);
    }
  } else if (starts(t, "/redirect/")) {
    const char *p = t + 10;
    uint64_t hops = 1;
    bool ok = parse_num(&p, 999, &a) == 0 && a >= 100;
    if (ok && *p == '/') {
      p++;
      ok = parse_num(&p, 1000000, &hops) == 0;
    }
    const char *query = strchr(t, '?');
    char *loc = NULL;
    if (ok && hops > 1) {
      struct sb l = {0};
      sb_printf(&l, "/redirect/%d/%llu%s", (int)a, (unsigned long long)(hops - 1),
                query ? query : "");
      loc = l.p;
    } else if (ok) {
      const char *to = NULL;
      for (const char *q = query; q && *q; q++) {
        if ((*q == '?' || *q == '&') && strncmp(q + 1, "to=", 3) == 0) {
          to = q + 4;
          break;
        }
      }
      if (!to) {
        loc = xmemdup("/bytes/16", 9);
      } else {
        /* "to" runs to the end of the target: URL may contain '&'
                 * only percent-encoded, and then it is decoded here. */
        loc = pct_decode(to, strlen(to));
        ok = loc != NULL;
      }
    }
    if (!ok) {
      rc = respond(c, r, 400, NULL, "bad redirect\n", 13);
    } else {
      struct sb h = {0};
      sb_printf(&h, "Location: %s\r\n", loc);
      rc = respond(c, r, (int)a, h.p, NULL, 0);
      free(h.p);
    }
    free(loc);
  } else if (starts(t, "/headers/")) {
    const char *p = t + 9;
    if (parse_num(&p, 1000000, &a) < 0) {
      rc = respond(c, r, 400, NULL, "bad number\n", 11);
    } else {
      struct sb h = {0};
      sb_add(&h, "", 0);
      for (uint64_t i = 1; i <= a; i++)
        sb_printf(&h, "X-H-%llu: %llu\r\n", (unsigned long long)i, (unsigned long long)i);
      rc = respond(c, r, 200, h.p, "headers\n", 8);
      free(h.p);
    }
  } else if (starts(t, "/slow/")) {
    const char *p = t + 6;
    b = 10;
    bool ok = parse_num(&p, UINT64_MAX >> 1, &a) == 0;
    if (ok && *p == '/') {
      p++;
      ok = parse_num(&p, 10000, &b) == 0;
    }
    if (!ok) {
      rc = respond(c, r, 400, NULL, "bad number\n", 11);
    } else {
      char head[256];
      snprintf(head, sizeof head,
               "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
               "Content-Length: %llu\r\n%s\r\n",
               (unsigned long long)a, r->conn_close ? "Connection: close\r\n" : "");
      rc = send_str(c, head);
      set_nodelay(c);
      for (uint64_t i = 0; rc == 0 && !r->is_head && i < a; i++) {
        char ch;
        ts_pattern(i, &ch, 1);
        rc = send_all(c, &ch, 1);
        if (rc == 0 && i + 1 < a)
          rc = ts_sleep(c->s, (int)b);
      }
    }
  } else {
    rc = respond(c, r, 404, "Content-Type: text/plain\r\n", "not found\n", 10);
  }

  if (closed)
    return 1;
  if (rc < 0)
    return 1;
  if (r->conn_close) {
    conn_close_fin(c);
    return 1;
  }
  return 0;
}

/* --------------------------------------------------------------- scripts */

static size_t step_len(const struct ts_step *st) {
  if (st->data && st->len == 0)
    return strlen(st->data);
  return st->data ? st->len : 0;
}

static struct ts_step *copy_steps(const struct ts_step *steps, size_t n) {
  struct ts_step *out = xmalloc(n * sizeof *out);
  for (size_t i = 0; i < n; i++) {
    out[i] = steps[i];
    size_t len = step_len(&steps[i]);
    out[i].data = steps[i].data ? xmemdup(steps[i].data, len) : NULL;
    out[i].len = len;
  }
  return out;
}

static void free_route(struct route *rt) {
  for (size_t i = 0; i < rt->n; i++)
    free((void *)rt->steps[i].data);
  free(rt->steps);
  free(rt->path);
  free(rt);
}

/* Wait for the client to go away without reading (zero window). */
static void stop_reading(struct conn *c) {
  int64_t deadline = now_ms() + TS_WAIT_CAP_MS;
  for (int turn = 0; turn < 100000; turn++) {
    int64_t left = deadline - now_ms();
    if (left <= 0)
      return;
    /* POLLRDHUP reports the client's FIN even with unread data queued. */
    int w = wait_fd(c->s, c->fd, POLLRDHUP, (int)(left < 1000 ? left : 1000));
    if (w < 0)
      return;
    if (w > 0) {
      mark_peer_gone(c);
      return;
    }
  }
}

/* Read and discard until the client closes or stop. */
static void idle(struct conn *c) {
  int64_t deadline = now_ms() + TS_WAIT_CAP_MS;
  for (int turn = 0; turn < 10000000; turn++) {
    int64_t left = deadline - now_ms();
    if (left <= 0)
      return;
    c->start = c->end = 0;
    int f = conn_fill(c, (int)(left < 1000 ? left : 1000));
    if (f == 0 || c->peer_gone || atomic_load(&c->s->stopping))
      return;
  }
}

/* Run steps. r may be NULL (accept script). 0 = go on, 1 = connection done. */
static int run_steps(struct conn *c, struct req *r, const struct ts_step *steps, size_t n) {
  struct ts_server *s = c->s;
  for (size_t i = 0; i < n; i++) {
    const struct ts_step *st = &steps[i];
    int rc = 0;
    switch (st->op) {
    case TS_SEND: {
      int mode = atomic_load(&s->delivery);
      if (mode == TS_D_BYTEWISE)
        rc = send_bytewise(c, st->data, st->len, 0);
      else if (mode == TS_D_SPLIT)
        rc = send_split(c, st->data, st->len, atomic_load(&s->seed));
      else
        rc = send_all(c, st->data, st->len);
      break;
    }
    case TS_SEND_BYTEWISE:
      rc = send_bytewise(c, st->data, st->len, 0);
      break;
    case TS_SEND_SPLIT:
      rc = send_split(c, st->data, st->len, (uint32_t)st->ms);
      break;
    case TS_DRIP:
      rc = send_bytewise(c, st->data, st->len, st->ms);
      break;
    case TS_SLEEP:
      rc = ts_sleep(s, st->ms);
      break;
    case TS_FIN:
      conn_close_fin(c);
      return 1;
    case TS_RST:
      conn_close_rst(c);
      return 1;
    case TS_SHUTDOWN_WR:
      if (c->fd >= 0)
        shutdown(c->fd, SHUT_WR);
      break;
    case TS_IDLE:
      idle(c);
      return 1;
    case TS_STOP_READING:
      stop_reading(c);
      return 1;
    case TS_READ_BODY:
      if (r) {
        int b = read_body(c, r);
        if (b == -2) {
          conn_close_fin(c);
          return 1;
        }
        rc = b;
      }
      break;
    }
    if (rc < 0)
      return 1;
  }
  return 0;
}

/* Newest matching route, claiming it if TS_ROUTE_ONCE. */
static struct route *lookup(struct ts_server *s, const char *target) {
  struct route *found = NULL;
  pthread_mutex_lock(&s->mu);
  for (struct route *rt = s->routes; rt; rt = rt->next) {
    if (strcmp(rt->path, target) != 0)
      continue;
    if ((rt->flags & TS_ROUTE_ONCE) && atomic_exchange(&rt->used, true))
      continue;
    found = rt;
    break;
  }
  pthread_mutex_unlock(&s->mu);
  return found;
}

/* ------------------------------------------------------------ connection */

static void *conn_main(void *arg) {
  struct conn *c = arg;
  struct ts_server *s = c->s;

  /* Second bound under the poll() bounds: no single call blocks > 1 s. */
  struct timeval tv = {1, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  /* A head and a body are often separate send()s: with Nagle on, the
     * second waits for the client's delayed ACK (40 ms per response). Real
     * servers (nginx tcp_nodelay on) do the same. */
  set_nodelay(c);

  bool done = false;
  if (c->naccept > 0)
    done = run_steps(c, NULL, c->accept_steps, c->naccept) != 0;

  /* Bounded by the number of requests one connection may carry; each turn
     * also has its own time bounds. */
  for (uint64_t turn = 0; !done && turn < 100000000u; turn++) {
    if (atomic_load(&s->stopping) || c->fd < 0)
      break;
    struct req r = {0};
    int h = read_head(c, &r);
    if (h == 0 || h == -1) {
      req_free(&r);
      break;
    }
    if (h == -3) {
      /* Too large: not logged as a request (the head never ended). */
      r.conn_close = true;
      respond(c, &r, 431, NULL, "head too large\n", 15);
      conn_close_fin(c);
      req_free(&r);
      break;
    }
    log_head(s, c, &r);
    if (h == -2) {
      r.conn_close = true;
      r.is_head = false;
      respond(c, &r, 400, NULL, "bad request\n", 12);
      conn_close_fin(c);
      req_free(&r);
      break;
    }

    struct route *rt = lookup(s, r.target);
    if (!(rt && (rt->flags & TS_ROUTE_HEAD_ONLY))) {
      if (r.has_body && r.expect100 && send_str(c, "HTTP/1.1 100 Continue\r\n\r\n") < 0) {
        req_free(&r);
        break;
      }
      int b = read_body(c, &r);
      if (b == -1) {
        req_free(&r);
        break;
      }
      if (b == -2) {
        r.conn_close = true;
        respond(c, &r, 400, NULL, "bad chunked body\n", 17);
        conn_close_fin(c);
        req_free(&r);
        break;
      }
    }
    if (rt)
      done = run_steps(c, &r, rt->steps, rt->n) != 0;
    else
      done = builtin(c, &r) != 0;
    /* A head-only route that never read the body: read it now so its
         * bytes are not taken for the next request. */
    if (!done && !r.body_read && read_body(c, &r) != 0)
      done = true;
    req_free(&r);
  }

  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
  free(c->buf);
  c->buf = NULL;
  atomic_fetch_sub(&s->nopen, 1);
  atomic_store(&c->done, true);
  notify(s);
  return NULL;
}

/* Join connection threads that have finished (called by the acceptor so a
 * long test with many connections does not accumulate dead threads). */
static void reap(struct ts_server *s, bool all) {
  for (;;) {
    struct conn *victim = NULL;
    pthread_mutex_lock(&s->mu);
    for (struct conn **pp = &s->conns; *pp; pp = &(*pp)->next) {
      if (all || atomic_load(&(*pp)->done)) {
        victim = *pp;
        *pp = victim->next;
        break;
      }
    }
    pthread_mutex_unlock(&s->mu);
    if (!victim)
      return;
    pthread_join(victim->th, NULL);
    for (size_t i = 0; i < victim->naccept; i++)
      free((void *)victim->accept_steps[i].data);
    free(victim->accept_steps);
    free(victim);
  }
}

static void *accept_main(void *arg) {
  struct ts_server *s = arg;
  /* Bounded by stop (wait_fd returns -1) and by a generous turn count. */
  for (uint64_t turn = 0; turn < 1000000000u; turn++) {
    int w = wait_fd(s, s->lfd, POLLIN, 1000);
    if (w < 0)
      break;
    reap(s, false);
    if (w == 0)
      continue;
    /* A slow server (ts_set_accept_delay): the pending connections wait
         * in the kernel's accept queue meanwhile. */
    if (ts_sleep(s, atomic_load(&s->accept_delay_ms)) < 0)
      break;
    int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
      continue; /* EAGAIN/ECONNABORTED/EMFILE: try again next turn */

    struct conn *c = xmalloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->s = s;
    c->fd = fd;
    c->cap = 65536;
    c->buf = xmalloc(c->cap);
    atomic_init(&c->done, false);
    pthread_mutex_lock(&s->mu);
    if (s->accept_script) {
      c->naccept = s->accept_script->n;
      c->accept_steps = copy_steps(s->accept_script->steps, c->naccept);
    }
    pthread_mutex_unlock(&s->mu);
    c->id = atomic_fetch_add(&s->nconn, 1) + 1;
    atomic_fetch_add(&s->nopen, 1);

    pthread_attr_t at;
    pthread_attr_init(&at);
    /* 1 MiB (virtual) leaves room for sanitizer stack overhead. */
    pthread_attr_setstacksize(&at, 1024 * 1024);
    int e = pthread_create(&c->th, &at, conn_main, c);
    pthread_attr_destroy(&at);
    if (e != 0) {
      fprintf(stderr, "testserver: pthread_create: %s\n", strerror(e));
      close(fd);
      atomic_fetch_sub(&s->nopen, 1);
      for (size_t i = 0; i < c->naccept; i++)
        free((void *)c->accept_steps[i].data);
      free(c->accept_steps);
      free(c->buf);
      free(c);
      notify(s);
      continue;
    }
    pthread_mutex_lock(&s->mu);
    c->next = s->conns;
    s->conns = c;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
  }
  return NULL;
}

/* ------------------------------------------------------------------- API */

struct ts_server *ts_start(void) {
  struct ts_server *s = xmalloc(sizeof *s);
  memset(s, 0, sizeof *s);
  s->lfd = -1;
  s->stop_pipe[0] = s->stop_pipe[1] = -1;
  atomic_init(&s->stopping, false);
  atomic_init(&s->nconn, 0);
  atomic_init(&s->nreq, 0);
  atomic_init(&s->nopen, 0);
  atomic_init(&s->nclient_close, 0);
  atomic_init(&s->delivery, TS_D_WHOLE);
  atomic_init(&s->seed, 1);
  atomic_init(&s->accept_delay_ms, 0);
  s->last_idx = UINT64_MAX;

  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&s->mu, NULL);

  if (pipe2(s->stop_pipe, O_CLOEXEC) != 0) {
    perror("testserver: pipe2");
    goto fail;
  }
  /* Non-blocking listener only: a connection reset between poll() and
     * accept() must not leave the acceptor blocked in accept(). Accepted
     * sockets are blocking (accept4 without SOCK_NONBLOCK). */
  s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->lfd < 0) {
    perror("testserver: socket");
    goto fail;
  }
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0; /* ephemeral: tests run in parallel */
  socklen_t sl = sizeof sa;
  if (bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s->lfd, TS_BACKLOG) != 0 ||
      getsockname(s->lfd, (struct sockaddr *)&sa, &sl) != 0) {
    perror("testserver: bind/listen");
    goto fail;
  }
  s->port = ntohs(sa.sin_port);
  int e = pthread_create(&s->acceptor, NULL, accept_main, s);
  if (e != 0) {
    fprintf(stderr, "testserver: pthread_create: %s\n", strerror(e));
    goto fail;
  }
  return s;

fail:
  if (s->lfd >= 0)
    close(s->lfd);
  if (s->stop_pipe[0] >= 0) {
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
  }
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
  return NULL;
}

void ts_stop(struct ts_server *s) {
  if (!s)
    return;
  atomic_store(&s->stopping, true);
  /* Never read: the pipe stays readable, so every later poll wakes too. */
  ssize_t w = write(s->stop_pipe[1], "x", 1);
  (void)w;
  pthread_join(s->acceptor, NULL);
  reap(s, true);
  close(s->lfd);
  close(s->stop_pipe[0]);
  close(s->stop_pipe[1]);

  for (struct route *rt = s->routes, *nx; rt; rt = nx) {
    nx = rt->next;
    free_route(rt);
  }
  for (struct route *rt = s->dead_routes, *nx; rt; rt = nx) {
    nx = rt->next;
    free_route(rt);
  }
  if (s->accept_script)
    free_route(s->accept_script);
  for (size_t i = 0; i < s->nlog; i++)
    free(s->log[i].raw);
  free(s->log);
  free(s->last);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

uint16_t ts_port(const struct ts_server *s) { return s->port; }

void ts_url(const struct ts_server *s, const char *path, char *out, size_t outlen) {
  if (!path)
    path = "/";
  snprintf(out, outlen, "http://127.0.0.1:%u%s%s", (unsigned)s->port, path[0] == '/' ? "" : "/",
           path);
}

void ts_route_ex(struct ts_server *s, const char *path, const struct ts_step *steps, size_t nsteps,
                 unsigned flags) {
  struct route *rt = xmalloc(sizeof *rt);
  memset(rt, 0, sizeof *rt);
  rt->path = xmemdup(path, strlen(path));
  rt->steps = copy_steps(steps, nsteps);
  rt->n = nsteps;
  rt->flags = flags;
  atomic_init(&rt->used, false);
  pthread_mutex_lock(&s->mu);
  rt->next = s->routes; /* newest first: it hides older ones */
  s->routes = rt;
  pthread_mutex_unlock(&s->mu);
}

void ts_route(struct ts_server *s, const char *path, const struct ts_step *steps, size_t nsteps) {
  ts_route_ex(s, path, steps, nsteps, 0);
}

void ts_route_raw(struct ts_server *s, const char *path, const char *raw, size_t len) {
  struct ts_step st = {TS_SEND, raw, len, 0};
  /* len 0 would mean strlen() in a step; an empty raw response is a
     * route that sends nothing at all. */
  ts_route_ex(s, path, &st, len ? 1 : 0, 0);
}

void ts_on_accept(struct ts_server *s, const struct ts_step *steps, size_t nsteps) {
  struct route *rt = NULL;
  if (nsteps > 0) {
    rt = xmalloc(sizeof *rt);
    memset(rt, 0, sizeof *rt);
    rt->path = xmemdup("", 0);
    rt->steps = copy_steps(steps, nsteps);
    rt->n = nsteps;
  }
  pthread_mutex_lock(&s->mu);
  if (s->accept_script) {
    s->accept_script->next = s->dead_routes;
    s->dead_routes = s->accept_script;
  }
  s->accept_script = rt;
  pthread_mutex_unlock(&s->mu);
}

void ts_set_delivery(struct ts_server *s, enum ts_delivery mode, uint32_t seed) {
  atomic_store(&s->seed, seed);
  atomic_store(&s->delivery, (int)mode);
}

void ts_set_accept_delay(struct ts_server *s, int ms) {
  if (ms < 0)
    ms = 0;
  if (ms > TS_WAIT_CAP_MS)
    ms = TS_WAIT_CAP_MS;
  atomic_store(&s->accept_delay_ms, ms);
}

uint64_t ts_connections(const struct ts_server *s) {
  return atomic_load(&((struct ts_server *)s)->nconn);
}

uint64_t ts_requests(const struct ts_server *s) {
  return atomic_load(&((struct ts_server *)s)->nreq);
}

uint64_t ts_open_connections(const struct ts_server *s) {
  return atomic_load(&((struct ts_server *)s)->nopen);
}

uint64_t ts_client_closes(const struct ts_server *s) {
  return atomic_load(&((struct ts_server *)s)->nclient_close);
}

static int wait_counter(struct ts_server *s, _Atomic uint64_t *ctr, uint64_t n, bool exact,
                        int timeout_ms) {
  struct timespec dl;
  clock_gettime(CLOCK_MONOTONIC, &dl);
  dl.tv_sec += timeout_ms / 1000;
  dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L) {
    dl.tv_sec++;
    dl.tv_nsec -= 1000000000L;
  }
  int rc = -1;
  pthread_mutex_lock(&s->mu);
  /* Bounded by the deadline: timedwait returns ETIMEDOUT after it. */
  for (;;) {
    uint64_t v = atomic_load(ctr);
    if (exact ? v == n : v >= n) {
      rc = 0;
      break;
    }
    if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) {
      v = atomic_load(ctr);
      rc = (exact ? v == n : v >= n) ? 0 : -1;
      break;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int ts_wait_requests(struct ts_server *s, uint64_t n, int timeout_ms) {
  return wait_counter(s, &s->nreq, n, false, timeout_ms);
}

int ts_wait_connections(struct ts_server *s, uint64_t n, int timeout_ms) {
  return wait_counter(s, &s->nconn, n, false, timeout_ms);
}

int ts_wait_client_closes(struct ts_server *s, uint64_t n, int timeout_ms) {
  return wait_counter(s, &s->nclient_close, n, false, timeout_ms);
}

int ts_wait_open(struct ts_server *s, uint64_t n, int timeout_ms) {
  return wait_counter(s, &s->nopen, n, true, timeout_ms);
}

size_t ts_last_request(struct ts_server *s, char *out, size_t outlen) {
  pthread_mutex_lock(&s->mu);
  size_t len = s->last ? s->last_len : 0;
  if (out && outlen)
    memcpy(out, s->last ? s->last : "", len < outlen ? len : outlen);
  pthread_mutex_unlock(&s->mu);
  return len;
}

size_t ts_request_log(struct ts_server *s, size_t idx, char *out, size_t outlen) {
  pthread_mutex_lock(&s->mu);
  size_t len = 0;
  if (idx < s->nlog) {
    len = s->log[idx].kept;
    if (out && outlen)
      memcpy(out, s->log[idx].raw, len < outlen ? len : outlen);
  }
  pthread_mutex_unlock(&s->mu);
  return len;
}

uint64_t ts_request_conn(struct ts_server *s, size_t idx) {
  pthread_mutex_lock(&s->mu);
  uint64_t id = idx < s->nlog ? s->log[idx].conn : 0;
  pthread_mutex_unlock(&s->mu);
  return id;
}
