/* xfer: libcurl's multi-interface semantics under an xfer_ prefix.
 *
 * This is the whole public API. Every name that xfer shares with libcurl is
 * spelled the same with the prefix swapped (CURLE_x -> XFERE_x, CURLOPT_x ->
 * XFEROPT_x, curl_multi_perform -> xfer_multi_perform, ...) and carries the
 * same numeric value as in libcurl 7.88, so that code written for libcurl
 * ports by renaming alone and a compatibility header can map one name onto
 * the other without a table. Names that are xfer's own take numbers from
 * 40000 up in their type's range, so they never collide with a libcurl one.
 *
 * The handles are opaque; nothing here exposes the library's internals. */
#ifndef XFER_XFER_H
#define XFER_XFER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/select.h> /* fd_set, for xfer_multi_fdset() */
#include <time.h>       /* time_t, for xfer_getdate() */

/* The library is built with hidden visibility, so every public function is
 * marked explicitly; anything not marked stays private to the library. */
#if defined(__GNUC__) || defined(__clang__)
#define XFER_EXTERN __attribute__((visibility("default")))
#else
#define XFER_EXTERN
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Basic types
 * ------------------------------------------------------------------------ */

/* A multi handle drives many transfers; each transfer is an easy handle.
 * Both are opaque: the structs are defined inside the library only. */
typedef struct xfer_multi xfer_multi;
typedef struct xfer_easy xfer_easy;

/* A 64-bit size or offset, as curl_off_t is on every 64-bit platform. */
typedef int64_t xfer_off_t;

/* A socket is a POSIX file descriptor; -1 means "no socket". */
typedef int xfer_socket_t;
#define XFER_SOCKET_BAD (-1)

/* A linked list of strings, used for header lists and similar options. */
struct xfer_slist {
  char *data;
  struct xfer_slist *next;
};

/* ------------------------------------------------------------------------
 * Result codes of the easy interface and of each transfer (CURLcode).
 * Obsolete slots keep their numbers, because callers (and curl's test
 * harness) reuse them and because the numbering must never shift.
 * ------------------------------------------------------------------------ */

typedef enum xfer_code {
  XFERE_OK                             = 0,
  XFERE_UNSUPPORTED_PROTOCOL           = 1,
  XFERE_FAILED_INIT                    = 2,
  XFERE_URL_MALFORMAT                  = 3,
  XFERE_NOT_BUILT_IN                   = 4,
  XFERE_COULDNT_RESOLVE_PROXY          = 5,
  XFERE_COULDNT_RESOLVE_HOST           = 6,
  XFERE_COULDNT_CONNECT                = 7,
  XFERE_WEIRD_SERVER_REPLY             = 8,
  XFERE_REMOTE_ACCESS_DENIED           = 9,
  XFERE_FTP_ACCEPT_FAILED              = 10,
  XFERE_FTP_WEIRD_PASS_REPLY           = 11,
  XFERE_FTP_ACCEPT_TIMEOUT             = 12,
  XFERE_FTP_WEIRD_PASV_REPLY           = 13,
  XFERE_FTP_WEIRD_227_FORMAT           = 14,
  XFERE_FTP_CANT_GET_HOST              = 15,
  XFERE_HTTP2                          = 16,
  XFERE_FTP_COULDNT_SET_TYPE           = 17,
  XFERE_PARTIAL_FILE                   = 18,
  XFERE_FTP_COULDNT_RETR_FILE          = 19,
  XFERE_OBSOLETE20                     = 20,
  XFERE_QUOTE_ERROR                    = 21,
  XFERE_HTTP_RETURNED_ERROR            = 22,
  XFERE_WRITE_ERROR                    = 23,
  XFERE_OBSOLETE24                     = 24,
  XFERE_UPLOAD_FAILED                  = 25,
  XFERE_READ_ERROR                     = 26,
  XFERE_OUT_OF_MEMORY                  = 27,
  XFERE_OPERATION_TIMEDOUT             = 28,
  XFERE_OBSOLETE29                     = 29,
  XFERE_FTP_PORT_FAILED                = 30,
  XFERE_FTP_COULDNT_USE_REST           = 31,
  XFERE_OBSOLETE32                     = 32,
  XFERE_RANGE_ERROR                    = 33,
  XFERE_HTTP_POST_ERROR                = 34,
  XFERE_SSL_CONNECT_ERROR              = 35,
  XFERE_BAD_DOWNLOAD_RESUME            = 36,
  XFERE_FILE_COULDNT_READ_FILE         = 37,
  XFERE_LDAP_CANNOT_BIND               = 38,
  XFERE_LDAP_SEARCH_FAILED             = 39,
  XFERE_OBSOLETE40                     = 40,
  XFERE_FUNCTION_NOT_FOUND             = 41,
  XFERE_ABORTED_BY_CALLBACK            = 42,
  XFERE_BAD_FUNCTION_ARGUMENT          = 43,
  XFERE_OBSOLETE44                     = 44,
  XFERE_INTERFACE_FAILED               = 45,
  XFERE_OBSOLETE46                     = 46,
  XFERE_TOO_MANY_REDIRECTS             = 47,
  XFERE_UNKNOWN_OPTION                 = 48,
  XFERE_SETOPT_OPTION_SYNTAX           = 49,
  XFERE_OBSOLETE50                     = 50,
  XFERE_OBSOLETE51                     = 51,
  XFERE_GOT_NOTHING                    = 52,
  XFERE_SSL_ENGINE_NOTFOUND            = 53,
  XFERE_SSL_ENGINE_SETFAILED           = 54,
  XFERE_SEND_ERROR                     = 55,
  XFERE_RECV_ERROR                     = 56,
  XFERE_OBSOLETE57                     = 57,
  XFERE_SSL_CERTPROBLEM                = 58,
  XFERE_SSL_CIPHER                     = 59,
  XFERE_PEER_FAILED_VERIFICATION       = 60,
  XFERE_BAD_CONTENT_ENCODING           = 61,
  XFERE_OBSOLETE62                     = 62,
  XFERE_FILESIZE_EXCEEDED              = 63,
  XFERE_USE_SSL_FAILED                 = 64,
  XFERE_SEND_FAIL_REWIND               = 65,
  XFERE_SSL_ENGINE_INITFAILED          = 66,
  XFERE_LOGIN_DENIED                   = 67,
  XFERE_TFTP_NOTFOUND                  = 68,
  XFERE_TFTP_PERM                      = 69,
  XFERE_REMOTE_DISK_FULL               = 70,
  XFERE_TFTP_ILLEGAL                   = 71,
  XFERE_TFTP_UNKNOWNID                 = 72,
  XFERE_REMOTE_FILE_EXISTS             = 73,
  XFERE_TFTP_NOSUCHUSER                = 74,
  XFERE_OBSOLETE75                     = 75,
  XFERE_OBSOLETE76                     = 76,
  XFERE_SSL_CACERT_BADFILE             = 77,
  XFERE_REMOTE_FILE_NOT_FOUND          = 78,
  XFERE_SSH                            = 79,
  XFERE_SSL_SHUTDOWN_FAILED            = 80,
  XFERE_AGAIN                          = 81,
  XFERE_SSL_CRL_BADFILE                = 82,
  XFERE_SSL_ISSUER_ERROR               = 83,
  XFERE_FTP_PRET_FAILED                = 84,
  XFERE_RTSP_CSEQ_ERROR                = 85,
  XFERE_RTSP_SESSION_ERROR             = 86,
  XFERE_FTP_BAD_FILE_LIST              = 87,
  XFERE_CHUNK_FAILED                   = 88,
  XFERE_NO_CONNECTION_AVAILABLE        = 89,
  XFERE_SSL_PINNEDPUBKEYNOTMATCH       = 90,
  XFERE_SSL_INVALIDCERTSTATUS          = 91,
  XFERE_HTTP2_STREAM                   = 92,
  XFERE_RECURSIVE_API_CALL             = 93,
  XFERE_AUTH_ERROR                     = 94,
  XFERE_HTTP3                          = 95,
  XFERE_QUIC_CONNECT_ERROR             = 96,
  XFERE_PROXY                          = 97,
  XFERE_SSL_CLIENTCERT                 = 98,
  XFERE_UNRECOVERABLE_POLL             = 99,
  /* Not in libcurl 7.88: libcurl 8.6 added this code with this number and
   * meaning, and xfer needs it for its response-head limits. */
  XFERE_TOO_LARGE                      = 100,
  XFER_LAST                            = 101 /* sentinel, never returned */
} xfer_code;

/* ------------------------------------------------------------------------
 * Result codes of the multi interface (CURLMcode).
 * ------------------------------------------------------------------------ */

typedef enum xfer_mcode {
  XFERM_CALL_MULTI_PERFORM             = -1,
  XFERM_OK                             = 0,
  XFERM_BAD_HANDLE                     = 1,
  XFERM_BAD_EASY_HANDLE                = 2,
  XFERM_OUT_OF_MEMORY                  = 3,
  XFERM_INTERNAL_ERROR                 = 4,
  XFERM_BAD_SOCKET                     = 5,
  XFERM_UNKNOWN_OPTION                 = 6,
  XFERM_ADDED_ALREADY                  = 7,
  XFERM_RECURSIVE_API_CALL             = 8,
  XFERM_WAKEUP_FAILURE                 = 9,
  XFERM_BAD_FUNCTION_ARGUMENT          = 10,
  XFERM_ABORTED_BY_CALLBACK            = 11,
  XFERM_UNRECOVERABLE_POLL             = 12,
  XFERM_LAST                           = 13 /* sentinel, never returned */
} xfer_mcode;

/* Same value as XFERM_CALL_MULTI_PERFORM, for code written in the style of
 * the event API; neither is ever returned. */
#define XFERM_CALL_MULTI_SOCKET XFERM_CALL_MULTI_PERFORM

/* ------------------------------------------------------------------------
 * Easy options (CURLoption): the type of an option's argument is encoded in
 * its number, as in libcurl.
 * ------------------------------------------------------------------------ */

#define XFEROPTTYPE_LONG          0
#define XFEROPTTYPE_OBJECTPOINT   10000
#define XFEROPTTYPE_FUNCTIONPOINT 20000
#define XFEROPTTYPE_OFF_T         30000
#define XFEROPTTYPE_BLOB          40000

/* Aliases that say more precisely what an option takes; they share the
 * numeric bases above, exactly as in libcurl. */
