/* The public header keeps libcurl 7.88's numbers, and the strerror and slist
 * functions behave as libcurl's do.
 *
 * The expected numbers are literals copied from libcurl's curl.h and multi.h
 * on purpose: including the curl headers here would make the test pass
 * trivially if both sides were generated from the same mistake, and would
 * tie the test build to libcurl's development package. Most checks are
 * static, so a renumbering breaks the build of this file at once. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "xfer/xfer.h"

/* ---- Result codes ---- */

_Static_assert(XFERE_OK == 0, "CURLE_OK");
_Static_assert(XFERE_UNSUPPORTED_PROTOCOL == 1, "CURLE_UNSUPPORTED_PROTOCOL");
_Static_assert(XFERE_URL_MALFORMAT == 3, "CURLE_URL_MALFORMAT");
_Static_assert(XFERE_COULDNT_RESOLVE_HOST == 6, "CURLE_COULDNT_RESOLVE_HOST");
_Static_assert(XFERE_COULDNT_CONNECT == 7, "CURLE_COULDNT_CONNECT");
_Static_assert(XFERE_WEIRD_SERVER_REPLY == 8, "CURLE_WEIRD_SERVER_REPLY");
_Static_assert(XFERE_PARTIAL_FILE == 18, "CURLE_PARTIAL_FILE");
_Static_assert(XFERE_OBSOLETE20 == 20, "CURLE_OBSOLETE20");
_Static_assert(XFERE_HTTP_RETURNED_ERROR == 22, "CURLE_HTTP_RETURNED_ERROR");
_Static_assert(XFERE_WRITE_ERROR == 23, "CURLE_WRITE_ERROR");
_Static_assert(XFERE_OUT_OF_MEMORY == 27, "CURLE_OUT_OF_MEMORY");
_Static_assert(XFERE_OPERATION_TIMEDOUT == 28, "CURLE_OPERATION_TIMEDOUT");
_Static_assert(XFERE_ABORTED_BY_CALLBACK == 42, "CURLE_ABORTED_BY_CALLBACK");
_Static_assert(XFERE_BAD_FUNCTION_ARGUMENT == 43, "CURLE_BAD_FUNCTION_ARGUMENT");
_Static_assert(XFERE_OBSOLETE44 == 44, "CURLE_OBSOLETE44");
_Static_assert(XFERE_TOO_MANY_REDIRECTS == 47, "CURLE_TOO_MANY_REDIRECTS");
_Static_assert(XFERE_UNKNOWN_OPTION == 48, "CURLE_UNKNOWN_OPTION");
_Static_assert(XFERE_GOT_NOTHING == 52, "CURLE_GOT_NOTHING");
_Static_assert(XFERE_SEND_ERROR == 55, "CURLE_SEND_ERROR");
_Static_assert(XFERE_RECV_ERROR == 56, "CURLE_RECV_ERROR");
_Static_assert(XFERE_PEER_FAILED_VERIFICATION == 60, "CURLE_PEER_FAILED_VERIFICATION");
_Static_assert(XFERE_BAD_CONTENT_ENCODING == 61, "CURLE_BAD_CONTENT_ENCODING");
_Static_assert(XFERE_OBSOLETE76 == 76, "CURLE_OBSOLETE76");
_Static_assert(XFERE_AGAIN == 81, "CURLE_AGAIN");
_Static_assert(XFERE_RECURSIVE_API_CALL == 93, "CURLE_RECURSIVE_API_CALL");
_Static_assert(XFERE_PROXY == 97, "CURLE_PROXY");
_Static_assert(XFERE_UNRECOVERABLE_POLL == 99, "CURLE_UNRECOVERABLE_POLL");
/* Not in 7.88: libcurl 8.6's number for the same code. */
_Static_assert(XFERE_TOO_LARGE == 100, "CURLE_TOO_LARGE (libcurl 8.6)");

