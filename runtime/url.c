/* URL parsing for http:// and https://, and RFC 3986 reference resolution
 * for redirects. A parsed URL is one owned buffer holding every part as a
 * NUL-terminated string, so the easy handle frees one pointer.
 *
 * The parser is deliberately narrow: it knows two schemes, refuses what it
 * would otherwise have to guess at (credentials, IPv6 zone ids, non-ASCII
 * host names), and normalises what goes on the wire (dot segments removed,
 * bytes above 0x7F percent-encoded), so the request target it produces is
 * always a valid origin-form. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "url.h"
#include "xfer/xfer.h"
#include "text.h"

/* libcurl refuses URLs longer than 8 MB (CURL_MAX_INPUT_LENGTH). */
#define MAX_URL_LEN 8000000u

/* A URL split into views of its source, before the owned copy is built. */
struct url_parts {
  int https;
  const char *host;
  size_t host_len;
  int is_ipv6;
  int explicit_port;
  uint16_t port;
  const char *path; /* empty when the URL has none */
  size_t path_len;
  const char *query; /* the '?' included; empty when none */
  size_t query_len;
};

static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int is_scheme_char(unsigned char c) {
  return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
}

/* Length of the scheme that starts s (RFC 3986 section 3.1), up to but not
 * including its ':', or 0 when s does not start with one. */
static size_t scheme_length(const char *s, size_t n) {
  size_t i;
  if (n == 0 || !is_alpha((unsigned char)s[0]))
    return 0;
  for (i = 1; i < n && is_scheme_char((unsigned char)s[i]); i++)
    ;
  return (i < n && s[i] == ':') ? i : 0;
}

static int parse_port(const char *s, size_t n, struct url_parts *p, const char **errmsg) {
  uint32_t port = 0;
  size_t i;
  /* An empty port means the default (RFC 3986 section 3.2.3; curl agrees). */
  if (n == 0)
    return 0;
  for (i = 0; i < n; i++) {
    if (!is_digit((unsigned char)s[i]))
      return xfer__fail(errmsg, "Invalid port number in the URL", XFER__EURL);
    port = port * 10 + (uint32_t)(s[i] - '0');
    if (port > 65535)
      return xfer__fail(errmsg, "Port number out of range in the URL", XFER__EURL);
  }
  if (port == 0)
    return xfer__fail(errmsg, "Port number out of range in the URL", XFER__EURL);
  p->port = (uint16_t)port;
  p->explicit_port = 1;
  return 0;
}

static int parse_authority(const char *s, size_t n, struct url_parts *p, const char **errmsg) {
  size_t i, host_end;
  if (memchr(s, '@', n))
    return xfer__fail(errmsg, "Credentials in the URL are not supported", XFER__EURL);
  if (n > 0 && s[0] == '[') {
    /* An IPv6 literal; zone ids ("%25eth0") are not supported. The longest
     * text form of an IPv6 address is 45 characters (INET6_ADDRSTRLEN). */
    char text[46];
    unsigned char bin[16];
    const char *close = memchr(s, ']', n);
    if (!close)
      return xfer__fail(errmsg, "Unterminated IPv6 address in the URL", XFER__EURL);
    p->host = s + 1;
    p->host_len = (size_t)(close - s) - 1;
    if (p->host_len == 0 || p->host_len >= sizeof text)
      return xfer__fail(errmsg, "Invalid IPv6 address in the URL", XFER__EURL);
    memcpy(text, p->host, p->host_len);
    text[p->host_len] = '\0';
    if (inet_pton(AF_INET6, text, bin) != 1)
      return xfer__fail(errmsg, "Invalid IPv6 address in the URL", XFER__EURL);
    p->is_ipv6 = 1;
    host_end = (size_t)(close - s) + 1;
    if (host_end < n && s[host_end] != ':')
      return xfer__fail(errmsg, "Invalid characters after the IPv6 address in the URL", XFER__EURL);
  } else {
    /* A host name or IPv4 address: letters, digits, '-', '.', '_'. No
     * percent-encoding and no non-ASCII (xfer has no IDN support). */
    for (i = 0; i < n && s[i] != ':'; i++) {
      unsigned char c = (unsigned char)s[i];
      if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_')
        return xfer__fail(errmsg, "Invalid character in the URL host name", XFER__EURL);
    }
    p->host = s;
    p->host_len = i;
    host_end = i;
    if (p->host_len == 0)
      return xfer__fail(errmsg, "No host name in the URL", XFER__EURL);
  }
  if (host_end < n)
    return parse_port(s + host_end + 1, n - host_end - 1, p, errmsg);
  return 0;
}

