/* URL parsing and redirect resolution: http and https only, default ports,
 * IPv6 literals, normalisation, and the reference-resolution examples of
 * RFC 3986 section 5.4, normal and abnormal. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/url.h"
#include "runtime/error.h"

struct parse_case {
  const char *url;
  int err; /* 0 or the XFERE_ code */
  const char *scheme;
  const char *host;
  unsigned port;
  int ipv6;
  int explicit_port;
  const char *target;
  const char *host_hdr;
  const char *full;
};

#define BAD(u) \
  { u, XFERE_URL_MALFORMAT, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }
#define UNSUP(u) \
  { u, XFERE_UNSUPPORTED_PROTOCOL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }

static const struct parse_case parse_cases[] = {
    {"http://example.com", 0, "http", "example.com", 80, 0, 0, "/", "example.com",
     "http://example.com/"},
    {"HTTP://Example.COM/Path?Q=1#frag", 0, "http", "example.com", 80, 0, 0, "/Path?Q=1",
     "example.com", "http://example.com/Path?Q=1"},
    {"https://h", 0, "https", "h", 443, 0, 0, "/", "h", "https://h/"},
    {"HTTPS://H/x", 0, "https", "h", 443, 0, 0, "/x", "h", "https://h/x"},
    {"http://127.0.0.1:18765/a", 0, "http", "127.0.0.1", 18765, 0, 1, "/a", "127.0.0.1:18765",
     "http://127.0.0.1:18765/a"},
    {"http://h:80/", 0, "http", "h", 80, 0, 1, "/", "h", "http://h:80/"},
    {"https://h:443/", 0, "https", "h", 443, 0, 1, "/", "h", "https://h:443/"},
    {"https://h:80/", 0, "https", "h", 80, 0, 1, "/", "h:80", "https://h:80/"},
    {"http://h:65535/", 0, "http", "h", 65535, 0, 1, "/", "h:65535", "http://h:65535/"},
    {"http://h:08080/", 0, "http", "h", 8080, 0, 1, "/", "h:8080", "http://h:8080/"},
    {"http://h:/x", 0, "http", "h", 80, 0, 0, "/x", "h", "http://h/x"},
    {"http://[::1]:8080/x", 0, "http", "::1", 8080, 1, 1, "/x", "[::1]:8080",
     "http://[::1]:8080/x"},
    {"http://[2001:DB8::A]/", 0, "http", "2001:db8::a", 80, 1, 0, "/", "[2001:db8::a]",
     "http://[2001:db8::a]/"},
    {"https://[::ffff:127.0.0.1]", 0, "https", "::ffff:127.0.0.1", 443, 1, 0, "/",
     "[::ffff:127.0.0.1]", "https://[::ffff:127.0.0.1]/"},
    {"example.com/x", 0, "http", "example.com", 80, 0, 0, "/x", "example.com",
     "http://example.com/x"},
    {"localhost:8080/x", 0, "http", "localhost", 8080, 0, 1, "/x", "localhost:8080",
     "http://localhost:8080/x"},
    {"http://h?x=1", 0, "http", "h", 80, 0, 0, "/?x=1", "h", "http://h/?x=1"},
    {"http://h#f", 0, "http", "h", 80, 0, 0, "/", "h", "http://h/"},
    {"http://h/a/./b/../c", 0, "http", "h", 80, 0, 0, "/a/c", "h", "http://h/a/c"},
    {"http://h/a/b/..", 0, "http", "h", 80, 0, 0, "/a/", "h", "http://h/a/"},
    {"http://h/..", 0, "http", "h", 80, 0, 0, "/", "h", "http://h/"},
    {"http://h/a//b/", 0, "http", "h", 80, 0, 0, "/a//b/", "h", "http://h/a//b/"},
    {"http://h/a?b/../c", 0, "http", "h", 80, 0, 0, "/a?b/../c", "h", "http://h/a?b/../c"},
    {"http://h/caf\xc3\xa9?q=\xc3\xa9", 0, "http", "h", 80, 0, 0, "/caf%C3%A9?q=%C3%A9", "h",
     "http://h/caf%C3%A9?q=%C3%A9"},
    {"http://h/%41", 0, "http", "h", 80, 0, 0, "/%41", "h", "http://h/%41"},
    {"http://h_ok.example./", 0, "http", "h_ok.example.", 80, 0, 0, "/", "h_ok.example.",
     "http://h_ok.example./"},
    BAD(""),
    UNSUP("ftp://h/"),
    UNSUP("file:///etc/passwd"),
    UNSUP("gopher://h"),
    UNSUP("httpx://h/"),
    BAD("http:/h"),
    BAD("http:h"),
    BAD("http://"),
    BAD("http://:80/"),
    BAD("http:///x"),
    BAD("http://user:pw@h/"),
    BAD("http://u@h/"),
    BAD("http://h:0/"),
    BAD("http://h:65536/"),
    BAD("http://h:99999999999999999999/"),
    BAD("http://h:8x/"),
    BAD("http://h:-1/"),
    BAD("http://h h/"),
    BAD("http://h/a b"),
    BAD("http://h/\x01"),
    BAD("http://h/\x7f"),
    BAD("http://h/a\tb"),
    BAD("http://h/a\r\nX: y"),
    BAD("http://[::1/"),
    BAD("http://[zz::1]/"),
    BAD("http://[::1]x/"),
    BAD("http://[]/"),
    BAD("http://[fe80::1%25eth0]/"),
    BAD("http://ex%41mple.com/"),
    BAD("http://h\xc3\xa9.com/"),
    BAD("http://a,b/"),
};