_Static_assert(XFERM_CALL_MULTI_PERFORM == -1, "CURLM_CALL_MULTI_PERFORM");
_Static_assert(XFERM_OK == 0, "CURLM_OK");
_Static_assert(XFERM_BAD_HANDLE == 1, "CURLM_BAD_HANDLE");
_Static_assert(XFERM_BAD_EASY_HANDLE == 2, "CURLM_BAD_EASY_HANDLE");
_Static_assert(XFERM_OUT_OF_MEMORY == 3, "CURLM_OUT_OF_MEMORY");
_Static_assert(XFERM_BAD_SOCKET == 5, "CURLM_BAD_SOCKET");
_Static_assert(XFERM_UNKNOWN_OPTION == 6, "CURLM_UNKNOWN_OPTION");
_Static_assert(XFERM_ADDED_ALREADY == 7, "CURLM_ADDED_ALREADY");
_Static_assert(XFERM_RECURSIVE_API_CALL == 8, "CURLM_RECURSIVE_API_CALL");
_Static_assert(XFERM_WAKEUP_FAILURE == 9, "CURLM_WAKEUP_FAILURE");
_Static_assert(XFERM_BAD_FUNCTION_ARGUMENT == 10, "CURLM_BAD_FUNCTION_ARGUMENT");
_Static_assert(XFERM_ABORTED_BY_CALLBACK == 11, "CURLM_ABORTED_BY_CALLBACK");
_Static_assert(XFERM_UNRECOVERABLE_POLL == 12, "CURLM_UNRECOVERABLE_POLL");
_Static_assert(XFERM_LAST == 13, "CURLM_LAST");

/* ---- Easy options: one or more of each type range ---- */

_Static_assert(XFEROPT_WRITEDATA == 10001, "CURLOPT_WRITEDATA");
_Static_assert(XFEROPT_URL == 10002, "CURLOPT_URL");
_Static_assert(XFEROPT_PORT == 3, "CURLOPT_PORT");
_Static_assert(XFEROPT_ERRORBUFFER == 10010, "CURLOPT_ERRORBUFFER");
_Static_assert(XFEROPT_WRITEFUNCTION == 20011, "CURLOPT_WRITEFUNCTION");
_Static_assert(XFEROPT_READFUNCTION == 20012, "CURLOPT_READFUNCTION");
_Static_assert(XFEROPT_TIMEOUT == 13, "CURLOPT_TIMEOUT");
_Static_assert(XFEROPT_POSTFIELDS == 10015, "CURLOPT_POSTFIELDS");
_Static_assert(XFEROPT_HTTPHEADER == 10023, "CURLOPT_HTTPHEADER");
_Static_assert(XFEROPT_HEADERDATA == 10029, "CURLOPT_HEADERDATA");
_Static_assert(XFEROPT_VERBOSE == 41, "CURLOPT_VERBOSE");
_Static_assert(XFEROPT_NOBODY == 44, "CURLOPT_NOBODY");
_Static_assert(XFEROPT_FAILONERROR == 45, "CURLOPT_FAILONERROR");
_Static_assert(XFEROPT_POST == 47, "CURLOPT_POST");
_Static_assert(XFEROPT_FOLLOWLOCATION == 52, "CURLOPT_FOLLOWLOCATION");
_Static_assert(XFEROPT_MAXREDIRS == 68, "CURLOPT_MAXREDIRS");
_Static_assert(XFEROPT_HEADERFUNCTION == 20079, "CURLOPT_HEADERFUNCTION");
_Static_assert(XFEROPT_HTTP_VERSION == 84, "CURLOPT_HTTP_VERSION");
_Static_assert(XFEROPT_DEBUGFUNCTION == 20094, "CURLOPT_DEBUGFUNCTION");
_Static_assert(XFEROPT_PRIVATE == 10103, "CURLOPT_PRIVATE");
_Static_assert(XFEROPT_POSTFIELDSIZE_LARGE == 30120, "CURLOPT_POSTFIELDSIZE_LARGE");
_Static_assert(XFEROPT_TIMEOUT_MS == 155, "CURLOPT_TIMEOUT_MS");
_Static_assert(XFEROPT_CONNECTTIMEOUT_MS == 156, "CURLOPT_CONNECTTIMEOUT_MS");
_Static_assert(XFEROPT_RESOLVE == 10203, "CURLOPT_RESOLVE");
_Static_assert(XFEROPT_XFERINFOFUNCTION == 20219, "CURLOPT_XFERINFOFUNCTION");
_Static_assert(XFEROPT_SSLCERT_BLOB == 40291, "CURLOPT_SSLCERT_BLOB");
_Static_assert(XFEROPT_QUICK_EXIT == 322, "CURLOPT_QUICK_EXIT");

