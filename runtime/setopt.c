/* xfer_easy_setopt: libcurl's option numbers and argument types. An option
 * this build does not implement is XFERE_UNKNOWN_OPTION, never a silent
 * success. String options are copied (except POSTFIELDS), lists are not,
 * as in libcurl. */
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "alloc.h"
#include "easy.h"
#include "multi.h"

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
    o->postfieldsize = v;
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
    if (v < 1 || v > 1000000)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    o->max_headers = (unsigned)v;
    return XFERE_OK;
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
  default:
    return XFERE_UNKNOWN_OPTION;
  }
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
    e->opt.postfieldsize = v;
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
  else
    rc = XFERE_UNKNOWN_OPTION;
  va_end(ap);
  /* Any accepted change may alter the request: rebuild it at the next
   * start. Re-adding with unchanged options keeps the cached head. */
  if (rc == XFERE_OK)
    e->req_dirty = 1;
  return rc;
}
