/* The request half of the HTTP/1.1 codec: serialises a request head in
 * libcurl's wire format, applying the user's XFEROPT_HTTPHEADER list the way
 * libcurl does ("Name: value" replaces a default, "Name:" removes it,
 * "Name;" sends it empty), and frames request body chunks.
 *
 * Every string that reaches the wire is checked first: a CR, LF or NUL in a
 * method, target or header would let a caller's data split the request
 * (request smuggling through a proxy built on xfer), so it is refused with
 * -EINVAL (XFERE_BAD_FUNCTION_ARGUMENT to the user) rather than sent. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "http.h"
#include "text.h"

/* The defaults xfer may send. Wire order: Host, User-Agent, Accept,
 * Transfer-Encoding, then the user's headers, then Content-Length and
 * Content-Type, as libcurl. */
enum default_header {
  DEF_HOST,
  DEF_USER_AGENT,
  DEF_ACCEPT,
  DEF_CONTENT_LENGTH,
  DEF_TRANSFER_ENCODING,
  DEF_CONTENT_TYPE,
  DEF_COUNT
};

static const char *const default_names[DEF_COUNT] = {
    "host", "user-agent", "accept", "content-length", "transfer-encoding", "content-type",
};

/* One user header line, split. */
struct user_header {
  const char *line;
  size_t line_len;
  size_t name_len;
  char sep;          /* ':' or ';' */
  const char *value; /* after the separator, leading and trailing OWS trimmed */
  size_t value_len;
};

/* Checks a string that goes on the wire as part of a line. CR, LF and NUL
 * are what split or truncate a request; the other control bytes (HTAB
 * aside, which a field value may hold) are invalid in every place a caller
 * can put them (RFC 9110 section 5.5), so they are refused too. */
static int check_wire_string(const char *s, size_t *len, int allow_space, const char *what_crlf,
                             const char *what_ctl, const char **errmsg) {
  size_t i;
  for (i = 0; s[i] != '\0'; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\r' || c == '\n')
      return xfer__fail(errmsg, what_crlf, -EINVAL);
    if ((c < 0x20 && c != '\t') || c == 0x7f || (!allow_space && (c == ' ' || c == '\t')))
      return xfer__fail(errmsg, what_ctl, -EINVAL);
  }
  *len = i;
  return 0;
}

static int split_user_header(const char *line, struct user_header *u, const char **errmsg) {
  size_t i, end;
  int rc = check_wire_string(line, &u->line_len, 1, "CR or LF in a custom request header",
                             "Control character in a custom request header", errmsg);
  if (rc < 0)
    return rc;
  u->line = line;
  for (i = 0; i < u->line_len && xfer__is_tchar((unsigned char)line[i]); i++)
    ;
  if (i == 0 || i == u->line_len || (line[i] != ':' && line[i] != ';'))
    return xfer__fail(errmsg, "Invalid name in a custom request header", -EINVAL);
  u->name_len = i;
  u->sep = line[i];
  for (i++; i < u->line_len && xfer__is_ows((unsigned char)line[i]); i++)
    ;
  end = u->line_len;
  while (end > i && xfer__is_ows((unsigned char)line[end - 1]))
    end--;
  u->value = line + i;
  u->value_len = end - i;
  /* libcurl keeps "Name;" for an empty header and ignores "Name;stuff";
   * silently dropping a header the caller asked for hides a bug. */
  if (u->sep == ';' && u->value_len != 0)
    return xfer__fail(errmsg, "A custom request header \"Name;\" must have nothing after the ';'",
                      -EINVAL);
  return 0;
}

/* Parses a user Content-Length value (1*DIGIT); -1 when invalid. */
static int64_t parse_length(const char *v, size_t n) {
  int64_t value = 0;
  size_t i;
  if (n == 0)
    return -1;
  for (i = 0; i < n; i++) {
    int d = v[i] - '0';
    if (d < 0 || d > 9 || value > (INT64_MAX - d) / 10)
      return -1;
    value = value * 10 + d;
  }
  return value;
}

/* A user Content-Length or Transfer-Encoding header must say what the body
 * really is: the engine frames the body from body_len, so a header that
 * disagrees would desynchronise the server (and both at once is request
 * smuggling, RFC 9112 section 6.1). */