/* Splits an absolute URL (or a scheme-less one, taken as http). */
static int split_url(const char *url, size_t len, struct url_parts *p, const char **errmsg) {
  size_t i, slen, start, auth_end;
  memset(p, 0, sizeof *p);
  if (len > MAX_URL_LEN)
    return xfer__fail(errmsg, "The URL is too long", XFER__EURL);
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c <= 0x20 || c == 0x7f)
      return xfer__fail(errmsg, "Control character or space in the URL", XFER__EURL);
  }
  /* As curl guesses: a scheme is a scheme token followed by ":/"; without
   * one ("localhost:8080/x", "example.com") the URL is taken as http. */
  slen = scheme_length(url, len);
  start = 0;
  if (slen > 0 && slen + 1 < len && url[slen + 1] == '/') {
    if (xfer__view_is(url, slen, "https"))
      p->https = 1;
    else if (!xfer__view_is(url, slen, "http"))
      return xfer__fail(errmsg, "Unsupported protocol in the URL (only http and https)",
                        XFER__ESCHEME);
    if (slen + 2 >= len || url[slen + 2] != '/')
      return xfer__fail(errmsg, "The URL must have \"//\" after the scheme", XFER__EURL);
    start = slen + 3;
  }
  for (auth_end = start; auth_end < len; auth_end++) {
    if (url[auth_end] == '/' || url[auth_end] == '?' || url[auth_end] == '#')
      break;
  }
  p->port = p->https ? 443 : 80;
  if (parse_authority(url + start, auth_end - start, p, errmsg) < 0)
    return XFER__EURL;
  p->path = url + auth_end;
  for (i = auth_end; i < len && url[i] != '?' && url[i] != '#'; i++)
    ;
  p->path_len = (size_t)(url + i - p->path);
  p->query = url + i;
  if (i < len && url[i] == '?') {
    for (; i < len && url[i] != '#'; i++)
      ;
  }
  p->query_len = (size_t)(url + i - p->query);
  return 0;
}

/* Appends src, percent-encoding bytes above 0x7F so the target is ASCII. */
static size_t put_encoded(char *out, const char *src, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i, o = 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c >= 0x80) {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 0xf];
    } else {
      out[o++] = (char)c;
    }
  }
  return o;
}

/* RFC 3986 section 5.2.4 for a path that starts with '/', written to out
 * (never longer than the input). Returns the output length. */
static size_t remove_dot_segments(char *out, const char *path, size_t n) {
  size_t pos = 0, o = 0;
  while (pos < n) {
    size_t seg = pos + 1, end = seg;
    while (end < n && path[end] != '/')
      end++;
    if (end - seg == 1 && path[seg] == '.') {
      if (end == n)
        out[o++] = '/';
    } else if (end - seg == 2 && path[seg] == '.' && path[seg + 1] == '.') {
      while (o > 0 && out[o - 1] != '/')
        o--;
      if (o > 0)
        o--; /* drop the segment's '/' too */
      if (end == n)
        out[o++] = '/';
    } else {
      out[o++] = '/';
      memcpy(out + o, path + seg, end - seg);
      o += end - seg;
    }
    pos = end;
  }
  if (o == 0)
    out[o++] = '/';
  return o;
}

/* Writes the host as it appears in a URL or Host header. */
static size_t put_host(char *out, const struct url_parts *p) {
  size_t o = 0, i;
  if (p->is_ipv6)
    out[o++] = '[';
  for (i = 0; i < p->host_len; i++)
    out[o++] = (char)xfer__ascii_lower((unsigned char)p->host[i]);
  if (p->is_ipv6)
    out[o++] = ']';
  return o;
}

/* Builds the owned buffer: scheme, host, target, host_hdr and full URL,
 * each NUL-terminated. */
static int build(struct xfer__url *u, const struct url_parts *p, const char **errmsg) {
  /* Worst case: every path or query byte tripled by percent-encoding, and
   * each string written twice (target, then again inside full); 64 bytes
   * cover the scheme, brackets, ports, separators and NULs. */
  size_t cap = 64 + 3 * (p->host_len + 8) + 6 * (p->path_len + p->query_len + 1);
  const char *scheme = p->https ? "https" : "http";
  uint16_t default_port = p->https ? 443 : 80;
  size_t o = 0, target_len, host_len, i;
  char *b = xfer__malloc(cap), *target, *path_tmp;
  if (!b)
    return xfer__fail(errmsg, "Out of memory while parsing the URL", -ENOMEM);
  memset(u, 0, sizeof *u);
  u->buf = b;

  u->scheme = b + o;
  memcpy(b + o, scheme, strlen(scheme) + 1);
  o += strlen(scheme) + 1;

  u->host = b + o;
  for (i = 0; i < p->host_len; i++)
    b[o++] = (char)xfer__ascii_lower((unsigned char)p->host[i]);
  b[o++] = '\0';
  u->port = p->port;
  u->is_ipv6 = p->is_ipv6 ? 1u : 0u;
  u->explicit_port = p->explicit_port ? 1u : 0u;

  /* The path is encoded into the tail of the buffer first, then its dot
   * segments are removed into place: an empty path becomes "/". */
  target = b + o;
  path_tmp = b + cap - 3 * p->path_len - 1;
  target_len = 0;
  if (p->path_len > 0) {
    size_t enc = put_encoded(path_tmp, p->path, p->path_len);
    target_len = remove_dot_segments(target, path_tmp, enc);
  } else {
    target[target_len++] = '/';
  }
  target_len += put_encoded(target + target_len, p->query, p->query_len);
  target[target_len] = '\0';
  u->target = target;
  o += target_len + 1;

  u->host_hdr = b + o;
  host_len = put_host(b + o, p);
  o += host_len;
  if (p->explicit_port && p->port != default_port) {
    b[o++] = ':';
    o += xfer__format_u64(b + o, p->port);
  }
  b[o++] = '\0';

  u->full = b + o;
  memcpy(b + o, scheme, strlen(scheme));
  o += strlen(scheme);
  memcpy(b + o, "://", 3);
  o += 3;
  o += put_host(b + o, p);
  if (p->explicit_port) {
    b[o++] = ':';
    o += xfer__format_u64(b + o, p->port);
  }
  memcpy(b + o, u->target, target_len + 1);
  return 0;
}

