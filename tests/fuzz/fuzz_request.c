/* Fuzz target: request serialisation (runtime/http_request.c, reached the
 * way a transfer reaches it, through runtime/transfer_send.c).
 *
 * The input is a sequence of xfer_easy_setopt() calls (URL, CUSTOMREQUEST,
 * USERAGENT, HTTPHEADER lines, POST, UPLOAD, NOBODY, HTTPGET, POSTFIELDS,
 * COPYPOSTFIELDS, POSTFIELDSIZE[_LARGE], INFILESIZE[_LARGE]) with values
 * from the input, CR, LF and every other byte included. The request head is
 * then built as a transfer builds it, and a duplicate of the handle
 * (xfer_easy_duphandle) must build the same head. What must hold:
 *   - when any string the options took holds CR or LF, the build fails;
 *   - a built head is valid HTTP/1.1 framing: lines end in CRLF and hold no
 *     other CR, LF or control byte (HTAB aside); the request line is a
 *     token method, one SP, the URL's target, one SP, HTTP/1.1; each header
 *     line is a token name and ':'; at most one Host, matching the URL
 *     unless the user replaced it; the method and the body framing are the
 *     ones libcurl's option rules give (at most one of Content-Length and
 *     Transfer-Encoding, each saying what the body really is);
 *   - the body the transfer would send from memory lies inside what the
 *     options copied (read here byte by byte, so ASan sees an overrun);
 *   - a failed build says why. */
#include "fuzz.h"
#include "runtime/alloc.h"
#include "runtime/easy.h"
#include "runtime/text.h"
#include "runtime/transfer.h"
#include "runtime/url.h"
#include "xfer/xfer.h"

#define MAX_OPS     24
#define MAX_STRINGS (MAX_OPS + 1)
/* COPYPOSTFIELDS reads POSTFIELDSIZE bytes from the caller's buffer; the
 * harness only makes that call when the size is one it has room for. */
#define MAX_COPY    (1u << 20)

/* Whether a string now in the options holds CR or LF, per option (a later
 * setopt replaces the earlier string), and whether a user header names
 * Host (then the user decides how many there are). */
struct model {
  int crlf_method, crlf_agent, crlf_header;
  int user_host;
};

static int has_crlf(const char *s) { return s && strpbrk(s, "\r\n") != NULL; }

/* A string from the input: length u8 (255: NULL), then the bytes. The
 * buffer is at least `room` bytes, and stays alive until the end. */
static char *take_string(struct fuzz_in *in, char **keep, size_t *nkeep, size_t room) {
  unsigned n = fuzz_u8(in);
  if (n == 255)
    return NULL;
  size_t got;
  const uint8_t *p = fuzz_bytes(in, n, &got);
  size_t size = got + 1 > room ? got + 1 : room;
  char *s = fuzz_xmalloc(size);
  memset(s, 'x', size);
  memcpy(s, p, got);
  s[got] = '\0';
  keep[(*nkeep)++] = s;
  return s;
}

/* Expected method and body size by libcurl's rules for these options. */
static const char *expected_method(const struct xfer__options *o) {
  if (o->customrequest)
    return o->customrequest;
  if (o->nobody)
    return "HEAD";
  if (o->upload)
    return "PUT";
  if (o->post || o->postfields || o->copypostfields)
    return "POST";
  return "GET";
}

static int64_t expected_body(const struct xfer__options *o) {
  if (o->nobody)
    return XFER__HTTP_NO_BODY;
  if (o->upload)
    return o->infilesize >= 0 ? o->infilesize : XFER__HTTP_CHUNKED_BODY;
  const char *mem = o->copypostfields ? o->copypostfields : o->postfields;
  if (mem)
    return o->postfieldsize >= 0 ? o->postfieldsize : (int64_t)strlen(mem);
  if (o->post)
    return o->postfieldsize >= 0 ? o->postfieldsize : XFER__HTTP_CHUNKED_BODY;
  return XFER__HTTP_NO_BODY;
}

