/* Micro-benchmarks of the pieces on the per-request path, through the C
 * shim (bench.h): the response head parser (a typical nginx head, whole and
 * cut in two), the body decoders (Content-Length and chunked), request
 * serialisation, the handle table's add/get/remove, and the timer heap's
 * set/remove. Each reports bytes/s or operations/s; run with
 *   build/perf/perf/xfer-bench --benchmark_filter='micro/'
 * They use the library's internal functions (xfer__), as the unit tests do,
 * through the static library. */
#include "bench.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/handles.h"
#include "runtime/heap.h"
#include "runtime/http.h"

/* nginx 1.22's answer to a GET of a 13-byte file: 238 bytes of head. */
static const char head_nginx[] = "HTTP/1.1 200 OK\r\n"
                                 "Server: nginx/1.22.1\r\n"
                                 "Date: Fri, 04 Dec 2026 10:00:00 GMT\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "Content-Length: 13\r\n"
                                 "Last-Modified: Fri, 04 Dec 2026 09:00:00 GMT\r\n"
                                 "Connection: keep-alive\r\n"
                                 "ETag: \"6570a1b0-d\"\r\n"
                                 "Accept-Ranges: bytes\r\n"
                                 "\r\n";

static const struct xfer__http_limits limits = {XFER__HTTP_MAX_HEAD, XFER__HTTP_MAX_LINE,
                                                XFER__HTTP_MAX_HEADERS};

/* arg 0: whole; arg 1: cut in the middle of a header line and resumed with
 * the scanned cursor, as a head split over two receives is. */
static void bench_parse_head(struct xb_state *st) {
  int split = (int)xb_range(st, 0);
  size_t len = sizeof head_nginx - 1, cut = len / 2;
  struct xfer__http_head h;
  const char *err;
  while (xb_keep_running(st)) {
    size_t scanned = 0;
    if (split && xfer__http_parse_head(&h, head_nginx, cut, &scanned, &limits, &err) != 0) {
      xb_skip_with_error(st, "the first half parsed as a whole head");
      break;
    }
    if (xfer__http_parse_head(&h, head_nginx, len, &scanned, &limits, &err) != (int)len) {
      xb_skip_with_error(st, "the head did not parse");
      break;
    }
  }
  xb_counter(st, "bytes/s", (double)xb_iterations(st) * (double)len, XB_RATE);
}

static int count_bytes(void *ctx, const char *data, size_t len) {
  (void)data;
  *(size_t *)ctx += len;
  return 0;
}

/* A 64 KiB body: arg 0 with Content-Length, arg 1 chunked in 4 KiB chunks. */
static void bench_body(struct xb_state *st) {
  int chunked = (int)xb_range(st, 0);
  enum { BODY = 64 * 1024, CHUNK = 4096 };
  static char wire[BODY + (BODY / CHUNK + 1) * XFER__HTTP_CHUNK_OVERHEAD];
  size_t wlen = 0;
  static char payload[CHUNK];
  memset(payload, 'x', sizeof payload);
  if (chunked) {
    for (size_t off = 0; off < BODY; off += CHUNK)
      wlen += xfer__http_frame_chunk(wire + wlen, payload, CHUNK);
    wlen += xfer__http_frame_chunk(wire + wlen, NULL, 0);
  } else {
    memset(wire, 'x', BODY);
    wlen = BODY;
  }
  while (xb_keep_running(st)) {
    struct xfer__http_body b;
    size_t got = 0, used = 0;
    const char *err;
    xfer__http_body_init(&b, chunked ? XFER__HTTP_BODY_CHUNKED : XFER__HTTP_BODY_LENGTH, BODY,
                         &limits);
    if (xfer__http_body_feed(&b, wire, wlen, &used, count_bytes, &got, &err) != 1 || got != BODY) {
      xb_skip_with_error(st, "the body did not decode");
      break;
    }
  }
  xb_counter(st, "bytes/s", (double)xb_iterations(st) * (double)wlen, XB_RATE);
}

/* A GET with the defaults and two user headers, into a buffer kept across
 * requests (as the easy handle keeps its own). */
