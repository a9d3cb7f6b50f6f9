/* The runtime's error space (runtime/error.h): private codes never collide
 * with an errno, and each maps to the xfer_code documented in
 * docs/internals/errors.md. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "runtime/error.h"

Test(error, private_codes_are_below_every_errno) {
  /* The kernel's errnos are 1..4095 (MAX_ERRNO). */
  for (int e = 1; e <= 4095; e++)
    cr_assert(xfer__is_errno(-e), "errno %d", e);
  for (int c = XFER__ERR_BASE; c >= XFER__ERR_LAST; c--)
    cr_assert(!xfer__is_errno(c), "code %d", c);
  cr_assert(!xfer__is_errno(0));
}

Test(error, each_code_maps_once) {
  static const struct {
    int err;
    xfer_code code;
  } rows[] = {
      {0, XFERE_OK},
      {-ENOMEM, XFERE_OUT_OF_MEMORY},
      {XFER__EOPNOMEM, XFERE_OUT_OF_MEMORY},
      {-EINVAL, XFERE_BAD_FUNCTION_ARGUMENT},
      {XFER__EMALFORMED, XFERE_WEIRD_SERVER_REPLY},
      {XFER__ENOTHTTP, XFERE_UNSUPPORTED_PROTOCOL},
      {XFER__EENCODING, XFERE_BAD_CONTENT_ENCODING},
      {XFER__ETOOLARGE, XFERE_TOO_LARGE},
      {XFER__EHEADSIZE, XFERE_RECV_ERROR},
      {XFER__EBADCHUNK, XFERE_RECV_ERROR},
      {XFER__EPARTIAL, XFERE_PARTIAL_FILE},
      {XFER__EURL, XFERE_URL_MALFORMAT},
      {XFER__ESCHEME, XFERE_UNSUPPORTED_PROTOCOL},
      {XFER__ESYNTAX, XFERE_SETOPT_OPTION_SYNTAX},
      {XFER__ENOHOST, XFERE_COULDNT_RESOLVE_HOST},
      {XFER__EABORTED, XFERE_ABORTED_BY_CALLBACK},
      {XFER__EWRITE, XFERE_WRITE_ERROR},
      {XFER__EREAD, XFERE_READ_ERROR},
      /* Any other errno is the failing step's. */
      {-ECONNREFUSED, XFERE_SEND_ERROR},
      {-EMFILE, XFERE_SEND_ERROR},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    cr_expect_eq(xfer__code_of(rows[i].err, XFERE_SEND_ERROR), rows[i].code, "row %zu (%d)", i,
                 rows[i].err);
  /* Every private code has a mapping of its own, never the fallback. */
  for (int c = XFER__ERR_BASE; c >= XFER__ERR_LAST; c--)
    cr_expect_neq(xfer__code_of(c, XFERE_SEND_ERROR), XFERE_SEND_ERROR, "code %d", c);
}

/* In a system call's result -ENOMEM is the call's own failure; only the
 * library's marker is out of memory. */
Test(error, call_results_keep_the_kernel_enomem_apart) {
  cr_expect_eq(xfer__code_of_call(-ENOMEM, XFERE_RECV_ERROR), XFERE_RECV_ERROR);
  cr_expect_eq(xfer__code_of_call(XFER__EOPNOMEM, XFERE_RECV_ERROR), XFERE_OUT_OF_MEMORY);
  cr_expect_eq(xfer__code_of_call(-EMFILE, XFERE_COULDNT_CONNECT), XFERE_COULDNT_CONNECT);
}

Test(error, texts) {
  cr_expect_str_eq(xfer__err_text(-EMFILE), strerror(EMFILE));
  for (int c = XFER__ERR_BASE; c >= XFER__ERR_LAST; c--)
    cr_expect_str_neq(xfer__err_text(c), "Unknown error", "code %d", c);
}
