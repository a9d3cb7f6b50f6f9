/* The readable sentences of xfer_easy_strerror() and xfer_multi_strerror().
 *
 * The strings are libcurl's, byte for byte (libcurl 7.88, plus the one code
 * xfer shares with later libcurl), because programs and curl's own test 1538
 * compare them, and because a message a user can search for is worth more
 * than a nicer wording. Some of them therefore say "libcurl". */
#include "xfer/xfer.h"

#include <stddef.h>

/* Indexed by code. The obsolete slots have no entry (NULL) and read as
 * "Unknown error", as in libcurl. */
static const char *const easy_strings[XFER_LAST] = {
    [XFERE_OK] = "No error",
    [XFERE_UNSUPPORTED_PROTOCOL] = "Unsupported protocol",
    [XFERE_FAILED_INIT] = "Failed initialization",
    [XFERE_URL_MALFORMAT] = "URL using bad/illegal format or missing URL",
    [XFERE_NOT_BUILT_IN] = "A requested feature, protocol or option was not found built-in in "
                           "this libcurl due to a build-time decision.",
    [XFERE_COULDNT_RESOLVE_PROXY] = "Couldn't resolve proxy name",
    [XFERE_COULDNT_RESOLVE_HOST] = "Couldn't resolve host name",
    [XFERE_COULDNT_CONNECT] = "Couldn't connect to server",
    [XFERE_WEIRD_SERVER_REPLY] = "Weird server reply",
    [XFERE_REMOTE_ACCESS_DENIED] = "Access denied to remote resource",
    [XFERE_FTP_ACCEPT_FAILED] = "FTP: The server failed to connect to data port",
    [XFERE_FTP_WEIRD_PASS_REPLY] = "FTP: unknown PASS reply",
    [XFERE_FTP_ACCEPT_TIMEOUT] = "FTP: Accepting server connect has timed out",
    [XFERE_FTP_WEIRD_PASV_REPLY] = "FTP: unknown PASV reply",
    [XFERE_FTP_WEIRD_227_FORMAT] = "FTP: unknown 227 response format",
    [XFERE_FTP_CANT_GET_HOST] = "FTP: can't figure out the host in the PASV response",
    [XFERE_HTTP2] = "Error in the HTTP2 framing layer",
    [XFERE_FTP_COULDNT_SET_TYPE] = "FTP: couldn't set file type",
    [XFERE_PARTIAL_FILE] = "Transferred a partial file",
    [XFERE_FTP_COULDNT_RETR_FILE] = "FTP: couldn't retrieve (RETR failed) the specified file",
    [XFERE_QUOTE_ERROR] = "Quote command returned error",
    [XFERE_HTTP_RETURNED_ERROR] = "HTTP response code said error",
    [XFERE_WRITE_ERROR] = "Failed writing received data to disk/application",
    [XFERE_UPLOAD_FAILED] = "Upload failed (at start/before it took off)",
    [XFERE_READ_ERROR] = "Failed to open/read local data from file/application",
    [XFERE_OUT_OF_MEMORY] = "Out of memory",
    [XFERE_OPERATION_TIMEDOUT] = "Timeout was reached",
    [XFERE_FTP_PORT_FAILED] = "FTP: command PORT failed",
    [XFERE_FTP_COULDNT_USE_REST] = "FTP: command REST failed",
    [XFERE_RANGE_ERROR] = "Requested range was not delivered by the server",
    [XFERE_HTTP_POST_ERROR] = "Internal problem setting up the POST",
    [XFERE_SSL_CONNECT_ERROR] = "SSL connect error",
    [XFERE_BAD_DOWNLOAD_RESUME] = "Couldn't resume download",
    [XFERE_FILE_COULDNT_READ_FILE] = "Couldn't read a file:// file",
    [XFERE_LDAP_CANNOT_BIND] = "LDAP: cannot bind",
    [XFERE_LDAP_SEARCH_FAILED] = "LDAP: search failed",
    [XFERE_FUNCTION_NOT_FOUND] = "A required function in the library was not found",
    [XFERE_ABORTED_BY_CALLBACK] = "Operation was aborted by an application callback",
    [XFERE_BAD_FUNCTION_ARGUMENT] = "A libcurl function was given a bad argument",
    [XFERE_INTERFACE_FAILED] = "Failed binding local connection end",
    [XFERE_TOO_MANY_REDIRECTS] = "Number of redirects hit maximum amount",
    [XFERE_UNKNOWN_OPTION] = "An unknown option was passed in to libcurl",
    [XFERE_SETOPT_OPTION_SYNTAX] = "Malformed option provided in a setopt",
    [XFERE_GOT_NOTHING] = "Server returned nothing (no headers, no data)",
    [XFERE_SSL_ENGINE_NOTFOUND] = "SSL crypto engine not found",
    [XFERE_SSL_ENGINE_SETFAILED] = "Can not set SSL crypto engine as default",
    [XFERE_SEND_ERROR] = "Failed sending data to the peer",
    [XFERE_RECV_ERROR] = "Failure when receiving data from the peer",
    [XFERE_SSL_CERTPROBLEM] = "Problem with the local SSL certificate",
    [XFERE_SSL_CIPHER] = "Couldn't use specified SSL cipher",
    [XFERE_PEER_FAILED_VERIFICATION] = "SSL peer certificate or SSH remote key was not OK",
    [XFERE_BAD_CONTENT_ENCODING] = "Unrecognized or bad HTTP Content or Transfer-Encoding",
    [XFERE_FILESIZE_EXCEEDED] = "Maximum file size exceeded",
    [XFERE_USE_SSL_FAILED] = "Requested SSL level failed",
    [XFERE_SEND_FAIL_REWIND] = "Send failed since rewinding of the data stream failed",
    [XFERE_SSL_ENGINE_INITFAILED] = "Failed to initialise SSL crypto engine",
    [XFERE_LOGIN_DENIED] = "Login denied",
    [XFERE_TFTP_NOTFOUND] = "TFTP: File Not Found",
    [XFERE_TFTP_PERM] = "TFTP: Access Violation",
    [XFERE_REMOTE_DISK_FULL] = "Disk full or allocation exceeded",
    [XFERE_TFTP_ILLEGAL] = "TFTP: Illegal operation",
    [XFERE_TFTP_UNKNOWNID] = "TFTP: Unknown transfer ID",
    [XFERE_REMOTE_FILE_EXISTS] = "Remote file already exists",
    [XFERE_TFTP_NOSUCHUSER] = "TFTP: No such user",
    [XFERE_SSL_CACERT_BADFILE] = "Problem with the SSL CA cert (path? access rights?)",
    [XFERE_REMOTE_FILE_NOT_FOUND] = "Remote file not found",
    [XFERE_SSH] = "Error in the SSH layer",
    [XFERE_SSL_SHUTDOWN_FAILED] = "Failed to shut down the SSL connection",
    [XFERE_AGAIN] = "Socket not ready for send/recv",
    [XFERE_SSL_CRL_BADFILE] = "Failed to load CRL file (path? access rights?, format?)",
    [XFERE_SSL_ISSUER_ERROR] = "Issuer check against peer certificate failed",
    [XFERE_FTP_PRET_FAILED] = "FTP: The server did not accept the PRET command.",
    [XFERE_RTSP_CSEQ_ERROR] = "RTSP CSeq mismatch or invalid CSeq",
    [XFERE_RTSP_SESSION_ERROR] = "RTSP session error",
    [XFERE_FTP_BAD_FILE_LIST] = "Unable to parse FTP file list",
    [XFERE_CHUNK_FAILED] = "Chunk callback failed",
    [XFERE_NO_CONNECTION_AVAILABLE] = "The max connection limit is reached",
    [XFERE_SSL_PINNEDPUBKEYNOTMATCH] = "SSL public key does not match pinned public key",
    [XFERE_SSL_INVALIDCERTSTATUS] = "SSL server certificate status verification FAILED",
    [XFERE_HTTP2_STREAM] = "Stream error in the HTTP/2 framing layer",
    [XFERE_RECURSIVE_API_CALL] = "API function called from within callback",
    [XFERE_AUTH_ERROR] = "An authentication function returned an error",
    [XFERE_HTTP3] = "HTTP/3 error",
    [XFERE_QUIC_CONNECT_ERROR] = "QUIC connection error",
    [XFERE_PROXY] = "proxy handshake error",
    [XFERE_SSL_CLIENTCERT] = "SSL Client Certificate required",
    [XFERE_UNRECOVERABLE_POLL] = "Unrecoverable error in select/poll",
    [XFERE_TOO_LARGE] = "A value or data field grew larger than allowed",
};