#define XFEROPTTYPE_STRINGPOINT XFEROPTTYPE_OBJECTPOINT /* char * */
#define XFEROPTTYPE_SLISTPOINT  XFEROPTTYPE_OBJECTPOINT /* struct xfer_slist * */
#define XFEROPTTYPE_CBPOINT     XFEROPTTYPE_OBJECTPOINT /* void * for a callback */
#define XFEROPTTYPE_VALUES      XFEROPTTYPE_LONG        /* long from a fixed set */

/* Every option name of libcurl 7.88, so that a program setting an option
 * xfer does not implement compiles and gets XFERE_UNKNOWN_OPTION at run
 * time instead of a build failure. Options libcurl has deprecated are
 * listed too: they keep their numbers. */
typedef enum xfer_option {
  XFEROPT_WRITEDATA                        = XFEROPTTYPE_CBPOINT + 1,
  XFEROPT_URL                              = XFEROPTTYPE_STRINGPOINT + 2,
  XFEROPT_PORT                             = XFEROPTTYPE_LONG + 3,
  XFEROPT_PROXY                            = XFEROPTTYPE_STRINGPOINT + 4,
  XFEROPT_USERPWD                          = XFEROPTTYPE_STRINGPOINT + 5,
  XFEROPT_PROXYUSERPWD                     = XFEROPTTYPE_STRINGPOINT + 6,
  XFEROPT_RANGE                            = XFEROPTTYPE_STRINGPOINT + 7,
  XFEROPT_READDATA                         = XFEROPTTYPE_CBPOINT + 9,
  XFEROPT_ERRORBUFFER                      = XFEROPTTYPE_OBJECTPOINT + 10,
  XFEROPT_WRITEFUNCTION                    = XFEROPTTYPE_FUNCTIONPOINT + 11,
  XFEROPT_READFUNCTION                     = XFEROPTTYPE_FUNCTIONPOINT + 12,
  XFEROPT_TIMEOUT                          = XFEROPTTYPE_LONG + 13,
  XFEROPT_INFILESIZE                       = XFEROPTTYPE_LONG + 14,
  XFEROPT_POSTFIELDS                       = XFEROPTTYPE_OBJECTPOINT + 15,
  XFEROPT_REFERER                          = XFEROPTTYPE_STRINGPOINT + 16,
  XFEROPT_FTPPORT                          = XFEROPTTYPE_STRINGPOINT + 17,
  XFEROPT_USERAGENT                        = XFEROPTTYPE_STRINGPOINT + 18,
  XFEROPT_LOW_SPEED_LIMIT                  = XFEROPTTYPE_LONG + 19,
  XFEROPT_LOW_SPEED_TIME                   = XFEROPTTYPE_LONG + 20,
  XFEROPT_RESUME_FROM                      = XFEROPTTYPE_LONG + 21,
  XFEROPT_COOKIE                           = XFEROPTTYPE_STRINGPOINT + 22,
  XFEROPT_HTTPHEADER                       = XFEROPTTYPE_SLISTPOINT + 23,
  XFEROPT_HTTPPOST                         = XFEROPTTYPE_OBJECTPOINT + 24, /* deprecated 7.56.0 */
  XFEROPT_SSLCERT                          = XFEROPTTYPE_STRINGPOINT + 25,
  XFEROPT_KEYPASSWD                        = XFEROPTTYPE_STRINGPOINT + 26,
  XFEROPT_CRLF                             = XFEROPTTYPE_LONG + 27,
  XFEROPT_QUOTE                            = XFEROPTTYPE_SLISTPOINT + 28,
  XFEROPT_HEADERDATA                       = XFEROPTTYPE_CBPOINT + 29,
  XFEROPT_COOKIEFILE                       = XFEROPTTYPE_STRINGPOINT + 31,
  XFEROPT_SSLVERSION                       = XFEROPTTYPE_VALUES + 32,
  XFEROPT_TIMECONDITION                    = XFEROPTTYPE_VALUES + 33,
  XFEROPT_TIMEVALUE                        = XFEROPTTYPE_LONG + 34,
  XFEROPT_CUSTOMREQUEST                    = XFEROPTTYPE_STRINGPOINT + 36,
  XFEROPT_STDERR                           = XFEROPTTYPE_OBJECTPOINT + 37,
  XFEROPT_POSTQUOTE                        = XFEROPTTYPE_SLISTPOINT + 39,
  XFEROPT_OBSOLETE40                       = XFEROPTTYPE_OBJECTPOINT + 40,
  XFEROPT_VERBOSE                          = XFEROPTTYPE_LONG + 41,
  XFEROPT_HEADER                           = XFEROPTTYPE_LONG + 42,
  XFEROPT_NOPROGRESS                       = XFEROPTTYPE_LONG + 43,
  XFEROPT_NOBODY                           = XFEROPTTYPE_LONG + 44,
  XFEROPT_FAILONERROR                      = XFEROPTTYPE_LONG + 45,
  XFEROPT_UPLOAD                           = XFEROPTTYPE_LONG + 46,
  XFEROPT_POST                             = XFEROPTTYPE_LONG + 47,
  XFEROPT_DIRLISTONLY                      = XFEROPTTYPE_LONG + 48,
  XFEROPT_APPEND                           = XFEROPTTYPE_LONG + 50,
  XFEROPT_NETRC                            = XFEROPTTYPE_VALUES + 51,
  XFEROPT_FOLLOWLOCATION                   = XFEROPTTYPE_LONG + 52,
  XFEROPT_TRANSFERTEXT                     = XFEROPTTYPE_LONG + 53,
  XFEROPT_PUT                              = XFEROPTTYPE_LONG + 54, /* deprecated 7.12.1 */
  XFEROPT_PROGRESSFUNCTION                 = XFEROPTTYPE_FUNCTIONPOINT + 56, /* deprecated 7.32.0 */
  XFEROPT_XFERINFODATA                     = XFEROPTTYPE_CBPOINT + 57,
  XFEROPT_AUTOREFERER                      = XFEROPTTYPE_LONG + 58,
  XFEROPT_PROXYPORT                        = XFEROPTTYPE_LONG + 59,
  XFEROPT_POSTFIELDSIZE                    = XFEROPTTYPE_LONG + 60,
  XFEROPT_HTTPPROXYTUNNEL                  = XFEROPTTYPE_LONG + 61,
  XFEROPT_INTERFACE                        = XFEROPTTYPE_STRINGPOINT + 62,
  XFEROPT_KRBLEVEL                         = XFEROPTTYPE_STRINGPOINT + 63,
  XFEROPT_SSL_VERIFYPEER                   = XFEROPTTYPE_LONG + 64,
  XFEROPT_CAINFO                           = XFEROPTTYPE_STRINGPOINT + 65,
  XFEROPT_MAXREDIRS                        = XFEROPTTYPE_LONG + 68,
  XFEROPT_FILETIME                         = XFEROPTTYPE_LONG + 69,
  XFEROPT_TELNETOPTIONS                    = XFEROPTTYPE_SLISTPOINT + 70,
  XFEROPT_MAXCONNECTS                      = XFEROPTTYPE_LONG + 71,
  XFEROPT_OBSOLETE72                       = XFEROPTTYPE_LONG + 72,
  XFEROPT_FRESH_CONNECT                    = XFEROPTTYPE_LONG + 74,
  XFEROPT_FORBID_REUSE                     = XFEROPTTYPE_LONG + 75,
  XFEROPT_RANDOM_FILE                      = XFEROPTTYPE_STRINGPOINT + 76, /* deprecated 7.84.0 */
  XFEROPT_EGDSOCKET                        = XFEROPTTYPE_STRINGPOINT + 77, /* deprecated 7.84.0 */
  XFEROPT_CONNECTTIMEOUT                   = XFEROPTTYPE_LONG + 78,
  XFEROPT_HEADERFUNCTION                   = XFEROPTTYPE_FUNCTIONPOINT + 79,
  XFEROPT_HTTPGET                          = XFEROPTTYPE_LONG + 80,
  XFEROPT_SSL_VERIFYHOST                   = XFEROPTTYPE_LONG + 81,
  XFEROPT_COOKIEJAR                        = XFEROPTTYPE_STRINGPOINT + 82,
  XFEROPT_SSL_CIPHER_LIST                  = XFEROPTTYPE_STRINGPOINT + 83,
  XFEROPT_HTTP_VERSION                     = XFEROPTTYPE_VALUES + 84,
  XFEROPT_FTP_USE_EPSV                     = XFEROPTTYPE_LONG + 85,
  XFEROPT_SSLCERTTYPE                      = XFEROPTTYPE_STRINGPOINT + 86,
  XFEROPT_SSLKEY                           = XFEROPTTYPE_STRINGPOINT + 87,
  XFEROPT_SSLKEYTYPE                       = XFEROPTTYPE_STRINGPOINT + 88,
  XFEROPT_SSLENGINE                        = XFEROPTTYPE_STRINGPOINT + 89,
  XFEROPT_SSLENGINE_DEFAULT                = XFEROPTTYPE_LONG + 90,
  XFEROPT_DNS_USE_GLOBAL_CACHE             = XFEROPTTYPE_LONG + 91, /* deprecated 7.11.1 */
  XFEROPT_DNS_CACHE_TIMEOUT                = XFEROPTTYPE_LONG + 92,
  XFEROPT_PREQUOTE                         = XFEROPTTYPE_SLISTPOINT + 93,
  XFEROPT_DEBUGFUNCTION                    = XFEROPTTYPE_FUNCTIONPOINT + 94,
  XFEROPT_DEBUGDATA                        = XFEROPTTYPE_CBPOINT + 95,
  XFEROPT_COOKIESESSION                    = XFEROPTTYPE_LONG + 96,
  XFEROPT_CAPATH                           = XFEROPTTYPE_STRINGPOINT + 97,
  XFEROPT_BUFFERSIZE                       = XFEROPTTYPE_LONG + 98,
  XFEROPT_NOSIGNAL                         = XFEROPTTYPE_LONG + 99,
  XFEROPT_SHARE                            = XFEROPTTYPE_OBJECTPOINT + 100,
  XFEROPT_PROXYTYPE                        = XFEROPTTYPE_VALUES + 101,
  XFEROPT_ACCEPT_ENCODING                  = XFEROPTTYPE_STRINGPOINT + 102,
  XFEROPT_PRIVATE                          = XFEROPTTYPE_OBJECTPOINT + 103,
  XFEROPT_HTTP200ALIASES                   = XFEROPTTYPE_SLISTPOINT + 104,
  XFEROPT_UNRESTRICTED_AUTH                = XFEROPTTYPE_LONG + 105,
  XFEROPT_FTP_USE_EPRT                     = XFEROPTTYPE_LONG + 106,
  XFEROPT_HTTPAUTH                         = XFEROPTTYPE_VALUES + 107,
  XFEROPT_SSL_CTX_FUNCTION                 = XFEROPTTYPE_FUNCTIONPOINT + 108,
  XFEROPT_SSL_CTX_DATA                     = XFEROPTTYPE_CBPOINT + 109,
  XFEROPT_FTP_CREATE_MISSING_DIRS          = XFEROPTTYPE_LONG + 110,
  XFEROPT_PROXYAUTH                        = XFEROPTTYPE_VALUES + 111,
  XFEROPT_SERVER_RESPONSE_TIMEOUT          = XFEROPTTYPE_LONG + 112,
  XFEROPT_IPRESOLVE                        = XFEROPTTYPE_VALUES + 113,
  XFEROPT_MAXFILESIZE                      = XFEROPTTYPE_LONG + 114,
  XFEROPT_INFILESIZE_LARGE                 = XFEROPTTYPE_OFF_T + 115,
  XFEROPT_RESUME_FROM_LARGE                = XFEROPTTYPE_OFF_T + 116,
  XFEROPT_MAXFILESIZE_LARGE                = XFEROPTTYPE_OFF_T + 117,
  XFEROPT_NETRC_FILE                       = XFEROPTTYPE_STRINGPOINT + 118,
  XFEROPT_USE_SSL                          = XFEROPTTYPE_VALUES + 119,
  XFEROPT_POSTFIELDSIZE_LARGE              = XFEROPTTYPE_OFF_T + 120,
  XFEROPT_TCP_NODELAY                      = XFEROPTTYPE_LONG + 121,
  XFEROPT_FTPSSLAUTH                       = XFEROPTTYPE_VALUES + 129,
  XFEROPT_IOCTLFUNCTION                    = XFEROPTTYPE_FUNCTIONPOINT + 130, /* deprecated 7.18.0 */
  XFEROPT_IOCTLDATA                        = XFEROPTTYPE_CBPOINT + 131, /* deprecated 7.18.0 */
  XFEROPT_FTP_ACCOUNT                      = XFEROPTTYPE_STRINGPOINT + 134,
  XFEROPT_COOKIELIST                       = XFEROPTTYPE_STRINGPOINT + 135,
  XFEROPT_IGNORE_CONTENT_LENGTH            = XFEROPTTYPE_LONG + 136,
  XFEROPT_FTP_SKIP_PASV_IP                 = XFEROPTTYPE_LONG + 137,
  XFEROPT_FTP_FILEMETHOD                   = XFEROPTTYPE_VALUES + 138,
  XFEROPT_LOCALPORT                        = XFEROPTTYPE_LONG + 139,
  XFEROPT_LOCALPORTRANGE                   = XFEROPTTYPE_LONG + 140,
  XFEROPT_CONNECT_ONLY                     = XFEROPTTYPE_LONG + 141,
  XFEROPT_CONV_FROM_NETWORK_FUNCTION       = XFEROPTTYPE_FUNCTIONPOINT + 142, /* deprecated 7.82.0 */
  XFEROPT_CONV_TO_NETWORK_FUNCTION         = XFEROPTTYPE_FUNCTIONPOINT + 143, /* deprecated 7.82.0 */
  XFEROPT_CONV_FROM_UTF8_FUNCTION          = XFEROPTTYPE_FUNCTIONPOINT + 144, /* deprecated 7.82.0 */
  XFEROPT_MAX_SEND_SPEED_LARGE             = XFEROPTTYPE_OFF_T + 145,
  XFEROPT_MAX_RECV_SPEED_LARGE             = XFEROPTTYPE_OFF_T + 146,
  XFEROPT_FTP_ALTERNATIVE_TO_USER          = XFEROPTTYPE_STRINGPOINT + 147,
  XFEROPT_SOCKOPTFUNCTION                  = XFEROPTTYPE_FUNCTIONPOINT + 148,
  XFEROPT_SOCKOPTDATA                      = XFEROPTTYPE_CBPOINT + 149,
  XFEROPT_SSL_SESSIONID_CACHE              = XFEROPTTYPE_LONG + 150,
  XFEROPT_SSH_AUTH_TYPES                   = XFEROPTTYPE_VALUES + 151,
  XFEROPT_SSH_PUBLIC_KEYFILE               = XFEROPTTYPE_STRINGPOINT + 152,
  XFEROPT_SSH_PRIVATE_KEYFILE              = XFEROPTTYPE_STRINGPOINT + 153,
  XFEROPT_FTP_SSL_CCC                      = XFEROPTTYPE_LONG + 154,
  XFEROPT_TIMEOUT_MS                       = XFEROPTTYPE_LONG + 155,
  XFEROPT_CONNECTTIMEOUT_MS                = XFEROPTTYPE_LONG + 156,
  XFEROPT_HTTP_TRANSFER_DECODING           = XFEROPTTYPE_LONG + 157,
  XFEROPT_HTTP_CONTENT_DECODING            = XFEROPTTYPE_LONG + 158,
  XFEROPT_NEW_FILE_PERMS                   = XFEROPTTYPE_LONG + 159,
  XFEROPT_NEW_DIRECTORY_PERMS              = XFEROPTTYPE_LONG + 160,
  XFEROPT_POSTREDIR                        = XFEROPTTYPE_VALUES + 161,
  XFEROPT_SSH_HOST_PUBLIC_KEY_MD5          = XFEROPTTYPE_STRINGPOINT + 162,
  XFEROPT_OPENSOCKETFUNCTION               = XFEROPTTYPE_FUNCTIONPOINT + 163,
  XFEROPT_OPENSOCKETDATA                   = XFEROPTTYPE_CBPOINT + 164,
  XFEROPT_COPYPOSTFIELDS                   = XFEROPTTYPE_OBJECTPOINT + 165,
  XFEROPT_PROXY_TRANSFER_MODE              = XFEROPTTYPE_LONG + 166,
  XFEROPT_SEEKFUNCTION                     = XFEROPTTYPE_FUNCTIONPOINT + 167,
  XFEROPT_SEEKDATA                         = XFEROPTTYPE_CBPOINT + 168,
  XFEROPT_CRLFILE                          = XFEROPTTYPE_STRINGPOINT + 169,
  XFEROPT_ISSUERCERT                       = XFEROPTTYPE_STRINGPOINT + 170,
  XFEROPT_ADDRESS_SCOPE                    = XFEROPTTYPE_LONG + 171,
  XFEROPT_CERTINFO                         = XFEROPTTYPE_LONG + 172,
  XFEROPT_USERNAME                         = XFEROPTTYPE_STRINGPOINT + 173,
  XFEROPT_PASSWORD                         = XFEROPTTYPE_STRINGPOINT + 174,
  XFEROPT_PROXYUSERNAME                    = XFEROPTTYPE_STRINGPOINT + 175,
  XFEROPT_PROXYPASSWORD                    = XFEROPTTYPE_STRINGPOINT + 176,
  XFEROPT_NOPROXY                          = XFEROPTTYPE_STRINGPOINT + 177,
  XFEROPT_TFTP_BLKSIZE                     = XFEROPTTYPE_LONG + 178,
  XFEROPT_SOCKS5_GSSAPI_SERVICE            = XFEROPTTYPE_STRINGPOINT + 179, /* deprecated 7.49.0 */
  XFEROPT_SOCKS5_GSSAPI_NEC                = XFEROPTTYPE_LONG + 180,
  XFEROPT_PROTOCOLS                        = XFEROPTTYPE_LONG + 181, /* deprecated 7.85.0 */
  XFEROPT_REDIR_PROTOCOLS                  = XFEROPTTYPE_LONG + 182, /* deprecated 7.85.0 */
  XFEROPT_SSH_KNOWNHOSTS                   = XFEROPTTYPE_STRINGPOINT + 183,
  XFEROPT_SSH_KEYFUNCTION                  = XFEROPTTYPE_FUNCTIONPOINT + 184,
  XFEROPT_SSH_KEYDATA                      = XFEROPTTYPE_CBPOINT + 185,
  XFEROPT_MAIL_FROM                        = XFEROPTTYPE_STRINGPOINT + 186,
  XFEROPT_MAIL_RCPT                        = XFEROPTTYPE_SLISTPOINT + 187,
  XFEROPT_FTP_USE_PRET                     = XFEROPTTYPE_LONG + 188,
  XFEROPT_RTSP_REQUEST                     = XFEROPTTYPE_VALUES + 189,
  XFEROPT_RTSP_SESSION_ID                  = XFEROPTTYPE_STRINGPOINT + 190,
  XFEROPT_RTSP_STREAM_URI                  = XFEROPTTYPE_STRINGPOINT + 191,
  XFEROPT_RTSP_TRANSPORT                   = XFEROPTTYPE_STRINGPOINT + 192,
  XFEROPT_RTSP_CLIENT_CSEQ                 = XFEROPTTYPE_LONG + 193,
  XFEROPT_RTSP_SERVER_CSEQ                 = XFEROPTTYPE_LONG + 194,
  XFEROPT_INTERLEAVEDATA                   = XFEROPTTYPE_CBPOINT + 195,
  XFEROPT_INTERLEAVEFUNCTION               = XFEROPTTYPE_FUNCTIONPOINT + 196,
  XFEROPT_WILDCARDMATCH                    = XFEROPTTYPE_LONG + 197,
  XFEROPT_CHUNK_BGN_FUNCTION               = XFEROPTTYPE_FUNCTIONPOINT + 198,
  XFEROPT_CHUNK_END_FUNCTION               = XFEROPTTYPE_FUNCTIONPOINT + 199,
  XFEROPT_FNMATCH_FUNCTION                 = XFEROPTTYPE_FUNCTIONPOINT + 200,
  XFEROPT_CHUNK_DATA                       = XFEROPTTYPE_CBPOINT + 201,
  XFEROPT_FNMATCH_DATA                     = XFEROPTTYPE_CBPOINT + 202,
  XFEROPT_RESOLVE                          = XFEROPTTYPE_SLISTPOINT + 203,
  XFEROPT_TLSAUTH_USERNAME                 = XFEROPTTYPE_STRINGPOINT + 204,
  XFEROPT_TLSAUTH_PASSWORD                 = XFEROPTTYPE_STRINGPOINT + 205,
  XFEROPT_TLSAUTH_TYPE                     = XFEROPTTYPE_STRINGPOINT + 206,
  XFEROPT_TRANSFER_ENCODING                = XFEROPTTYPE_LONG + 207,
  XFEROPT_CLOSESOCKETFUNCTION              = XFEROPTTYPE_FUNCTIONPOINT + 208,
  XFEROPT_CLOSESOCKETDATA                  = XFEROPTTYPE_CBPOINT + 209,
  XFEROPT_GSSAPI_DELEGATION                = XFEROPTTYPE_VALUES + 210,
  XFEROPT_DNS_SERVERS                      = XFEROPTTYPE_STRINGPOINT + 211,
  XFEROPT_ACCEPTTIMEOUT_MS                 = XFEROPTTYPE_LONG + 212,
  XFEROPT_TCP_KEEPALIVE                    = XFEROPTTYPE_LONG + 213,
  XFEROPT_TCP_KEEPIDLE                     = XFEROPTTYPE_LONG + 214,
  XFEROPT_TCP_KEEPINTVL                    = XFEROPTTYPE_LONG + 215,
  XFEROPT_SSL_OPTIONS                      = XFEROPTTYPE_VALUES + 216,
  XFEROPT_MAIL_AUTH                        = XFEROPTTYPE_STRINGPOINT + 217,
  XFEROPT_SASL_IR                          = XFEROPTTYPE_LONG + 218,
  XFEROPT_XFERINFOFUNCTION                 = XFEROPTTYPE_FUNCTIONPOINT + 219,
  XFEROPT_XOAUTH2_BEARER                   = XFEROPTTYPE_STRINGPOINT + 220,
  XFEROPT_DNS_INTERFACE                    = XFEROPTTYPE_STRINGPOINT + 221,
  XFEROPT_DNS_LOCAL_IP4                    = XFEROPTTYPE_STRINGPOINT + 222,
  XFEROPT_DNS_LOCAL_IP6                    = XFEROPTTYPE_STRINGPOINT + 223,
  XFEROPT_LOGIN_OPTIONS                    = XFEROPTTYPE_STRINGPOINT + 224,
  XFEROPT_SSL_ENABLE_NPN                   = XFEROPTTYPE_LONG + 225, /* deprecated 7.86.0 */
  XFEROPT_SSL_ENABLE_ALPN                  = XFEROPTTYPE_LONG + 226,
  XFEROPT_EXPECT_100_TIMEOUT_MS            = XFEROPTTYPE_LONG + 227,
  XFEROPT_PROXYHEADER                      = XFEROPTTYPE_SLISTPOINT + 228,
  XFEROPT_HEADEROPT                        = XFEROPTTYPE_VALUES + 229,
  XFEROPT_PINNEDPUBLICKEY                  = XFEROPTTYPE_STRINGPOINT + 230,
  XFEROPT_UNIX_SOCKET_PATH                 = XFEROPTTYPE_STRINGPOINT + 231,
  XFEROPT_SSL_VERIFYSTATUS                 = XFEROPTTYPE_LONG + 232,
  XFEROPT_SSL_FALSESTART                   = XFEROPTTYPE_LONG + 233,
  XFEROPT_PATH_AS_IS                       = XFEROPTTYPE_LONG + 234,
  XFEROPT_PROXY_SERVICE_NAME               = XFEROPTTYPE_STRINGPOINT + 235,
  XFEROPT_SERVICE_NAME                     = XFEROPTTYPE_STRINGPOINT + 236,
  XFEROPT_PIPEWAIT                         = XFEROPTTYPE_LONG + 237,
  XFEROPT_DEFAULT_PROTOCOL                 = XFEROPTTYPE_STRINGPOINT + 238,
  XFEROPT_STREAM_WEIGHT                    = XFEROPTTYPE_LONG + 239,
  XFEROPT_STREAM_DEPENDS                   = XFEROPTTYPE_OBJECTPOINT + 240,
  XFEROPT_STREAM_DEPENDS_E                 = XFEROPTTYPE_OBJECTPOINT + 241,
  XFEROPT_TFTP_NO_OPTIONS                  = XFEROPTTYPE_LONG + 242,
  XFEROPT_CONNECT_TO                       = XFEROPTTYPE_SLISTPOINT + 243,
  XFEROPT_TCP_FASTOPEN                     = XFEROPTTYPE_LONG + 244,
  XFEROPT_KEEP_SENDING_ON_ERROR            = XFEROPTTYPE_LONG + 245,
  XFEROPT_PROXY_CAINFO                     = XFEROPTTYPE_STRINGPOINT + 246,
  XFEROPT_PROXY_CAPATH                     = XFEROPTTYPE_STRINGPOINT + 247,
  XFEROPT_PROXY_SSL_VERIFYPEER             = XFEROPTTYPE_LONG + 248,
  XFEROPT_PROXY_SSL_VERIFYHOST             = XFEROPTTYPE_LONG + 249,
  XFEROPT_PROXY_SSLVERSION                 = XFEROPTTYPE_VALUES + 250,
  XFEROPT_PROXY_TLSAUTH_USERNAME           = XFEROPTTYPE_STRINGPOINT + 251,
  XFEROPT_PROXY_TLSAUTH_PASSWORD           = XFEROPTTYPE_STRINGPOINT + 252,
  XFEROPT_PROXY_TLSAUTH_TYPE               = XFEROPTTYPE_STRINGPOINT + 253,
  XFEROPT_PROXY_SSLCERT                    = XFEROPTTYPE_STRINGPOINT + 254,
  XFEROPT_PROXY_SSLCERTTYPE                = XFEROPTTYPE_STRINGPOINT + 255,
  XFEROPT_PROXY_SSLKEY                     = XFEROPTTYPE_STRINGPOINT + 256,
  XFEROPT_PROXY_SSLKEYTYPE                 = XFEROPTTYPE_STRINGPOINT + 257,
  XFEROPT_PROXY_KEYPASSWD                  = XFEROPTTYPE_STRINGPOINT + 258,
  XFEROPT_PROXY_SSL_CIPHER_LIST            = XFEROPTTYPE_STRINGPOINT + 259,
  XFEROPT_PROXY_CRLFILE                    = XFEROPTTYPE_STRINGPOINT + 260,
  XFEROPT_PROXY_SSL_OPTIONS                = XFEROPTTYPE_LONG + 261,
  XFEROPT_PRE_PROXY                        = XFEROPTTYPE_STRINGPOINT + 262,
  XFEROPT_PROXY_PINNEDPUBLICKEY            = XFEROPTTYPE_STRINGPOINT + 263,
  XFEROPT_ABSTRACT_UNIX_SOCKET             = XFEROPTTYPE_STRINGPOINT + 264,
  XFEROPT_SUPPRESS_CONNECT_HEADERS         = XFEROPTTYPE_LONG + 265,
  XFEROPT_REQUEST_TARGET                   = XFEROPTTYPE_STRINGPOINT + 266,
  XFEROPT_SOCKS5_AUTH                      = XFEROPTTYPE_LONG + 267,
  XFEROPT_SSH_COMPRESSION                  = XFEROPTTYPE_LONG + 268,
  XFEROPT_MIMEPOST                         = XFEROPTTYPE_OBJECTPOINT + 269,
  XFEROPT_TIMEVALUE_LARGE                  = XFEROPTTYPE_OFF_T + 270,
  XFEROPT_HAPPY_EYEBALLS_TIMEOUT_MS        = XFEROPTTYPE_LONG + 271,
  XFEROPT_RESOLVER_START_FUNCTION          = XFEROPTTYPE_FUNCTIONPOINT + 272,
  XFEROPT_RESOLVER_START_DATA              = XFEROPTTYPE_CBPOINT + 273,
  XFEROPT_HAPROXYPROTOCOL                  = XFEROPTTYPE_LONG + 274,
  XFEROPT_DNS_SHUFFLE_ADDRESSES            = XFEROPTTYPE_LONG + 275,
  XFEROPT_TLS13_CIPHERS                    = XFEROPTTYPE_STRINGPOINT + 276,
  XFEROPT_PROXY_TLS13_CIPHERS              = XFEROPTTYPE_STRINGPOINT + 277,
  XFEROPT_DISALLOW_USERNAME_IN_URL         = XFEROPTTYPE_LONG + 278,
  XFEROPT_DOH_URL                          = XFEROPTTYPE_STRINGPOINT + 279,
  XFEROPT_UPLOAD_BUFFERSIZE                = XFEROPTTYPE_LONG + 280,
  XFEROPT_UPKEEP_INTERVAL_MS               = XFEROPTTYPE_LONG + 281,
  XFEROPT_CURLU                            = XFEROPTTYPE_OBJECTPOINT + 282,
  XFEROPT_TRAILERFUNCTION                  = XFEROPTTYPE_FUNCTIONPOINT + 283,
  XFEROPT_TRAILERDATA                      = XFEROPTTYPE_CBPOINT + 284,
  XFEROPT_HTTP09_ALLOWED                   = XFEROPTTYPE_LONG + 285,
  XFEROPT_ALTSVC_CTRL                      = XFEROPTTYPE_LONG + 286,
  XFEROPT_ALTSVC                           = XFEROPTTYPE_STRINGPOINT + 287,
  XFEROPT_MAXAGE_CONN                      = XFEROPTTYPE_LONG + 288,
  XFEROPT_SASL_AUTHZID                     = XFEROPTTYPE_STRINGPOINT + 289,
  XFEROPT_MAIL_RCPT_ALLLOWFAILS            = XFEROPTTYPE_LONG + 290,
  XFEROPT_SSLCERT_BLOB                     = XFEROPTTYPE_BLOB + 291,
  XFEROPT_SSLKEY_BLOB                      = XFEROPTTYPE_BLOB + 292,
  XFEROPT_PROXY_SSLCERT_BLOB               = XFEROPTTYPE_BLOB + 293,
  XFEROPT_PROXY_SSLKEY_BLOB                = XFEROPTTYPE_BLOB + 294,
  XFEROPT_ISSUERCERT_BLOB                  = XFEROPTTYPE_BLOB + 295,
  XFEROPT_PROXY_ISSUERCERT                 = XFEROPTTYPE_STRINGPOINT + 296,
  XFEROPT_PROXY_ISSUERCERT_BLOB            = XFEROPTTYPE_BLOB + 297,
  XFEROPT_SSL_EC_CURVES                    = XFEROPTTYPE_STRINGPOINT + 298,
  XFEROPT_HSTS_CTRL                        = XFEROPTTYPE_LONG + 299,
  XFEROPT_HSTS                             = XFEROPTTYPE_STRINGPOINT + 300,
  XFEROPT_HSTSREADFUNCTION                 = XFEROPTTYPE_FUNCTIONPOINT + 301,
  XFEROPT_HSTSREADDATA                     = XFEROPTTYPE_CBPOINT + 302,
  XFEROPT_HSTSWRITEFUNCTION                = XFEROPTTYPE_FUNCTIONPOINT + 303,
  XFEROPT_HSTSWRITEDATA                    = XFEROPTTYPE_CBPOINT + 304,
  XFEROPT_AWS_SIGV4                        = XFEROPTTYPE_STRINGPOINT + 305,
  XFEROPT_DOH_SSL_VERIFYPEER               = XFEROPTTYPE_LONG + 306,
  XFEROPT_DOH_SSL_VERIFYHOST               = XFEROPTTYPE_LONG + 307,
  XFEROPT_DOH_SSL_VERIFYSTATUS             = XFEROPTTYPE_LONG + 308,
  XFEROPT_CAINFO_BLOB                      = XFEROPTTYPE_BLOB + 309,
  XFEROPT_PROXY_CAINFO_BLOB                = XFEROPTTYPE_BLOB + 310,
  XFEROPT_SSH_HOST_PUBLIC_KEY_SHA256       = XFEROPTTYPE_STRINGPOINT + 311,
  XFEROPT_PREREQFUNCTION                   = XFEROPTTYPE_FUNCTIONPOINT + 312,
  XFEROPT_PREREQDATA                       = XFEROPTTYPE_CBPOINT + 313,
  XFEROPT_MAXLIFETIME_CONN                 = XFEROPTTYPE_LONG + 314,
  XFEROPT_MIME_OPTIONS                     = XFEROPTTYPE_LONG + 315,
  XFEROPT_SSH_HOSTKEYFUNCTION              = XFEROPTTYPE_FUNCTIONPOINT + 316,
  XFEROPT_SSH_HOSTKEYDATA                  = XFEROPTTYPE_CBPOINT + 317,
  XFEROPT_PROTOCOLS_STR                    = XFEROPTTYPE_STRINGPOINT + 318,
  XFEROPT_REDIR_PROTOCOLS_STR              = XFEROPTTYPE_STRINGPOINT + 319,
  XFEROPT_WS_OPTIONS                       = XFEROPTTYPE_LONG + 320,
  XFEROPT_CA_CACHE_TIMEOUT                 = XFEROPTTYPE_LONG + 321,
  XFEROPT_QUICK_EXIT                       = XFEROPTTYPE_LONG + 322,

  /* xfer's own options. libcurl's blob options are 40000 + n with a small n,
   * so 49000 and up stays clear of every libcurl number. */

  /* long: the largest response head (status line plus all header lines) that
   * one response may have, in bytes; a larger head fails the transfer with
   * XFERE_RECV_ERROR, as libcurl's header-size limit. Default 300 KiB. */
  XFEROPT_MAX_HEAD_SIZE                    = 49001,
  /* long: the longest single header line, in bytes; a longer one fails the
   * transfer with XFERE_TOO_LARGE. Default 100 KiB (XFER_MAX_HTTP_HEADER). */
  XFEROPT_MAX_HEADER_LINE                  = 49002,
  /* long: the most header lines one response head may have; more fail the
   * transfer with XFERE_TOO_LARGE. Default 5000, at most 65534 (a larger
   * value, or one below 1, is refused with XFERE_BAD_FUNCTION_ARGUMENT). */
  XFEROPT_MAX_HEADER_COUNT                 = 49003
} xfer_option;