static int check_framing_header(const struct user_header *u, enum default_header which,
                                int64_t body_len, const char **errmsg) {
  int removal = u->sep == ':' && u->value_len == 0;
  if (which == DEF_CONTENT_LENGTH) {
    int64_t v;
    if (removal)
      return body_len > 0
                 ? xfer__fail(errmsg, "Content-Length removed from a request with a body", -EINVAL)
                 : 0;
    v = u->sep == ':' ? parse_length(u->value, u->value_len) : -1;
    if (v < 0 || body_len == XFER__HTTP_CHUNKED_BODY || v != (body_len < 0 ? 0 : body_len))
      return xfer__fail(errmsg, "Custom Content-Length header does not match the request body",
                        -EINVAL);
    return 0;
  }
  if (removal)
    return body_len == XFER__HTTP_CHUNKED_BODY
               ? xfer__fail(errmsg, "Transfer-Encoding removed from a chunked request body",
                            -EINVAL)
               : 0;
  if (u->sep != ':' || body_len != XFER__HTTP_CHUNKED_BODY ||
      !xfer__view_is(u->value, u->value_len, "chunked"))
    return xfer__fail(errmsg, "Custom Transfer-Encoding header does not match the request body",
                      -EINVAL);
  return 0;
}

/* Appends to a buffer known to be large enough; with out == NULL it only
 * counts, so the same code measures the request and then writes it. */
struct writer {
  char *out;
  size_t len;
};

static void put(struct writer *w, const char *s, size_t n) {
  if (w->out)
    memcpy(w->out + w->len, s, n);
  w->len += n;
}

static void put_str(struct writer *w, const char *s) { put(w, s, strlen(s)); }

static void put_header(struct writer *w, const char *name, const char *value) {
  put_str(w, name);
  put(w, ": ", 2);
  put_str(w, value);
  put(w, "\r\n", 2);
}

static void serialise(struct writer *w, const struct xfer__http_request *r,
                      const int overridden[DEF_COUNT]) {
  const struct xfer_slist *l;
  put_str(w, r->method);
  put(w, " ", 1);
  put_str(w, r->target);
  put(w, " HTTP/1.1\r\n", 11);
  if (!overridden[DEF_HOST])
    put_header(w, "Host", r->host);
  if (!overridden[DEF_USER_AGENT] && r->user_agent && r->user_agent[0])
    put_header(w, "User-Agent", r->user_agent);
  if (!overridden[DEF_ACCEPT])
    put_header(w, "Accept", "*/*");
  if (!overridden[DEF_TRANSFER_ENCODING] && r->body_len == XFER__HTTP_CHUNKED_BODY)
    put_header(w, "Transfer-Encoding", "chunked");
  for (l = r->headers; l; l = l->next) {
    struct user_header u;
    split_user_header(l->data, &u, NULL); /* validated before */
    if (u.sep == ';') {
      put(w, u.line, u.name_len);
      put(w, ":\r\n", 3);
    } else if (u.value_len > 0) {
      put(w, u.line, u.line_len);
      put(w, "\r\n", 2);
    }
  }
  /* libcurl sends the body's length and type after the user's headers (and
   * its own Transfer-Encoding before them); servers and tests that compare
   * the wire bytes see the same order from xfer. */
  if (!overridden[DEF_CONTENT_LENGTH] && r->body_len >= 0) {
    char digits[20];
    size_t n = xfer__format_u64(digits, (uint64_t)r->body_len);
    put(w, "Content-Length: ", 16);
    put(w, digits, n);
    put(w, "\r\n", 2);
  }
  if (!overridden[DEF_CONTENT_TYPE] && r->content_type)
    put_header(w, "Content-Type", r->content_type);
  put(w, "\r\n", 2);
}

/* Validates everything the request is made of, and finds which defaults
 * the user's headers replace or remove. */