static int parse_n(struct xfer__url *u, const char *url, size_t len, const char **errmsg) {
  struct url_parts p;
  int rc;
  memset(u, 0, sizeof *u);
  rc = split_url(url, len, &p, errmsg);
  if (rc < 0)
    return rc;
  return build(u, &p, errmsg);
}

int xfer__url_parse(struct xfer__url *u, const char *url, const char **errmsg) {
  if (!url) {
    memset(u, 0, sizeof *u);
    return xfer__fail(errmsg, "No URL set", XFER__EURL);
  }
  return parse_n(u, url, strlen(url), errmsg);
}

/* Appends a reference's bytes, encoding SP as %20: servers do send spaces
 * in Location, and curl encodes them when it follows a redirect. */
static size_t put_ref(char *out, const char *s, size_t n) {
  size_t i, o = 0;
  for (i = 0; i < n; i++) {
    if (s[i] == ' ') {
      memcpy(out + o, "%20", 3);
      o += 3;
    } else {
      out[o++] = s[i];
    }
  }
  return o;
}

int xfer__url_resolve(struct xfer__url *out, const struct xfer__url *base, const char *ref,
                      size_t ref_len, const char **errmsg) {
  const char *base_query = strchr(base->target, '?');
  size_t base_path_len = base_query ? (size_t)(base_query - base->target) : strlen(base->target);
  size_t i, slen, o = 0, cap;
  char *abs;
  int rc;

  memset(out, 0, sizeof *out);
  for (i = 0; i < ref_len; i++) {
    unsigned char c = (unsigned char)ref[i];
    if (c < 0x20 || c == 0x7f)
      return xfer__fail(errmsg, "Control character in the redirect location", XFER__EURL);
    if (c == '#')
      break; /* the fragment never reaches the server */
  }
  ref_len = i;
  slen = scheme_length(ref, ref_len);
  /* RFC 3986 section 4.3 puts a scheme before any '/', '?' or '#', and
   * scheme_length stops at the first non-scheme character, so a ':' after
   * a '/' is never taken for one. */
  if (slen > 0 && !xfer__view_is(ref, slen, "http") && !xfer__view_is(ref, slen, "https"))
    return xfer__fail(errmsg, "Redirect to an unsupported protocol (only http and https)",
                      XFER__ESCHEME);

  /* The absolute form of the reference is built as a URL string and then
   * parsed like any other: one validator, and dot segments are removed
   * there (RFC 3986 section 5.2.2 applies remove_dot_segments to every
   * merged path). 3 * ref_len covers %20 expansion. */
  cap = strlen(base->full) + 3 * ref_len + 8;
  abs = xfer__malloc(cap);
  if (!abs)
    return xfer__fail(errmsg, "Out of memory while resolving the redirect", -ENOMEM);

  if (slen > 0) {
    o = put_ref(abs, ref, ref_len);
  } else if (ref_len >= 2 && ref[0] == '/' && ref[1] == '/') {
    o = strlen(base->scheme);
    memcpy(abs, base->scheme, o);
    abs[o++] = ':';
    o += put_ref(abs + o, ref, ref_len);
  } else {
    /* Same origin: copy the base's "scheme://authority" (full up to its
     * target), then the resolved path and query. */
    size_t origin_len = strlen(base->full) - strlen(base->target);
    memcpy(abs, base->full, origin_len);
    o = origin_len;
    if (ref_len == 0) {
      memcpy(abs + o, base->target, strlen(base->target));
      o += strlen(base->target);
    } else if (ref[0] == '?') {
      memcpy(abs + o, base->target, base_path_len);
      o += base_path_len;
      o += put_ref(abs + o, ref, ref_len);
    } else if (ref[0] == '/') {
      o += put_ref(abs + o, ref, ref_len);
    } else {
      /* Merge (section 5.2.3): the base path up to its last '/', then the
       * reference. The base path always starts with '/'. */
      size_t dir = base_path_len;
      while (dir > 0 && base->target[dir - 1] != '/')
        dir--;
      memcpy(abs + o, base->target, dir);
      o += dir;
      o += put_ref(abs + o, ref, ref_len);
    }
  }
  rc = parse_n(out, abs, o, errmsg);
  xfer__free(abs);
  return rc;
}

void xfer__url_free(struct xfer__url *u) {
  if (!u)
    return;
  xfer__free(u->buf);
  memset(u, 0, sizeof *u);
}
