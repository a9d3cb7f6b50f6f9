/* What xfer puts on the wire, byte for byte: the default GET, HEAD, every
 * way of giving a POST or PUT body (memory, copied memory, read callback
 * with and without a known size), custom methods and headers, and the
 * requests xfer must refuse to send. The test server's /echo route returns
 * the raw request as the body, so most checks compare the body with the
 * exact request bytes libcurl 7.88 sends for the same options. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;
static xfer_multi *multi;
/* "127.0.0.1:PORT", the Host header every request to srv carries. */
static char host[64];

static void setup(void) {
  xt_env_up(&srv, &multi);
  snprintf(host, sizeof host, "127.0.0.1:%u", (unsigned)ts_port(srv));
}

static void teardown(void) { xt_env_down(srv, multi); }

TestSuite(request, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers --------------------------------------------------------------- */

static void init_req(struct xt_req *r, const char *path) {
  char url[160];
  ts_url(srv, path, url, sizeof url);
  xt_req_init(r, url);
}

/* Runs one request to its end and detaches it, so the handle can be
 * inspected, changed and run again. */
static void run1(struct xt_req *r) {
  xt_run(multi, r, 1, 20000);
  cr_assert_eq(xfer_multi_remove_handle(multi, r->e), XFERM_OK);
}

static void run_ok(struct xt_req *r) {
  run1(r);
  cr_assert_eq(r->result, XFERE_OK, "transfer failed: code %d (%s)", r->result, r->err);
}

/* Asserts that b holds exactly want[0..wlen), showing both on a mismatch. */
static void assert_bytes(const struct xt_buf *b, const char *want, size_t wlen) {
  cr_assert(b->len == wlen && memcmp(b->data ? b->data : "", want, wlen) == 0,
            "got %zu bytes:\n[%.*s]\nwanted %zu bytes:\n[%.*s]", b->len, (int)b->len,
            b->data ? b->data : "", wlen, (int)wlen, want);
}

static void assert_str_bytes(const struct xt_buf *b, const char *want) {
  assert_bytes(b, want, strlen(want));
}

/* The request head libcurl sends for METHOD /echo with extra header lines
 * (each "Name: value\r\n") between Accept and the blank line. */
static void expected_head(char *out, size_t n, const char *method, const char *extra) {
  snprintf(out, n, "%s /echo HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n%s\r\n", method, host,
           extra ? extra : "");
}

/* A read callback source: hands out data[0..len) at most `step` bytes per
 * call (0 = as much as asked), so uploads come in several pieces. */
struct src {
  const char *data;
  size_t len;
  size_t pos;
  size_t step;
  int calls;
};

static size_t read_src(char *buf, size_t size, size_t nitems, void *ud) {
  struct src *s = ud;
  size_t n = size * nitems;
  s->calls++;
  if (s->step && n > s->step)
    n = s->step;
  if (n > s->len - s->pos)
    n = s->len - s->pos;
  memcpy(buf, s->data + s->pos, n);
  s->pos += n;
  return n;
}

static void set_reader(struct xt_req *r, struct src *s) {
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_READFUNCTION, read_src), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_READDATA, s), XFERE_OK);
}

/* Splits a raw request into head (through the blank line) and body. */
static void split_request(const struct xt_buf *b, size_t *head_len) {
  const char *end = NULL;
  for (size_t i = 0; b->data && i + 4 <= b->len; i++) {
    if (memcmp(b->data + i, "\r\n\r\n", 4) == 0) {
      end = b->data + i + 4;
      break;
    }
  }
  cr_assert(end, "no end of head in the echoed request");
  *head_len = (size_t)(end - b->data);
}

/* Decodes a chunked body strictly (lower- or upper-case hex, CRLF after the
 * size and after the data, a final "0\r\n\r\n" that ends the buffer exactly)
 * into out; returns the number of data chunks. */
