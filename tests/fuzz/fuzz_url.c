/* Fuzz target: the URL parser and redirect resolver (runtime/url.c).
 *
 * The input is a URL and a Location reference. For every URL the parser
 * accepts, the harness checks the parsed fields against the rules the
 * parser documents (http or https; a lower-case host of the allowed
 * characters, or a valid IPv6 literal; a port in 1..65535, the scheme's
 * default unless explicit; an origin-form target of printable ASCII with no
 * fragment and no dot segment), prints the URL again from those fields and
 * compares the print with the parser's own normalised form, then parses
 * that form once more: parse, print, parse must give the same fields. The
 * reference is resolved against the URL, and the result goes through the
 * same checks. A refused URL must come with a sentence and own nothing. */
#include <arpa/inet.h>

#include "fuzz.h"
#include "runtime/url.h"
#include "xfer/xfer.h"

static void check_fields(const struct xfer__url *u, const char *what) {
  int https = strcmp(u->scheme, "https") == 0;
  FUZZ_CHECK(https || strcmp(u->scheme, "http") == 0, "%s: scheme %s", what, u->scheme);
  FUZZ_CHECK(u->port >= 1, "%s: port 0", what);
  FUZZ_CHECK(u->explicit_port || u->port == (https ? 443 : 80), "%s: implicit port %u", what,
             u->port);
  FUZZ_CHECK(u->host[0] != '\0', "%s: empty host", what);
  if (u->is_ipv6) {
    unsigned char bin[16];
    FUZZ_CHECK(inet_pton(AF_INET6, u->host, bin) == 1, "%s: bad IPv6 host %s", what, u->host);
  } else {
    for (const char *p = u->host; *p; p++)
      FUZZ_CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
                     *p == '_',
                 "%s: host byte 0x%02x", what, (unsigned char)*p);
  }
  FUZZ_CHECK(u->target[0] == '/', "%s: target %s", what, u->target);
  for (const char *p = u->target; *p; p++)
    FUZZ_CHECK(*p > 0x20 && *p < 0x7f && *p != '#', "%s: target byte 0x%02x", what,
               (unsigned char)*p);
  /* No "." or ".." segment is left in the path (RFC 3986 section 5.2.4). */
  size_t path_len = strcspn(u->target, "?");
  for (size_t i = 0; i < path_len;) {
    size_t seg = i + 1, end = seg;
    while (end < path_len && u->target[end] != '/')
      end++;
    int dot = end - seg == 1 && u->target[seg] == '.';
    int dotdot = end - seg == 2 && u->target[seg] == '.' && u->target[seg + 1] == '.';
    FUZZ_CHECK(!dot && !dotdot, "%s: dot segment left in %s", what, u->target);
    i = end;
  }

  /* The harness's own printer, from the fields alone. */
  struct fuzz_buf host = {0}, full = {0};
  char port[8];
  snprintf(port, sizeof port, ":%u", (unsigned)u->port);
  if (u->is_ipv6)
    fuzz_buf_str(&host, "[");
  fuzz_buf_str(&host, u->host);
  if (u->is_ipv6)
    fuzz_buf_str(&host, "]");
  fuzz_buf_str(&full, u->scheme);
  fuzz_buf_str(&full, "://");
  fuzz_buf_put(&full, host.p, host.len);
  if (u->explicit_port)
    fuzz_buf_str(&full, port);
  fuzz_buf_str(&full, u->target);
  if (u->explicit_port && u->port != (https ? 443 : 80))
    fuzz_buf_str(&host, port);
  FUZZ_CHECK(fuzz_same(host.p, host.len, u->host_hdr, strlen(u->host_hdr)), "%s: host_hdr %s", what,
             u->host_hdr);
  FUZZ_CHECK(fuzz_same(full.p, full.len, u->full, strlen(u->full)), "%s: full %s vs printed %.*s",
             what, u->full, (int)full.len, full.p);
  free(host.p);
  free(full.p);
}

static void check_same(const struct xfer__url *a, const struct xfer__url *b, const char *what) {
  FUZZ_CHECK(strcmp(a->scheme, b->scheme) == 0 && strcmp(a->host, b->host) == 0 &&
                 a->port == b->port && a->is_ipv6 == b->is_ipv6 &&
                 a->explicit_port == b->explicit_port && strcmp(a->target, b->target) == 0 &&
                 strcmp(a->host_hdr, b->host_hdr) == 0 && strcmp(a->full, b->full) == 0,
             "%s: %s reparsed as %s", what, a->full, b->full);
}

/* Checks a parsed URL, then parses its printed form again. */
static void round_trip(const struct xfer__url *u, const char *what) {
  check_fields(u, what);
  char *printed = fuzz_cstr(u->full, strlen(u->full));
  struct xfer__url again;
  const char *msg = NULL;
  int rc = xfer__url_parse(&again, printed, &msg);
  FUZZ_CHECK(rc == 0, "%s: the printed URL %s is refused: %s", what, printed, msg ? msg : "");
  check_same(u, &again, what);
  xfer__url_free(&again);
  free(printed);
}

static void check_refusal(int rc, const char *msg, const struct xfer__url *u, const char *what) {
  FUZZ_CHECK(rc == XFER__EURL || rc == XFER__ESCHEME || rc == -ENOMEM, "%s: code %d", what, rc);
  FUZZ_CHECK(msg != NULL && msg[0] != '\0', "%s: refused without a sentence", what);
  FUZZ_CHECK(u->buf == NULL, "%s: a refused URL owns memory", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fuzz_in in = {data, size};
  size_t base_len, ref_len;
  size_t want = fuzz_u16(&in);
  const uint8_t *base = fuzz_bytes(&in, want, &base_len);
  const uint8_t *ref = fuzz_bytes(&in, in.n, &ref_len);

  char *url = fuzz_cstr(base, base_len);
  struct xfer__url u;
  const char *msg = NULL;
  int rc = xfer__url_parse(&u, url, &msg);
  free(url);
  if (rc < 0) {
    check_refusal(rc, msg, &u, "parse");
    return 0;
  }
  FUZZ_CHECK(rc == 0, "parse returned %d", rc);
  round_trip(&u, "parse");

  /* The Location value is a view into a response head, not a C string. */
  char *loc = fuzz_exact_copy(ref, ref_len);
  struct xfer__url r;
  msg = NULL;
  rc = xfer__url_resolve(&r, &u, loc, ref_len, &msg);
  if (rc < 0) {
    check_refusal(rc, msg, &r, "resolve");
  } else {
    round_trip(&r, "resolve");
    /* A reference with no scheme and no authority stays on the origin. */
    int same_origin = ref_len == 0 || (ref[0] == '/' && (ref_len < 2 || ref[1] != '/')) ||
                      ref[0] == '?' || ref[0] == '#';
    if (same_origin)
      FUZZ_CHECK(strcmp(r.scheme, u.scheme) == 0 && strcmp(r.host_hdr, u.host_hdr) == 0 &&
                     r.port == u.port,
                 "resolve: %.*s left the origin of %s for %s", (int)ref_len, loc, u.full, r.full);
    if (ref_len == 0)
      FUZZ_CHECK(strcmp(r.target, u.target) == 0, "resolve: an empty reference moved to %s",
                 r.target);
    xfer__url_free(&r);
  }
  free(loc);
  xfer__url_free(&u);
  return 0;
}
