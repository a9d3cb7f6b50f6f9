/* The response-head half of the HTTP/1.1 codec: finds the end of a head in
 * bytes that arrive in pieces, enforces the size limits while the head is
 * still incomplete, then validates the whole head in one pass and fills a
 * struct xfer__http_head with views into the caller's buffer.
 *
 * Nothing here allocates or copies. The design follows picohttpparser: a
 * cheap incremental scan for the empty line, and the full parse only once.
 * The strictness decisions (RFC 9112, llhttp, curl) are listed case by case
 * in docs/internals/http-codec.md. */
#include <stdint.h>
#include <string.h>

#include "http.h"
#include "text.h"

/* ---- Character classes (RFC 9110 section 5.6.2 and 5.5) --------------- */

/* A byte allowed in a field value or reason phrase: HTAB, SP, VCHAR and
 * obs-text (0x80-0xFF, kept as is). Every other control byte is invalid. */
static int is_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

/* ---- Limits ------------------------------------------------------------- */

/* The limits as the scan uses them. The head length is returned as an int,
 * so a head can never be longer than INT_MAX; and the resumable cursor packs
 * the header count into 16 bits, so at most 65534 headers can be allowed
 * (the default is 5000). */
struct scan_limits {
  size_t max_head;
  size_t max_line;
  unsigned max_headers;
};

static void effective_limits(const struct xfer__http_limits *lim, struct scan_limits *l) {
  l->max_head = lim ? lim->max_head : XFER__HTTP_MAX_HEAD;
  l->max_line = lim ? lim->max_line : XFER__HTTP_MAX_LINE;
  l->max_headers = lim ? lim->max_headers : XFER__HTTP_MAX_HEADERS;
  if (l->max_head > INT32_MAX)
    l->max_head = INT32_MAX;
  if (l->max_headers > XFER__HTTP_MAX_HEADERS_CAP) /* setopt refuses more; a direct caller */
    l->max_headers = XFER__HTTP_MAX_HEADERS_CAP;
}

/* ---- Incremental scan for the end of the head ------------------------- */

/* Where the scan stands in an incomplete head: the start of the current
 * (unterminated) line, how far into it the scan has looked, and how many
 * header lines were complete before it. The line start is what the line
 * limit needs, and the count is what the header limit needs; keeping both is
 * what lets a head that arrives one byte per call cost O(n) in total while
 * both limits are still enforced before the next byte is buffered. */
struct scan_state {
  size_t line_start;
  size_t cursor;
  unsigned lines;
};

/* The caller keeps one size_t between calls, so the state is packed into it:
 * bits 0-31 the line start (below INT32_MAX, see effective_limits), bits
 * 32-47 the header count, bits 48-63 the offset of the cursor from the line
 * start in units of 2 bytes (rounded down, so a resumed scan re-reads at most
 * one byte; 65535 * 2 covers the 100 KiB line limit, and a longer limit only
 * costs a re-read of the excess). Where size_t is 32 bits there is no room,
 * and every call scans from the start: correct, but O(n^2) per head. */
#if SIZE_MAX >= UINT64_MAX
#define SCAN_RESUMABLE  1
#define SCAN_DELTA_UNIT 2u
#else
#define SCAN_RESUMABLE 0
#endif

static size_t scan_pack(const struct scan_state *s) {
#if SCAN_RESUMABLE
  uint64_t delta = (s->cursor - s->line_start) / SCAN_DELTA_UNIT;
  uint64_t lines = s->lines;
  if (delta > 0xFFFFu)
    delta = 0xFFFFu;
  return (size_t)((uint64_t)s->line_start | lines << 32 | delta << 48);
#else
  (void)s;
  return 0;
#endif
}