static int dechunk(const char *p, size_t n, struct xt_buf *out) {
  size_t i = 0;
  int chunks = 0;
  for (int guard = 0; guard < 1000000; guard++) {
    size_t size = 0;
    size_t digits = 0;
    while (i < n) {
      char c = p[i];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0)
        break;
      size = size * 16 + (size_t)d;
      digits++;
      i++;
    }
    cr_assert(digits > 0 && digits <= 16, "bad chunk size at offset %zu", i);
    cr_assert(i + 2 <= n && memcmp(p + i, "\r\n", 2) == 0, "no CRLF after a chunk size at %zu", i);
    i += 2;
    if (size == 0) {
      cr_assert(i + 2 == n && memcmp(p + i, "\r\n", 2) == 0,
                "last chunk not followed by exactly CRLF (offset %zu of %zu)", i, n);
      return chunks;
    }
    cr_assert(i + size + 2 <= n, "chunk of %zu bytes runs past the request", size);
    xt_buf_write((char *)p + i, 1, size, out);
    i += size;
    cr_assert(memcmp(p + i, "\r\n", 2) == 0, "no CRLF after chunk data at %zu", i);
    i += 2;
    chunks++;
  }
  cr_assert_fail("too many chunks");
  return -1;
}

/* ---- GET and HEAD ---------------------------------------------------------- */

Test(request, default_get_exact_bytes) {
  struct xt_req r;
  init_req(&r, "/echo");
  run_ok(&r);
  char want[256];
  expected_head(want, sizeof want, "GET", NULL);
  assert_str_bytes(&r.body, want);
  xt_req_free(&r);
}

Test(request, head_via_nobody_reads_no_body) {
  struct xt_req r;
  init_req(&r, "/bytes/100");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_NOBODY, 1L), XFERE_OK);
  /* A HEAD response announces 100 bytes it never sends: a client waiting
   * for them would hang, so a short bound catches that. */
  xt_run(multi, &r, 1, 5000);
  xfer_multi_remove_handle(multi, r.e);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  long code = 0;
  xfer_easy_getinfo(r.e, XFERINFO_RESPONSE_CODE, &code);
  cr_assert_eq(code, 200);
  cr_assert_eq(r.body.len, 0, "HEAD delivered %zu body bytes", r.body.len);
  cr_assert(r.headers.len > 0 && strstr(r.headers.data, "Content-Length: 100\r\n"));
  char req[512];
  size_t n = ts_last_request(srv, req, sizeof req - 1);
  req[n < sizeof req ? n : sizeof req - 1] = 0;
  char want[256];
  snprintf(want, sizeof want, "HEAD /bytes/100 HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n", host);
  cr_assert_str_eq(req, want);
  /* The connection stayed in sync: a GET on the same handle reuses it. */
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_NOBODY, 0L), XFERE_OK);
  run_ok(&r);
  xt_assert_pattern(&r.body, 100);
  cr_assert_eq(ts_connections(srv), 1);
  xt_req_free(&r);
}

/* ---- bodies from memory --------------------------------------------------- */

Test(request, post_postfields_exact_bytes) {
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, "a=1&b=2"), XFERE_OK);
  run_ok(&r);
  char want[512];
  expected_head(want, sizeof want, "POST",
                "Content-Length: 7\r\nContent-Type: application/x-www-form-urlencoded\r\n");
  strcat(want, "a=1&b=2");
  assert_str_bytes(&r.body, want);
  xfer_off_t up = -1;
  xfer_easy_getinfo(r.e, XFERINFO_SIZE_UPLOAD_T, &up);
  cr_assert_eq(up, 7, "SIZE_UPLOAD_T %ld for a 7-byte body", (long)up);
  xt_req_free(&r);
}

Test(request, post_empty_postfields) {
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, ""), XFERE_OK);
  run_ok(&r);
  char want[512];
  expected_head(want, sizeof want, "POST",
                "Content-Length: 0\r\nContent-Type: application/x-www-form-urlencoded\r\n");
  assert_str_bytes(&r.body, want);
  xt_req_free(&r);
}

/* Builds head + binary body into want; returns its length. */
static size_t post_with_body(char *want, size_t n, const char *body, size_t blen) {
  char extra[160];
  snprintf(extra, sizeof extra,
           "Content-Length: %zu\r\nContent-Type: application/x-www-form-urlencoded\r\n", blen);
  expected_head(want, n, "POST", extra);
  size_t hl = strlen(want);
  cr_assert(hl + blen <= n);
  memcpy(want + hl, body, blen);
  return hl + blen;
}

static const char binary_body[] = {'a', 0, 'b', '\r', '\n', 0, 0, (char)0xff, 'z'};

Test(request, postfieldsize_binary_with_nuls) {
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, binary_body), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDSIZE, (long)sizeof binary_body), XFERE_OK);
  run_ok(&r);
  char want[512];
  size_t wl = post_with_body(want, sizeof want, binary_body, sizeof binary_body);
  assert_bytes(&r.body, want, wl);
  xt_req_free(&r);
}

