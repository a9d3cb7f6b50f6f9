/* The easy handle's life: init, cleanup, reset, duphandle, the blocking
 * perform on a private multi, and the per-handle caches (parsed URL and
 * serialised request head) that make a re-added handle cost nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "multi.h"
#include "transfer.h"
#include "../tls/tls.h"

static size_t default_write(char *ptr, size_t size, size_t nmemb, void *data) {
  return fwrite(ptr, size, nmemb, data ? (FILE *)data : stdout);
}

static size_t default_read(char *ptr, size_t size, size_t nmemb, void *data) {
  return fread(ptr, size, nmemb, data ? (FILE *)data : stdin);
}

void xfer__options_init(struct xfer__options *o) {
  memset(o, 0, sizeof *o);
  o->write_cb = default_write;
  o->read_cb = default_read;
  o->postfieldsize = -1;
  o->infilesize = -1;
  o->maxredirs = 30; /* libcurl's default since 8.3.0 */
  o->max_head = XFER__HTTP_MAX_HEAD;
  o->max_line = XFER__HTTP_MAX_LINE;
  o->max_headers = XFER__HTTP_MAX_HEADERS;
  o->tcp_nodelay = 1;
  o->noprogress = 1;
  /* Safe whatever the TLS library's own defaults: chain and host name
   * verified, TLS 1.2 at least, sessions resumed only under their key. */
  o->ssl_verifypeer = 1;
  o->ssl_verifyhost = 1;
  o->ssl_sessions = 1;
  o->ssl_version_min = XFER__TLS_V1_2;
}

/* The TLS option strings, freed and copied alike. */
static const size_t tls_string_offsets[] = {
    offsetof(struct xfer__options, cainfo),        offsetof(struct xfer__options, capath),
    offsetof(struct xfer__options, sslcert),       offsetof(struct xfer__options, sslkey),
    offsetof(struct xfer__options, keypasswd),     offsetof(struct xfer__options, cipher_list),
    offsetof(struct xfer__options, tls13_ciphers), offsetof(struct xfer__options, pinnedpubkey),
};
#define NTLS_STRINGS (sizeof tls_string_offsets / sizeof tls_string_offsets[0])

static char **tls_string(struct xfer__options *o, size_t i) {
  return (char **)(void *)((char *)o + tls_string_offsets[i]);
}

void xfer__options_free(struct xfer__options *o) {
  xfer__free(o->url);
  xfer__free(o->copypostfields);
  xfer__free(o->customrequest);
  xfer__free(o->useragent);
  for (size_t i = 0; i < NTLS_STRINGS; i++) {
    xfer__free(*tls_string(o, i));
    *tls_string(o, i) = NULL;
  }
  if (o->ca_blob_owned)
    xfer__free(o->ca_blob);
  o->ca_blob = NULL;
  o->ca_blob_owned = 0;
}

static int dup_str(char **dst, const char *src) {
  *dst = NULL;
  if (!src)
    return 0;
  *dst = xfer__strdup(src);
  return *dst ? 0 : -1;
}

int xfer__options_copy(struct xfer__options *dst, const struct xfer__options *src) {
  *dst = *src;
  dst->copypostfields = NULL;
  dst->ca_blob_owned = 0;
  int bad = dup_str(&dst->url, src->url) | dup_str(&dst->customrequest, src->customrequest) |
            dup_str(&dst->useragent, src->useragent);
  for (size_t i = 0; i < NTLS_STRINGS; i++)
    bad |= dup_str(tls_string(dst, i), *tls_string((struct xfer__options *)src, i));
  if (!bad && src->ca_blob_owned) {
    /* A copied blob is copied again; a NOCOPY one stays the caller's. */
    dst->ca_blob = xfer__malloc(src->ca_blob_len ? src->ca_blob_len : 1);
    if (dst->ca_blob) {
      memcpy(dst->ca_blob, src->ca_blob, src->ca_blob_len);
      dst->ca_blob_owned = 1;
    } else {
      bad = 1;
    }
  }
  if (bad) {
    xfer__options_free(dst);
    return -1;
  }
  if (src->copypostfields) {
    /* The copy may hold NUL bytes: its length is postfieldsize. */
    size_t n = src->postfieldsize >= 0 ? (size_t)src->postfieldsize : strlen(src->copypostfields);
    dst->copypostfields = xfer__malloc(n + 1);
    if (!dst->copypostfields) {
      xfer__options_free(dst);
      return -1;
    }
    memcpy(dst->copypostfields, src->copypostfields, n + 1);
  }
  return 0;
}

xfer_easy *xfer_easy_init(void) {
  struct xfer_easy *e = xfer__calloc(1, sizeof *e);
  if (!e)
    return NULL;
  xfer__options_init(&e->opt);
  e->req_dirty = 1;
  xfer__queue_init(&e->multi_link);
  xfer__queue_init(&e->msg_link);
  xfer__queue_init(&e->x.ready_link);
  xfer__queue_init(&e->x.pending_link);
  xfer__heap_node_init(&e->x.timer);
  e->magic = XFER__EASY_MAGIC;
  return e;
}

/* Frees what the handle owns besides its options. */
static void free_caches(struct xfer_easy *e) {
  if (e->url_ok)
    xfer__url_free(&e->url);
  e->url_ok = 0;
  e->origin_last = NULL;
  xfer__url_free(&e->x.redirect_url);
  e->x.url = NULL;
  xfer__free(e->req_buf);
  xfer__free(e->redir_buf);
  xfer__free(e->upload_buf);
  xfer__free(e->tls_key);
  e->tls_key = NULL;
  e->tls_dirty = 1;
  e->req_buf = e->redir_buf = e->upload_buf = NULL;
  e->req_cap = e->redir_cap = e->upload_cap = 0;
  e->req_dirty = 1;
}

