/* xfer_easy_setopt: libcurl's option numbers and argument types. An option
 * this build does not implement is XFERE_UNKNOWN_OPTION, never a silent
 * success. String options are copied (except POSTFIELDS), lists are not,
 * as in libcurl. */
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "easy.h"
#include "multi.h"
#include "../tls/tls.h"

static xfer_code set_string(char **dst, const char *src) {
  char *copy = NULL;
  if (src) {
    copy = xfer__strdup(src);
    if (!copy)
      return XFERE_OUT_OF_MEMORY;
  }
  xfer__free(*dst);
  *dst = copy;
  return XFERE_OK;
}

/* XFEROPT_COPYPOSTFIELDS copies POSTFIELDSIZE bytes when that was set
 * before it (binary bodies), else the string. */
static xfer_code set_copypostfields(struct xfer__options *o, const char *src) {
  xfer__free(o->copypostfields);
  o->copypostfields = NULL;
  if (!src)
    return XFERE_OK;
  size_t n = o->postfieldsize >= 0 ? (size_t)o->postfieldsize : strlen(src);
  char *copy = xfer__malloc(n + 1);
  if (!copy)
    return XFERE_OUT_OF_MEMORY;
  memcpy(copy, src, n);
  copy[n] = 0;
  o->copypostfields = copy;
  o->postfieldsize = (int64_t)n;
  o->postfields = NULL;
  return XFERE_OK;
}

/* XFEROPT_POSTFIELDSIZE[_LARGE]. A size larger than an earlier
 * COPYPOSTFIELDS copy would make the transfer send, and duphandle copy,
 * bytes past the end of that copy: the copy is dropped instead, as libcurl
 * drops it ("Previous CURLOPT_COPYPOSTFIELDS is no longer valid"). The
 * request stays a POST, as in libcurl, and its body now comes from the read
 * callback. */
static void set_postfieldsize(struct xfer__options *o, int64_t v) {
  if (o->copypostfields && v > o->postfieldsize) {
    xfer__free(o->copypostfields);
    o->copypostfields = NULL;
    o->post = 1;
  }
  o->postfieldsize = v;
}

/* XFEROPT_SSLVERSION: the minimum in the low 16 bits, the maximum in the
 * high ones. Nothing below TLS 1.2 is spoken: asking for it is an error, not
 * a silent upgrade; DEFAULT and TLSv1 ("any TLS 1.x") mean 1.2 or later. */
static xfer_code set_sslversion(struct xfer_easy *e, long v) {
  long lo = v & 0xffff, hi = (v >> 16) & 0xffff;
  uint16_t vmin, vmax;
  if (v < 0 || hi > XFER_SSLVERSION_LAST)
    return XFERE_BAD_FUNCTION_ARGUMENT;
  if (lo == XFER_SSLVERSION_DEFAULT || lo == XFER_SSLVERSION_TLSv1 || lo == XFER_SSLVERSION_TLSv1_2)
    vmin = XFER__TLS_V1_2;
  else if (lo == XFER_SSLVERSION_TLSv1_3)
    vmin = XFER__TLS_V1_3;
  else
    return XFERE_BAD_FUNCTION_ARGUMENT;
  if (hi == 0 || hi == XFER_SSLVERSION_TLSv1 || hi == XFER_SSLVERSION_TLSv1_3)
    vmax = 0;
  else if (hi == XFER_SSLVERSION_TLSv1_2)
    vmax = XFER__TLS_V1_2;
  else
    return XFERE_BAD_FUNCTION_ARGUMENT;
  if (vmax && vmax < vmin)
    return XFERE_BAD_FUNCTION_ARGUMENT;
  e->opt.ssl_version_min = vmin;
  e->opt.ssl_version_max = vmax;
  e->tls_dirty = 1;
  return XFERE_OK;
}

/* PINNEDPUBLICKEY in its "sha256//BASE64[;sha256//BASE64...]" form; the
 * file form of libcurl is not supported and is refused, not ignored. */
static int pin_list_valid(const char *p) {
  while (*p) {
    if (strncmp(p, "sha256//", 8) != 0)
      return 0;
    p += 8;
    size_t n = strcspn(p, ";");
    if (n != 44) /* base64 of 32 bytes */
      return 0;
    p += n;
    if (*p == ';')
      p++;
  }
  return 1;
}

