/* URL parsing for http:// and https:// URLs: parsed once per easy handle and
 * kept as views into one owned copy. */
#ifndef XFER_RUNTIME_URL_H
#define XFER_RUNTIME_URL_H

#include <stdint.h>

struct xfer__url {
  char *buf;          /* owned: every pointer below points into it */
  const char *scheme; /* "http" or "https", lower case */
  const char *host;   /* lower case; an IPv6 literal without its brackets */
  uint16_t port;      /* explicit, or the scheme's default */
  unsigned is_ipv6 : 1;
  unsigned explicit_port : 1;
  const char *target; /* path and query, starting with '/' ("/" when empty); no fragment */
  const char
      *host_hdr; /* Host header value: host, [v6], plus ":port" when explicit and not the default */
  const char *full; /* normalised absolute URL (for XFERINFO_EFFECTIVE_URL) */
};

/* Parses url into *u (which owns its memory afterwards). A URL without a
 * scheme is taken as http, as libcurl guesses. Returns 0, or
 * XFER__EURL / XFER__ESCHEME / -ENOMEM (error.h) with *errmsg set to a sentence. On error *u holds
 * nothing to free. Rejects: control bytes or spaces, an empty or invalid
 * host, a port outside 1..65535, user credentials in the authority (not
 * supported: they would be silently dropped). */
int xfer__url_parse(struct xfer__url *u, const char *url, const char **errmsg);

/* Resolves a Location value (absolute, scheme-relative "//h/p",
 * absolute-path "/p", or relative "p") against base, into *out. Same return
 * values as xfer__url_parse. */
int xfer__url_resolve(struct xfer__url *out, const struct xfer__url *base, const char *ref,
                      size_t ref_len, const char **errmsg);

void xfer__url_free(struct xfer__url *u);

#endif