static void expect_url(const char *what, const struct xfer__url *u, const struct parse_case *c) {
  cr_expect_str_eq(u->scheme, c->scheme, "%s: scheme", what);
  cr_expect_str_eq(u->host, c->host, "%s: host", what);
  cr_expect_eq(u->port, c->port, "%s: port %u", what, u->port);
  cr_expect_eq(u->is_ipv6, (unsigned)c->ipv6, "%s: is_ipv6", what);
  cr_expect_eq(u->explicit_port, (unsigned)c->explicit_port, "%s: explicit_port", what);
  cr_expect_str_eq(u->target, c->target, "%s: target", what);
  cr_expect_str_eq(u->host_hdr, c->host_hdr, "%s: host_hdr", what);
  cr_expect_str_eq(u->full, c->full, "%s: full", what);
}

Test(url, parse) {
  for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
    const struct parse_case *c = &parse_cases[i];
    struct xfer__url u;
    const char *msg = NULL;
    int rc = xfer__url_parse(&u, c->url, &msg);
    if (c->err) {
      cr_expect(rc < 0 && xfer__code_of(rc, XFERE_OK) == (xfer_code)c->err,
                "%s: rc %d, want code %d", c->url, rc, c->err);
      cr_expect(msg && msg[0], "%s: no error sentence", c->url);
      cr_expect_null(u.buf, "%s: nothing to free after an error", c->url);
      continue;
    }
    cr_expect_eq(rc, 0, "%s: rc %d (%s)", c->url, rc, msg ? msg : "");
    if (rc == 0)
      expect_url(c->url, &u, c);
    xfer__url_free(&u);
    xfer__url_free(&u); /* idempotent */
  }
}

Test(url, null_url) {
  struct xfer__url u;
  const char *msg = NULL;
  cr_expect_eq(xfer__url_parse(&u, NULL, &msg), XFER__EURL);
  cr_expect(msg && msg[0]);
  cr_expect_null(u.buf);
}

Test(url, very_long_url) {
  /* libcurl's 8 MB input limit, and no quadratic work below it. */
  size_t n = 8000001;
  char *s = malloc(n + 1);
  struct xfer__url u;
  const char *msg = NULL;
  cr_assert(s);
  memcpy(s, "http://h/", 9);
  memset(s + 9, 'a', n - 9);
  s[n] = '\0';
  cr_expect_eq(xfer__url_parse(&u, s, &msg), XFER__EURL);
  s[n - 1] = '\0';
  cr_expect_eq(xfer__url_parse(&u, s, &msg), 0);
  cr_expect_eq(strlen(u.target), n - 9);
  xfer__url_free(&u);
  free(s);
}

/* ---- Resolution ------------------------------------------------------------ */

struct resolve_case {
  const char *ref;
  const char *want; /* the resolved full URL, or NULL for an error */
  int err;
};

/* RFC 3986 section 5.4 with base "http://a/b/c/d;p?q". The fragment is
 * always dropped, and an empty path is "/", so "//g" gives "http://g/". */