/* SSLCERTTYPE and SSLKEYTYPE: PEM is what xfer reads. */
static xfer_code set_pem_only(const char *v) {
  if (v && strcasecmp(v, "PEM") != 0)
    return XFERE_BAD_FUNCTION_ARGUMENT;
  return XFERE_OK;
}

static xfer_code set_tls_string(struct xfer_easy *e, char **dst, const char *v) {
  xfer_code rc = set_string(dst, v);
  if (rc == XFERE_OK)
    e->tls_dirty = 1;
  return rc;
}

static xfer_code set_long(struct xfer_easy *e, xfer_option opt, long v) {
  struct xfer__options *o = &e->opt;
  switch (opt) {
  case XFEROPT_POST:
    o->post = v != 0;
    if (v) {
      o->upload = 0;
      o->nobody = 0;
    }
    return XFERE_OK;
  case XFEROPT_HTTPGET:
    if (v) {
      o->post = 0;
      o->upload = 0;
      o->nobody = 0;
      o->postfields = NULL;
      xfer__free(o->copypostfields);
      o->copypostfields = NULL;
    }
    return XFERE_OK;
  case XFEROPT_NOBODY:
    o->nobody = v != 0;
    return XFERE_OK;
  case XFEROPT_UPLOAD:
    o->upload = v != 0;
    if (v)
      o->nobody = 0;
    return XFERE_OK;
  case XFEROPT_POSTFIELDSIZE:
    if (v < -1)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    set_postfieldsize(o, v);
    return XFERE_OK;
  case XFEROPT_INFILESIZE:
    if (v < -1)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    o->infilesize = v;
    return XFERE_OK;
  case XFEROPT_TIMEOUT:
  case XFEROPT_TIMEOUT_MS:
  case XFEROPT_CONNECTTIMEOUT:
  case XFEROPT_CONNECTTIMEOUT_MS: {
    if (v < 0)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    int secs = opt == XFEROPT_TIMEOUT || opt == XFEROPT_CONNECTTIMEOUT;
    if (secs && v > LONG_MAX / 1000)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    long ms = secs ? v * 1000 : v;
    if (opt == XFEROPT_TIMEOUT || opt == XFEROPT_TIMEOUT_MS)
      o->timeout_ms = ms; /* the last one set of the pair wins, as libcurl */
    else
      o->connecttimeout_ms = ms;
    return XFERE_OK;
  }
  case XFEROPT_FOLLOWLOCATION:
    o->followlocation = v != 0;
    return XFERE_OK;
  case XFEROPT_MAXREDIRS:
    if (v < -1)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    o->maxredirs = v;
    return XFERE_OK;
  case XFEROPT_FORBID_REUSE:
    o->forbid_reuse = v != 0;
    return XFERE_OK;
  case XFEROPT_FRESH_CONNECT:
    o->fresh_connect = v != 0;
    return XFERE_OK;
  case XFEROPT_TCP_NODELAY:
    o->tcp_nodelay = v != 0;
    return XFERE_OK;
  case XFEROPT_NOSIGNAL:
    return XFERE_OK; /* accepted: the library never raises or handles signals */
  case XFEROPT_VERBOSE:
    o->verbose = v != 0;
    return XFERE_OK;
  case XFEROPT_NOPROGRESS:
    o->noprogress = v != 0;
    return XFERE_OK;
  case XFEROPT_MAX_HEAD_SIZE:
    if (v < 1024)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    o->max_head = (size_t)v;
    return XFERE_OK;
  case XFEROPT_MAX_HEADER_LINE:
    if (v < 256)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    o->max_line = (size_t)v;
    return XFERE_OK;
  case XFEROPT_MAX_HEADER_COUNT:
    if (v < 1 || v > (long)XFER__HTTP_MAX_HEADERS_CAP) /* more would not be honoured */
      return XFERE_BAD_FUNCTION_ARGUMENT;
    o->max_headers = (unsigned)v;
    return XFERE_OK;
  case XFEROPT_SSL_VERIFYPEER:
    o->ssl_verifypeer = v != 0;
    e->tls_dirty = 1;
    return XFERE_OK;
  case XFEROPT_SSL_VERIFYHOST:
    /* libcurl: 1 means the same as 2 since 7.66.0. */
    if (v < 0 || v > 2)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    o->ssl_verifyhost = v != 0;
    e->tls_dirty = 1;
    return XFERE_OK;
  case XFEROPT_SSL_SESSIONID_CACHE:
    o->ssl_sessions = v != 0;
    e->tls_dirty = 1;
    return XFERE_OK;
  case XFEROPT_SSLVERSION:
    return set_sslversion(e, v);
  default:
    return XFERE_UNKNOWN_OPTION;
  }
}