/* Indexed by code + 1, because the table starts at
 * XFERM_CALL_MULTI_PERFORM (-1). */
static const char *const multi_strings[XFERM_LAST + 1] = {
    [1 + XFERM_CALL_MULTI_PERFORM] = "Please call curl_multi_perform() soon",
    [1 + XFERM_OK] = "No error",
    [1 + XFERM_BAD_HANDLE] = "Invalid multi handle",
    [1 + XFERM_BAD_EASY_HANDLE] = "Invalid easy handle",
    [1 + XFERM_OUT_OF_MEMORY] = "Out of memory",
    [1 + XFERM_INTERNAL_ERROR] = "Internal error",
    [1 + XFERM_BAD_SOCKET] = "Invalid socket argument",
    [1 + XFERM_UNKNOWN_OPTION] = "Unknown option",
    [1 + XFERM_ADDED_ALREADY] = "The easy handle is already added to a multi handle",
    [1 + XFERM_RECURSIVE_API_CALL] = "API function called from within callback",
    [1 + XFERM_WAKEUP_FAILURE] = "Wakeup is unavailable or failed",
    [1 + XFERM_BAD_FUNCTION_ARGUMENT] = "A libcurl function was given a bad argument",
    [1 + XFERM_ABORTED_BY_CALLBACK] = "Operation was aborted by an application callback",
    [1 + XFERM_UNRECOVERABLE_POLL] = "Unrecoverable error in select/poll",
};

static const char unknown_error[] = "Unknown error";

const char *xfer_easy_strerror(xfer_code code) {
  /* The cast keeps the range check correct whatever integer type the
   * compiler picked for the enum. */
  long i = (long)code;
  if (i < 0 || i >= (long)XFER_LAST || easy_strings[i] == NULL)
    return unknown_error;
  return easy_strings[i];
}

const char *xfer_multi_strerror(xfer_mcode code) {
  long i = (long)code + 1;
  if (i < 0 || i >= (long)XFERM_LAST + 1 || multi_strings[i] == NULL)
    return unknown_error;
  return multi_strings[i];
}