static int validate(const struct xfer__http_request *r, int overridden[DEF_COUNT],
                    const char **errmsg) {
  const struct xfer_slist *l;
  int framing_headers = 0;
  size_t n, i;
  int rc;

  if (!r->method || !r->target || !r->host)
    return xfer__fail(errmsg, "Missing method, target or host for the request", -EINVAL);
  for (n = 0; r->method[n] != '\0'; n++) {
    if (!xfer__is_tchar((unsigned char)r->method[n]))
      return xfer__fail(errmsg, "Invalid character in the request method", -EINVAL);
  }
  if (n == 0)
    return xfer__fail(errmsg, "Empty request method", -EINVAL);
  rc = check_wire_string(r->target, &n, 0, "CR or LF in the request target",
                         "Control character or space in the request target", errmsg);
  if (rc < 0)
    return rc;
  if (n == 0)
    return xfer__fail(errmsg, "Empty request target", -EINVAL);
  rc = check_wire_string(r->host, &n, 0, "CR or LF in the Host header",
                         "Control character or space in the Host header", errmsg);
  if (rc < 0)
    return rc;
  if (r->user_agent && (rc = check_wire_string(r->user_agent, &n, 1, "CR or LF in the User-Agent",
                                               "Control character in the User-Agent", errmsg)) < 0)
    return rc;
  if (r->content_type &&
      (rc = check_wire_string(r->content_type, &n, 1, "CR or LF in the Content-Type",
                              "Control character in the Content-Type", errmsg)) < 0)
    return rc;
  if (r->body_len < 0 && r->body_len != XFER__HTTP_NO_BODY &&
      r->body_len != XFER__HTTP_CHUNKED_BODY)
    return xfer__fail(errmsg, "Invalid request body length", -EINVAL);

  memset(overridden, 0, sizeof(int) * DEF_COUNT);
  for (l = r->headers; l; l = l->next) {
    struct user_header u;
    if (!l->data)
      return xfer__fail(errmsg, "NULL string in the custom request headers", -EINVAL);
    if ((rc = split_user_header(l->data, &u, errmsg)) < 0)
      return rc;
    for (i = 0; i < DEF_COUNT; i++) {
      if (!xfer__view_is(u.line, u.name_len, default_names[i]))
        continue;
      overridden[i] = 1;
      if (i == DEF_CONTENT_LENGTH || i == DEF_TRANSFER_ENCODING) {
        /* One framing header at most: two, even identical, is a request
         * a strict server refuses and a lax one may read either way. */
        if (++framing_headers > 1)
          return xfer__fail(
              errmsg, "More than one custom Content-Length or Transfer-Encoding header", -EINVAL);
        if ((rc = check_framing_header(&u, (enum default_header)i, r->body_len, errmsg)) < 0)
          return rc;
      }
    }
  }
  if (!overridden[DEF_HOST] && r->host[0] == '\0')
    return xfer__fail(errmsg, "Empty Host for the request", -EINVAL);
  return 0;
}

int xfer__http_build_request(const struct xfer__http_request *r, char **buf, size_t *cap,
                             size_t *len, const char **errmsg) {
  int overridden[DEF_COUNT];
  struct writer w = {NULL, 0};
  int rc = validate(r, overridden, errmsg);
  if (rc < 0)
    return rc;
  serialise(&w, r, overridden);
  if (*cap < w.len || !*buf) {
    char *grown = xfer__realloc(*buf, w.len);
    if (!grown)
      return xfer__fail(errmsg, "Out of memory while building the request", -ENOMEM);
    *buf = grown;
    *cap = w.len;
  }
  w.out = *buf;
  w.len = 0;
  serialise(&w, r, overridden);
  *len = w.len;
  return 0;
}

size_t xfer__http_frame_chunk(char *out, const char *data, size_t len) {
  static const char hex[] = "0123456789abcdef";
  char digits[16]; /* a 64-bit size has at most 16 hex digits */
  size_t n = 0, i, pos = 0;
  size_t v = len;
  do {
    digits[n++] = hex[v & 0xf];
    v >>= 4;
  } while (v);
  for (i = 0; i < n; i++)
    out[pos++] = digits[n - 1 - i];
  out[pos++] = '\r';
  out[pos++] = '\n';
  if (len > 0) {
    memcpy(out + pos, data, len);
    pos += len;
  }
  out[pos++] = '\r';
  out[pos++] = '\n';
  return pos;
}