static xfer_code set_pointer(struct xfer_easy *e, xfer_option opt, void *p) {
  struct xfer__options *o = &e->opt;
  switch (opt) {
  case XFEROPT_URL: {
    xfer_code rc = set_string(&o->url, p);
    if (rc == XFERE_OK && e->url_ok) {
      xfer__url_free(&e->url);
      e->url_ok = 0;
      e->origin_last = NULL;
    }
    return rc;
  }
  case XFEROPT_WRITEDATA:
    o->write_data = p;
    return XFERE_OK;
  case XFEROPT_HEADERDATA:
    o->header_data = p;
    return XFERE_OK;
  case XFEROPT_READDATA:
    o->read_data = p;
    return XFERE_OK;
  case XFEROPT_POSTFIELDS:
    o->postfields = p;
    xfer__free(o->copypostfields);
    o->copypostfields = NULL;
    return XFERE_OK;
  case XFEROPT_COPYPOSTFIELDS:
    return set_copypostfields(o, p);
  case XFEROPT_CUSTOMREQUEST:
    return set_string(&o->customrequest, p);
  case XFEROPT_USERAGENT:
    return set_string(&o->useragent, p);
  case XFEROPT_HTTPHEADER:
    o->httpheader = p;
    return XFERE_OK;
  case XFEROPT_RESOLVE:
    o->resolve = p;
    e->resolve_dirty = 1; /* loaded into a multi's cache at the next transfer */
    return XFERE_OK;
  case XFEROPT_PRIVATE:
    o->private_data = p;
    return XFERE_OK;
  case XFEROPT_ERRORBUFFER:
    o->errorbuffer = p;
    return XFERE_OK;
  case XFEROPT_DEBUGDATA:
    o->debug_data = p;
    return XFERE_OK;
  case XFEROPT_XFERINFODATA:
    o->xferinfo_data = p;
    return XFERE_OK;
  case XFEROPT_CAINFO:
    return set_tls_string(e, &o->cainfo, p);
  case XFEROPT_CAPATH:
    return set_tls_string(e, &o->capath, p);
  case XFEROPT_SSLCERT:
    return set_tls_string(e, &o->sslcert, p);
  case XFEROPT_SSLKEY:
    return set_tls_string(e, &o->sslkey, p);
  case XFEROPT_KEYPASSWD:
    return set_tls_string(e, &o->keypasswd, p);
  case XFEROPT_SSLCERTTYPE:
  case XFEROPT_SSLKEYTYPE:
    return set_pem_only(p);
  case XFEROPT_SSL_CIPHER_LIST:
    return set_tls_string(e, &o->cipher_list, p);
  case XFEROPT_TLS13_CIPHERS:
    return set_tls_string(e, &o->tls13_ciphers, p);
  case XFEROPT_PINNEDPUBLICKEY:
    if (p && !pin_list_valid(p))
      return XFERE_BAD_FUNCTION_ARGUMENT;
    return set_tls_string(e, &o->pinnedpubkey, p);
  default:
    return XFERE_UNKNOWN_OPTION;
  }
}

/* XFEROPT_CAINFO_BLOB, as libcurl: copied with XFER_BLOB_COPY, referenced
 * with XFER_BLOB_NOCOPY, cleared by NULL. */
