/*
 * Self-test of tests/support (the scripted test server and the nginx peer),
 * using plain blocking client sockets so it does not depend on xfer itself.
 * Every client socket has SO_RCVTIMEO/SO_SNDTIMEO, so a broken server fails
 * a test instead of hanging it; waits on the server use the bounded
 * ts_wait_*() helpers, never sleeps.
 */
#include "nginx.h"
#include "testserver.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- client */

struct cli {
  int fd;
  char *buf;
  size_t cap, start, end;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int raw_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  cr_assert(fd >= 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static void cli_open(struct cli *c, uint16_t port) {
  memset(c, 0, sizeof *c);
  c->fd = raw_connect(port);
  cr_assert(c->fd >= 0, "connect to port %u: %s", (unsigned)port, strerror(errno));
  c->cap = 65536;
  c->buf = malloc(c->cap);
  cr_assert(c->buf);
}

static void cli_close(struct cli *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  free(c->buf);
  c->buf = NULL;
}

static void cli_send(struct cli *c, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
    cr_assert(k > 0, "send: %s", strerror(errno));
    p += k;
    n -= (size_t)k;
  }
}

static void cli_sends(struct cli *c, const char *s) { cli_send(c, s, strlen(s)); }

/* 1 got bytes, 0 EOF, -1 error (errno kept). Bounded by SO_RCVTIMEO. */
static int cli_fill(struct cli *c) {
  if (c->start == c->end)
    c->start = c->end = 0;
  if (c->end == c->cap) {
    if (c->start > 0) {
      memmove(c->buf, c->buf + c->start, c->end - c->start);
      c->end -= c->start;
      c->start = 0;
    } else {
      c->cap *= 2;
      c->buf = realloc(c->buf, c->cap);
      cr_assert(c->buf);
    }
  }
  ssize_t k = recv(c->fd, c->buf + c->end, c->cap - c->end, 0);
  if (k > 0) {
    c->end += (size_t)k;
    return 1;
  }
  return k == 0 ? 0 : -1;
}

/* Take exactly n bytes into out (malloc'd by caller). */
static void cli_take(struct cli *c, char *out, size_t n) {
  size_t got = 0;
  while (got < n) {
    if (c->start == c->end)
      cr_assert_eq(cli_fill(c), 1, "connection ended after %zu of %zu bytes", got, n);
    size_t k = c->end - c->start;
    if (k > n - got)
      k = n - got;
    memcpy(out + got, c->buf + c->start, k);
    c->start += k;
    got += k;
  }
}

static size_t cli_line(struct cli *c, char *out, size_t cap) {
  size_t got = 0;
  for (;;) {
    if (c->start == c->end)
      cr_assert_eq(cli_fill(c), 1, "connection ended inside a line");
    char ch = c->buf[c->start++];
    cr_assert(got + 1 < cap, "line too long");
    out[got++] = ch;
    if (ch == '\n')
      break;
  }
  out[got] = '\0';
  return got;
}

struct resp {
  int status;
  char *head; /* the final head, exact bytes, NUL-terminated */
  size_t head_len;
  char *interim; /* 1xx heads before it, concatenated */
  char *body;
  size_t body_len;
  bool chunked;
  size_t nchunks, min_chunk, max_chunk;
  bool to_eof;
};

static void resp_free(struct resp *r) {
  free(r->head);
  free(r->interim);
  free(r->body);
  memset(r, 0, sizeof *r);
}

/* Value of header `name` in r->head (copied into out), or NULL. Walks the
 * lines with memchr (strstr is quadratic under ASan's interceptor). */
static const char *hdr(const struct resp *r, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  const char *end = r->head + r->head_len;
  const char *line = memchr(r->head, '\n', r->head_len);
  while (line && ++line < end && *line != '\r') {
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    cr_assert(eol && eol > line && eol[-1] == '\r');
    if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      const char *v = line + nl + 1;
      while (*v == ' ')
        v++;
      size_t vl = (size_t)(eol - 1 - v);
      cr_assert(vl < cap);
      memcpy(out, v, vl);
      out[vl] = '\0';
      return out;
    }
    line = eol;
  }
  return NULL;
}

static void read_head(struct cli *c, struct resp *r) {
  for (int turn = 0; turn < 100000; turn++) {
    char *p =
        c->start < c->end ? memmem(c->buf + c->start, c->end - c->start, "\r\n\r\n", 4) : NULL;
    if (p) {
      size_t hl = (size_t)(p + 4 - (c->buf + c->start));
      free(r->head);
      r->head = malloc(hl + 1);
      memcpy(r->head, c->buf + c->start, hl);
      r->head[hl] = '\0';
      r->head_len = hl;
      c->start += hl;
      cr_assert(sscanf(r->head, "HTTP/1.1 %d", &r->status) == 1, "bad status line: %s", r->head);
      return;
    }
    cr_assert_eq(cli_fill(c), 1, "connection ended inside a response head");
  }
  cr_assert_fail("head never ended");
}