static const struct resolve_case rfc_cases[] = {
    {"g:h", NULL, XFERE_UNSUPPORTED_PROTOCOL},
    {"g", "http://a/b/c/g", 0},
    {"./g", "http://a/b/c/g", 0},
    {"g/", "http://a/b/c/g/", 0},
    {"/g", "http://a/g", 0},
    {"//g", "http://g/", 0},
    {"?y", "http://a/b/c/d;p?y", 0},
    {"g?y", "http://a/b/c/g?y", 0},
    {"#s", "http://a/b/c/d;p?q", 0},
    {"g#s", "http://a/b/c/g", 0},
    {"g?y#s", "http://a/b/c/g?y", 0},
    {";x", "http://a/b/c/;x", 0},
    {"g;x", "http://a/b/c/g;x", 0},
    {"g;x?y#s", "http://a/b/c/g;x?y", 0},
    {"", "http://a/b/c/d;p?q", 0},
    {".", "http://a/b/c/", 0},
    {"./", "http://a/b/c/", 0},
    {"..", "http://a/b/", 0},
    {"../", "http://a/b/", 0},
    {"../g", "http://a/b/g", 0},
    {"../..", "http://a/", 0},
    {"../../", "http://a/", 0},
    {"../../g", "http://a/g", 0},
    /* Abnormal examples (section 5.4.2) */
    {"../../../g", "http://a/g", 0},
    {"../../../../g", "http://a/g", 0},
    {"/./g", "http://a/g", 0},
    {"/../g", "http://a/g", 0},
    {"g.", "http://a/b/c/g.", 0},
    {".g", "http://a/b/c/.g", 0},
    {"g..", "http://a/b/c/g..", 0},
    {"..g", "http://a/b/c/..g", 0},
    {"./../g", "http://a/b/g", 0},
    {"./g/.", "http://a/b/c/g/", 0},
    {"g/./h", "http://a/b/c/g/h", 0},
    {"g/../h", "http://a/b/c/h", 0},
    {"g;x=1/./y", "http://a/b/c/g;x=1/y", 0},
    {"g;x=1/../y", "http://a/b/c/y", 0},
    {"g?y/./x", "http://a/b/c/g?y/./x", 0},
    {"g?y/../x", "http://a/b/c/g?y/../x", 0},
    {"g#s/./x", "http://a/b/c/g", 0},
    {"g#s/../x", "http://a/b/c/g", 0},
    /* "http:g" is "http:g" for a strict parser, and an http URL needs an
     * authority: refused. */
    {"http:g", NULL, XFERE_URL_MALFORMAT},
    /* Beyond the RFC's list */
    {"https://Other.example:8443/z?k#f", "https://other.example:8443/z?k", 0},
    {"HTTP://X/", "http://x/", 0},
    {"ftp://x/", NULL, XFERE_UNSUPPORTED_PROTOCOL},
    {"mailto:x@y", NULL, XFERE_UNSUPPORTED_PROTOCOL},
    {"javascript:alert(1)", NULL, XFERE_UNSUPPORTED_PROTOCOL},
    {"/a b", "http://a/a%20b", 0},
    {"/caf\xc3\xa9", "http://a/caf%C3%A9", 0},
    {"/a\r\nX: y", NULL, XFERE_URL_MALFORMAT},
    {"/a\x01", NULL, XFERE_URL_MALFORMAT},
    {"//", NULL, XFERE_URL_MALFORMAT},
    {"//user@h/", NULL, XFERE_URL_MALFORMAT},
    {"//h:0/", NULL, XFERE_URL_MALFORMAT},
    {"a/b:c", "http://a/b/c/a/b:c", 0},
};