/* ------------------------------------------------------------------------
 * Multi options (CURLMoption), numbered with the same type bases.
 * ------------------------------------------------------------------------ */

typedef enum xfer_moption {
  XFERMOPT_SOCKETFUNCTION                  = XFEROPTTYPE_FUNCTIONPOINT + 1,
  XFERMOPT_SOCKETDATA                      = XFEROPTTYPE_OBJECTPOINT + 2,
  XFERMOPT_PIPELINING                      = XFEROPTTYPE_LONG + 3,
  XFERMOPT_TIMERFUNCTION                   = XFEROPTTYPE_FUNCTIONPOINT + 4,
  XFERMOPT_TIMERDATA                       = XFEROPTTYPE_OBJECTPOINT + 5,
  XFERMOPT_MAXCONNECTS                     = XFEROPTTYPE_LONG + 6,
  XFERMOPT_MAX_HOST_CONNECTIONS            = XFEROPTTYPE_LONG + 7,
  XFERMOPT_MAX_PIPELINE_LENGTH             = XFEROPTTYPE_LONG + 8,
  XFERMOPT_CONTENT_LENGTH_PENALTY_SIZE     = XFEROPTTYPE_OFF_T + 9,
  XFERMOPT_CHUNK_LENGTH_PENALTY_SIZE       = XFEROPTTYPE_OFF_T + 10,
  XFERMOPT_PIPELINING_SITE_BL              = XFEROPTTYPE_OBJECTPOINT + 11,
  XFERMOPT_PIPELINING_SERVER_BL            = XFEROPTTYPE_OBJECTPOINT + 12,
  XFERMOPT_MAX_TOTAL_CONNECTIONS           = XFEROPTTYPE_LONG + 13,
  XFERMOPT_PUSHFUNCTION                    = XFEROPTTYPE_FUNCTIONPOINT + 14,
  XFERMOPT_PUSHDATA                        = XFEROPTTYPE_OBJECTPOINT + 15,
  XFERMOPT_MAX_CONCURRENT_STREAMS          = XFEROPTTYPE_LONG + 16,

  /* xfer's own multi options, from 40000 up. */

  /* long: which I/O backend the multi uses, one of XFER_BACKEND_*; set it
   * before the first transfer is added. With XFER_BACKEND_AUTO (the default)
   * the XFER_BACKEND environment variable, when set to poll, epoll or
   * io_uring, picks the backend, so one test binary can run on each. A
   * backend that is not compiled in or out of range gives
   * XFERM_BAD_FUNCTION_ARGUMENT. */
  XFERMOPT_BACKEND                         = 40000,

  /* long, 0 or 1: one pollable fd for the whole multi. With 1, the socket
   * callback is told about a single fd (the epoll backend's epoll fd, the
   * io_uring backend's own pollable fd) instead of every connection's
   * socket; the host loop keeps that one registration whatever the number
   * of connections, and xfer_multi_socket_action() on it reaps every
   * completion. Set it before the first transfer is added. The poll
   * backend has no such fd: XFERM_BAD_FUNCTION_ARGUMENT there. */
  XFERMOPT_SINGLE_FD                       = 40001,

  /* long, 0 or 1: with the event API, announce the multi's wakeup fd to the
   * socket callback at all times. By default it is announced only while a
   * transfer runs (as libcurl 8 announces its own), so that a loop which
   * ends when nothing is watched ends; with 1, xfer_multi_wakeup() and
   * xfer_multi_post() from other threads also wake an idle multi's loop,
   * which then never runs empty. */
  XFERMOPT_ANNOUNCE_WAKEUP                 = 40002,

  /* long, microseconds, 0 to 1000000 (default 50): how long a wait may hold
   * on to early completions while more are on their way, as a network
   * card's interrupt moderation does. While many transfers run on
   * connections (16 or more; those queued for a connection do not count),
   * the io_uring backend waits for one completion per 8 of them (at most
   * 16) instead of the first one, for at most this
   * long, and then takes what has come: fewer sleeps and wake-ups per
   * request, at most this much added to a response's latency. 0 turns it
   * off. The readiness backends (poll, epoll) have nothing to wait for in
   * bulk and ignore it. */
  XFERMOPT_BATCH_WAIT_US                   = 40003
} xfer_moption;

