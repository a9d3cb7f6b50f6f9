/* libcurl style: a curl_easy_perform loop on one handle (libcurl keeps the
 * connection with the handle, so the loop opens one), then the helpers a
 * program calls beside transfers: curl_easy_escape / curl_easy_unescape /
 * curl_free, curl_getdate, curl_slist_*, curl_easy_strerror (only whether
 * it gives a sentence: the wording is each library's own). argv[1] is the
 * URL, argv[2] how many performs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

static size_t count(char *ptr, size_t size, size_t nmemb, void *userp) {
  (void)ptr;
  *(size_t *)userp += size * nmemb;
  return size * nmemb;
}

int main(int argc, char **argv) {
  static const char *dates[] = {
      "Sun, 06 Nov 1994 08:49:37 GMT",
      "Sunday, 06-Nov-94 08:49:37 GMT",
      "Sun Nov  6 08:49:37 1994",
      "06 Nov 1994 08:49:37 +0200",
      "Thu, 01 Jan 1970 00:00:00 GMT",
      "Tue, 19 Jan 2038 03:14:08 GMT",
      "1 Jan 2000",
      "not a date",
      "",
  };
  static const char *raw[] = {"hello world", "a/b?c=d&e=f", "~._-AZaz09", "\xc3\xa9t\xc3\xa9"};
  CURL *e;
  struct curl_slist *hdrs = NULL;
  size_t got = 0;
  long conns = 0, total_conns = 0;
  int i, n, fails = 0;

  if (argc != 3)
    return 2;
  n = atoi(argv[2]);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  e = curl_easy_init();
  hdrs = curl_slist_append(hdrs, "X-Compat: 1");
  hdrs = curl_slist_append(hdrs, "Accept: text/plain");
  curl_easy_setopt(e, CURLOPT_URL, argv[1]);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, count);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &got);
  for (i = 0; i < n; i++) {
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK)
      fails++;
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &conns);
    total_conns += conns;
  }
  printf("performs=%d fails=%d bytes=%zu connections=%ld\n", n, fails, got, total_conns);
  for (i = 0; i < (int)(sizeof raw / sizeof raw[0]); i++) {
    char *enc = curl_easy_escape(e, raw[i], 0);
    int len = -1;
    char *dec = curl_easy_unescape(e, enc, 0, &len);
    printf("escape \"%s\" -> \"%s\" -> %d bytes, %s\n", raw[i], enc, len,
           strcmp(dec, raw[i]) == 0 ? "same" : "DIFFERENT");
    curl_free(enc);
    curl_free(dec);
  }
  {
    char *dec = curl_unescape("%41%4a%zz%", 0);
    printf("unescape odd -> \"%s\"\n", dec);
    curl_free(dec);
  }
  for (i = 0; i < (int)(sizeof dates / sizeof dates[0]); i++)
    printf("getdate \"%s\" -> %ld\n", dates[i], (long)curl_getdate(dates[i], NULL));
  printf("strerror: %s\n",
         curl_easy_strerror(CURLE_COULDNT_CONNECT) && *curl_easy_strerror(CURLE_OK) ? "yes" : "no");
  printf("version: %s\n", curl_version() ? "yes" : "no");
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(e);
  curl_global_cleanup();
  return 0;
}