static void scan_unpack(struct scan_state *s, size_t packed, size_t len) {
#if SCAN_RESUMABLE
  uint64_t v = packed;
  s->line_start = (size_t)(v & 0xFFFFFFFFu);
  s->lines = (unsigned)((v >> 32) & 0xFFFFu);
  s->cursor = s->line_start + (size_t)(v >> 48) * SCAN_DELTA_UNIT;
  /* A cursor from a longer or different buffer cannot be trusted: start
   * over rather than skip bytes that were never looked at. */
  if (s->cursor > len) {
    s->line_start = s->cursor = 0;
    s->lines = 0;
  }
#else
  (void)packed;
  (void)len;
  s->line_start = s->cursor = 0;
  s->lines = 0;
#endif
}

/* Scans forward for the empty line that ends the head. Returns the head
 * length, 0 when more bytes are needed, or a limit error. Every decision
 * depends only on the bytes before the position where it is taken, so the
 * result for a buffer does not depend on how it was split into calls. */
static int scan_head(const char *buf, size_t len, struct scan_state *s, const struct scan_limits *l,
                     const char **errmsg) {
  size_t end = len < l->max_head ? len : l->max_head;

  while (s->cursor < end) {
    const char *lf = memchr(buf + s->cursor, '\n', end - s->cursor);
    size_t pos, line_len;
    if (!lf) {
      s->cursor = end;
      /* The line still needs at least its LF, so a partial line of
       * max_line bytes can only become too long: stop now. */
      if (end - s->line_start >= l->max_line)
        return xfer__fail(errmsg, "A response header line is longer than the header line limit",
                          XFER__ETOOLARGE);
      break;
    }
    pos = (size_t)(lf - buf);
    line_len = pos + 1 - s->line_start;
    if (line_len > l->max_line)
      return xfer__fail(errmsg, "A response header line is longer than the header line limit",
                        XFER__ETOOLARGE);
    if (line_len == 1 || (line_len == 2 && buf[s->line_start] == '\r'))
      return (int)(pos + 1);
    if (s->line_start != 0 && ++s->lines > l->max_headers)
      return xfer__fail(errmsg, "The response has more header lines than the limit allows",
                        XFER__ETOOLARGE);
    s->line_start = s->cursor = pos + 1;
  }
  if (len > l->max_head)
    return xfer__fail(errmsg, "The response head is larger than the head size limit",
                      XFER__EHEADSIZE);
  return 0;
}

/* ---- Full validation of a complete head ------------------------------- */

/* What the header lines said, gathered before the framing checks that need
 * all of them (CL with TE, TE on HTTP/1.0). */
struct head_fields {
  int has_cl;
  int has_te;
  int te_chunked; /* "chunked" seen, and must stay the last coding */
  int conn_close;
  int conn_keep_alive;
};