Test(request, postfieldsize_large) {
  struct xt_req r;
  init_req(&r, "/echo");
  /* Only the first 5 bytes of the string are the body. */
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, "hello, not this"), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDSIZE_LARGE, (xfer_off_t)5), XFERE_OK);
  run_ok(&r);
  char want[512];
  size_t wl = post_with_body(want, sizeof want, "hello", 5);
  assert_bytes(&r.body, want, wl);
  xt_req_free(&r);
}

Test(request, copypostfields_survives_the_source_buffer) {
  struct xt_req r;
  init_req(&r, "/echo");
  char src[sizeof binary_body];
  memcpy(src, binary_body, sizeof src);
  /* The size set before COPYPOSTFIELDS says how many bytes to copy, so a
   * body with NULs is copied whole. */
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDSIZE, (long)sizeof src), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_COPYPOSTFIELDS, src), XFERE_OK);
  memset(src, 'X', sizeof src);
  run_ok(&r);
  char want[512];
  size_t wl = post_with_body(want, sizeof want, binary_body, sizeof binary_body);
  assert_bytes(&r.body, want, wl);
  xt_req_free(&r);
}

Test(request, copypostfields_string) {
  struct xt_req r;
  init_req(&r, "/echo");
  char src[] = "name=value";
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_COPYPOSTFIELDS, src), XFERE_OK);
  memset(src, '#', sizeof src - 1);
  run_ok(&r);
  char want[512];
  size_t wl = post_with_body(want, sizeof want, "name=value", 10);
  assert_bytes(&r.body, want, wl);
  xt_req_free(&r);
}

/* Found by tests/fuzz/fuzz_request.c: a POSTFIELDSIZE larger than an
 * earlier COPYPOSTFIELDS copy made the transfer send bytes past the copy
 * (heap memory to the server) and duphandle read past it. As in libcurl,
 * the copy is dropped and the body of the announced size comes from the
 * read callback. */
Test(request, postfieldsize_grown_after_copypostfields) {
  static const char body[] = "0123456789";
  const size_t blen = sizeof body - 1;
  struct src s = {body, blen, 0, 0, 0};
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_COPYPOSTFIELDS, "ab"), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDSIZE, (long)blen), XFERE_OK);
  set_reader(&r, &s);
  xfer_easy *dup = xfer_easy_duphandle(r.e);
  cr_assert_not_null(dup);
  xfer_easy_cleanup(dup);
  run_ok(&r);
  char want[512];
  size_t wl = post_with_body(want, sizeof want, body, blen);
  assert_bytes(&r.body, want, wl);
  cr_assert_eq(s.pos, blen);
  xt_req_free(&r);
}

/* ---- bodies from the read callback ---------------------------------------- */

Test(request, post_read_callback_known_size) {
  static const char body[] = "field=read-callback-body";
  const size_t blen = sizeof body - 1;
  struct src s = {body, blen, 0, 5, 0};
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POST, 1L), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDSIZE, (long)blen), XFERE_OK);
  set_reader(&r, &s);
  run_ok(&r);
  char want[512];
  size_t wl = post_with_body(want, sizeof want, body, blen);
  assert_bytes(&r.body, want, wl);
  cr_assert_eq(s.pos, blen);
  xfer_off_t up = -1;
  xfer_easy_getinfo(r.e, XFERINFO_SIZE_UPLOAD_T, &up);
  cr_assert_eq(up, (xfer_off_t)blen);
  xt_req_free(&r);
}

/* An unknown size goes out chunked: the head names the encoding and has no
 * Content-Length, and the body decodes to exactly what the callback gave. */
