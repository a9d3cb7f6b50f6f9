/* Fuzz target: the chunked decoder (runtime/http_body.c) against a framer.
 *
 * The input describes a chunked body: chunk sizes, how each size is
 * written (hex case, leading zeros, or the runtime's own
 * xfer__http_frame_chunk()), chunk extensions (names, token and quoted
 * values, whitespace before ';'), trailer lines, bytes after the end, and
 * split points. The data comes from a seeded generator, so a short input
 * makes a long body. The harness frames the body, decodes it piece by piece
 * (each piece an exact-size allocation), and checks:
 *   - the decoded bytes are the original data, the body ends exactly where
 *     the framing ends (the excess is not consumed), and `consumed` never
 *     exceeds a piece;
 *   - the same bytes decoded whole give the same result.
 * One flag also damages the framed body at a chosen byte; then only the
 * equivalence of whole and pieces is checked, and that nothing is read past
 * a piece. Limits are the public defaults (one framing line at most
 * XFER__HTTP_MAX_LINE bytes, trailers within the head limits), which the
 * generator stays inside. */
#include "fuzz.h"
#include "runtime/http.h"

#define MAX_CUTS     64
#define MAX_CHUNKS   64
#define MAX_TRAILERS 8
#define BYTEWISE_MAX 2048u
/* Enough for chunks far larger than one piece, small enough for thousands
 * of runs a second (at 256 KiB the harness ran about 260 inputs a second). */
#define MAX_BODY     (32u * 1024u)

static const char TCHARS[] =
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

static uint32_t rnd(uint32_t *s) {
  /* xorshift32: any nonzero state, same sequence everywhere. */
  uint32_t x = *s ? *s : 0x9e3779b9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static void put_token(struct fuzz_buf *b, uint32_t *s, unsigned len) {
  for (unsigned i = 0; i < len + 1; i++) {
    char c = TCHARS[rnd(s) % (sizeof TCHARS - 1)];
    fuzz_buf_put(b, &c, 1);
  }
}

static void put_bws(struct fuzz_buf *b, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    fuzz_buf_put(b, (i & 1) ? "\t" : " ", 1);
}

/* A chunk extension list, kind 0-3: none, ";name", ";name=token",
 * ";name=\"quoted \\\" string\"", with BWS around ';' and '=' when asked. */
static void put_ext(struct fuzz_buf *b, uint32_t *s, unsigned kind, unsigned param) {
  unsigned count = kind ? 1 + (param & 3) : 0, bws = (param >> 2) & 3;
  for (unsigned i = 0; i < count; i++) {
    put_bws(b, bws);
    fuzz_buf_put(b, ";", 1);
    put_bws(b, bws);
    put_token(b, s, (param >> 4) & 7);
    if (kind == 1)
      continue;
    put_bws(b, bws);
    fuzz_buf_put(b, "=", 1);
    put_bws(b, bws);
    if (kind == 2) {
      put_token(b, s, param >> 5);
    } else {
      fuzz_buf_put(b, "\"", 1);
      for (unsigned j = 0; j < (param >> 4); j++) {
        unsigned char c = (unsigned char)(rnd(s) % 256);
        if (c == '"' || c == '\\') {
          fuzz_buf_put(b, "\\", 1);
        } else if (c < 0x20 || c == 0x7f) {
          c = ' '; /* qdtext has no CTL, HTAB aside */
        }
        fuzz_buf_put(b, &c, 1);
      }
      fuzz_buf_put(b, "\"", 1);
    }
  }
}

static void put_size(struct fuzz_buf *b, size_t size, unsigned style) {
  char hex[32];
  unsigned zeros = (style >> 2) & 7;
  int n = snprintf(hex, sizeof hex, (style & 1) ? "%zX" : "%zx", size);
  for (unsigned i = 0; i < zeros && (unsigned)n + i < 16; i++)
    fuzz_buf_put(b, "0", 1);
  fuzz_buf_put(b, hex, (size_t)n);
}

struct result {
  struct fuzz_buf data;
  int rc;
  size_t end;
  const char *msg;
};

static int on_data(void *ctx, const char *p, size_t n) {
  FUZZ_CHECK(n > 0, "on_data got an empty span");
  fuzz_buf_put(ctx, p, n);
  return 0;
}

static void decode(const char *in, size_t len, const size_t *cuts, size_t ncuts, struct result *r) {
  struct xfer__http_body b;
  xfer__http_body_init(&b, XFER__HTTP_BODY_CHUNKED, -1, NULL);
  memset(r, 0, sizeof *r);
  size_t start = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : len, n = end - start, used = 0;
    char *piece = fuzz_exact_copy(in + start, n);
    const char *msg = NULL;
    int rc = xfer__http_body_feed(&b, piece, n, &used, on_data, &r->data, &msg);
    free(piece);
    FUZZ_CHECK(used <= n, "consumed %zu of %zu", used, n);
    FUZZ_CHECK(rc != 0 || used == n, "needs more bytes but consumed %zu of %zu", used, n);
    if (rc != 0) {
      FUZZ_CHECK(rc == 1 || msg != NULL, "error %d without a sentence", rc);
      r->rc = rc;
      r->msg = msg;
      r->end = start + used;
      return;
    }
    start = end;
  }
  r->end = len;
  r->rc = xfer__http_body_eof(&b, &r->msg);
  FUZZ_CHECK(r->rc == XFER__EPARTIAL, "EOF inside a chunked body gave %d", r->rc);
}