/* Values of XFERMOPT_BACKEND. AUTO picks the best that works on this system,
 * in the order io_uring, epoll, poll. */
#define XFER_BACKEND_AUTO     0L
#define XFER_BACKEND_POLL     1L
#define XFER_BACKEND_EPOLL    2L
#define XFER_BACKEND_IO_URING 3L

/* Bits of XFERMOPT_PIPELINING. Kept as macros usable in #if, as in libcurl;
 * xfer speaks HTTP/1.1 only, so multiplexing has no effect. */
#define XFERPIPE_NOTHING   0L
#define XFERPIPE_HTTP1     1L
#define XFERPIPE_MULTIPLEX 2L

/* ------------------------------------------------------------------------
 * Transfer information (CURLINFO): the type of the result is encoded in the
 * high bits of its number.
 * ------------------------------------------------------------------------ */

#define XFERINFO_STRING   0x100000 /* char ** */
#define XFERINFO_LONG     0x200000 /* long * */
#define XFERINFO_DOUBLE   0x300000 /* double * */
#define XFERINFO_SLIST    0x400000 /* struct xfer_slist ** */
#define XFERINFO_PTR      0x400000 /* void **, same base as SLIST */
#define XFERINFO_SOCKET   0x500000 /* xfer_socket_t * */
#define XFERINFO_OFF_T    0x600000 /* xfer_off_t * */
#define XFERINFO_MASK     0x0fffff
#define XFERINFO_TYPEMASK 0xf00000