/* xfer's own options stay clear of every libcurl number. */
_Static_assert(XFEROPT_MAX_HEAD_SIZE == 49001, "own option");
_Static_assert(XFEROPT_MAX_HEADER_LINE == 49002, "own option");
_Static_assert(XFEROPT_MAX_HEADER_COUNT == 49003, "own option");

/* ---- Multi options ---- */

_Static_assert(XFERMOPT_SOCKETFUNCTION == 20001, "CURLMOPT_SOCKETFUNCTION");
_Static_assert(XFERMOPT_SOCKETDATA == 10002, "CURLMOPT_SOCKETDATA");
_Static_assert(XFERMOPT_PIPELINING == 3, "CURLMOPT_PIPELINING");
_Static_assert(XFERMOPT_TIMERFUNCTION == 20004, "CURLMOPT_TIMERFUNCTION");
_Static_assert(XFERMOPT_MAXCONNECTS == 6, "CURLMOPT_MAXCONNECTS");
_Static_assert(XFERMOPT_MAX_HOST_CONNECTIONS == 7, "CURLMOPT_MAX_HOST_CONNECTIONS");
_Static_assert(XFERMOPT_CONTENT_LENGTH_PENALTY_SIZE == 30009,
               "CURLMOPT_CONTENT_LENGTH_PENALTY_SIZE");
_Static_assert(XFERMOPT_MAX_TOTAL_CONNECTIONS == 13, "CURLMOPT_MAX_TOTAL_CONNECTIONS");
_Static_assert(XFERMOPT_MAX_CONCURRENT_STREAMS == 16, "CURLMOPT_MAX_CONCURRENT_STREAMS");
_Static_assert(XFERMOPT_BACKEND == 40000, "own multi option");
_Static_assert(XFER_BACKEND_AUTO == 0 && XFER_BACKEND_POLL == 1 && XFER_BACKEND_EPOLL == 2 &&
                   XFER_BACKEND_IO_URING == 3,
               "backend values");

/* ---- Infos ---- */

_Static_assert(XFERINFO_STRING == 0x100000 && XFERINFO_LONG == 0x200000 &&
                   XFERINFO_DOUBLE == 0x300000 && XFERINFO_SLIST == 0x400000 &&
                   XFERINFO_PTR == 0x400000 && XFERINFO_SOCKET == 0x500000 &&
                   XFERINFO_OFF_T == 0x600000,
               "CURLINFO type bases");
_Static_assert(XFERINFO_MASK == 0x0fffff && XFERINFO_TYPEMASK == 0xf00000, "CURLINFO masks");
_Static_assert(XFERINFO_EFFECTIVE_URL == 0x100001, "CURLINFO_EFFECTIVE_URL");
_Static_assert(XFERINFO_RESPONSE_CODE == 0x200002, "CURLINFO_RESPONSE_CODE");
_Static_assert(XFERINFO_TOTAL_TIME == 0x300003, "CURLINFO_TOTAL_TIME");
_Static_assert(XFERINFO_SIZE_DOWNLOAD_T == 0x600008, "CURLINFO_SIZE_DOWNLOAD_T");
_Static_assert(XFERINFO_CONTENT_TYPE == 0x100012, "CURLINFO_CONTENT_TYPE");
_Static_assert(XFERINFO_PRIVATE == 0x100015, "CURLINFO_PRIVATE");
_Static_assert(XFERINFO_NUM_CONNECTS == 0x20001a, "CURLINFO_NUM_CONNECTS");
_Static_assert(XFERINFO_PRIMARY_IP == 0x100020, "CURLINFO_PRIMARY_IP");
_Static_assert(XFERINFO_ACTIVESOCKET == 0x50002c, "CURLINFO_ACTIVESOCKET");
_Static_assert(XFERINFO_HTTP_VERSION == 0x20002e, "CURLINFO_HTTP_VERSION");
_Static_assert(XFERINFO_TOTAL_TIME_T == 0x600032, "CURLINFO_TOTAL_TIME_T");
_Static_assert(XFERINFO_EFFECTIVE_METHOD == 0x10003a, "CURLINFO_EFFECTIVE_METHOD");
_Static_assert(XFERINFO_CAPATH == 0x10003e, "CURLINFO_CAPATH");