/* Checks a built head line by line; returns nothing, aborts on a fault. */
static void check_head(const char *h, size_t len, const struct xfer__options *o,
                       const struct xfer__url *u, const struct model *m) {
  FUZZ_CHECK(len >= 4 && memcmp(h + len - 4, "\r\n\r\n", 4) == 0,
             "the head does not end in CRLF CRLF");
  const char *method = expected_method(o);
  int64_t body = expected_body(o);
  size_t pos = 0, line_no = 0;
  int hosts = 0, cls = 0, tes = 0;
  int64_t cl = -1;
  while (pos < len) {
    const char *lf = memchr(h + pos, '\n', len - pos);
    FUZZ_CHECK(lf && lf > h + pos && lf[-1] == '\r', "a line not ending in CRLF at %zu", pos);
    size_t end = (size_t)(lf - h) - 1; /* the CR */
    for (size_t i = pos; i < end; i++) {
      unsigned char c = (unsigned char)h[i];
      FUZZ_CHECK(c != '\r' && c != '\n' && (c >= 0x20 || c == '\t') && c != 0x7f,
                 "control byte 0x%02x in line %zu", c, line_no);
    }
    const char *s = h + pos;
    size_t n = end - pos;
    if (line_no == 0) {
      size_t ml = strlen(method), tl = strlen(u->target);
      FUZZ_CHECK(n == ml + 1 + tl + 9 && memcmp(s, method, ml) == 0 && s[ml] == ' ' &&
                     memcmp(s + ml + 1, u->target, tl) == 0 &&
                     memcmp(s + ml + 1 + tl, " HTTP/1.1", 9) == 0,
                 "request line %.*s (method %s, target %s)", (int)n, s, method, u->target);
      for (size_t i = 0; i < ml; i++)
        FUZZ_CHECK(xfer__is_tchar((unsigned char)method[i]), "method byte 0x%02x", method[i]);
    } else if (n == 0) {
      FUZZ_CHECK(end + 2 == len, "an empty line before the end of the head");
    } else {
      size_t name = 0;
      while (name < n && xfer__is_tchar((unsigned char)s[name]))
        name++;
      FUZZ_CHECK(name > 0 && name < n && s[name] == ':', "header line %.*s", (int)n, s);
      size_t v = name + 1, ve = n;
      while (v < ve && xfer__is_ows((unsigned char)s[v]))
        v++;
      while (ve > v && xfer__is_ows((unsigned char)s[ve - 1]))
        ve--;
      if (xfer__view_is(s, name, "host")) {
        hosts++;
        if (!m->user_host)
          FUZZ_CHECK(ve - v == strlen(u->host_hdr) && memcmp(s + v, u->host_hdr, ve - v) == 0,
                     "Host %.*s for %s", (int)(ve - v), s + v, u->host_hdr);
      } else if (xfer__view_is(s, name, "content-length")) {
        cls++;
        cl = 0;
        FUZZ_CHECK(ve > v, "empty Content-Length");
        for (size_t i = v; i < ve; i++) {
          FUZZ_CHECK(s[i] >= '0' && s[i] <= '9' && cl <= (INT64_MAX - 9) / 10,
                     "Content-Length %.*s", (int)(ve - v), s + v);
          cl = cl * 10 + (s[i] - '0');
        }
      } else if (xfer__view_is(s, name, "transfer-encoding")) {
        tes++;
        FUZZ_CHECK(xfer__view_is(s + v, ve - v, "chunked"), "Transfer-Encoding %.*s", (int)(ve - v),
                   s + v);
      }
    }
    line_no++;
    pos = end + 2;
  }
  FUZZ_CHECK(m->user_host || hosts == 1, "%d Host headers", hosts);
  FUZZ_CHECK(cls + tes <= 1, "%d Content-Length and %d Transfer-Encoding headers", cls, tes);
  if (body == XFER__HTTP_CHUNKED_BODY)
    FUZZ_CHECK(tes == 1, "a body of unknown size without Transfer-Encoding: chunked");
  else if (body > 0)
    FUZZ_CHECK(cls == 1 && cl == body, "a %lld-byte body framed as %lld", (long long)body,
               (long long)cl);
  else
    FUZZ_CHECK(tes == 0 && (cls == 0 || cl == 0), "a request with no body announces one");
}

