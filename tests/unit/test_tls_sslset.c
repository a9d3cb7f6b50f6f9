/* xfer_global_sslset with curl_global_sslset's contract, the
 * XFER_SSL_BACKEND variable, and what xfer_version() says. Criterion runs
 * each test in a process of its own, so each starts with no library
 * chosen. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "xfer/xfer.h"

Test(sslset, lists_both_libraries_with_libcurl_numbers) {
  const xfer_ssl_backend **avail = NULL;
  /* libcurl's way to ask for the list: an id and name that match nothing. */
  cr_assert_eq(xfer_global_sslset((xfer_sslbackend)-1, NULL, &avail), XFERSSLSET_UNKNOWN_BACKEND);
  cr_assert(avail);
  int wolf = 0, ossl = 0, n = 0;
  for (; avail[n]; n++) {
    if (avail[n]->id == XFERSSLBACKEND_WOLFSSL && strcmp(avail[n]->name, "wolfssl") == 0)
      wolf = 1;
    if (avail[n]->id == XFERSSLBACKEND_OPENSSL && strcmp(avail[n]->name, "openssl") == 0)
      ossl = 1;
  }
  cr_assert_eq(n, 2);
  cr_assert(wolf && ossl);
  _Static_assert(XFERSSLBACKEND_OPENSSL == 1, "CURLSSLBACKEND_OPENSSL");
  _Static_assert(XFERSSLBACKEND_WOLFSSL == 7, "CURLSSLBACKEND_WOLFSSL");
  _Static_assert(XFERSSLSET_TOO_LATE == 2, "CURLSSLSET_TOO_LATE");
}

Test(sslset, first_choice_wins_and_a_different_one_is_too_late) {
  cr_assert_eq(xfer_global_sslset(XFERSSLBACKEND_OPENSSL, NULL, NULL), XFERSSLSET_OK);
  cr_assert_eq(xfer_global_sslset(XFERSSLBACKEND_WOLFSSL, NULL, NULL), XFERSSLSET_TOO_LATE);
  cr_assert_eq(xfer_global_sslset(XFERSSLBACKEND_OPENSSL, NULL, NULL), XFERSSLSET_OK);
  cr_assert_eq(xfer_global_sslset((xfer_sslbackend)-1, "OpenSSL", NULL), XFERSSLSET_OK);
}

Test(sslset, by_name_ignoring_case) {
  cr_assert_eq(xfer_global_sslset((xfer_sslbackend)-1, "WolfSSL", NULL), XFERSSLSET_OK);
  cr_assert_eq(xfer_global_sslset(XFERSSLBACKEND_OPENSSL, NULL, NULL), XFERSSLSET_TOO_LATE);
}

Test(sslset, unknown_or_missing_library_is_refused) {
  cr_assert_eq(xfer_global_sslset(XFERSSLBACKEND_GNUTLS, NULL, NULL), XFERSSLSET_UNKNOWN_BACKEND);
  cr_assert_eq(xfer_global_sslset((xfer_sslbackend)-1, "schannel", NULL),
               XFERSSLSET_UNKNOWN_BACKEND);
  /* Nothing was chosen by those: a real choice still works. */
  cr_assert_eq(xfer_global_sslset(XFERSSLBACKEND_WOLFSSL, NULL, NULL), XFERSSLSET_OK);
}

Test(sslset, global_init_makes_the_default_final) {
  unsetenv("XFER_SSL_BACKEND");
  cr_assert_eq(xfer_global_init(XFER_GLOBAL_DEFAULT), XFERE_OK);
  cr_assert_eq(xfer_global_sslset(XFERSSLBACKEND_OPENSSL, NULL, NULL), XFERSSLSET_TOO_LATE);
  cr_assert_eq(xfer_global_sslset(XFERSSLBACKEND_WOLFSSL, NULL, NULL), XFERSSLSET_OK,
               "wolfSSL is the default");
  xfer_global_cleanup();
}

Test(sslset, the_variable_chooses_and_an_unknown_name_fails_https) {
  setenv("XFER_SSL_BACKEND", "openssl", 1);
  cr_assert_eq(xfer_global_init(XFER_GLOBAL_DEFAULT), XFERE_OK);
  cr_assert_eq(xfer_global_sslset(XFERSSLBACKEND_WOLFSSL, NULL, NULL), XFERSSLSET_TOO_LATE);
  cr_assert_eq(xfer_global_sslset(XFERSSLBACKEND_OPENSSL, NULL, NULL), XFERSSLSET_OK);
  xfer_global_cleanup();
}

Test(sslset, an_unknown_name_in_the_variable_fails_https_with_a_reason) {
  setenv("XFER_SSL_BACKEND", "gnutls", 1);
  xfer_easy *e = xfer_easy_init();
  char err[XFER_ERROR_SIZE] = "";
  /* Port 1 on loopback: nothing is ever sent, the choice fails first. */
  xfer_easy_setopt(e, XFEROPT_URL, "https://127.0.0.1:1/");
  xfer_easy_setopt(e, XFEROPT_ERRORBUFFER, err);
  cr_assert_eq(xfer_easy_perform(e), XFERE_SSL_ENGINE_INITFAILED);
  cr_assert(strstr(err, "XFER_SSL_BACKEND"), "error buffer: %s", err);
  xfer_easy_cleanup(e);
}

Test(sslset, version_names_both_libraries) {
  const char *v = xfer_version();
  cr_assert(strstr(v, "wolfSSL/") && strstr(v, "OpenSSL/"), "%s", v);
}