static int parse_status_line(struct xfer__http_head *h, const char *s, size_t n,
                             const char **errmsg) {
  size_t i;
  if (n < 5 || memcmp(s, "HTTP/", 5) != 0)
    return xfer__fail(errmsg, "Invalid HTTP status line in the response", XFER__EMALFORMED);
  /* Only HTTP/1.0 and HTTP/1.1 are spoken here. An HTTP/2 or HTTP/3
   * status line on this connection is a protocol switch the client never
   * asked for (curl test 471); anything else is an unsupported version. */
  if (s[5] == '2' || s[5] == '3')
    return xfer__fail(errmsg, "HTTP/2 or HTTP/3 status line on an HTTP/1.1 connection",
                      XFER__EMALFORMED);
  if (s[5] != '1')
    return xfer__fail(errmsg, "Unsupported HTTP version in the response", XFER__ENOTHTTP);
  if (n < 9 || s[6] != '.' || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
    return xfer__fail(errmsg, "Unsupported HTTP/1 version in the response", XFER__ENOTHTTP);
  h->minor_version = s[7] - '0';
  /* Exactly three digits, then SP or the end of the line: a fourth digit,
   * a second space or a sign is refused before any arithmetic is done, so
   * no length of digits can overflow. */
  if (n < 12 || (unsigned)(s[9] - '0') > 9 || (unsigned)(s[10] - '0') > 9 ||
      (unsigned)(s[11] - '0') > 9 || (n > 12 && s[12] != ' '))
    return xfer__fail(errmsg, "Invalid HTTP status code in the response", XFER__ENOTHTTP);
  h->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
  if (h->status < 100)
    return xfer__fail(errmsg, "Invalid HTTP status code in the response", XFER__ENOTHTTP);
  for (i = 12; i < n; i++) {
    if (!is_value_char((unsigned char)s[i]))
      return xfer__fail(errmsg, "Invalid character in the response status line", XFER__EMALFORMED);
  }
  return 0;
}

/* Content-Length = 1*DIGIT, or a list of identical values ("6, 6", RFC 9112
 * section 6.3 item 5). Every value on every line must agree. */
static int parse_content_length(struct xfer__http_head *h, struct head_fields *f, const char *v,
                                size_t n, const char **errmsg) {
  size_t i = 0;
  do {
    int64_t value = 0;
    size_t digits = 0;
    while (i < n && xfer__is_ows((unsigned char)v[i]))
      i++;
    while (i < n && v[i] >= '0' && v[i] <= '9') {
      int d = v[i] - '0';
      if (value > (INT64_MAX - d) / 10)
        return xfer__fail(errmsg, "Content-Length value too large in the response",
                          XFER__EMALFORMED);
      value = value * 10 + d;
      digits++;
      i++;
    }
    while (i < n && xfer__is_ows((unsigned char)v[i]))
      i++;
    if (digits == 0 || (i < n && v[i] != ','))
      return xfer__fail(errmsg, "Invalid Content-Length value in the response", XFER__EMALFORMED);
    if (f->has_cl && value != h->content_length)
      return xfer__fail(errmsg, "Conflicting Content-Length values in the response",
                        XFER__EMALFORMED);
    h->content_length = value;
    f->has_cl = 1;
  } while (i++ < n);
  return 0;
}

/* Transfer-Encoding: a list of codings, possibly over several lines. Only
 * chunked is decoded, once and last; "identity" is a no-op that curl
 * accepts. Anything else (gzip, unknown, parameters) cannot be framed. */
static int parse_transfer_encoding(struct head_fields *f, const char *v, size_t n,
                                   const char **errmsg) {
  size_t i = 0;
  int elements = 0;
  while (i <= n) {
    size_t start, end;
    while (i < n && xfer__is_ows((unsigned char)v[i]))
      i++;
    start = i;
    while (i < n && v[i] != ',')
      i++;
    end = i++;
    while (end > start && xfer__is_ows((unsigned char)v[end - 1]))
      end--;
    if (end == start)
      continue; /* empty list elements are allowed (RFC 9110 section 5.6.1) */
    elements++;
    if (xfer__view_is(v + start, end - start, "chunked")) {
      if (f->te_chunked)
        return xfer__fail(errmsg, "Transfer-Encoding: chunked applied twice in the response",
                          XFER__EMALFORMED);
      f->te_chunked = 1;
    } else if (f->te_chunked) {
      return xfer__fail(errmsg, "Transfer-Encoding: chunked is not the last coding in the response",
                        XFER__EENCODING);
    } else if (!xfer__view_is(v + start, end - start, "identity")) {
      return xfer__fail(errmsg, "Unsupported transfer coding in the response", XFER__EENCODING);
    }
  }
  if (elements == 0)
    return xfer__fail(errmsg, "Empty Transfer-Encoding header in the response", XFER__EMALFORMED);
  f->has_te = 1;
  return 0;
}

static void parse_connection(struct head_fields *f, const char *v, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t start, end;
    while (i < n && (xfer__is_ows((unsigned char)v[i]) || v[i] == ','))
      i++;
    start = i;
    while (i < n && v[i] != ',')
      i++;
    end = i;
    while (end > start && xfer__is_ows((unsigned char)v[end - 1]))
      end--;
    if (xfer__view_is(v + start, end - start, "close"))
      f->conn_close = 1;
    else if (xfer__view_is(v + start, end - start, "keep-alive"))
      f->conn_keep_alive = 1;
  }
}