static void same(const struct result *a, const struct result *b, const char *mode) {
  FUZZ_CHECK(a->rc == b->rc && a->end == b->end, "%s: rc %d end %zu vs rc %d end %zu", mode, a->rc,
             a->end, b->rc, b->end);
  FUZZ_CHECK((a->msg == NULL) == (b->msg == NULL) && (!a->msg || strcmp(a->msg, b->msg) == 0),
             "%s: sentences differ", mode);
  FUZZ_CHECK(fuzz_same(a->data.p, a->data.len, b->data.p, b->data.len), "%s: decoded bytes differ",
             mode);
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size) {
  struct fuzz_in in = {input, size};
  unsigned flags = fuzz_u8(&in);
  uint32_t seed = fuzz_u32(&in);
  unsigned ntrailers = fuzz_u8(&in) % (MAX_TRAILERS + 1);
  unsigned last_style = fuzz_u8(&in), last_ext = fuzz_u8(&in), last_param = fuzz_u8(&in);
  unsigned excess = fuzz_u8(&in) % 16;
  unsigned damage_at = fuzz_u16(&in), damage_byte = fuzz_u8(&in);
  size_t ncuts = fuzz_u8(&in) % (MAX_CUTS + 1);
  uint16_t raw_cuts[MAX_CUTS];
  for (size_t i = 0; i < ncuts; i++)
    raw_cuts[i] = (uint16_t)fuzz_u16(&in);

  struct fuzz_buf data = {0}, wire = {0};
  /* Chunks: 4 bytes each, size (u16, scaled by the top bit), style, ext. */
  for (unsigned c = 0; c < MAX_CHUNKS && in.n >= 4; c++) {
    unsigned v = fuzz_u16(&in), style = fuzz_u8(&in), ext = fuzz_u8(&in);
    size_t n = (v & 0x8000) ? (size_t)(v & 0x7fff) : (size_t)(v % 300);
    if (n == 0)
      n = 1; /* a size of 0 is the last chunk */
    if (data.len + n > MAX_BODY)
      break;
    size_t at = data.len;
    if (data.cap < at + n) {
      data.cap = (at + n) * 2;
      data.p = fuzz_xrealloc(data.p, data.cap);
    }
    for (size_t i = 0; i < n; i++)
      data.p[at + i] = (char)rnd(&seed);
    data.len = at + n;
    if (style & 0x20) {
      /* The runtime's own framer, as the request body path uses it. */
      char *framed = fuzz_xmalloc(n + XFER__HTTP_CHUNK_OVERHEAD);
      size_t fl = xfer__http_frame_chunk(framed, data.p + at, n);
      FUZZ_CHECK(fl <= n + XFER__HTTP_CHUNK_OVERHEAD, "framed %zu bytes for %zu", fl, n);
      fuzz_buf_put(&wire, framed, fl);
      free(framed);
      continue;
    }
    put_size(&wire, n, style);
    put_ext(&wire, &seed, (style >> 6) & 3, ext);
    fuzz_buf_put(&wire, "\r\n", 2);
    fuzz_buf_put(&wire, data.p + at, n);
    fuzz_buf_put(&wire, "\r\n", 2);
  }
  if (last_style & 0x20) {
    char framed[XFER__HTTP_CHUNK_OVERHEAD];
    size_t fl = xfer__http_frame_chunk(framed, NULL, 0);
    FUZZ_CHECK(fl == 5 && memcmp(framed, "0\r\n\r\n", 5) == 0, "bad last chunk from the framer");
    fuzz_buf_put(&wire, framed, 3); /* the final CRLF comes after the trailers */
  } else {
    put_size(&wire, 0, last_style);
    put_ext(&wire, &seed, last_ext & 3, last_param);
    fuzz_buf_put(&wire, "\r\n", 2);
  }
  for (unsigned t = 0; t < ntrailers; t++) {
    put_token(&wire, &seed, rnd(&seed) % 12);
    fuzz_buf_put(&wire, ":", 1);
    for (unsigned i = rnd(&seed) % 40; i > 0; i--) {
      unsigned char c = (unsigned char)rnd(&seed);
      if (c < 0x20 || c == 0x7f)
        c = (c & 1) ? '\t' : ' ';
      fuzz_buf_put(&wire, &c, 1);
    }
    /* A bare LF ends a trailer line as it ends a head line. */
    fuzz_buf_str(&wire, (rnd(&seed) & 3) ? "\r\n" : "\n");
  }
  fuzz_buf_str(&wire, (flags & 4) ? "\n" : "\r\n");
  size_t framed_len = wire.len;
  for (unsigned i = 0; i < excess; i++)
    fuzz_buf_put(&wire, "X", 1);

  int damaged = flags & 1;
  if (damaged && wire.len)
    wire.p[damage_at % wire.len] = (char)damage_byte;

  size_t cuts[MAX_CUTS];
  for (size_t i = 0; i < ncuts; i++)
    cuts[i] = raw_cuts[i] % (wire.len + 1);
  qsort(cuts, ncuts, sizeof *cuts, fuzz_cmp_sort);

  struct result whole, split;
  decode(wire.p, wire.len, NULL, 0, &whole);
  decode(wire.p, wire.len, cuts, ncuts, &split);
  if (!damaged) {
    FUZZ_CHECK(whole.rc == 1, "a valid chunked body gave %d (%s)", whole.rc,
               whole.msg ? whole.msg : "");
    FUZZ_CHECK(whole.end == framed_len, "the body ended at %zu, the framing at %zu", whole.end,
               framed_len);
    FUZZ_CHECK(fuzz_same(whole.data.p, whole.data.len, data.p, data.len),
               "decoded %zu bytes, framed %zu, or the bytes differ", whole.data.len, data.len);
  }
  same(&whole, &split, "split");
  free(split.data.p);
  if ((flags & 2) && wire.len <= BYTEWISE_MAX) {
    size_t *every = fuzz_xmalloc(wire.len * sizeof *every);
    for (size_t i = 0; i < wire.len; i++)
      every[i] = i;
    struct result bytewise;
    decode(wire.p, wire.len, every, wire.len, &bytewise);
    same(&whole, &bytewise, "bytewise");
    free(bytewise.data.p);
    free(every);
  }
  free(whole.data.p);
  free(data.p);
  free(wire.p);
  return 0;
}