void xfer_easy_cleanup(xfer_easy *e) {
  if (!xfer__easy_valid(e))
    return;
  /* From inside one of its multi's callbacks the handle is in use: refuse,
   * as libcurl since 8.22 does (8.21 freed it and crashed later). */
  if (e->multi && e->multi->in_callback)
    return;
  if (e->multi)
    xfer_multi_remove_handle(e->multi, e);
  xfer__easy_drop_own_multi(e);
  free_caches(e);
  xfer__options_free(&e->opt);
  e->magic = 0;
  xfer__free(e);
}

void xfer__easy_drop_own_multi(struct xfer_easy *e) {
  if (e->own_multi) {
    xfer_multi_cleanup(e->own_multi);
    e->own_multi = NULL;
  }
}

void xfer_easy_reset(xfer_easy *e) {
  if (!xfer__easy_valid(e) || (e->multi && e->multi->in_callback))
    return;
  free_caches(e);
  xfer__options_free(&e->opt);
  xfer__options_init(&e->opt);
  memset(&e->info, 0, sizeof e->info);
}

xfer_easy *xfer_easy_duphandle(xfer_easy *e) {
  if (!xfer__easy_valid(e))
    return NULL;
  struct xfer_easy *d = xfer_easy_init();
  if (!d)
    return NULL;
  xfer__options_free(&d->opt);
  if (xfer__options_copy(&d->opt, &e->opt) < 0) {
    xfer__options_init(&d->opt);
    xfer_easy_cleanup(d);
    return NULL;
  }
  return d;
}

void xfer__easy_error(struct xfer_easy *e, const char *fmt, ...) {
  char buf[XFER_ERROR_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (e->opt.errorbuffer)
    memcpy(e->opt.errorbuffer, buf, sizeof buf);
  if (e->opt.verbose) {
    size_t n = strlen(buf);
    if (n < sizeof buf - 1)
      buf[n++] = '\n';
    xfer__easy_debug(e, XFERINFO_TEXT, buf, n);
  }
}

void xfer__easy_debug(struct xfer_easy *e, xfer_infotype type, const char *data, size_t len) {
  if (e->opt.debug_cb) {
    struct xfer_multi *m = e->multi;
    if (m)
      m->in_callback++;
    e->opt.debug_cb(e, type, (char *)data, len, e->opt.debug_data);
    if (m)
      m->in_callback--;
    return;
  }
  /* libcurl's stderr format: "* " for text, "> " and "< " for heads; data
   * is not printed. */
  static const char *const prefix[] = {"* ", "< ", "> "};
  if (type > XFERINFO_HEADER_OUT)
    return;
  fwrite(prefix[type], 1, 2, stderr);
  fwrite(data, 1, len, stderr);
}

void xfer__easy_verbose(struct xfer_easy *e, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n > sizeof buf - 2)
    n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  xfer__easy_debug(e, XFERINFO_TEXT, buf, (size_t)n);
}

int xfer__easy_prepare(struct xfer_easy *e) {
  const char *errmsg = NULL;
  if (!e->url_ok) {
    if (!e->opt.url) {
      xfer__easy_error(e, "No URL set");
      return XFER__EURL;
    }
    int rc = xfer__url_parse(&e->url, e->opt.url, &errmsg);
    if (rc < 0) {
      xfer__easy_error(e, "%s", errmsg ? errmsg : "Malformed URL");
      return rc;
    }
    e->url_ok = 1;
    e->req_dirty = 1;
  }
  if (e->req_dirty) {
    e->x.method_get_like = 0;
    int rc = xfer__transfer_build_head(e, &e->url, &e->req_buf, &e->req_cap, &e->req_len, &errmsg);
    if (rc < 0) {
      xfer__easy_error(e, "%s", errmsg ? errmsg : "Could not build the request");
      return rc;
    }
    e->req_dirty = 0;
  }
  return 0;
}

xfer_code xfer_easy_perform(xfer_easy *e) {
  if (!xfer__easy_valid(e))
    return XFERE_BAD_FUNCTION_ARGUMENT;
  if (e->multi)
    return XFERE_FAILED_INIT; /* it belongs to a multi: libcurl's answer */
  if (e->in_perform)
    return XFERE_RECURSIVE_API_CALL;
  xfer_multi *m = e->own_multi;
  if (!m) {
    m = xfer_multi_init();
    if (!m)
      return XFERE_OUT_OF_MEMORY;
  }
  /* Detached while it runs: add_handle drops a private multi it finds. */
  e->own_multi = NULL;
  xfer_code result = XFERE_OK;
  if (xfer_multi_add_handle(m, e) != XFERM_OK) {
    xfer_multi_cleanup(m);
    return XFERE_FAILED_INIT;
  }
  e->in_perform = 1;
  int running = 1;
  for (;;) {
    if (xfer_multi_perform(m, &running) != XFERM_OK) {
      result = XFERE_FAILED_INIT;
      break;
    }
    int left;
    xfer_msg *msg = xfer_multi_info_read(m, &left);
    if (msg) {
      result = msg->data.result;
      break;
    }
    /* A long poll is fine: completions, timers and the transfer's own
     * timeout all end it early. */
    if (xfer_multi_poll(m, NULL, 0, 1000, NULL) != XFERM_OK) {
      result = XFERE_UNRECOVERABLE_POLL;
      break;
    }
  }
  e->in_perform = 0;
  xfer_multi_remove_handle(m, e);
  /* Kept, with its connection, for the next perform on this handle. */
  e->own_multi = m;
  return result;
}