static void resolve_against(const char *base_url, const struct resolve_case *cases, size_t n) {
  struct xfer__url base;
  const char *msg = NULL;
  cr_assert_eq(xfer__url_parse(&base, base_url, &msg), 0);
  for (size_t i = 0; i < n; i++) {
    const struct resolve_case *c = &cases[i];
    struct xfer__url out;
    /* The reference is a view that is not NUL-terminated. */
    size_t len = strlen(c->ref);
    char *ref = malloc(len ? len : 1);
    int rc;
    cr_assert(ref);
    memcpy(ref, c->ref, len);
    msg = NULL;
    rc = xfer__url_resolve(&out, &base, ref, len, &msg);
    free(ref);
    if (c->err) {
      cr_expect(rc < 0 && xfer__code_of(rc, XFERE_OK) == (xfer_code)c->err,
                "%s + %s: rc %d, want code %d", base_url, c->ref, rc, c->err);
      cr_expect(msg && msg[0], "%s: no error sentence", c->ref);
      cr_expect_null(out.buf, "%s: nothing to free after an error", c->ref);
      continue;
    }
    cr_expect_eq(rc, 0, "%s + %s: rc %d (%s)", base_url, c->ref, rc, msg ? msg : "");
    if (rc == 0)
      cr_expect_str_eq(out.full, c->want, "%s + %s", base_url, c->ref);
    xfer__url_free(&out);
  }
  xfer__url_free(&base);
}

Test(url, resolve_rfc3986_examples) {
  resolve_against("http://a/b/c/d;p?q", rfc_cases, sizeof rfc_cases / sizeof rfc_cases[0]);
}

Test(url, resolve_keeps_the_origin) {
  static const struct resolve_case port_cases[] = {
      {"/y", "http://a:8080/y", 0},
      {"y", "http://a:8080/x/y", 0},
      {"?q", "http://a:8080/x/z?q", 0},
      {"//b/p", "http://b/p", 0},
  };
  static const struct resolve_case v6_cases[] = {
      {"c", "https://[::1]:8443/a/c", 0},
      {"//h2/p", "https://h2/p", 0},
      {"/", "https://[::1]:8443/", 0},
  };
  struct xfer__url base, out;
  const char *msg = NULL;
  resolve_against("http://a:8080/x/z?old", port_cases, sizeof port_cases / sizeof port_cases[0]);
  resolve_against("https://[::1]:8443/a/b", v6_cases, sizeof v6_cases / sizeof v6_cases[0]);
  /* The resolved URL's parts, not only its text. */
  cr_assert_eq(xfer__url_parse(&base, "https://h:8443/dir/page", &msg), 0);
  cr_assert_eq(xfer__url_resolve(&out, &base, "../up?x=1", 9, &msg), 0);
  cr_expect_str_eq(out.scheme, "https");
  cr_expect_str_eq(out.host, "h");
  cr_expect_eq(out.port, 8443);
  cr_expect_str_eq(out.target, "/up?x=1");
  cr_expect_str_eq(out.host_hdr, "h:8443");
  xfer__url_free(&out);
  /* Only ref_len bytes are read. */
  cr_assert_eq(xfer__url_resolve(&out, &base, "/abcXYZ", 4, &msg), 0);
  cr_expect_str_eq(out.target, "/abc");
  xfer__url_free(&out);
  xfer__url_free(&base);
}

/* ---- Allocation failure ------------------------------------------------------ */

static int allocs_left;

static void *counting_malloc(size_t n) {
  if (allocs_left-- <= 0)
    return NULL;
  return malloc(n);
}

Test(url, out_of_memory_at_each_allocation) {
  struct xfer__url base, out;
  const char *msg = NULL;
  int rc, k;
  cr_assert_eq(xfer__url_parse(&base, "http://a/b/c", &msg), 0);
  xfer__alloc_set(counting_malloc, free, realloc, strdup, calloc);
  allocs_left = 0;
  rc = xfer__url_parse(&out, "http://h/x", &msg);
  cr_expect_eq(rc, -ENOMEM);
  cr_expect(msg && msg[0]);
  cr_expect_null(out.buf);
  /* Resolution allocates twice: the absolute form, then the result. */
  for (k = 0; k < 2; k++) {
    allocs_left = k;
    msg = NULL;
    rc = xfer__url_resolve(&out, &base, "../d", 4, &msg);
    cr_expect_eq(rc, -ENOMEM, "failing allocation %d: rc %d", k, rc);
    cr_expect(msg && msg[0]);
    cr_expect_null(out.buf);
  }
  allocs_left = 2;
  rc = xfer__url_resolve(&out, &base, "../d", 4, &msg);
  xfer__alloc_set(malloc, free, realloc, strdup, calloc);
  cr_expect_eq(rc, 0);
  cr_expect_str_eq(out.full, "http://a/d");
  xfer__url_free(&out);
  xfer__url_free(&base);
}