static void check_chunked_upload(const char *method, int post) {
  static const char body[] = "0123456789abcdefghijklmnopqrstuvwxyz-chunked-upload";
  const size_t blen = sizeof body - 1;
  struct src s = {body, blen, 0, 7, 0};
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, post ? XFEROPT_POST : XFEROPT_UPLOAD, 1L), XFERE_OK);
  set_reader(&r, &s);
  run_ok(&r);
  size_t hl;
  split_request(&r.body, &hl);
  char head[1024];
  cr_assert_lt(hl, sizeof head);
  memcpy(head, r.body.data, hl);
  head[hl] = 0;
  char line[64];
  snprintf(line, sizeof line, "%s /echo HTTP/1.1\r\n", method);
  cr_assert(strncmp(head, line, strlen(line)) == 0, "request line: %s", head);
  cr_assert(strstr(head, "\r\nTransfer-Encoding: chunked\r\n"), "no chunked encoding:\n%s", head);
  cr_assert_null(strstr(head, "Content-Length"), "Content-Length with chunked:\n%s", head);
  struct xt_buf dec = {0};
  int chunks = dechunk(r.body.data + hl, r.body.len - hl, &dec);
  assert_bytes(&dec, body, blen);
  /* The callback gave 7 bytes a call, so several chunks went out. */
  cr_assert_geq(chunks, 2, "only %d chunk(s)", chunks);
  /* libcurl counts the body bytes as sent, chunk framing included (curl
   * 7.88: 7 bytes sent with -T - report size_upload 17). */
  xfer_off_t up = -1;
  xfer_easy_getinfo(r.e, XFERINFO_SIZE_UPLOAD_T, &up);
  cr_assert_eq(up, (xfer_off_t)(r.body.len - hl), "SIZE_UPLOAD_T %ld, %zu body bytes sent",
               (long)up, r.body.len - hl);
  xt_buf_free(&dec);
  xt_req_free(&r);
}

Test(request, post_read_callback_unknown_size_is_chunked) { check_chunked_upload("POST", 1); }

Test(request, upload_without_size_is_chunked) { check_chunked_upload("PUT", 0); }

static void check_put(int large) {
  static const char body[] = "PUT body bytes\r\n\0with a NUL";
  const size_t blen = sizeof body - 1;
  struct src s = {body, blen, 0, 4, 0};
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_UPLOAD, 1L), XFERE_OK);
  if (large)
    cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_INFILESIZE_LARGE, (xfer_off_t)blen), XFERE_OK);
  else
    cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_INFILESIZE, (long)blen), XFERE_OK);
  set_reader(&r, &s);
  run_ok(&r);
  char want[512];
  char extra[64];
  snprintf(extra, sizeof extra, "Content-Length: %zu\r\n", blen);
  expected_head(want, sizeof want, "PUT", extra);
  size_t hl = strlen(want);
  memcpy(want + hl, body, blen);
  assert_bytes(&r.body, want, hl + blen);
  xfer_off_t up = -1;
  xfer_easy_getinfo(r.e, XFERINFO_SIZE_UPLOAD_T, &up);
  cr_assert_eq(up, (xfer_off_t)blen);
  xt_req_free(&r);
}

Test(request, upload_put_with_infilesize) { check_put(0); }

Test(request, upload_put_with_infilesize_large) { check_put(1); }

Test(request, large_upload_arrives_intact) {
  const size_t blen = 3u << 20;
  char *body = malloc(blen);
  cr_assert(body);
  ts_pattern(0, body, blen);
  struct src s = {body, blen, 0, 0, 0};
  struct xt_req r;
  init_req(&r, "/bytes/3");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_UPLOAD, 1L), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_INFILESIZE_LARGE, (xfer_off_t)blen), XFERE_OK);
  set_reader(&r, &s);
  run_ok(&r);
  xt_assert_pattern(&r.body, 3);
  size_t cap = blen + 4096;
  char *req = malloc(cap);
  cr_assert(req);
  size_t n = ts_last_request(srv, req, cap);
  cr_assert_leq(n, cap);
  char *end = NULL;
  for (size_t i = 0; i + 4 <= n && i < 4096; i++)
    if (memcmp(req + i, "\r\n\r\n", 4) == 0) {
      end = req + i + 4;
      break;
    }
  cr_assert(end);
  size_t got = n - (size_t)(end - req);
  cr_assert_eq(got, blen, "server got %zu body bytes of %zu", got, blen);
  cr_assert(ts_pattern_check(0, end, got), "uploaded bytes differ from what was read");
  xfer_off_t up = -1;
  xfer_easy_getinfo(r.e, XFERINFO_SIZE_UPLOAD_T, &up);
  cr_assert_eq(up, (xfer_off_t)blen);
  free(req);
  free(body);
  xt_req_free(&r);
}

/* ---- methods and headers --------------------------------------------------- */

Test(request, customrequest_delete) {
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_CUSTOMREQUEST, "DELETE"), XFERE_OK);
  run_ok(&r);
  char want[256];
  expected_head(want, sizeof want, "DELETE", NULL);
  assert_str_bytes(&r.body, want);
  xt_req_free(&r);
}