static xfer_code set_blob(struct xfer_easy *e, xfer_option opt, const struct xfer_blob *b) {
  struct xfer__options *o = &e->opt;
  if (opt != XFEROPT_CAINFO_BLOB)
    return XFERE_UNKNOWN_OPTION;
  if (b && (b->flags & ~(unsigned)XFER_BLOB_COPY))
    return XFERE_BAD_FUNCTION_ARGUMENT;
  void *data = NULL;
  int owned = 0;
  if (b && (b->flags & XFER_BLOB_COPY)) {
    data = xfer__malloc(b->len ? b->len : 1);
    if (!data)
      return XFERE_OUT_OF_MEMORY;
    memcpy(data, b->data, b->len);
    owned = 1;
  } else if (b) {
    data = b->data;
  }
  if (o->ca_blob_owned)
    xfer__free(o->ca_blob);
  o->ca_blob = data;
  o->ca_blob_len = b ? b->len : 0;
  o->ca_blob_owned = (unsigned)owned;
  e->tls_dirty = 1;
  return XFERE_OK;
}

/* Function pointers travel through varargs as themselves; a NULL restores
 * the default, as libcurl. */
static xfer_code set_function(struct xfer_easy *e, xfer_option opt, va_list *ap) {
  struct xfer__options *o = &e->opt;
  struct xfer__options defaults;
  xfer__options_init(&defaults);
  switch (opt) {
  case XFEROPT_WRITEFUNCTION: {
    xfer_write_callback f = va_arg(*ap, xfer_write_callback);
    o->write_cb = f ? f : defaults.write_cb;
    return XFERE_OK;
  }
  case XFEROPT_HEADERFUNCTION:
    o->header_cb = va_arg(*ap, xfer_write_callback);
    return XFERE_OK;
  case XFEROPT_READFUNCTION: {
    xfer_read_callback f = va_arg(*ap, xfer_read_callback);
    o->read_cb = f ? f : defaults.read_cb;
    return XFERE_OK;
  }
  case XFEROPT_DEBUGFUNCTION:
    o->debug_cb = va_arg(*ap, xfer_debug_callback);
    return XFERE_OK;
  case XFEROPT_XFERINFOFUNCTION:
    o->xferinfo_cb = va_arg(*ap, xfer_xferinfo_callback);
    return XFERE_OK;
  default:
    return XFERE_UNKNOWN_OPTION;
  }
}

static xfer_code set_offset(struct xfer_easy *e, xfer_option opt, xfer_off_t v) {
  switch (opt) {
  case XFEROPT_POSTFIELDSIZE_LARGE:
    if (v < -1)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    set_postfieldsize(&e->opt, v);
    return XFERE_OK;
  case XFEROPT_INFILESIZE_LARGE:
    if (v < -1)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    e->opt.infilesize = v;
    return XFERE_OK;
  default:
    return XFERE_UNKNOWN_OPTION;
  }
}

xfer_code xfer_easy_setopt(xfer_easy *e, xfer_option opt, ...) {
  if (!xfer__easy_valid(e))
    return XFERE_BAD_FUNCTION_ARGUMENT;
  va_list ap;
  va_start(ap, opt);
  xfer_code rc;
  /* xfer's own options sit at 49000+ in the long range of their own. */
  if (opt >= XFEROPT_MAX_HEAD_SIZE && opt <= XFEROPT_MAX_HEADER_COUNT)
    rc = set_long(e, opt, va_arg(ap, long));
  else if (opt < XFEROPTTYPE_OBJECTPOINT)
    rc = set_long(e, opt, va_arg(ap, long));
  else if (opt < XFEROPTTYPE_FUNCTIONPOINT)
    rc = set_pointer(e, opt, va_arg(ap, void *));
  else if (opt < XFEROPTTYPE_OFF_T)
    rc = set_function(e, opt, &ap);
  else if (opt < XFEROPTTYPE_BLOB)
    rc = set_offset(e, opt, va_arg(ap, xfer_off_t));
  else if (opt < XFEROPT_MAX_HEAD_SIZE)
    rc = set_blob(e, opt, va_arg(ap, const struct xfer_blob *));
  else
    rc = XFERE_UNKNOWN_OPTION;
  va_end(ap);
  /* Any accepted change may alter the request: rebuild it at the next
   * start. Re-adding with unchanged options keeps the cached head. */
  if (rc == XFERE_OK)
    e->req_dirty = 1;
  return rc;
}
