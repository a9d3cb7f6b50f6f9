/* Fuzz target: the response codec (runtime/http_head.c, runtime/http_body.c)
 * driven as the transfer drives it: heads parsed with a carried cursor on a
 * growing buffer, 1xx heads skipped, the 20-heads budget, then the body
 * decoded piece by piece.
 *
 * The input chooses the limits (through the public options), whether the
 * request was a HEAD, an on_data failure point, and up to 64 split points;
 * the rest is the byte stream from the server. The stream is run whole, at
 * the chosen splits, and (when short) one byte per call. Every piece is
 * copied into an allocation of exactly its size, so ASan sees a read past
 * it. What must hold:
 *   - every mode gives the same heads (every field), the same body bytes,
 *     the same code and sentence, and the same stream offset for the end
 *     of the body or the offending byte;
 *   - `consumed` never exceeds a piece, and is the whole piece when the
 *     decoder asks for more;
 *   - no span handed to on_data is empty, and a head's views lie inside it. */
#include "fuzz.h"
#include "limits.h"

#define MAX_CUTS     64
/* One byte per call costs O(n^2) in head copies: only for short streams. */
#define BYTEWISE_MAX 1024u

struct sink {
  struct fuzz_buf data;
  size_t fail_after; /* on_data fails on the span that passes this many bytes */
  int fail_code;     /* 0: never fails */
};

static int on_data(void *ctx, const char *p, size_t n) {
  struct sink *s = ctx;
  FUZZ_CHECK(n > 0, "on_data got an empty span");
  fuzz_buf_put(&s->data, p, n);
  if (s->fail_code && s->data.len > s->fail_after)
    return s->fail_code;
  return 0;
}

/* Everything one run observed, in order. */
struct outcome {
  struct fuzz_buf events; /* the heads, serialised field by field */
  struct sink sink;
  int rc; /* 1 done, 0 incomplete at EOF, or an error */
  const char *msg;
  int where;     /* 'H' head, 'B' body, 'E' EOF verdict */
  size_t offset; /* stream offset of the body's end or of the error */
};

struct run_state {
  const struct xfer__http_limits *lim;
  int method_head;
  struct fuzz_buf hbuf; /* bytes of the head being parsed */
  size_t hstart;        /* stream offset of hbuf[0] */
  size_t scanned;
  size_t head_total;
  int in_body, finished;
  struct xfer__http_body body;
};

static void log_head(struct outcome *o, const struct xfer__http_head *h, const char *head) {
  char rec[128];
  int n = snprintf(rec, sizeof rec, "H%d/%d/%zu/%u/%lld/%u/%u/", h->status, h->minor_version,
                   h->head_len, h->nheaders, (long long)h->content_length, (unsigned)h->chunked,
                   (unsigned)h->conn_close);
  fuzz_buf_put(&o->events, rec, (size_t)n);
  if (h->location) {
    FUZZ_CHECK(h->location >= head && h->location + h->location_len <= head + h->head_len,
               "Location view outside the head");
    fuzz_buf_put(&o->events, h->location, h->location_len);
  }
  fuzz_buf_put(&o->events, "\n", 1);
}

static void finish(struct run_state *st, struct outcome *o, int rc, const char *msg, int where,
                   size_t offset) {
  st->finished = 1;
  o->rc = rc;
  o->msg = msg;
  o->where = where;
  o->offset = offset;
}

/* Feeds piece p[0..n) at stream offset `at` into the body decoder. */
static void feed_body(struct run_state *st, struct outcome *o, const char *p, size_t n, size_t at) {
  char *copy = fuzz_exact_copy(p, n);
  size_t used = 12345678; /* must be overwritten */
  const char *msg = NULL;
  int rc = xfer__http_body_feed(&st->body, copy, n, &used, on_data, &o->sink, &msg);
  free(copy);
  FUZZ_CHECK(used <= n, "consumed %zu of a %zu-byte piece", used, n);
  FUZZ_CHECK(rc <= 1, "body_feed returned %d", rc);
  if (rc == 0) {
    FUZZ_CHECK(used == n, "needs more bytes but consumed %zu of %zu", used, n);
    return;
  }
  if (rc < 0)
    FUZZ_CHECK(msg != NULL || o->sink.fail_code != 0, "error %d without a sentence", rc);
  finish(st, o, rc, msg, 'B', at + used);
}