static void bench_build_request(struct xb_state *st) {
  struct xfer_slist h2 = {(char *)"X-Trace: 1", NULL};
  struct xfer_slist h1 = {(char *)"Accept: text/plain", &h2};
  struct xfer__http_request rq = {
      "GET", "/index.html?a=1", "127.0.0.1:8080", NULL, &h1, XFER__HTTP_NO_BODY, NULL};
  char *buf = NULL;
  size_t cap = 0, len = 0;
  const char *err;
  while (xb_keep_running(st)) {
    if (xfer__http_build_request(&rq, &buf, &cap, &len, &err) != 0) {
      xb_skip_with_error(st, "the request did not build");
      break;
    }
  }
  free(buf);
  xb_counter(st, "requests/s", (double)xb_iterations(st), XB_RATE);
  xb_counter(st, "bytes/s", (double)xb_iterations(st) * (double)len, XB_RATE);
}

/* A table holding arg entries (connections); each iteration removes one,
 * adds one (the slot comes back, cache-warm) and looks ten up, the mix of a
 * multi whose connections turn over while completions arrive. */
static void bench_handles(struct xb_state *st) {
  long n = (long)xb_range(st, 0);
  static struct xfer__handles t;
  uint64_t *tok = malloc((size_t)n * sizeof *tok);
  int obj;
  xfer__handles_init(&t);
  for (long i = 0; tok && i < n; i++)
    if (xfer__handles_add(&t, &obj, &tok[i]) != 0)
      tok = NULL;
  if (!tok) {
    xb_skip_with_error(st, "out of memory");
    return;
  }
  uint64_t k = 0;
  while (xb_keep_running(st)) {
    long i = (long)(k++ % (uint64_t)n);
    xfer__handles_remove(&t, tok[i]);
    xfer__handles_add(&t, &obj, &tok[i]);
    for (int j = 0; j < 10; j++)
      if (xfer__handles_get(&t, tok[(i + j * 7) % n]) != &obj)
        abort();
  }
  xfer__handles_destroy(&t);
  free(tok);
  xb_counter(st, "lookups/s", (double)xb_iterations(st) * 10.0, XB_RATE);
}

/* A heap of arg timers (one per transfer); each iteration moves one timer
 * to a later deadline and removes and re-adds another, as requests end and
 * start. */
static void bench_heap(struct xb_state *st) {
  long n = (long)xb_range(st, 0);
  struct xfer__heap h;
  struct xfer__heap_node *nodes = calloc((size_t)n, sizeof *nodes);
  xfer__heap_init(&h);
  if (!nodes || xfer__heap_reserve(&h, (uint32_t)n) != 0) {
    xb_skip_with_error(st, "out of memory");
    free(nodes);
    return;
  }
  uint64_t when = 1;
  for (long i = 0; i < n; i++) {
    xfer__heap_node_init(&nodes[i]);
    xfer__heap_set(&h, &nodes[i], when++ * 1000);
  }
  uint64_t k = 0;
  while (xb_keep_running(st)) {
    long i = (long)(k++ % (uint64_t)n);
    xfer__heap_set(&h, &nodes[i], when++ * 1000);
    long j = (i + n / 2) % n;
    xfer__heap_remove(&h, &nodes[j]);
    xfer__heap_set(&h, &nodes[j], when++ * 1000);
  }
  xfer__heap_free(&h);
  free(nodes);
  xb_counter(st, "ops/s", (double)xb_iterations(st) * 3.0, XB_RATE);
}

XB_REGISTRATION(register_micro) {
  struct xb_bench *b = xb_register("micro/parse_head", bench_parse_head, NULL);
  xb_arg_name(b, "split");
  xb_arg(b, 0);
  xb_arg(b, 1);
  b = xb_register("micro/body", bench_body, NULL);
  xb_arg_name(b, "chunked");
  xb_arg(b, 0);
  xb_arg(b, 1);
  xb_register("micro/build_request", bench_build_request, NULL);
  b = xb_register("micro/handles", bench_handles, NULL);
  xb_arg_name(b, "entries");
  xb_arg(b, 64);
  xb_arg(b, 10000);
  b = xb_register("micro/timer_heap", bench_heap, NULL);
  xb_arg_name(b, "timers");
  xb_arg(b, 64);
  xb_arg(b, 10000);
}