/* One header line (its content without the line ending). */
static int parse_header_line(struct xfer__http_head *h, struct head_fields *f, const char *s,
                             size_t n, int first, const char **errmsg) {
  size_t name_len = 0, vs, ve, i;
  if (xfer__is_ows((unsigned char)s[0])) {
    /* RFC 9112 section 5.2 lets a client unfold, but a folded framing
     * header is a smuggling vector (CVE-2022-32215, CVE-2024-27982), so
     * both obs-fold and whitespace before the first field are errors. */
    return xfer__fail(errmsg,
                      first ? "Whitespace before the first header line of the response"
                            : "Folded header line (obs-fold) in the response",
                      XFER__EMALFORMED);
  }
  /* A line with no colon at all is named as such (curl's "Header without
   * colon"), before its name is judged. */
  if (!memchr(s, ':', n))
    return xfer__fail(errmsg, "Header line without a colon in the response", XFER__EMALFORMED);
  while (name_len < n && xfer__is_tchar((unsigned char)s[name_len]))
    name_len++;
  if (s[name_len] != ':' || name_len == 0)
    return xfer__fail(errmsg, "Invalid header name in the response", XFER__EMALFORMED);
  vs = name_len + 1;
  ve = n;
  for (i = vs; i < n; i++) {
    if (!is_value_char((unsigned char)s[i]))
      return xfer__fail(errmsg, "Invalid character in a response header value", XFER__EMALFORMED);
  }
  while (vs < ve && xfer__is_ows((unsigned char)s[vs]))
    vs++;
  while (ve > vs && xfer__is_ows((unsigned char)s[ve - 1]))
    ve--;

  if (xfer__view_is(s, name_len, "content-length"))
    return parse_content_length(h, f, s + vs, ve - vs, errmsg);
  if (xfer__view_is(s, name_len, "transfer-encoding"))
    return parse_transfer_encoding(f, s + vs, ve - vs, errmsg);
  if (xfer__view_is(s, name_len, "connection")) {
    parse_connection(f, s + vs, ve - vs);
  } else if (xfer__view_is(s, name_len, "location") && ve > vs) {
    /* Location is a singleton field (RFC 9110 section 10.2.2): two that
     * differ leave the redirect target ambiguous (curl tests 772, 580). */
    if (h->location && (h->location_len != ve - vs || memcmp(h->location, s + vs, ve - vs) != 0))
      return xfer__fail(errmsg, "Multiple different Location headers in the response",
                        XFER__EMALFORMED);
    h->location = s + vs;
    h->location_len = ve - vs;
  }
  return 0;
}