/* Parses heads in hbuf, as transfer_recv.c's process_heads does. */
static void parse_heads(struct run_state *st, struct outcome *o) {
  for (;;) {
    struct xfer__http_head h;
    const char *msg = NULL;
    size_t len = st->hbuf.len;
    char *copy = fuzz_exact_copy(st->hbuf.p, len);
    int rc = xfer__http_parse_head(&h, copy, len, &st->scanned, st->lim, &msg);
    if (rc < 0) {
      free(copy);
      FUZZ_CHECK(msg != NULL, "head error %d without a sentence", rc);
      finish(st, o, rc, msg, 'H', 0);
      return;
    }
    if (rc == 0) {
      free(copy);
      return;
    }
    FUZZ_CHECK((size_t)rc <= len && (size_t)rc == h.head_len, "head_len %d of %zu", rc, len);
    FUZZ_CHECK(copy[rc - 1] == '\n', "a head that does not end in LF");
    FUZZ_CHECK(h.status >= 100 && h.status <= 999 && h.status != 101, "status %d", h.status);
    FUZZ_CHECK(!h.chunked || h.content_length == -1, "chunked with a Content-Length");
    log_head(o, &h, copy);
    free(copy);
    size_t hlen = (size_t)rc, end = st->hstart + hlen;
    st->head_total += hlen;
    if (st->head_total > 20u * st->lim->max_head) {
      finish(st, o, XFER__EHEADSIZE, "total", 'H', 0);
      return;
    }
    /* What follows the head stays in hbuf for the next head, or goes to
     * the body decoder. */
    memmove(st->hbuf.p, st->hbuf.p + hlen, len - hlen);
    st->hbuf.len = len - hlen;
    st->hstart = end;
    st->scanned = 0;
    if (h.status < 200)
      continue; /* a 1xx: the next head follows */
    enum xfer__http_framing f = xfer__http_framing(&h, st->method_head);
    xfer__http_body_init(&st->body, f, h.content_length, st->lim);
    st->in_body = 1;
    if (f == XFER__HTTP_BODY_NONE) {
      finish(st, o, 1, NULL, 'B', end);
      return;
    }
    if (st->hbuf.len)
      feed_body(st, o, st->hbuf.p, st->hbuf.len, end);
    return;
  }
}

static void deliver(struct run_state *st, struct outcome *o, const char *p, size_t n, size_t at) {
  if (st->finished)
    return;
  if (st->in_body) {
    if (n)
      feed_body(st, o, p, n, at);
    return;
  }
  fuzz_buf_put(&st->hbuf, p, n);
  parse_heads(st, o);
}

static void run(const char *stream, size_t len, const size_t *cuts, size_t ncuts,
                const struct xfer__http_limits *lim, int method_head, struct outcome *o) {
  struct run_state st;
  memset(&st, 0, sizeof st);
  st.lim = lim;
  st.method_head = method_head;
  size_t start = 0;
  for (size_t i = 0; i <= ncuts && !st.finished; i++) {
    size_t end = i < ncuts ? cuts[i] : len;
    deliver(&st, o, stream + start, end - start, start);
    start = end;
  }
  if (!st.finished) {
    if (!st.in_body) {
      finish(&st, o, 0, NULL, 'H', 0); /* EOF inside a head */
    } else {
      const char *msg = NULL;
      int rc = xfer__http_body_eof(&st.body, &msg);
      FUZZ_CHECK(rc == 1 || (rc == XFER__EPARTIAL && msg), "body_eof gave %d", rc);
      finish(&st, o, rc, msg, 'E', len);
    }
  }
  free(st.hbuf.p);
}