_Static_assert(XFERINFO_TEXT == 0 && XFERINFO_HEADER_IN == 1 && XFERINFO_HEADER_OUT == 2 &&
                   XFERINFO_DATA_IN == 3 && XFERINFO_DATA_OUT == 4 && XFERINFO_SSL_DATA_IN == 5 &&
                   XFERINFO_SSL_DATA_OUT == 6,
               "curl_infotype");

/* ---- Messages, waiting, event API ---- */

_Static_assert(XFERMSG_NONE == 0 && XFERMSG_DONE == 1 && XFERMSG_LAST == 2, "CURLMSG");
_Static_assert(XFER_WAIT_POLLIN == 1 && XFER_WAIT_POLLPRI == 2 && XFER_WAIT_POLLOUT == 4,
               "CURL_WAIT_POLL*");
_Static_assert(XFER_POLL_NONE == 0 && XFER_POLL_IN == 1 && XFER_POLL_OUT == 2 &&
                   XFER_POLL_INOUT == 3 && XFER_POLL_REMOVE == 4,
               "CURL_POLL_*");
_Static_assert(XFER_CSELECT_IN == 1 && XFER_CSELECT_OUT == 2 && XFER_CSELECT_ERR == 4,
               "CURL_CSELECT_*");
_Static_assert(XFER_SOCKET_BAD == -1 && XFER_SOCKET_TIMEOUT == -1, "CURL_SOCKET_*");

/* ---- Other constants ---- */

_Static_assert(XFER_ERROR_SIZE == 256, "CURL_ERROR_SIZE");
_Static_assert(XFER_MAX_WRITE_SIZE == 16384, "CURL_MAX_WRITE_SIZE");
_Static_assert(XFER_MAX_READ_SIZE == 10485760, "CURL_MAX_READ_SIZE");
_Static_assert(XFER_MAX_HTTP_HEADER == 102400, "CURL_MAX_HTTP_HEADER");
_Static_assert(XFER_WRITEFUNC_PAUSE == 0x10000001, "CURL_WRITEFUNC_PAUSE");
_Static_assert(XFER_WRITEFUNC_ERROR == 0xFFFFFFFF, "CURL_WRITEFUNC_ERROR");
_Static_assert(XFER_READFUNC_ABORT == 0x10000000, "CURL_READFUNC_ABORT");
_Static_assert(XFER_READFUNC_PAUSE == 0x10000001, "CURL_READFUNC_PAUSE");
_Static_assert(XFER_PROGRESSFUNC_CONTINUE == 0x10000001, "CURL_PROGRESSFUNC_CONTINUE");
_Static_assert(XFER_GLOBAL_SSL == 1 && XFER_GLOBAL_WIN32 == 2 && XFER_GLOBAL_ALL == 3 &&
                   XFER_GLOBAL_NOTHING == 0 && XFER_GLOBAL_DEFAULT == 3,
               "CURL_GLOBAL_*");
_Static_assert(XFERPAUSE_RECV == 1 && XFERPAUSE_SEND == 4 && XFERPAUSE_ALL == 5 &&
                   XFERPAUSE_CONT == 0,
               "CURLPAUSE_*");
_Static_assert(XFERPIPE_NOTHING == 0 && XFERPIPE_HTTP1 == 1 && XFERPIPE_MULTIPLEX == 2,
               "CURLPIPE_*");