typedef enum xfer_info {
  XFERINFO_NONE                            = 0, /* first, never used */
  XFERINFO_EFFECTIVE_URL                   = XFERINFO_STRING + 1,
  XFERINFO_RESPONSE_CODE                   = XFERINFO_LONG + 2,
  XFERINFO_TOTAL_TIME                      = XFERINFO_DOUBLE + 3,
  XFERINFO_NAMELOOKUP_TIME                 = XFERINFO_DOUBLE + 4,
  XFERINFO_CONNECT_TIME                    = XFERINFO_DOUBLE + 5,
  XFERINFO_PRETRANSFER_TIME                = XFERINFO_DOUBLE + 6,
  XFERINFO_SIZE_UPLOAD                     = XFERINFO_DOUBLE + 7, /* deprecated 7.55.0 */
  XFERINFO_SIZE_UPLOAD_T                   = XFERINFO_OFF_T + 7,
  XFERINFO_SIZE_DOWNLOAD                   = XFERINFO_DOUBLE + 8, /* deprecated 7.55.0 */
  XFERINFO_SIZE_DOWNLOAD_T                 = XFERINFO_OFF_T + 8,
  XFERINFO_SPEED_DOWNLOAD                  = XFERINFO_DOUBLE + 9, /* deprecated 7.55.0 */
  XFERINFO_SPEED_DOWNLOAD_T                = XFERINFO_OFF_T + 9,
  XFERINFO_SPEED_UPLOAD                    = XFERINFO_DOUBLE + 10, /* deprecated 7.55.0 */
  XFERINFO_SPEED_UPLOAD_T                  = XFERINFO_OFF_T + 10,
  XFERINFO_HEADER_SIZE                     = XFERINFO_LONG + 11,
  XFERINFO_REQUEST_SIZE                    = XFERINFO_LONG + 12,
  XFERINFO_SSL_VERIFYRESULT                = XFERINFO_LONG + 13,
  XFERINFO_FILETIME                        = XFERINFO_LONG + 14,
  XFERINFO_FILETIME_T                      = XFERINFO_OFF_T + 14,
  XFERINFO_CONTENT_LENGTH_DOWNLOAD         = XFERINFO_DOUBLE + 15, /* deprecated 7.55.0 */
  XFERINFO_CONTENT_LENGTH_DOWNLOAD_T       = XFERINFO_OFF_T + 15,
  XFERINFO_CONTENT_LENGTH_UPLOAD           = XFERINFO_DOUBLE + 16, /* deprecated 7.55.0 */
  XFERINFO_CONTENT_LENGTH_UPLOAD_T         = XFERINFO_OFF_T + 16,
  XFERINFO_STARTTRANSFER_TIME              = XFERINFO_DOUBLE + 17,
  XFERINFO_CONTENT_TYPE                    = XFERINFO_STRING + 18,
  XFERINFO_REDIRECT_TIME                   = XFERINFO_DOUBLE + 19,
  XFERINFO_REDIRECT_COUNT                  = XFERINFO_LONG + 20,
  XFERINFO_PRIVATE                         = XFERINFO_STRING + 21,
  XFERINFO_HTTP_CONNECTCODE                = XFERINFO_LONG + 22,
  XFERINFO_HTTPAUTH_AVAIL                  = XFERINFO_LONG + 23,
  XFERINFO_PROXYAUTH_AVAIL                 = XFERINFO_LONG + 24,
  XFERINFO_OS_ERRNO                        = XFERINFO_LONG + 25,
  XFERINFO_NUM_CONNECTS                    = XFERINFO_LONG + 26,
  XFERINFO_SSL_ENGINES                     = XFERINFO_SLIST + 27,
  XFERINFO_COOKIELIST                      = XFERINFO_SLIST + 28,
  XFERINFO_LASTSOCKET                      = XFERINFO_LONG + 29, /* deprecated 7.45.0 */
  XFERINFO_FTP_ENTRY_PATH                  = XFERINFO_STRING + 30,
  XFERINFO_REDIRECT_URL                    = XFERINFO_STRING + 31,
  XFERINFO_PRIMARY_IP                      = XFERINFO_STRING + 32,
  XFERINFO_APPCONNECT_TIME                 = XFERINFO_DOUBLE + 33,
  XFERINFO_CERTINFO                        = XFERINFO_PTR + 34,
  XFERINFO_CONDITION_UNMET                 = XFERINFO_LONG + 35,
  XFERINFO_RTSP_SESSION_ID                 = XFERINFO_STRING + 36,
  XFERINFO_RTSP_CLIENT_CSEQ                = XFERINFO_LONG + 37,
  XFERINFO_RTSP_SERVER_CSEQ                = XFERINFO_LONG + 38,
  XFERINFO_RTSP_CSEQ_RECV                  = XFERINFO_LONG + 39,
  XFERINFO_PRIMARY_PORT                    = XFERINFO_LONG + 40,
  XFERINFO_LOCAL_IP                        = XFERINFO_STRING + 41,
  XFERINFO_LOCAL_PORT                      = XFERINFO_LONG + 42,
  XFERINFO_TLS_SESSION                     = XFERINFO_PTR + 43, /* deprecated 7.48.0 */
  XFERINFO_ACTIVESOCKET                    = XFERINFO_SOCKET + 44,
  XFERINFO_TLS_SSL_PTR                     = XFERINFO_PTR + 45,
  XFERINFO_HTTP_VERSION                    = XFERINFO_LONG + 46,
  XFERINFO_PROXY_SSL_VERIFYRESULT          = XFERINFO_LONG + 47,
  XFERINFO_PROTOCOL                        = XFERINFO_LONG + 48, /* deprecated 7.85.0 */
  XFERINFO_SCHEME                          = XFERINFO_STRING + 49,
  XFERINFO_TOTAL_TIME_T                    = XFERINFO_OFF_T + 50,
  XFERINFO_NAMELOOKUP_TIME_T               = XFERINFO_OFF_T + 51,
  XFERINFO_CONNECT_TIME_T                  = XFERINFO_OFF_T + 52,
  XFERINFO_PRETRANSFER_TIME_T              = XFERINFO_OFF_T + 53,
  XFERINFO_STARTTRANSFER_TIME_T            = XFERINFO_OFF_T + 54,
  XFERINFO_REDIRECT_TIME_T                 = XFERINFO_OFF_T + 55,
  XFERINFO_APPCONNECT_TIME_T               = XFERINFO_OFF_T + 56,
  XFERINFO_RETRY_AFTER                     = XFERINFO_OFF_T + 57,
  XFERINFO_EFFECTIVE_METHOD                = XFERINFO_STRING + 58,
  XFERINFO_PROXY_ERROR                     = XFERINFO_LONG + 59,
  XFERINFO_REFERER                         = XFERINFO_STRING + 60,
  XFERINFO_CAINFO                          = XFERINFO_STRING + 61,
  XFERINFO_CAPATH                          = XFERINFO_STRING + 62,
  XFERINFO_LASTONE                         = 62,
  /* xfer's own infos, from 40000 up in their type's range. */
  /* 1 when the transfer's connection resumed a TLS session (an abbreviated
   * handshake), 0 when it made a full one or is not TLS. A reused
   * keep-alive connection reports what its handshake did. */
  XFERINFO_TLS_SESSION_RESUMED             = XFERINFO_LONG + 40000
} xfer_info;