/* Read one complete response, framed as RFC 9112 says. */
static void cli_response(struct cli *c, struct resp *r, bool head_req) {
  memset(r, 0, sizeof *r);
  size_t ilen = 0;
  for (int i = 0; i < 10; i++) {
    read_head(c, r);
    if (r->status >= 200)
      break;
    r->interim = realloc(r->interim, ilen + r->head_len + 1);
    memcpy(r->interim + ilen, r->head, r->head_len + 1);
    ilen += r->head_len;
  }
  char v[64];
  r->body = malloc(1);
  if (head_req || r->status == 204 || r->status == 304)
    return;
  if (hdr(r, "Transfer-Encoding", v, sizeof v)) {
    cr_assert_str_eq(v, "chunked");
    r->chunked = true;
    r->min_chunk = SIZE_MAX;
    for (int i = 0; i < 10000000; i++) {
      char line[128];
      cli_line(c, line, sizeof line);
      size_t n = strtoul(line, NULL, 16);
      if (n == 0) {
        cli_line(c, line, sizeof line);
        cr_assert_str_eq(line, "\r\n", "no trailers expected");
        return;
      }
      r->nchunks++;
      r->min_chunk = n < r->min_chunk ? n : r->min_chunk;
      r->max_chunk = n > r->max_chunk ? n : r->max_chunk;
      r->body = realloc(r->body, r->body_len + n);
      cli_take(c, r->body + r->body_len, n);
      r->body_len += n;
      cli_line(c, line, sizeof line);
      cr_assert_str_eq(line, "\r\n");
    }
    cr_assert_fail("too many chunks");
  } else if (hdr(r, "Content-Length", v, sizeof v)) {
    size_t n = strtoul(v, NULL, 10);
    r->body = realloc(r->body, n + 1);
    cli_take(c, r->body, n);
    r->body_len = n;
  } else {
    r->to_eof = true;
    for (int i = 0; i < 10000000; i++) {
      size_t k = c->end - c->start;
      r->body = realloc(r->body, r->body_len + k + 1);
      memcpy(r->body + r->body_len, c->buf + c->start, k);
      r->body_len += k;
      c->start = c->end;
      int f = cli_fill(c);
      cr_assert(f >= 0, "read-to-EOF body ended by an error: %s", strerror(errno));
      if (f == 0)
        return;
    }
  }
}

/* One request on a connection; returns the response. */
static void exchange(struct cli *c, const char *method, const char *target, struct resp *r) {
  char req[1024];
  snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", method, target);
  cli_sends(c, req);
  cli_response(c, r, strcmp(method, "HEAD") == 0);
}

/* After the server closed: the next read is a clean EOF (not an RST). */
static void expect_eof(struct cli *c) {
  cr_assert_eq(c->start, c->end, "unexpected extra bytes");
  int f = cli_fill(c);
  cr_assert_eq(f, 0, "expected EOF, got %d (%s)", f, f < 0 ? strerror(errno) : "data");
}

/* Assert nothing arrives within ms (absence check, not synchronisation). */
static void expect_silence(struct cli *c, int ms) {
  struct pollfd p = {c->fd, POLLIN, 0};
  cr_assert_eq(poll(&p, 1, ms), 0, "server sent something");
}

static struct ts_server *srv;

static void setup(void) {
  srv = ts_start();
  cr_assert(srv, "ts_start failed");
}

static void teardown(void) {
  ts_stop(srv);
  srv = NULL;
}

TestSuite(ts, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------ pattern */

Test(ts, pattern_is_offset_consistent_and_not_periodic) {
  char a[4096], b[1000];
  ts_pattern(0, a, sizeof a);
  ts_pattern(1234, b, sizeof b);
  cr_assert(memcmp(a + 1234, b, sizeof b) == 0);
  cr_assert(ts_pattern_check(1234, b, sizeof b));
  cr_assert(!ts_pattern_check(1235, b, sizeof b));
  /* No short period: shifting by a power of two must change the bytes. */
  for (size_t per = 1; per <= 1024; per *= 2)
    cr_assert(memcmp(a, a + per, 1024) != 0, "period %zu", per);
}

Test(ts, url_and_port) {
  char url[128], want[128];
  cr_assert_neq(ts_port(srv), 0);
  snprintf(want, sizeof want, "http://127.0.0.1:%u/x/y", (unsigned)ts_port(srv));
  ts_url(srv, "/x/y", url, sizeof url);
  cr_assert_str_eq(url, want);
  ts_url(srv, "x/y", url, sizeof url);
  cr_assert_str_eq(url, want);
}

/* ---------------------------------------------------------- built-ins */

Test(ts, bytes_exact) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  exchange(&c, "GET", "/bytes/1000", &r);
  cr_assert_str_eq(r.head, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                           "Content-Length: 1000\r\n\r\n");
  cr_assert_eq(r.body_len, 1000);
  cr_assert(ts_pattern_check(0, r.body, r.body_len));
  resp_free(&r);

  exchange(&c, "GET", "/bytes/0", &r);
  cr_assert_eq(r.body_len, 0);
  cr_assert(strstr(r.head, "Content-Length: 0\r\n"));
  resp_free(&r);

  exchange(&c, "GET", "/bytes/3000000?ignored=1", &r);
  cr_assert_eq(r.body_len, 3000000);
  cr_assert(ts_pattern_check(0, r.body, r.body_len));
  resp_free(&r);

  exchange(&c, "GET", "/bytes/12x", &r);
  cr_assert_eq(r.status, 400);
  resp_free(&r);
  cli_close(&c);
}