static void compare(const struct outcome *a, const struct outcome *b, const char *mode) {
  FUZZ_CHECK(fuzz_same(a->events.p, a->events.len, b->events.p, b->events.len),
             "%s: the heads differ: %.*s vs %.*s", mode, (int)a->events.len, a->events.p,
             (int)b->events.len, b->events.p);
  FUZZ_CHECK(a->rc == b->rc && a->where == b->where, "%s: result %d/%c vs %d/%c", mode, a->rc,
             a->where, b->rc, b->where);
  FUZZ_CHECK((a->msg == NULL) == (b->msg == NULL) && (!a->msg || strcmp(a->msg, b->msg) == 0),
             "%s: sentences differ: %s vs %s", mode, a->msg ? a->msg : "(none)",
             b->msg ? b->msg : "(none)");
  if (a->sink.fail_code && a->rc < 0 && !a->msg) {
    /* on_data stopped the decoder: each mode delivered the body up to the
     * end of the span that crossed the failure point, so one is a prefix
     * of the other, and neither stopped before the point. */
    size_t n = a->sink.data.len < b->sink.data.len ? a->sink.data.len : b->sink.data.len;
    FUZZ_CHECK(fuzz_same(a->sink.data.p, n, b->sink.data.p, n), "%s: body bytes differ", mode);
    return;
  }
  FUZZ_CHECK(a->offset == b->offset, "%s: end offset %zu vs %zu", mode, a->offset, b->offset);
  FUZZ_CHECK(fuzz_same(a->sink.data.p, a->sink.data.len, b->sink.data.p, b->sink.data.len),
             "%s: body bytes differ (%zu vs %zu)", mode, a->sink.data.len, b->sink.data.len);
}

static void outcome_init(struct outcome *o, size_t fail_after, int fail_code) {
  memset(o, 0, sizeof *o);
  o->sink.fail_after = fail_after;
  o->sink.fail_code = fail_code;
}

static void outcome_free(struct outcome *o) {
  free(o->events.p);
  free(o->sink.data.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fuzz_in in = {data, size};
  unsigned flags = fuzz_u8(&in);
  struct xfer__http_limits lim = fuzz_limits(&in);
  size_t fail_after = fuzz_u16(&in);
  int fail_code = 0;
  if (flags & 2)
    fail_code = (flags & 4) ? XFER__EWRITE : XFER__EABORTED;
  size_t cuts[MAX_CUTS];
  size_t ncuts = fuzz_u8(&in) % (MAX_CUTS + 1);
  uint16_t raw[MAX_CUTS];
  for (size_t i = 0; i < ncuts; i++)
    raw[i] = (uint16_t)fuzz_u16(&in);
  size_t len;
  const char *stream = (const char *)fuzz_bytes(&in, in.n, &len);
  for (size_t i = 0; i < ncuts; i++)
    cuts[i] = raw[i] % (len + 1);
  qsort(cuts, ncuts, sizeof *cuts, fuzz_cmp_sort);

  int method_head = flags & 1;
  struct outcome whole, split;
  outcome_init(&whole, fail_after, fail_code);
  outcome_init(&split, fail_after, fail_code);
  run(stream, len, NULL, 0, &lim, method_head, &whole);
  run(stream, len, cuts, ncuts, &lim, method_head, &split);
  compare(&whole, &split, "split");
  outcome_free(&split);
  if (len <= BYTEWISE_MAX && (flags & 8)) {
    size_t *every = fuzz_xmalloc(len * sizeof *every);
    for (size_t i = 0; i < len; i++)
      every[i] = i;
    struct outcome bytewise;
    outcome_init(&bytewise, fail_after, fail_code);
    run(stream, len, every, len, &lim, method_head, &bytewise);
    compare(&whole, &bytewise, "bytewise");
    outcome_free(&bytewise);
    free(every);
  }
  outcome_free(&whole);
  return 0;
}