Test(request, customrequest_patch_with_body) {
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_CUSTOMREQUEST, "PATCH"), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, "{\"k\":1}"), XFERE_OK);
  run_ok(&r);
  char want[512];
  expected_head(want, sizeof want, "PATCH",
                "Content-Length: 7\r\nContent-Type: application/x-www-form-urlencoded\r\n");
  strcat(want, "{\"k\":1}");
  assert_str_bytes(&r.body, want);
  xt_req_free(&r);
}

Test(request, httpheader_add_replace_remove_empty) {
  struct xfer_slist *h = NULL;
  h = xfer_slist_append(h, "X-Added: yes");
  h = xfer_slist_append(h, "Accept: x");
  h = xfer_slist_append(h, "X-Empty;");
  cr_assert(h);
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_HTTPHEADER, h), XFERE_OK);
  run_ok(&r);
  /* The replaced default is dropped from its place; custom headers follow
   * the defaults in list order, as libcurl sends them. */
  char want[256];
  snprintf(want, sizeof want,
           "GET /echo HTTP/1.1\r\nHost: %s\r\nX-Added: yes\r\nAccept: x\r\nX-Empty:\r\n\r\n", host);
  assert_str_bytes(&r.body, want);
  xt_req_free(&r);
  xfer_slist_free_all(h);
}

Test(request, httpheader_removes_a_default) {
  struct xfer_slist *h = xfer_slist_append(NULL, "Accept:");
  cr_assert(h);
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_HTTPHEADER, h), XFERE_OK);
  run_ok(&r);
  char want[256];
  snprintf(want, sizeof want, "GET /echo HTTP/1.1\r\nHost: %s\r\n\r\n", host);
  assert_str_bytes(&r.body, want);
  xt_req_free(&r);
  xfer_slist_free_all(h);
}

/* libcurl 7.88 (probed with curl -H 'X-A: 1' -d 'a=1&b=2') sends the custom
 * headers before the body's Content-Length and Content-Type, which it adds
 * last; tests comparing wire bytes with libcurl's depend on that order. */
Test(request, custom_header_comes_before_the_post_body_headers) {
  struct xfer_slist *h = xfer_slist_append(NULL, "X-A: 1");
  cr_assert(h);
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_HTTPHEADER, h), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, "a=1&b=2"), XFERE_OK);
  run_ok(&r);
  char want[512];
  expected_head(want, sizeof want, "POST",
                "X-A: 1\r\nContent-Length: 7\r\nContent-Type: "
                "application/x-www-form-urlencoded\r\n");
  strcat(want, "a=1&b=2");
  assert_str_bytes(&r.body, want);
  xt_req_free(&r);
  xfer_slist_free_all(h);
}

/* Same for a PUT's Content-Length (curl -H 'X-A: 1' -H 'Expect:' -T file). */
Test(request, custom_header_comes_before_the_put_content_length) {
  struct xfer_slist *h = xfer_slist_append(NULL, "X-A: 1");
  cr_assert(h);
  struct src s = {"abc", 3, 0, 0, 0};
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_HTTPHEADER, h), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_UPLOAD, 1L), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_INFILESIZE, 3L), XFERE_OK);
  set_reader(&r, &s);
  run_ok(&r);
  char want[512];
  expected_head(want, sizeof want, "PUT", "X-A: 1\r\nContent-Length: 3\r\n");
  strcat(want, "abc");
  assert_str_bytes(&r.body, want);
  xt_req_free(&r);
  xfer_slist_free_all(h);
}

Test(request, httpget_turns_a_post_back_into_get) {
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, "a=1&b=2"), XFERE_OK);
  run_ok(&r);
  cr_assert(r.body.len > 5 && memcmp(r.body.data, "POST ", 5) == 0);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_HTTPGET, 1L), XFERE_OK);
  r.body.len = 0;
  run_ok(&r);
  char want[256];
  expected_head(want, sizeof want, "GET", NULL);
  assert_str_bytes(&r.body, want);
  xt_req_free(&r);
}

Test(request, useragent) {
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_USERAGENT, "xfer-test/1.0"), XFERE_OK);
  run_ok(&r);
  /* libcurl puts User-Agent between Host and Accept. */
  char want[256];
  snprintf(want, sizeof want,
           "GET /echo HTTP/1.1\r\nHost: %s\r\nUser-Agent: xfer-test/1.0\r\nAccept: */*\r\n\r\n",
           host);
  assert_str_bytes(&r.body, want);
  xt_req_free(&r);
}