Test(ts, head_has_no_body_and_keeps_alive) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  exchange(&c, "HEAD", "/bytes/100", &r);
  cr_assert_eq(r.status, 200);
  cr_assert(strstr(r.head, "Content-Length: 100\r\n"));
  resp_free(&r);
  /* If a body had been sent, it would be parsed as this response's head. */
  exchange(&c, "GET", "/bytes/5", &r);
  cr_assert_eq(r.status, 200);
  cr_assert(ts_pattern_check(0, r.body, 5));
  resp_free(&r);
  cr_assert_eq(ts_connections(srv), 1);
  cr_assert_eq(ts_requests(srv), 2);
  cli_close(&c);
}

Test(ts, chunked_exact) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  exchange(&c, "GET", "/chunked/100000", &r);
  cr_assert_str_eq(r.head, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n");
  cr_assert(r.chunked);
  cr_assert_eq(r.body_len, 100000);
  cr_assert(ts_pattern_check(0, r.body, r.body_len));
  cr_assert_eq(r.min_chunk, 1);
  cr_assert_eq(r.max_chunk, 65536);
  cr_assert_gt(r.nchunks, 10);
  resp_free(&r);

  /* Empty chunked body: only the last-chunk; the connection stays in sync. */
  cli_sends(&c, "GET /chunked/0 HTTP/1.1\r\nHost: x\r\n\r\n");
  char want[] = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  char got[sizeof want];
  cli_take(&c, got, sizeof want - 1);
  cr_assert(memcmp(got, want, sizeof want - 1) == 0);
  exchange(&c, "GET", "/bytes/3", &r);
  cr_assert_eq(r.status, 200);
  resp_free(&r);
  cli_close(&c);
}

Test(ts, close_is_read_to_eof_then_fin) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  exchange(&c, "GET", "/close/5000", &r);
  cr_assert_str_eq(r.head, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                           "Connection: close\r\n\r\n");
  cr_assert(r.to_eof);
  cr_assert_eq(r.body_len, 5000);
  cr_assert(ts_pattern_check(0, r.body, r.body_len));
  resp_free(&r);
  cli_close(&c);
  cr_assert_eq(ts_wait_open(srv, 0, 5000), 0);
}

Test(ts, echo_returns_raw_request) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  const char req1[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  cli_sends(&c, req1);
  cli_response(&c, &r, false);
  cr_assert_eq(r.status, 200);
  cr_assert_eq(r.body_len, sizeof req1 - 1);
  cr_assert(memcmp(r.body, req1, sizeof req1 - 1) == 0);
  resp_free(&r);

  /* Chunked upload: the echo holds the chunk framing exactly as sent. */
  const char req2[] = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n";
  cli_sends(&c, req2);
  cli_response(&c, &r, false);
  cr_assert_eq(r.body_len, sizeof req2 - 1);
  cr_assert(memcmp(r.body, req2, sizeof req2 - 1) == 0);
  resp_free(&r);

  char last[512];
  cr_assert_eq(ts_last_request(srv, last, sizeof last), sizeof req2 - 1);
  cr_assert(memcmp(last, req2, sizeof req2 - 1) == 0);
  cr_assert_eq(ts_request_log(srv, 0, last, sizeof last), sizeof req1 - 1);
  cr_assert(memcmp(last, req1, sizeof req1 - 1) == 0);
  cr_assert_eq(ts_request_log(srv, 2, last, sizeof last), 0);
  cli_close(&c);
}

Test(ts, expect_100_continue_is_answered) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  cli_sends(&c,
            "PUT /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  char got[26];
  cli_take(&c, got, 25); /* the body is not sent before this arrives */
  got[25] = '\0';
  cr_assert_str_eq(got, "HTTP/1.1 100 Continue\r\n\r\n");
  cli_sends(&c, "abc");
  cli_response(&c, &r, false);
  cr_assert_eq(r.status, 200);
  cr_assert(r.body_len > 3 && memcmp(r.body + r.body_len - 3, "abc", 3) == 0);
  resp_free(&r);
  cli_close(&c);
}