/* What XFERINFO_TLS_SSL_PTR gives (curl_tlssessioninfo): the TLS library
 * the transfer's connection uses and its per-connection object (an SSL *
 * for OpenSSL, a WOLFSSL * for wolfSSL), valid while the transfer runs or,
 * after it, until the next call that changes the multi; NULL internals and
 * XFERSSLBACKEND_NONE when the transfer has no TLS connection. */
struct xfer_tlssessioninfo {
  int backend; /* xfer_sslbackend */
  void *internals;
};

/* ------------------------------------------------------------------------
 * Messages from xfer_multi_info_read() (CURLMsg).
 * ------------------------------------------------------------------------ */

typedef enum {
  XFERMSG_NONE = 0, /* first, not used */
  XFERMSG_DONE = 1, /* the transfer finished; data.result holds its code */
  XFERMSG_LAST = 2  /* last, not used */
} XFERMSG;

struct xfer_msg {
  XFERMSG msg;           /* what this message means */
  xfer_easy *easy_handle; /* the transfer it concerns */
  union {
    void *whatever;   /* message-specific data */
    xfer_code result; /* the transfer's result, for XFERMSG_DONE */
  } data;
};
typedef struct xfer_msg xfer_msg;

/* ------------------------------------------------------------------------
 * Waiting: extra descriptors for xfer_multi_poll() and xfer_multi_wait().
 * The bits are defined here rather than taken from <poll.h>, as in libcurl.
 * ------------------------------------------------------------------------ */

#define XFER_WAIT_POLLIN  0x0001
#define XFER_WAIT_POLLPRI 0x0002
#define XFER_WAIT_POLLOUT 0x0004

struct xfer_waitfd {
  xfer_socket_t fd;
  short events;  /* XFER_WAIT_POLL* bits the caller waits for */
  short revents; /* XFER_WAIT_POLL* bits that happened, written on return */
};

/* ------------------------------------------------------------------------
 * Event-driven interface constants (socket callback actions, socket_action
 * event bits, the timeout pseudo-socket), with libcurl's values.
 * ------------------------------------------------------------------------ */

#define XFER_POLL_NONE   0
#define XFER_POLL_IN     1
#define XFER_POLL_OUT    2
#define XFER_POLL_INOUT  3
#define XFER_POLL_REMOVE 4

#define XFER_SOCKET_TIMEOUT XFER_SOCKET_BAD

#define XFER_CSELECT_IN  0x01
#define XFER_CSELECT_OUT 0x02
#define XFER_CSELECT_ERR 0x04

/* ------------------------------------------------------------------------
 * Callbacks, with libcurl's shapes.
 * ------------------------------------------------------------------------ */

/* The socket callback (curl_socket_callback): the multi wants the host loop
 * to watch s for `what` (XFER_POLL_IN, _OUT, _INOUT), or to forget it
 * (XFER_POLL_REMOVE, always before the socket is closed). It is called only
 * when a socket's interest changes. easy is the transfer using the socket,
 * or NULL for a socket that is the multi's own (an idle pooled connection,
 * the resolver's, or the single fd of XFERMOPT_SINGLE_FD). socketp is what
 * xfer_multi_assign() attached to s, NULL otherwise. Return 0, or -1 to fail
 * the transfer using s (XFERE_ABORTED_BY_CALLBACK). */
typedef int (*xfer_socket_callback)(xfer_easy *easy, xfer_socket_t s, int what, void *clientp,
                                    void *socketp);
/* The timer callback (curl_multi_timer_callback): call
 * xfer_multi_socket_action(m, XFER_SOCKET_TIMEOUT, 0, ...) in timeout_ms
 * milliseconds (0: as soon as possible); -1 deletes the timer. Each call
 * replaces the previous timer, which fires once. Return 0, or -1 to fail
 * the transfers that the timer serves (XFERE_ABORTED_BY_CALLBACK). */
typedef int (*xfer_multi_timer_callback)(xfer_multi *m, long timeout_ms, void *clientp);

/* The kind of data passed to the debug callback (curl_infotype). */
typedef enum {
  XFERINFO_TEXT = 0,
  XFERINFO_HEADER_IN = 1,
  XFERINFO_HEADER_OUT = 2,
  XFERINFO_DATA_IN = 3,
  XFERINFO_DATA_OUT = 4,
  XFERINFO_SSL_DATA_IN = 5,
  XFERINFO_SSL_DATA_OUT = 6,
  XFERINFO_END
} xfer_infotype;

