/* xfer_easy_getinfo: what the latest transfer of a handle did. The type of
 * the out-argument follows from the info's number, as in libcurl. */
#include <stdarg.h>

#include "easy.h"
#include "pool.h"

xfer_code xfer_easy_getinfo(xfer_easy *e, xfer_info info, ...) {
  if (!xfer__easy_valid(e))
    return XFERE_BAD_FUNCTION_ARGUMENT;
  const struct xfer__info *i = &e->info;
  va_list ap;
  va_start(ap, info);
  void *out = va_arg(ap, void *);
  va_end(ap);
  if (!out)
    return XFERE_BAD_FUNCTION_ARGUMENT;
  long *l = out;
  xfer_off_t *o = out;
  const char **s = out;
  void **p = out;
  switch (info) {
  case XFERINFO_RESPONSE_CODE:
    *l = i->response_code;
    return XFERE_OK;
  case XFERINFO_NUM_CONNECTS:
    *l = i->num_connects;
    return XFERE_OK;
  case XFERINFO_REDIRECT_COUNT:
    *l = i->redirect_count;
    return XFERE_OK;
  case XFERINFO_HEADER_SIZE:
    *l = i->header_size;
    return XFERE_OK;
  case XFERINFO_REQUEST_SIZE:
    *l = i->request_size;
    return XFERE_OK;
  case XFERINFO_PRIMARY_PORT:
    *l = i->primary_port;
    return XFERE_OK;
  case XFERINFO_LOCAL_PORT:
    *l = i->local_port;
    return XFERE_OK;
  case XFERINFO_PRIVATE:
    *p = e->opt.private_data;
    return XFERE_OK;
  case XFERINFO_EFFECTIVE_URL:
    /* The URL of the last request made, after redirects; before any
     * transfer, the URL that was set. */
    *s = e->x.url ? e->x.url->full : e->opt.url;
    return XFERE_OK;
  case XFERINFO_PRIMARY_IP:
    *s = i->primary_ip;
    return XFERE_OK;
  case XFERINFO_SIZE_DOWNLOAD_T:
    *o = i->size_download;
    return XFERE_OK;
  case XFERINFO_SIZE_UPLOAD_T:
    *o = i->size_upload;
    return XFERE_OK;
  case XFERINFO_CONTENT_LENGTH_DOWNLOAD_T:
    *o = i->content_length_download;
    return XFERE_OK;
  case XFERINFO_NAMELOOKUP_TIME_T:
    *o = i->t_namelookup;
    return XFERE_OK;
  case XFERINFO_CONNECT_TIME_T:
    *o = i->t_connect;
    return XFERE_OK;
  case XFERINFO_PRETRANSFER_TIME_T:
    *o = i->t_pretransfer;
    return XFERE_OK;
  case XFERINFO_STARTTRANSFER_TIME_T:
    *o = i->t_starttransfer;
    return XFERE_OK;
  case XFERINFO_TOTAL_TIME_T:
    *o = i->t_total;
    return XFERE_OK;
  case XFERINFO_APPCONNECT_TIME_T:
    *o = i->t_appconnect;
    return XFERE_OK;
  case XFERINFO_SSL_VERIFYRESULT:
    *l = i->ssl_verifyresult;
    return XFERE_OK;
  case XFERINFO_TLS_SESSION_RESUMED:
    *l = i->tls_resumed;
    return XFERE_OK;
  case XFERINFO_TLS_SSL_PTR: {
    /* libcurl's curl_tlssessioninfo: the library, and its object while
     * the transfer still holds its connection. */
    struct xfer_tlssessioninfo *ti = &e->tls_info;
    ti->backend = i->tls_backend; /* XFERSSLBACKEND_NONE (0) for plain HTTP */
    ti->internals = e->x.conn ? e->x.conn->tls.ssl : NULL;
    *(struct xfer_tlssessioninfo **)p = ti;
    return XFERE_OK;
  }
  default:
    return XFERE_UNKNOWN_OPTION;
  }
}