_Static_assert(XFER_HTTP_VERSION_NONE == 0 && XFER_HTTP_VERSION_1_0 == 1 &&
                   XFER_HTTP_VERSION_1_1 == 2 && XFER_HTTP_VERSION_2_0 == 3 &&
                   XFER_HTTP_VERSION_2 == 3 && XFER_HTTP_VERSION_2TLS == 4 &&
                   XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE == 5 && XFER_HTTP_VERSION_3 == 30 &&
                   XFER_HTTP_VERSION_3ONLY == 31,
               "CURL_HTTP_VERSION_*");

/* The message and waitfd structs keep libcurl's field names and layout. */
_Static_assert(sizeof(xfer_off_t) == 8, "curl_off_t is 64 bits");
_Static_assert(sizeof(struct xfer_waitfd) == 8, "struct curl_waitfd layout");

/* The static checks above run at build time; this test makes the suite
 * report them as a test too, and checks the runtime view of a few values. */
Test(api_constants, values_match_libcurl) {
  cr_assert_eq(XFEROPT_URL, 10002);
  cr_assert_eq(XFERINFO_RESPONSE_CODE, 0x200002);
  cr_assert_eq(XFERM_ADDED_ALREADY, 7);
  cr_assert_eq(XFERE_OPERATION_TIMEDOUT, 28);
}

/* ---- strerror ---- */

Test(strerror, never_null) {
  for (int i = -1; i <= 200; i++) {
    const char *e = xfer_easy_strerror((xfer_code)i);
    const char *m = xfer_multi_strerror((xfer_mcode)i);
    cr_assert_not_null(e, "easy code %d", i);
    cr_assert_not_null(m, "multi code %d", i);
    cr_assert_gt(strlen(e), 0, "easy code %d", i);
    cr_assert_gt(strlen(m), 0, "multi code %d", i);
  }
}

/* Exact strings of libcurl 7.88 (curl test 1538 compares them). */
Test(strerror, easy_exact_strings) {
  cr_assert_str_eq(xfer_easy_strerror(XFERE_OK), "No error");
  cr_assert_str_eq(xfer_easy_strerror(XFERE_URL_MALFORMAT),
                   "URL using bad/illegal format or missing URL");
  cr_assert_str_eq(xfer_easy_strerror(XFERE_NOT_BUILT_IN),
                   "A requested feature, protocol or option was not found built-in in this "
                   "libcurl due to a build-time decision.");
  cr_assert_str_eq(xfer_easy_strerror(XFERE_COULDNT_CONNECT), "Couldn't connect to server");
  cr_assert_str_eq(xfer_easy_strerror(XFERE_OPERATION_TIMEDOUT), "Timeout was reached");
  cr_assert_str_eq(xfer_easy_strerror(XFERE_GOT_NOTHING),
                   "Server returned nothing (no headers, no data)");
  cr_assert_str_eq(xfer_easy_strerror(XFERE_PROXY), "proxy handshake error");
  cr_assert_str_eq(xfer_easy_strerror(XFERE_UNRECOVERABLE_POLL),
                   "Unrecoverable error in select/poll");
  cr_assert_str_eq(xfer_easy_strerror(XFERE_TOO_LARGE),
                   "A value or data field grew larger than allowed");
}

Test(strerror, easy_unknown) {
  cr_assert_str_eq(xfer_easy_strerror((xfer_code)-1), "Unknown error");
  cr_assert_str_eq(xfer_easy_strerror(XFERE_OBSOLETE20), "Unknown error");
  cr_assert_str_eq(xfer_easy_strerror(XFERE_OBSOLETE76), "Unknown error");
  cr_assert_str_eq(xfer_easy_strerror(XFER_LAST), "Unknown error");
  cr_assert_str_eq(xfer_easy_strerror((xfer_code)12345), "Unknown error");
}