/* ---- requests that must never be sent ------------------------------------- */

/* Runs r, which must fail with XFERE_BAD_FUNCTION_ARGUMENT and a sentence
 * without a byte reaching the server; a clean request after it proves the
 * server saw only that one. */
static void check_refused(struct xt_req *r) {
  uint64_t before = ts_requests(srv);
  run1(r);
  cr_assert_eq(r->result, XFERE_BAD_FUNCTION_ARGUMENT, "code %d (%s)", r->result, r->err);
  cr_assert(r->err[0] != '\0', "no sentence in the error buffer");
  struct xt_req ok;
  init_req(&ok, "/bytes/4");
  run_ok(&ok);
  xt_assert_pattern(&ok.body, 4);
  xt_req_free(&ok);
  cr_assert_eq(ts_requests(srv), before + 1, "the refused request reached the server");
  char log[2048];
  for (size_t i = 0; i < ts_requests(srv) && i < 1000; i++) {
    size_t n = ts_request_log(srv, i, log, sizeof log - 1);
    log[n < sizeof log ? n : sizeof log - 1] = 0;
    cr_assert_null(strstr(log, "Injected"), "injected bytes on the wire:\n%s", log);
  }
}

Test(request, crlf_in_a_header_is_refused) {
  struct xfer_slist *h = xfer_slist_append(NULL, "X-A: 1\r\nX-Injected: yes");
  cr_assert(h);
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_HTTPHEADER, h), XFERE_OK);
  check_refused(&r);
  xt_req_free(&r);
  xfer_slist_free_all(h);
}

Test(request, bare_lf_in_a_header_is_refused) {
  struct xfer_slist *h = xfer_slist_append(NULL, "X-A: 1\nX-Injected: yes");
  cr_assert(h);
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_HTTPHEADER, h), XFERE_OK);
  check_refused(&r);
  xt_req_free(&r);
  xfer_slist_free_all(h);
}

Test(request, crlf_in_the_method_is_refused) {
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_CUSTOMREQUEST, "GET /x HTTP/1.1\r\nX-Injected: 1\r\n"),
               XFERE_OK);
  check_refused(&r);
  xt_req_free(&r);
}

Test(request, crlf_in_the_user_agent_is_refused) {
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_USERAGENT, "ua\r\nX-Injected: 1"), XFERE_OK);
  check_refused(&r);
  xt_req_free(&r);
}

/* ---- read callback failures ----------------------------------------------- */

static size_t read_abort(char *buf, size_t size, size_t nitems, void *ud) {
  (void)buf, (void)size, (void)nitems, (void)ud;
  return XFER_READFUNC_ABORT;
}

Test(request, read_callback_abort) {
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_UPLOAD, 1L), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_INFILESIZE, 10L), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_READFUNCTION, read_abort), XFERE_OK);
  run1(&r);
  cr_assert_eq(r.result, XFERE_ABORTED_BY_CALLBACK, "code %d (%s)", r.result, r.err);
  cr_assert(r.err[0] != '\0');
  cr_assert_eq(r.body.len, 0);
  xt_req_free(&r);
}

Test(request, read_callback_short_of_infilesize) {
  static const char body[40] = "only forty bytes of a hundred promised.";
  struct src s = {body, sizeof body, 0, 0, 0};
  struct xt_req r;
  init_req(&r, "/echo");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_UPLOAD, 1L), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_INFILESIZE, 100L), XFERE_OK);
  set_reader(&r, &s);
  run1(&r);
  cr_assert_eq(r.result, XFERE_READ_ERROR, "code %d (%s)", r.result, r.err);
  cr_assert(r.err[0] != '\0');
  cr_assert_eq(r.body.len, 0, "a response was delivered for a truncated upload");
  xt_req_free(&r);
}

/* ---- accepted options ----------------------------------------------------- */

Test(request, tcp_nodelay_and_nosignal_accepted) {
  struct xt_req r;
  init_req(&r, "/bytes/64");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_TCP_NODELAY, 0L), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_TCP_NODELAY, 1L), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_NOSIGNAL, 1L), XFERE_OK);
  run_ok(&r);
  xt_assert_pattern(&r.body, 64);
  xt_req_free(&r);
}