Test(ts, status_framing) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  cli_sends(&c, "GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\n");
  char want204[] = "HTTP/1.1 204 No Content\r\n\r\n";
  char got[64];
  cli_take(&c, got, sizeof want204 - 1);
  cr_assert(memcmp(got, want204, sizeof want204 - 1) == 0);

  exchange(&c, "GET", "/status/304", &r);
  cr_assert_str_eq(r.head, "HTTP/1.1 304 Not Modified\r\n\r\n");
  resp_free(&r);
  exchange(&c, "GET", "/status/500", &r);
  cr_assert_str_eq(r.head, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
  resp_free(&r);
  exchange(&c, "GET", "/status/103", &r);
  cr_assert_str_eq(r.interim, "HTTP/1.1 103 Early Hints\r\n\r\n");
  cr_assert_eq(r.status, 200);
  cr_assert_eq(r.body_len, 0);
  resp_free(&r);
  exchange(&c, "GET", "/status/99", &r);
  cr_assert_eq(r.status, 400);
  resp_free(&r);
  exchange(&c, "GET", "/nothing/here", &r);
  cr_assert_str_eq(r.head, "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n"
                           "Content-Type: text/plain\r\n\r\n");
  cr_assert_eq(r.body_len, 10);
  cr_assert(memcmp(r.body, "not found\n", 10) == 0);
  resp_free(&r);
  cr_assert_eq(ts_connections(srv), 1);
  cr_assert_eq(ts_requests(srv), 6);
  cli_close(&c);
}

Test(ts, delay_waits) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  int64_t t0 = now_ms();
  exchange(&c, "GET", "/delay/100/10", &r);
  cr_assert_geq(now_ms() - t0, 100);
  cr_assert_eq(r.body_len, 10);
  cr_assert(ts_pattern_check(0, r.body, 10));
  resp_free(&r);
  cli_close(&c);
}

Test(ts, redirects) {
  struct cli c;
  struct resp r;
  char v[256];
  cli_open(&c, ts_port(srv));
  exchange(&c, "GET", "/redirect/302?to=%2Fbytes%2F5%3Fa%3Db", &r);
  cr_assert_str_eq(r.head, "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n"
                           "Location: /bytes/5?a=b\r\n\r\n");
  resp_free(&r);

  /* Follow a 3-hop chain by hand. */
  char target[256] = "/redirect/301/3?to=/bytes/7";
  int hops = 0;
  for (; hops < 10; hops++) {
    exchange(&c, "GET", target, &r);
    if (r.status != 301)
      break;
    cr_assert(hdr(&r, "Location", v, sizeof v));
    snprintf(target, sizeof target, "%s", v);
    resp_free(&r);
  }
  cr_assert_eq(hops, 3);
  cr_assert_str_eq(target, "/bytes/7");
  cr_assert_eq(r.status, 200);
  resp_free(&r);

  exchange(&c, "GET", "/redirect/307", &r);
  cr_assert_str_eq(hdr(&r, "Location", v, sizeof v), "/bytes/16");
  resp_free(&r);
  exchange(&c, "GET", "/redirect/302?to=%0d%0aX-Evil:%201", &r);
  cr_assert_eq(r.status, 400);
  resp_free(&r);
  cli_close(&c);
}

Test(ts, headers_route) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  exchange(&c, "GET", "/headers/3", &r);
  cr_assert_str_eq(r.head, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n"
                           "X-H-1: 1\r\nX-H-2: 2\r\nX-H-3: 3\r\n\r\n");
  cr_assert_eq(r.body_len, 8);
  cr_assert(memcmp(r.body, "headers\n", 8) == 0);
  resp_free(&r);

  exchange(&c, "GET", "/headers/6000", &r);
  size_t lines = 0;
  for (const char *p = r.head; (p = memmem(p, r.head_len - (size_t)(p - r.head), "\r\nX-H-", 6));
       p += 2)
    lines++;
  cr_assert_eq(lines, 6000);
  char v[32];
  cr_assert_str_eq(hdr(&r, "X-H-6000", v, sizeof v), "6000");
  resp_free(&r);
  cli_close(&c);
}

Test(ts, slow_drips) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  int64_t t0 = now_ms();
  exchange(&c, "GET", "/slow/20", &r);
  /* 19 gaps of 10 ms between the 20 bytes. */
  cr_assert_geq(now_ms() - t0, 190);
  cr_assert_eq(r.body_len, 20);
  cr_assert(ts_pattern_check(0, r.body, 20));
  resp_free(&r);
  exchange(&c, "GET", "/slow/5/1", &r);
  cr_assert(ts_pattern_check(0, r.body, 5));
  resp_free(&r);
  cli_close(&c);
}

Test(ts, connection_close_request_is_honoured) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  cli_sends(&c, "GET /bytes/4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  cli_response(&c, &r, false);
  cr_assert(strstr(r.head, "Connection: close\r\n"));
  resp_free(&r);
  expect_eof(&c);
  cli_close(&c);

  cli_open(&c, ts_port(srv));
  cli_sends(&c, "GET /bytes/4 HTTP/1.0\r\n\r\n");
  cli_response(&c, &r, false);
  resp_free(&r);
  expect_eof(&c);
  cli_close(&c);
}