/* Validates a complete head of head_len bytes (its empty line included). */
static int parse_complete(struct xfer__http_head *h, const char *buf, size_t head_len,
                          const char **errmsg) {
  struct head_fields f;
  size_t pos = 0;
  unsigned line_no = 0;
  int rc;

  memset(h, 0, sizeof *h);
  memset(&f, 0, sizeof f);
  h->content_length = -1;
  h->head_len = head_len;

  /* A NUL anywhere is refused before anything else, as curl's
   * Curl_verify_header does (test 262). */
  if (memchr(buf, '\0', head_len))
    return xfer__fail(errmsg, "NUL byte in the response head", XFER__EMALFORMED);

  while (pos < head_len) {
    const char *lf = memchr(buf + pos, '\n', head_len - pos);
    size_t next = (size_t)(lf - buf) + 1; /* the scan found this LF */
    size_t end = next - 1;
    if (end > pos && buf[end - 1] == '\r')
      end--;
    /* A CR is only allowed right before LF (RFC 9112 section 2.2); a bare
     * CR splits lines differently in other parsers (CVE-2023-30589). */
    if (memchr(buf + pos, '\r', end - pos))
      return xfer__fail(errmsg, "Bare CR in the response head", XFER__EMALFORMED);
    if (line_no == 0) {
      rc = parse_status_line(h, buf, end, errmsg);
    } else if (end == pos) {
      break; /* the empty line: the scan guarantees it is the last */
    } else {
      h->nheaders++;
      rc = parse_header_line(h, &f, buf + pos, end - pos, line_no == 1, errmsg);
    }
    if (rc < 0)
      return rc;
    line_no++;
    pos = next;
  }

  /* RFC 9112 section 6.1: HTTP/1.0 has no chunked coding, and a 1.0
   * message that claims one has faulty framing. */
  if (f.has_te && h->minor_version == 0)
    return xfer__fail(errmsg, "Transfer-Encoding in an HTTP/1.0 response", XFER__EMALFORMED);
  /* RFC 9112 section 6.3 item 3: CL with TE "ought to be handled as an
   * error"; llhttp 9 makes it one by default, and so does xfer. */
  if (f.has_te && f.has_cl)
    return xfer__fail(errmsg, "Both Content-Length and Transfer-Encoding in the response",
                      XFER__EMALFORMED);
  /* No Upgrade is ever requested, so a 101 can only be a confused or
   * hostile server (RFC 9110 section 15.2.2). */
  if (h->status == 101)
    return xfer__fail(errmsg,
                      "Unexpected 101 Switching Protocols response (no upgrade was requested)",
                      XFER__EMALFORMED);
  h->chunked = f.te_chunked ? 1u : 0u;
  h->conn_close = (f.conn_close || (h->minor_version == 0 && !f.conn_keep_alive)) ? 1u : 0u;
  return (int)head_len;
}

/* ---- Public entry points ------------------------------------------------ */

int xfer__http_parse_head(struct xfer__http_head *h, const char *buf, size_t len, size_t *scanned,
                          const struct xfer__http_limits *lim, const char **errmsg) {
  static const char prefix[] = "http/";
  struct scan_limits l;
  struct scan_state s;
  size_t i, n = len < 5 ? len : 5;
  int rc;

  /* Refuse a response that cannot become a status line as soon as its
   * first bytes show it, as curl does for HTTP/0.9 (off by default): a
   * server that sends "hello" and closes then gets this error, not a
   * "partial head" one. The comparison is case-insensitive like curl's
   * prefix check; the exact "HTTP/" is required by the full parse. */
  for (i = 0; i < n; i++) {
    if (xfer__ascii_lower((unsigned char)buf[i]) != (unsigned char)prefix[i])
      return xfer__fail(errmsg, "The response does not start with an HTTP/1.x status line",
                        XFER__ENOTHTTP);
  }

  effective_limits(lim, &l);
  scan_unpack(&s, scanned ? *scanned : 0, len);
  rc = scan_head(buf, len, &s, &l, errmsg);
  if (rc == 0 && scanned)
    *scanned = scan_pack(&s);
  if (rc <= 0)
    return rc;
  return parse_complete(h, buf, (size_t)rc, errmsg);
}

int xfer__http_next_line(const char *head, size_t head_len, size_t *pos, const char **line,
                         size_t *line_len) {
  const char *lf;
  size_t end;
  if (*pos >= head_len)
    return 0;
  lf = memchr(head + *pos, '\n', head_len - *pos);
  end = lf ? (size_t)(lf - head) + 1 : head_len;
  *line = head + *pos;
  *line_len = end - *pos;
  *pos = end;
  return 1;
}

enum xfer__http_framing xfer__http_framing(const struct xfer__http_head *h, int method_is_head) {
  /* RFC 9112 section 6.3 items 1 and 2, in order: these never have a body
   * whatever their headers say (curl tests 249, 334). */
  if (method_is_head || (h->status >= 100 && h->status < 200) || h->status == 204 ||
      h->status == 304)
    return XFER__HTTP_BODY_NONE;
  if (h->chunked)
    return XFER__HTTP_BODY_CHUNKED;
  if (h->content_length == 0)
    return XFER__HTTP_BODY_NONE;
  if (h->content_length > 0)
    return XFER__HTTP_BODY_LENGTH;
  return XFER__HTTP_BODY_CLOSE;
}