/* Receives response data (XFEROPT_WRITEFUNCTION) or header lines
 * (XFEROPT_HEADERFUNCTION); returns the number of bytes taken (size * nmemb),
 * XFER_WRITEFUNC_PAUSE or XFER_WRITEFUNC_ERROR. Any other count fails the
 * transfer with XFERE_WRITE_ERROR. */
typedef size_t (*xfer_write_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);

/* Supplies upload data (XFEROPT_READFUNCTION): fills at most size * nitems
 * bytes and returns how many, 0 at the end, or XFER_READFUNC_ABORT or
 * XFER_READFUNC_PAUSE. */
typedef size_t (*xfer_read_callback)(char *buffer, size_t size, size_t nitems, void *instream);

/* Progress (XFEROPT_XFERINFOFUNCTION): returning non-zero aborts the transfer
 * with XFERE_ABORTED_BY_CALLBACK, except XFER_PROGRESSFUNC_CONTINUE. */
typedef int (*xfer_xferinfo_callback)(void *clientp, xfer_off_t dltotal, xfer_off_t dlnow,
                                      xfer_off_t ultotal, xfer_off_t ulnow);

/* Verbose trace (XFEROPT_DEBUGFUNCTION); must return 0. */
typedef int (*xfer_debug_callback)(xfer_easy *handle, xfer_infotype type, char *data, size_t size,
                                   void *userptr);

/* The allocator of xfer_global_init_mem(). */
typedef void *(*xfer_malloc_callback)(size_t size);
typedef void (*xfer_free_callback)(void *ptr);
typedef void *(*xfer_realloc_callback)(void *ptr, size_t size);
typedef char *(*xfer_strdup_callback)(const char *str);
typedef void *(*xfer_calloc_callback)(size_t nmemb, size_t size);

/* ------------------------------------------------------------------------
 * Other constants, with libcurl's values.
 * ------------------------------------------------------------------------ */

/* Size of the buffer given to XFEROPT_ERRORBUFFER. */
#define XFER_ERROR_SIZE 256

/* The most bytes one call of the write callback delivers. */
#define XFER_MAX_WRITE_SIZE 16384
/* The largest XFEROPT_BUFFERSIZE accepted. */
#define XFER_MAX_READ_SIZE (10 * 1024 * 1024)
/* The longest header line passed to the header callback, by default. */
#define XFER_MAX_HTTP_HEADER (100 * 1024)

/* Special return values of the write, read and progress callbacks. */
#define XFER_WRITEFUNC_PAUSE 0x10000001
#define XFER_WRITEFUNC_ERROR 0xFFFFFFFF
#define XFER_READFUNC_ABORT 0x10000000
#define XFER_READFUNC_PAUSE 0x10000001
#define XFER_PROGRESSFUNC_CONTINUE 0x10000001

/* Flags of xfer_global_init(). They have no effect beyond what libcurl's do
 * (TLS is always initialised); they exist so that ported code compiles. */
#define XFER_GLOBAL_SSL (1 << 0)
#define XFER_GLOBAL_WIN32 (1 << 1)
#define XFER_GLOBAL_ALL (XFER_GLOBAL_SSL | XFER_GLOBAL_WIN32)
#define XFER_GLOBAL_NOTHING 0
#define XFER_GLOBAL_DEFAULT XFER_GLOBAL_ALL

/* Bits for pausing a transfer in either direction. */
#define XFERPAUSE_RECV (1 << 0)
#define XFERPAUSE_RECV_CONT (0)
#define XFERPAUSE_SEND (1 << 2)
#define XFERPAUSE_SEND_CONT (0)
#define XFERPAUSE_ALL (XFERPAUSE_RECV | XFERPAUSE_SEND)
#define XFERPAUSE_CONT (XFERPAUSE_RECV_CONT | XFERPAUSE_SEND_CONT)

/* Values of XFEROPT_HTTP_VERSION. xfer speaks HTTP/1.0 and HTTP/1.1; the
 * others are listed so that ported code compiles. */
enum {
  XFER_HTTP_VERSION_NONE = 0, /* no preference: HTTP/1.1 */
  XFER_HTTP_VERSION_1_0 = 1,
  XFER_HTTP_VERSION_1_1 = 2,
  XFER_HTTP_VERSION_2_0 = 3,
  XFER_HTTP_VERSION_2TLS = 4,
  XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE = 5,
  XFER_HTTP_VERSION_3 = 30,
  XFER_HTTP_VERSION_3ONLY = 31,
  XFER_HTTP_VERSION_LAST = 32 /* never valid */
};
#define XFER_HTTP_VERSION_2 XFER_HTTP_VERSION_2_0

/* Values of XFEROPT_SSLVERSION: the minimum in the low 16 bits, the maximum
 * (XFER_SSLVERSION_MAX_*) in the high ones. xfer never speaks below TLS 1.2:
 * DEFAULT and TLSv1 mean "1.2 or later", and a minimum or maximum below 1.2
 * is XFERE_BAD_FUNCTION_ARGUMENT. */
enum {
  XFER_SSLVERSION_DEFAULT = 0,
  XFER_SSLVERSION_TLSv1 = 1,
  XFER_SSLVERSION_SSLv2 = 2,
  XFER_SSLVERSION_SSLv3 = 3,
  XFER_SSLVERSION_TLSv1_0 = 4,
  XFER_SSLVERSION_TLSv1_1 = 5,
  XFER_SSLVERSION_TLSv1_2 = 6,
  XFER_SSLVERSION_TLSv1_3 = 7,
  XFER_SSLVERSION_LAST = 8
};
enum {
  XFER_SSLVERSION_MAX_NONE = 0,
  XFER_SSLVERSION_MAX_DEFAULT = (XFER_SSLVERSION_TLSv1 << 16),
  XFER_SSLVERSION_MAX_TLSv1_0 = (XFER_SSLVERSION_TLSv1_0 << 16),
  XFER_SSLVERSION_MAX_TLSv1_1 = (XFER_SSLVERSION_TLSv1_1 << 16),
  XFER_SSLVERSION_MAX_TLSv1_2 = (XFER_SSLVERSION_TLSv1_2 << 16),
  XFER_SSLVERSION_MAX_TLSv1_3 = (XFER_SSLVERSION_TLSv1_3 << 16),
  XFER_SSLVERSION_MAX_LAST = (XFER_SSLVERSION_LAST << 16)
};

/* A block of bytes for the XFEROPTTYPE_BLOB options (struct curl_blob):
 * with XFER_BLOB_COPY the library keeps its own copy, with
 * XFER_BLOB_NOCOPY the caller keeps data alive while the handle uses it. */
struct xfer_blob {
  void *data;
  size_t len;
  unsigned int flags;
};
#define XFER_BLOB_COPY 1
#define XFER_BLOB_NOCOPY 0

/* ------------------------------------------------------------------------
 * Global functions
 * ------------------------------------------------------------------------ */

/* Initialises the library (flags: XFER_GLOBAL_*). Call it once, before any
 * other function and before any thread uses the library. */
XFER_EXTERN xfer_code xfer_global_init(long flags);

/* As xfer_global_init(XFER_GLOBAL_DEFAULT), and installs the allocator that
 * every allocation of the library goes through from then on. All five
 * functions are required; NULL for any of them is XFERE_FAILED_INIT. */
XFER_EXTERN xfer_code xfer_global_init_mem(xfer_malloc_callback m, xfer_free_callback f,
                                           xfer_realloc_callback r, xfer_strdup_callback s,
                                           xfer_calloc_callback c);

/* Releases what xfer_global_init() set up; call it once, last. */
XFER_EXTERN void xfer_global_cleanup(void);

/* A static string naming the version, the backends compiled in, and the TLS
 * library. */
XFER_EXTERN const char *xfer_version(void);

/* Frees memory the library handed to the caller (xfer_multi_get_handles()).
 * NULL is a no-op. */
XFER_EXTERN void xfer_free(void *p);

/* ------------------------------------------------------------------------
 * TLS library choice (curl_global_sslset), with libcurl's numbers.
 * ------------------------------------------------------------------------ */

typedef enum {
  XFERSSLBACKEND_NONE = 0,
  XFERSSLBACKEND_OPENSSL = 1,
  XFERSSLBACKEND_GNUTLS = 2,
  XFERSSLBACKEND_NSS = 3,
  XFERSSLBACKEND_OBSOLETE4 = 4,
  XFERSSLBACKEND_GSKIT = 5,
  XFERSSLBACKEND_POLARSSL = 6,
  XFERSSLBACKEND_WOLFSSL = 7,
  XFERSSLBACKEND_SCHANNEL = 8,
  XFERSSLBACKEND_SECURETRANSPORT = 9,
  XFERSSLBACKEND_AXTLS = 10,
  XFERSSLBACKEND_MBEDTLS = 11,
  XFERSSLBACKEND_MESALINK = 12,
  XFERSSLBACKEND_BEARSSL = 13,
  XFERSSLBACKEND_RUSTLS = 14
} xfer_sslbackend;

typedef struct {
  xfer_sslbackend id;
  const char *name; /* "openssl", "wolfssl": the names XFER_SSL_BACKEND takes */
} xfer_ssl_backend;

typedef enum {
  XFERSSLSET_OK = 0,
  XFERSSLSET_UNKNOWN_BACKEND = 1,
  XFERSSLSET_TOO_LATE = 2,
  XFERSSLSET_NO_BACKENDS = 3 /* this build has no TLS library */
} xfer_sslset;

/* Chooses the process's TLS library by id, or by name (case-insensitive)
 * when id is -1, as curl_global_sslset: call it before xfer_global_init()
 * and before any HTTPS transfer. Once a library is in use, any other choice
 * is XFERSSLSET_TOO_LATE (choosing the same one again is XFERSSLSET_OK). An
 * unknown or not-built-in library is XFERSSLSET_UNKNOWN_BACKEND, never a
 * silent substitute. When avail is not NULL, *avail gets the NULL-terminated
 * list of the libraries built in (static storage), whatever the result.
 * Without a call, the XFER_SSL_BACKEND environment variable ("wolfssl",
 * "openssl") chooses, else wolfSSL. */
XFER_EXTERN xfer_sslset xfer_global_sslset(xfer_sslbackend id, const char *name,
                                           const xfer_ssl_backend ***avail);

/* ------------------------------------------------------------------------
 * String lists
 * ------------------------------------------------------------------------ */

/* Appends a copy of data to list (NULL starts a new list) and returns the
 * head of the list, or NULL when out of memory, in which case the old list
 * is left untouched and still owned by the caller. */
XFER_EXTERN struct xfer_slist *xfer_slist_append(struct xfer_slist *list, const char *data);