Test(ts, bad_request_gets_400_and_close) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  cli_sends(&c, "NONSENSE\r\n\r\n");
  cli_response(&c, &r, false);
  cr_assert_eq(r.status, 400);
  resp_free(&r);
  expect_eof(&c);
  cli_close(&c);
}

/* ----------------------------------------------------------- scripted */

Test(ts, scripted_send_fin) {
  const struct ts_step steps[] = {
      TS_S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"),
      TS_S1("lo"),
      TS_STEP(TS_FIN),
  };
  ts_route(srv, "/s", steps, 3);
  struct cli c;
  cli_open(&c, ts_port(srv));
  cli_sends(&c, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
  char want[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  char got[sizeof want];
  cli_take(&c, got, sizeof want - 1);
  cr_assert(memcmp(got, want, sizeof want - 1) == 0);
  expect_eof(&c);
  cli_close(&c);
}

Test(ts, scripted_rst) {
  const struct ts_step steps[] = {
      TS_S("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"),
      TS_STEP(TS_RST),
  };
  ts_route(srv, "/r", steps, 2);
  struct cli c;
  cli_open(&c, ts_port(srv));
  cli_sends(&c, "GET /r HTTP/1.1\r\nHost: x\r\n\r\n");
  int f = 1;
  for (int i = 0; i < 1000 && f == 1; i++)
    f = cli_fill(&c);
  cr_assert_eq(f, -1, "expected an error, got %d", f);
  cr_assert_eq(errno, ECONNRESET, "errno %d (%s)", errno, strerror(errno));
  cli_close(&c);
}

Test(ts, scripted_shutdown_wr_then_later_steps) {
  const struct ts_step steps[] = {
      TS_S("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
      TS_STEP(TS_SHUTDOWN_WR),
  };
  ts_route(srv, "/h", steps, 2);
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  exchange(&c, "GET", "/h", &r);
  cr_assert_eq(r.body_len, 2);
  resp_free(&r);
  expect_eof(&c);
  /* The server still reads: the half-closed connection takes a request. */
  cli_sends(&c, "GET /bytes/1 HTTP/1.1\r\nHost: x\r\n\r\n");
  cr_assert_eq(ts_wait_requests(srv, 2, 5000), 0);
  cli_close(&c);
}

Test(ts, route_raw_and_delivery_modes) {
  const char raw[] = "HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\nabcdefghijklmnopqrstuvwxyz";
  ts_route_raw(srv, "/raw", raw, sizeof raw - 1);
  for (int mode = TS_D_WHOLE; mode <= TS_D_SPLIT; mode++) {
    ts_set_delivery(srv, (enum ts_delivery)mode, 7);
    struct cli c;
    cli_open(&c, ts_port(srv));
    cli_sends(&c, "GET /raw HTTP/1.1\r\nHost: x\r\n\r\n");
    char got[sizeof raw];
    cli_take(&c, got, sizeof raw - 1);
    cr_assert(memcmp(got, raw, sizeof raw - 1) == 0, "mode %d", mode);
    cli_close(&c);
  }
}

Test(ts, route_added_later_hides_older_and_once_falls_through) {
  ts_route_raw(srv, "/v", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1", 39);
  ts_route_raw(srv, "/v", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2", 39);
  const struct ts_step once[] = {TS_S("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")};
  ts_route_ex(srv, "/bytes/2", once, 1, TS_ROUTE_ONCE);

  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  exchange(&c, "GET", "/v", &r);
  cr_assert_eq(r.body[0], '2');
  resp_free(&r);
  exchange(&c, "GET", "/bytes/2", &r);
  cr_assert_eq(r.status, 201);
  resp_free(&r);
  exchange(&c, "GET", "/bytes/2", &r);
  cr_assert_eq(r.status, 200);
  cr_assert_eq(r.body_len, 2);
  resp_free(&r);
  cli_close(&c);
}

Test(ts, head_only_route_reads_body_on_request) {
  const struct ts_step steps[] = {
      TS_S("HTTP/1.1 100 Continue\r\n\r\n"),
      TS_STEP(TS_READ_BODY),
      TS_S("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"),
  };
  ts_route_ex(srv, "/up", steps, 3, TS_ROUTE_HEAD_ONLY);
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  const char head[] = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n";
  cli_sends(&c, head);
  /* The script answers 100 before it has the body: read it, then send. */
  char got[26];
  cli_take(&c, got, 25);
  got[25] = '\0';
  cr_assert_str_eq(got, "HTTP/1.1 100 Continue\r\n\r\n");
  cr_assert_eq(ts_wait_requests(srv, 1, 5000), 0);
  char last[256];
  cr_assert_eq(ts_last_request(srv, last, sizeof last), sizeof head - 1);
  cli_sends(&c, "BODY");
  cli_response(&c, &r, false);
  cr_assert_eq(r.status, 200);
  resp_free(&r);
  cr_assert_eq(ts_last_request(srv, last, sizeof last), sizeof head - 1 + 4);
  cr_assert(memcmp(last + sizeof head - 1, "BODY", 4) == 0);
  /* The connection stays in sync for the next request. */
  exchange(&c, "GET", "/bytes/1", &r);
  cr_assert_eq(r.status, 200);
  resp_free(&r);
  cli_close(&c);
}

Test(ts, head_only_route_without_read_body_still_consumes_it) {
  ts_route_ex(srv, "/early",
              (const struct ts_step[]){TS_S("HTTP/1.1 413 Content Too Large\r\n"
                                            "Content-Length: 0\r\n\r\n")},
              1, TS_ROUTE_HEAD_ONLY);
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  cli_sends(&c, "POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n");
  cli_response(&c, &r, false);
  cr_assert_eq(r.status, 413);
  resp_free(&r);
  cli_sends(&c, "12345GET /bytes/2 HTTP/1.1\r\nHost: x\r\n\r\n");
  cli_response(&c, &r, false);
  cr_assert_eq(r.status, 200);
  cr_assert_eq(r.body_len, 2);
  resp_free(&r);
  cr_assert_eq(ts_requests(srv), 2);
  cli_close(&c);
}

Test(ts, idle_never_answers_until_stop) {
  ts_route(srv, "/idle", (const struct ts_step[]){TS_STEP(TS_IDLE)}, 1);
  struct cli c;
  cli_open(&c, ts_port(srv));
  cli_sends(&c, "GET /idle HTTP/1.1\r\nHost: x\r\n\r\n");
  cr_assert_eq(ts_wait_requests(srv, 1, 5000), 0);
  expect_silence(&c, 200);
  cr_assert_eq(ts_open_connections(srv), 1);
  int64_t t0 = now_ms();
  ts_stop(srv);
  srv = NULL;
  cr_assert_lt(now_ms() - t0, 2000, "ts_stop must not wait for idle connections");
  expect_eof(&c);
  cli_close(&c);
}

Test(ts, stop_reading_sees_client_close) {
  ts_route(srv, "/zw", (const struct ts_step[]){TS_STEP(TS_STOP_READING)}, 1);
  struct cli c;
  cli_open(&c, ts_port(srv));
  cli_sends(&c, "GET /zw HTTP/1.1\r\nHost: x\r\n\r\n");
  cr_assert_eq(ts_wait_requests(srv, 1, 5000), 0);
  expect_silence(&c, 100);
  cli_close(&c);
  cr_assert_eq(ts_wait_client_closes(srv, 1, 5000), 0);
  cr_assert_eq(ts_wait_open(srv, 0, 5000), 0);
}

/* Connections wait in the kernel's accept queue while the server sleeps:
 * the clients' connects and requests go through at once, the answers come
 * one accept delay apart. */
Test(ts, accept_delay_spaces_accepts) {
  enum { N = 4, DELAY = 150 };
  ts_set_accept_delay(srv, DELAY);
  struct cli c[N];
  int64_t t0 = now_ms();
  for (int i = 0; i < N; i++) {
    cli_open(&c[i], ts_port(srv));
    cli_sends(&c[i], "GET /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  int64_t queued = now_ms() - t0;
  cr_assert_lt(queued, N * DELAY, "connecting took %lld ms: connect waited for accept",
               (long long)queued);
  for (int i = 0; i < N; i++) {
    struct resp r;
    cli_response(&c[i], &r, false);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 10);
    resp_free(&r);
  }
  /* The first accept waits one delay too. */
  int64_t served = now_ms() - t0;
  cr_assert_geq(served, N * DELAY, "%d answers after %lld ms", N, (long long)served);
  cr_assert_eq(ts_connections(srv), N);

  /* Back to accepting at once. */
  ts_set_accept_delay(srv, 0);
  struct cli d;
  struct resp r;
  int64_t t1 = now_ms();
  cli_open(&d, ts_port(srv));
  exchange(&d, "GET", "/bytes/1", &r);
  cr_assert_eq(r.status, 200);
  cr_assert_lt(now_ms() - t1, 5000);
  resp_free(&r);
  cli_close(&d);
  for (int i = 0; i < N; i++)
    cli_close(&c[i]);
}

Test(ts, sleep_step_and_drip) {
  const struct ts_step steps[] = {
      TS_SLEEP_MS(50),
      {TS_DRIP, "HTTP/1.1 204 No Content\r\n\r\n", 0, 2},
  };
  ts_route(srv, "/d", steps, 2);
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  int64_t t0 = now_ms();
  exchange(&c, "GET", "/d", &r);
  cr_assert_geq(now_ms() - t0, 50 + 26 * 2);
  cr_assert_eq(r.status, 204);
  resp_free(&r);
  cli_close(&c);
}

Test(ts, on_accept_close_and_greeting) {
  ts_on_accept(srv, (const struct ts_step[]){TS_STEP(TS_FIN)}, 1);
  struct cli c;
  cli_open(&c, ts_port(srv));
  expect_eof(&c);
  cli_close(&c);
  cr_assert_eq(ts_requests(srv), 0);

  ts_on_accept(srv, (const struct ts_step[]){TS_S("garbage\r\n")}, 1);
  cli_open(&c, ts_port(srv));
  char got[9];
  cli_take(&c, got, 9);
  cr_assert(memcmp(got, "garbage\r\n", 9) == 0);
  struct resp r;
  exchange(&c, "GET", "/bytes/1", &r);
  cr_assert_eq(r.status, 200);
  resp_free(&r);
  cli_close(&c);

  ts_on_accept(srv, NULL, 0);
  cli_open(&c, ts_port(srv));
  exchange(&c, "GET", "/bytes/1", &r);
  cr_assert_eq(r.status, 200);
  resp_free(&r);
  cli_close(&c);
}

/* ----------------------------------------------------------- counters */

Test(ts, keepalive_counters_and_request_conn) {
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  exchange(&c, "GET", "/bytes/10", &r);
  resp_free(&r);
  exchange(&c, "GET", "/bytes/20", &r);
  resp_free(&r);
  cr_assert_eq(ts_connections(srv), 1);
  cr_assert_eq(ts_requests(srv), 2);
  cr_assert_eq(ts_request_conn(srv, 0), 1);
  cr_assert_eq(ts_request_conn(srv, 1), 1);

  struct cli d;
  cli_open(&d, ts_port(srv));
  exchange(&d, "GET", "/bytes/30", &r);
  resp_free(&r);
  cr_assert_eq(ts_connections(srv), 2);
  cr_assert_eq(ts_requests(srv), 3);
  cr_assert_eq(ts_request_conn(srv, 2), 2);
  cr_assert_eq(ts_request_conn(srv, 3), 0);

  char buf[256];
  size_t n = ts_request_log(srv, 1, buf, sizeof buf);
  cr_assert(n > 0 && memcmp(buf, "GET /bytes/20 ", 14) == 0);
  cr_assert_eq(ts_open_connections(srv), 2);
  cli_close(&c);
  cli_close(&d);
  cr_assert_eq(ts_wait_client_closes(srv, 2, 5000), 0);
  cr_assert_eq(ts_wait_open(srv, 0, 5000), 0);
}

Test(ts, client_closing_mid_request) {
  struct cli c;
  /* Half a head. */
  cli_open(&c, ts_port(srv));
  cli_sends(&c, "GET /bytes/1 HTTP/1.1\r\nHo");
  cli_close(&c);
  cr_assert_eq(ts_wait_client_closes(srv, 1, 5000), 0);
  cr_assert_eq(ts_requests(srv), 0);

  /* A head and part of its body. */
  cli_open(&c, ts_port(srv));
  cli_sends(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
  cr_assert_eq(ts_wait_requests(srv, 1, 5000), 0);
  cli_close(&c);
  cr_assert_eq(ts_wait_client_closes(srv, 2, 5000), 0);

  /* A reset in the middle of a large response. */
  cli_open(&c, ts_port(srv));
  cli_sends(&c, "GET /bytes/50000000 HTTP/1.1\r\nHost: x\r\n\r\n");
  cr_assert_eq(cli_fill(&c), 1);
  struct linger lg = {1, 0};
  setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  cli_close(&c);
  cr_assert_eq(ts_wait_client_closes(srv, 3, 5000), 0);
  cr_assert_eq(ts_wait_open(srv, 0, 5000), 0);

  /* The server is unharmed. */
  struct resp r;
  cli_open(&c, ts_port(srv));
  exchange(&c, "GET", "/bytes/7", &r);
  cr_assert_eq(r.status, 200);
  resp_free(&r);
  cli_close(&c);
}

struct par_arg {
  uint16_t port;
  int ok;
};

static void *par_client(void *arg) {
  struct par_arg *a = arg;
  int fd = raw_connect(a->port);
  if (fd < 0)
    return NULL;
  const char req[] = "GET /chunked/20000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
    size_t cap = 65536, got = 0;
    char *buf = malloc(cap);
    for (int i = 0; i < 100000 && buf; i++) {
      if (got == cap)
        break;
      ssize_t k = recv(fd, buf + got, cap - got, 0);
      if (k <= 0) {
        a->ok = k == 0 && got > 20000 && strncmp(buf, "HTTP/1.1 200 ", 13) == 0;
        break;
      }
      got += (size_t)k;
    }
    free(buf);
  }
  close(fd);
  return NULL;
}

static void *route_adder(void *arg) {
  struct ts_server *s = arg;
  for (int i = 0; i < 200; i++) {
    char path[32];
    snprintf(path, sizeof path, "/added/%d", i);
    ts_route_raw(s, path, "HTTP/1.1 204 No Content\r\n\r\n", 27);
  }
  return NULL;
}

Test(ts, concurrent_clients_and_route_changes) {
  enum { N = 32 };
  pthread_t th[N], adder;
  struct par_arg args[N];
  cr_assert_eq(pthread_create(&adder, NULL, route_adder, srv), 0);
  for (int i = 0; i < N; i++) {
    args[i] = (struct par_arg){ts_port(srv), 0};
    cr_assert_eq(pthread_create(&th[i], NULL, par_client, &args[i]), 0);
  }
  for (int i = 0; i < N; i++)
    pthread_join(th[i], NULL);
  pthread_join(adder, NULL);
  for (int i = 0; i < N; i++)
    cr_assert(args[i].ok, "client %d failed", i);
  cr_assert_eq(ts_connections(srv), N);
  cr_assert_eq(ts_requests(srv), N);

  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(srv));
  exchange(&c, "GET", "/added/199", &r);
  cr_assert_eq(r.status, 204);
  resp_free(&r);
  cli_close(&c);
}

Test(ts, two_servers_are_independent) {
  struct ts_server *other = ts_start();
  cr_assert(other);
  cr_assert_neq(ts_port(other), ts_port(srv));
  struct cli c;
  struct resp r;
  cli_open(&c, ts_port(other));
  exchange(&c, "GET", "/bytes/1", &r);
  resp_free(&r);
  cli_close(&c);
  cr_assert_eq(ts_requests(other), 1);
  cr_assert_eq(ts_requests(srv), 0);
  ts_stop(other);
}

/* -------------------------------------------------------------- nginx */

static bool pid_gone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

Test(nginx, start_get_stop, .timeout = 60) {
  if (!ts_nginx_available())
    cr_skip_test("nginx is not installed");
  struct ts_nginx *n = ts_nginx_start();
  cr_assert(n, "ts_nginx_start failed (see stderr)");
  pid_t pid = ts_nginx_pid(n);
  uint16_t port = ts_nginx_port(n);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", ts_nginx_dir(n));
  cr_assert(pid > 0 && port > 0);
  cr_assert(!pid_gone(pid));

  char url[128], want[128];
  ts_nginx_url(n, "/small", url, sizeof url);
  snprintf(want, sizeof want, "http://127.0.0.1:%u/small", (unsigned)port);
  cr_assert_str_eq(url, want);

  /* All on one connection: nginx keeps it alive. */
  struct cli c;
  struct resp r;
  cli_open(&c, port);
  exchange(&c, "GET", "/small", &r);
  cr_assert_eq(r.status, 200);
  cr_assert_eq(r.body_len, 13);
  cr_assert(memcmp(r.body, "Hello, world!", 13) == 0);
  resp_free(&r);

  static const struct {
    const char *path;
    size_t size;
  } files[] = {{"/64k", 65536}, {"/1k", 1024}, {"/1m", 1048576}};
  for (size_t i = 0; i < 3; i++) {
    exchange(&c, "GET", files[i].path, &r);
    cr_assert_eq(r.status, 200, "%s", files[i].path);
    cr_assert_eq(r.body_len, files[i].size, "%s", files[i].path);
    cr_assert(ts_pattern_check(0, r.body, r.body_len), "%s", files[i].path);
    resp_free(&r);
  }
  exchange(&c, "GET", "/echo_status/anything", &r);
  cr_assert_eq(r.status, 204);
  resp_free(&r);
  exchange(&c, "HEAD", "/1m", &r);
  char v[32];
  cr_assert_str_eq(hdr(&r, "Content-Length", v, sizeof v), "1048576");
  resp_free(&r);
  cli_close(&c);

  ts_nginx_stop(n);
  cr_assert(pid_gone(pid), "nginx master %d still exists", (int)pid);
  struct stat st;
  cr_assert(stat(dir, &st) != 0 && errno == ENOENT, "%s not removed", dir);
  int fd = raw_connect(port);
  cr_assert(fd < 0 && errno == ECONNREFUSED, "port %u still accepts", (unsigned)port);
}

Test(nginx, two_instances_and_extra_config, .timeout = 60) {
  if (!ts_nginx_available())
    cr_skip_test("nginx is not installed");
  struct ts_nginx *a = ts_nginx_start();
  struct ts_nginx *b = ts_nginx_start_ex("location = /extra { return 200 \"more\"; }");
  cr_assert(a && b);
  cr_assert_neq(ts_nginx_port(a), ts_nginx_port(b));
  struct cli c;
  struct resp r;
  cli_open(&c, ts_nginx_port(b));
  exchange(&c, "GET", "/extra", &r);
  cr_assert_eq(r.body_len, 4);
  cr_assert(memcmp(r.body, "more", 4) == 0);
  resp_free(&r);
  cli_close(&c);
  pid_t pa = ts_nginx_pid(a), pb = ts_nginx_pid(b);
  ts_nginx_stop(a);
  ts_nginx_stop(b);
  cr_assert(pid_gone(pa) && pid_gone(pb));
}
