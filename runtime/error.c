/* The one mapping from the runtime's error space (a negative errno or an
 * xfer-private code, error.h) to the libcurl-numbered xfer_code users see. */
#include <errno.h>
#include <string.h>

#include "error.h"

xfer_code xfer__code_of(int err, xfer_code sys) {
  switch (err) {
  case 0:
    return XFERE_OK;
  case -ENOMEM:
  case XFER__EOPNOMEM:
    return XFERE_OUT_OF_MEMORY;
  case -EINVAL:
    return XFERE_BAD_FUNCTION_ARGUMENT;
  case XFER__EMALFORMED:
    return XFERE_WEIRD_SERVER_REPLY;
  case XFER__ENOTHTTP:
  case XFER__ESCHEME:
    return XFERE_UNSUPPORTED_PROTOCOL;
  case XFER__EENCODING:
    return XFERE_BAD_CONTENT_ENCODING;
  case XFER__ETOOLARGE:
    return XFERE_TOO_LARGE;
  case XFER__EHEADSIZE:
  case XFER__EBADCHUNK:
    return XFERE_RECV_ERROR;
  case XFER__EPARTIAL:
    return XFERE_PARTIAL_FILE;
  case XFER__EURL:
    return XFERE_URL_MALFORMAT;
  case XFER__ESYNTAX:
    return XFERE_SETOPT_OPTION_SYNTAX;
  case XFER__ENOHOST:
    return XFERE_COULDNT_RESOLVE_HOST;
  case XFER__EABORTED:
    return XFERE_ABORTED_BY_CALLBACK;
  case XFER__EWRITE:
    return XFERE_WRITE_ERROR;
  case XFER__EREAD:
    return XFERE_READ_ERROR;
  default:
    return sys;
  }
}

const char *xfer__err_text(int err) {
  if (xfer__is_errno(err))
    return strerror(-err);
  switch (err) {
  case XFER__EMALFORMED:
    return "Malformed response";
  case XFER__ENOTHTTP:
    return "The response is not HTTP/1.x";
  case XFER__EENCODING:
    return "Unsupported transfer coding";
  case XFER__ETOOLARGE:
    return "A response line or line count is over its limit";
  case XFER__EHEADSIZE:
    return "The response head is over the size limit";
  case XFER__EBADCHUNK:
    return "Bad chunked encoding";
  case XFER__EPARTIAL:
    return "The response body ended early";
  case XFER__EURL:
    return "Malformed URL";
  case XFER__ESCHEME:
    return "Unsupported URL scheme";
  case XFER__ESYNTAX:
    return "Bad option syntax";
  case XFER__ENOHOST:
    return "Could not resolve the host name";
  case XFER__EABORTED:
    return "Aborted by a callback";
  case XFER__EWRITE:
    return "The write callback refused the data";
  case XFER__EREAD:
    return "The read callback failed";
  case XFER__EOPNOMEM:
    return "Out of memory";
  default:
    return err == 0 ? "No error" : "Unknown error";
  }
}