/* Frees every node of the list and its string. NULL is a no-op. */
XFER_EXTERN void xfer_slist_free_all(struct xfer_slist *list);

/* ------------------------------------------------------------------------
 * Strings and dates (curl_easy_escape, curl_easy_unescape, curl_getdate)
 * ------------------------------------------------------------------------ */

/* Percent-encodes the first length bytes of s (all of it when length is 0):
 * every byte but RFC 3986's unreserved characters becomes %XX. The handle
 * may be NULL. Returns a string to free with xfer_free(), or NULL when out
 * of memory or length is negative. */
XFER_EXTERN char *xfer_easy_escape(xfer_easy *e, const char *s, int length);

/* Decodes %XX sequences (a '%' without two hex digits stays as it is; '+'
 * is not a space). *outlength, when not NULL, gets the decoded length, which
 * may include NUL bytes. Free the result with xfer_free(). */
XFER_EXTERN char *xfer_easy_unescape(xfer_easy *e, const char *s, int length, int *outlength);

/* Seconds since the Epoch for a date as HTTP writes them (RFC 9110 section
 * 5.6.7: IMF-fixdate, RFC 850, asctime) or in the looser forms libcurl
 * takes (hh:mm[:ss], 2- or 4-digit years, +hhmm zones); -1 when the text is
 * not a date. The second argument is unused, as in libcurl. */
XFER_EXTERN time_t xfer_getdate(const char *p, const time_t *unused);

/* ------------------------------------------------------------------------
 * Easy handle
 * ------------------------------------------------------------------------ */

/* A new easy handle with default options, or NULL when out of memory. */
XFER_EXTERN xfer_easy *xfer_easy_init(void);

/* Frees the handle; when it is still added to a multi it is removed first.
 * NULL is a no-op. */
XFER_EXTERN void xfer_easy_cleanup(xfer_easy *e);

/* Sets one option; the argument's type is given by the option's number.
 * An option xfer does not implement is XFERE_UNKNOWN_OPTION, never a silent
 * success; a bad value is XFERE_BAD_FUNCTION_ARGUMENT (or the matching
 * code). */
XFER_EXTERN xfer_code xfer_easy_setopt(xfer_easy *e, xfer_option option, ...);

/* Reads one piece of information about the last transfer into the pointer
 * given, whose type is given by the info's number. Unknown info:
 * XFERE_UNKNOWN_OPTION. */
XFER_EXTERN xfer_code xfer_easy_getinfo(xfer_easy *e, xfer_info info, ...);

/* Sets every option back to its default, keeping the handle and its pooled
 * connections. */
XFER_EXTERN void xfer_easy_reset(xfer_easy *e);

/* A new handle with the same options as e (lists and strings copied), or
 * NULL when out of memory. The copy is in no multi. */
XFER_EXTERN xfer_easy *xfer_easy_duphandle(xfer_easy *e);

/* A readable sentence for every code, never NULL. */
XFER_EXTERN const char *xfer_easy_strerror(xfer_code code);

/* Runs the transfer to its end, blocking, on a private multi. The private
 * multi, with its connection pool, DNS cache and TLS sessions, stays with the
 * handle until xfer_easy_cleanup(), so a loop of performs on one handle
 * reuses its connection, as libcurl's does; adding the handle to a multi
 * closes it. A handle that is in a multi gets XFERE_FAILED_INIT. */
XFER_EXTERN xfer_code xfer_easy_perform(xfer_easy *e);

/* ------------------------------------------------------------------------
 * Multi handle. Calling any multi function (other than wakeup) on a multi
 * from inside one of that multi's callbacks returns XFERM_RECURSIVE_API_CALL
 * and changes nothing. A NULL or stale multi is XFERM_BAD_HANDLE.
 * ------------------------------------------------------------------------ */

/* A new multi handle, or NULL when out of memory. */
XFER_EXTERN xfer_multi *xfer_multi_init(void);

/* Closes the multi and every pooled connection. Frees nothing of the easy
 * handles: they are left detached, as if removed, and must still be cleaned
 * up one by one. Any use of m after it returns is illegal. */
XFER_EXTERN xfer_mcode xfer_multi_cleanup(xfer_multi *m);

/* Queues the transfer; it starts on the next perform/poll. NULL or invalid
 * easy: XFERM_BAD_EASY_HANDLE; already in this or another multi:
 * XFERM_ADDED_ALREADY. */
XFER_EXTERN xfer_mcode xfer_multi_add_handle(xfer_multi *m, xfer_easy *e);

/* Stops the transfer at once, wherever it is, without a done message, and
 * drops its pending message if any. A handle in no multi is XFERM_OK and
 * changes nothing; one in another multi is XFERM_BAD_EASY_HANDLE. */
XFER_EXTERN xfer_mcode xfer_multi_remove_handle(xfer_multi *m, xfer_easy *e);

/* Does all the I/O that can be done now without blocking, drives every
 * transfer, and stores in *running the number still in progress. A transfer
 * that fails fast may never be counted as running: xfer_multi_info_read()
 * still reports it. After an error return, remove every transfer before
 * performing again. */
XFER_EXTERN xfer_mcode xfer_multi_perform(xfer_multi *m, int *running);

/* Waits for activity on the transfers or the extra fds, for timeout_ms, or
 * for xfer_multi_wakeup(), whichever comes first, but never past the multi's
 * own next timer. It waits the whole timeout even when the multi has no
 * transfer at all. *numfds (if not NULL) gets the number of fds with events;
 * each extra[i].revents is rewritten. It performs nothing. timeout_ms < 0:
 * XFERM_BAD_FUNCTION_ARGUMENT. */
XFER_EXTERN xfer_mcode xfer_multi_poll(xfer_multi *m, struct xfer_waitfd extra[],
                                       unsigned extra_nfds, int timeout_ms, int *numfds);

/* As xfer_multi_poll(), but returns at once when there is nothing to wait
 * on, and is not woken by xfer_multi_wakeup(). */
XFER_EXTERN xfer_mcode xfer_multi_wait(xfer_multi *m, struct xfer_waitfd extra[],
                                       unsigned extra_nfds, int timeout_ms, int *numfds);

/* Hands e to m from any thread, concurrently with other posters and with
 * the thread that drives m, without a lock; m is woken as by
 * xfer_multi_wakeup(). The thread that drives m takes the handles up at the
 * start of its next xfer_multi_perform(), xfer_multi_poll() or
 * xfer_multi_socket_action(), in the order each poster posted them, and adds
 * them as xfer_multi_add_handle() would; each then ends with its message,
 * read there as usual (out of memory at take-up: XFERE_OUT_OF_MEMORY).
 *
 * Ownership: from the call on, e belongs to the thread that drives m. The
 * poster must not touch e again (options, infos, cleanup) until that thread
 * hands it back by its own means, after its message was read and it was
 * removed. A second post of e while the first is still queued returns
 * XFERM_ADDED_ALREADY; posting a handle that some thread is using in any
 * other way is the caller's bug. As with xfer_multi_wakeup(), the call
 * must not race xfer_multi_cleanup(m). */
XFER_EXTERN xfer_mcode xfer_multi_post(xfer_multi *m, xfer_easy *e);

/* Makes the current, or else the next, xfer_multi_poll() return promptly.
 * Callable from any thread and from a signal handler. Several wakeups before
 * a poll collapse into one. */
XFER_EXTERN xfer_mcode xfer_multi_wakeup(xfer_multi *m);

/* One message per finished transfer, or NULL when none; *msgs_in_queue gets
 * how many remain queued after this one. A message is valid until the next
 * call that changes the multi (perform, remove, cleanup, or its handle's
 * cleanup). */
XFER_EXTERN xfer_msg *xfer_multi_info_read(xfer_multi *m, int *msgs_in_queue);

/* Adds (never clears) the fds the transfers wait on to the sets, for
 * select(), and stores the highest in *max_fd, or -1 when there is none. */
XFER_EXTERN xfer_mcode xfer_multi_fdset(xfer_multi *m, fd_set *read_fds, fd_set *write_fds,
                                        fd_set *exc_fds, int *max_fd);

/* How long, in milliseconds, the caller may wait before it must call
 * perform again; -1 means no timer is set, 0 means at once. */
XFER_EXTERN xfer_mcode xfer_multi_timeout(xfer_multi *m, long *ms);

/* Sets one multi option. Unknown option: XFERM_UNKNOWN_OPTION; bad value:
 * XFERM_BAD_FUNCTION_ARGUMENT. */
XFER_EXTERN xfer_mcode xfer_multi_setopt(xfer_multi *m, xfer_moption option, ...);

/* A NULL-terminated snapshot array of the easy handles added to m, to be
 * freed with xfer_free(); NULL when out of memory or m is bad. */
XFER_EXTERN xfer_easy **xfer_multi_get_handles(xfer_multi *m);

/* A readable sentence for every code, never NULL. */
XFER_EXTERN const char *xfer_multi_strerror(xfer_mcode code);

/* The event-driven interface, with libcurl's contract: the host loop tells
 * the multi that s is ready (ev_bitmask: XFER_CSELECT_* bits, 0 when not
 * known), or that the timer fired (s = XFER_SOCKET_TIMEOUT). The multi does
 * the I/O that s allows, runs what is due, tells the socket and timer
 * callbacks what changed, and sets *running as xfer_multi_perform() does. An
 * fd the multi does not know (one removed already) is ignored. Set
 * XFERMOPT_SOCKETFUNCTION and XFERMOPT_TIMERFUNCTION first; adding a
 * transfer then calls the timer callback, so the loop never needs a kick. */
XFER_EXTERN xfer_mcode xfer_multi_socket_action(xfer_multi *m, xfer_socket_t s, int ev_bitmask,
                                                int *running_handles);

/* Attaches sockp to s, a socket the socket callback announced; it is passed
 * back as the callback's socketp until s is removed. XFERM_BAD_SOCKET when s
 * is not announced. Allowed inside the socket callback. */
XFER_EXTERN xfer_mcode xfer_multi_assign(xfer_multi *m, xfer_socket_t s, void *sockp);

/* xfer's own: the name of the I/O backend m runs on ("io_uring", "epoll" or
 * "poll"), after XFERMOPT_BACKEND and the XFER_BACKEND variable have had
 * their say; NULL when m is not a live multi. */
XFER_EXTERN const char *xfer_multi_backend(xfer_multi *m);

#ifdef __cplusplus
}
#endif

#endif /* XFER_XFER_H */