Test(strerror, multi_exact_strings) {
  cr_assert_str_eq(xfer_multi_strerror(XFERM_CALL_MULTI_PERFORM),
                   "Please call curl_multi_perform() soon");
  cr_assert_str_eq(xfer_multi_strerror(XFERM_OK), "No error");
  cr_assert_str_eq(xfer_multi_strerror(XFERM_BAD_HANDLE), "Invalid multi handle");
  cr_assert_str_eq(xfer_multi_strerror(XFERM_BAD_EASY_HANDLE), "Invalid easy handle");
  cr_assert_str_eq(xfer_multi_strerror(XFERM_ADDED_ALREADY),
                   "The easy handle is already added to a multi handle");
  cr_assert_str_eq(xfer_multi_strerror(XFERM_BAD_FUNCTION_ARGUMENT),
                   "A libcurl function was given a bad argument");
  cr_assert_str_eq(xfer_multi_strerror(XFERM_UNRECOVERABLE_POLL),
                   "Unrecoverable error in select/poll");
  cr_assert_str_eq(xfer_multi_strerror(XFERM_LAST), "Unknown error");
  cr_assert_str_eq(xfer_multi_strerror((xfer_mcode)-2), "Unknown error");
}

/* ---- slist ---- */

Test(slist, append_builds_list_in_order_with_copies) {
  char buf[] = "first";
  struct xfer_slist *l = xfer_slist_append(NULL, buf);
  cr_assert_not_null(l);
  /* The list holds a copy: changing the caller's buffer changes nothing. */
  buf[0] = 'X';
  cr_assert_str_eq(l->data, "first");
  cr_assert_null(l->next);

  struct xfer_slist *head = xfer_slist_append(l, "second");
  cr_assert_eq(head, l, "appending returns the same head");
  head = xfer_slist_append(head, "");
  cr_assert_eq(head, l);

  cr_assert_str_eq(head->data, "first");
  cr_assert_str_eq(head->next->data, "second");
  cr_assert_str_eq(head->next->next->data, "");
  cr_assert_null(head->next->next->next);
  xfer_slist_free_all(head);
}

Test(slist, free_all_null_is_a_no_op) { xfer_slist_free_all(NULL); }

Test(slist, append_null_string_fails_cleanly) {
  struct xfer_slist *l = xfer_slist_append(NULL, "a");
  cr_assert_not_null(l);
  cr_assert_null(xfer_slist_append(l, NULL));
  /* The old list is untouched and still the caller's. */
  cr_assert_str_eq(l->data, "a");
  cr_assert_null(l->next);
  xfer_slist_free_all(l);
}

/* An allocator that fails every call from a chosen one on, so that each
 * allocation of xfer_slist_append() can be made to fail in turn. */
static int alloc_calls;
static int alloc_fail_at;

static void *failing_malloc(size_t size) {
  if (++alloc_calls >= alloc_fail_at)
    return NULL;
  return malloc(size);
}

static char *failing_strdup(const char *s) {
  if (++alloc_calls >= alloc_fail_at)
    return NULL;
  return strdup(s);
}

static void *failing_calloc(size_t nmemb, size_t size) {
  if (++alloc_calls >= alloc_fail_at)
    return NULL;
  return calloc(nmemb, size);
}

Test(slist, out_of_memory_leaves_old_list_intact) {
  struct xfer_slist *l = xfer_slist_append(NULL, "kept");
  cr_assert_not_null(l);
  /* Fail the first, then the second allocation of the next append; both
   * must return NULL and leave the list as it was. */
  for (int fail_at = 1; fail_at <= 2; fail_at++) {
    alloc_calls = 0;
    alloc_fail_at = fail_at;
    xfer__alloc_set(failing_malloc, free, realloc, failing_strdup, failing_calloc);
    struct xfer_slist *r = xfer_slist_append(l, "lost");
    xfer__alloc_set(malloc, free, realloc, strdup, calloc);
    cr_assert_null(r, "allocation %d failed", fail_at);
    cr_assert_str_eq(l->data, "kept");
    cr_assert_null(l->next);
  }
  xfer_slist_free_all(l);
}

/* The version xfer_version() reports is the one CMake's project() declares
 * (the same figure the installed package carries). */
Test(version, says_the_project_version) {
  const char *v = xfer_version();
  cr_assert_not_null(v);
  const char *want = "xfer/" XFER_PROJECT_VERSION " (";
  cr_assert_eq(strncmp(v, want, strlen(want)), 0, "xfer_version() = \"%s\", expected \"%s...\"", v,
               want);
}