/* Builds the head of e as a transfer does; returns the code. */
static int build(xfer_easy *e, const struct xfer__url *u, char **buf, size_t *len,
                 const char **msg) {
  size_t cap = 0;
  *buf = NULL;
  *len = 0;
  *msg = NULL;
  int rc = xfer__transfer_build_head(e, u, buf, &cap, len, msg);
  FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM, "build returned %d", rc);
  FUZZ_CHECK(rc == 0 || (*msg && (*msg)[0]), "build failed without a sentence");
  FUZZ_CHECK(rc != 0 || cap >= *len, "head of %zu in a buffer of %zu", *len, cap);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fuzz_in in = {data, size};
  char *keep[MAX_STRINGS];
  size_t nkeep = 0;
  struct xfer_slist *headers = NULL;
  struct model m = {0};
  xfer_easy *e = xfer_easy_init();
  FUZZ_CHECK(e != NULL, "xfer_easy_init failed");
  const char *url = "http://127.0.0.1:8080/p";

  unsigned nops = fuzz_u8(&in) % (MAX_OPS + 1);
  for (unsigned i = 0; i < nops; i++) {
    unsigned op = fuzz_u8(&in) % 14;
    char *s;
    long v;
    switch (op) {
    case 0:
      s = take_string(&in, keep, &nkeep, 0);
      if (xfer_easy_setopt(e, XFEROPT_CUSTOMREQUEST, s) == XFERE_OK)
        m.crlf_method = has_crlf(s);
      break;
    case 1:
      s = take_string(&in, keep, &nkeep, 0);
      if (xfer_easy_setopt(e, XFEROPT_USERAGENT, s) == XFERE_OK)
        m.crlf_agent = has_crlf(s);
      break;
    case 2:
      s = take_string(&in, keep, &nkeep, 0);
      if (s) {
        struct xfer_slist *l = xfer_slist_append(headers, s);
        FUZZ_CHECK(l != NULL, "xfer_slist_append failed");
        headers = l;
        m.crlf_header |= has_crlf(s);
        size_t nl = 0;
        while (xfer__is_tchar((unsigned char)s[nl]))
          nl++;
        m.user_host |= xfer__view_is(s, nl, "host");
      }
      break;
    case 3:
      (void)xfer_easy_setopt(e, XFEROPT_POST, (long)(fuzz_u8(&in) & 1));
      break;
    case 4:
      (void)xfer_easy_setopt(e, XFEROPT_UPLOAD, (long)(fuzz_u8(&in) & 1));
      break;
    case 5:
      (void)xfer_easy_setopt(e, XFEROPT_NOBODY, (long)(fuzz_u8(&in) & 1));
      break;
    case 6:
      (void)xfer_easy_setopt(e, XFEROPT_HTTPGET, (long)(fuzz_u8(&in) & 1));
      break;
    case 7:
      /* POSTFIELDS is not copied, as in libcurl: the buffer must hold any
       * size set now or later, so it is made as large as any such size. */
      s = take_string(&in, keep, &nkeep, 0x10000 + 2);
      (void)xfer_easy_setopt(e, XFEROPT_POSTFIELDS, s);
      break;
    case 8: {
      int64_t want = e->opt.postfieldsize;
      if (want > (int64_t)MAX_COPY) {
        (void)fuzz_u8(&in);
        break;
      }
      s = take_string(&in, keep, &nkeep, want > 0 ? (size_t)want + 1 : 0);
      (void)xfer_easy_setopt(e, XFEROPT_COPYPOSTFIELDS, s);
      break;
    }
    case 9:
      v = (long)fuzz_u16(&in) - 2; /* -2 is refused, -1 means strlen */
      (void)xfer_easy_setopt(e, XFEROPT_POSTFIELDSIZE, v);
      break;
    case 10:
      v = (long)fuzz_u16(&in) - 2;
      (void)xfer_easy_setopt(e, XFEROPT_INFILESIZE, v);
      break;
    case 11:
      (void)xfer_easy_setopt(e, XFEROPT_POSTFIELDSIZE_LARGE, (xfer_off_t)fuzz_u32(&in) << 16);
      break;
    case 12:
      (void)xfer_easy_setopt(e, XFEROPT_INFILESIZE_LARGE, (xfer_off_t)fuzz_u32(&in) << 16);
      break;
    default:
      s = take_string(&in, keep, &nkeep, 0);
      if (s)
        url = s;
      break;
    }
  }
  FUZZ_CHECK(xfer_easy_setopt(e, XFEROPT_HTTPHEADER, headers) == XFERE_OK, "HTTPHEADER refused");
  FUZZ_CHECK(xfer_easy_setopt(e, XFEROPT_URL, url) == XFERE_OK, "URL refused by setopt");

  struct xfer__url u;
  const char *msg = NULL;
  if (xfer__url_parse(&u, url, &msg) == 0) {
    FUZZ_CHECK(!has_crlf(url), "a URL with CR or LF was accepted");
    char *head = NULL;
    size_t len = 0;
    int rc = build(e, &u, &head, &len, &msg);
    if (rc == 0) {
      FUZZ_CHECK(!m.crlf_method && !m.crlf_agent && !m.crlf_header,
                 "a CR or LF given to the options did not fail the request");
      check_head(head, len, &e->opt, &u, &m);
      /* The body the transfer would send from memory: every byte of it
       * must lie inside what the options hold. */
      xfer__transfer_set_request(e, head, len);
      if (e->x.req_body && e->x.req_body_len > 0 && e->opt.copypostfields) {
        char *copy = fuzz_exact_copy(e->x.req_body, (size_t)e->x.req_body_len);
        free(copy);
      }
      xfer_easy *d = xfer_easy_duphandle(e);
      FUZZ_CHECK(d != NULL, "xfer_easy_duphandle failed");
      char *head2 = NULL;
      size_t len2 = 0;
      const char *msg2 = NULL;
      FUZZ_CHECK(build(d, &u, &head2, &len2, &msg2) == 0 && fuzz_same(head, len, head2, len2),
                 "the duplicate handle builds another head");
      xfer__free(head2);
      xfer_easy_cleanup(d);
    }
    xfer__free(head);
    xfer__url_free(&u);
  }
  xfer_easy_cleanup(e);
  xfer_slist_free_all(headers);
  for (size_t i = 0; i < nkeep; i++)
    free(keep[i]);
  return 0;
}
