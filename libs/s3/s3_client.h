// A small S3 API client over libcurl (CURLOPT_AWS_SIGV4 signs every request)
// and libexpat (XML listings and errors): the few operations the S3
// repository backend needs (libs/store/s3_repository.h), with connection
// reuse, retries with exponential backoff and full jitter, a shared upload
// rate limit, and a per-request observer for metrics.
//
// No secret ever appears in a message or a log line: errors name the
// operation, the bucket, the key and the endpoint only.
//
// Thread-safety: an S3Client is thread-safe; requests from several threads run
// in parallel on up to `max_connections` reused curl handles.
#ifndef ARCA_LIBS_S3_S3_CLIENT_H_
#define ARCA_LIBS_S3_S3_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace arca::s3 {

enum class Addressing {
  kPath,     // http(s)://ENDPOINT/BUCKET/KEY (default for non-AWS endpoints)
  kVirtual,  // http(s)://BUCKET.ENDPOINT/KEY
};

struct S3Options {
  // "http://127.0.0.1:7480" or "https://s3.eu-west-1.amazonaws.com"; scheme
  // required.
  std::string endpoint;
  std::string region = "us-east-1";
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // "" = none (sent as x-amz-security-token)
  Addressing addressing = Addressing::kPath;
  std::string ca_file;  // "" = the system CAs
  // Attempts after the first one for a retryable failure (5xx, 429,
  // SlowDown, connection reset/refused, timeout).
  int max_retries = 5;
  // Backoff before retry n (1-based): uniform in [0, min(cap, base * 2^(n-1))].
  int64_t backoff_base_ms = 100;
  int64_t backoff_cap_ms = 10000;
  // Whole-request timeout (connect + transfer), and connect timeout.
  int64_t timeout_ms = 60000;
  int64_t connect_timeout_ms = 10000;
  // Total PUT body bytes per second over all threads; 0 = unlimited.
  uint64_t limit_upload_bytes_per_second = 0;
  // Curl handles kept for reuse (each keeps its connection alive).
  int max_connections = 16;
};

// One HTTP attempt, reported to the observer after it ends.
struct RequestEvent {
  std::string_view op;  // "PutObject", "GetObject", "HeadObject", "DeleteObject",
                        // "DeleteObjects", "ListObjectsV2", "HeadBucket", "CreateBucket"
  int http_code = 0;    // 0: no HTTP response (connection error, timeout)
  double seconds = 0;   // wall time of the attempt
  bool will_retry = false;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

// Receives every attempt (metrics: arca_uploader_s3_requests_total{op,code},
// latency histogram, retries). Called from request threads; must be
// thread-safe and cheap.
class S3Observer {
 public:
  virtual ~S3Observer() = default;
  virtual void OnRequest(const RequestEvent& event) = 0;
};

struct ObjectInfo {
  std::string key;  // full key (with the prefix)
  uint64_t size = 0;
  int64_t last_modified_unix_ns = 0;
  std::string etag;
};

struct ListPage {
  std::vector<ObjectInfo> objects;
  std::vector<std::string> common_prefixes;  // with delimiter: "a/b/"
  bool truncated = false;
  std::string next_continuation_token;
};

// Counts of attempts so far, by op ("PutObject" → n); for --json statistics.
struct RequestCounts {
  std::vector<std::pair<std::string, uint64_t>> by_op;  // sorted by op
  uint64_t total = 0;
  uint64_t retries = 0;
};

class S3Client {
 public:
  // Checks the options (endpoint scheme http/https, bucket name non-empty and
  // valid for S3) and sets curl up; sends no request. `observer` may be null
  // and must outlive the client. InvalidArgument naming the bad option.
  static absl::StatusOr<std::unique_ptr<S3Client>> Create(S3Options options, std::string bucket,
                                                          S3Observer* observer = nullptr);
  virtual ~S3Client() = default;

  // PUT. With `if_none_match` the request carries "If-None-Match: *": returns
  // true when created, false on 412 (an object already exists under `key`).
  // Without it: always true (overwrites).
  virtual absl::StatusOr<bool> PutObject(std::string_view key, std::string_view body,
                                         bool if_none_match) = 0;
  // GET. NotFound "object KEY not found in bucket B at ENDPOINT" on 404 NoSuchKey.
  virtual absl::StatusOr<std::string> GetObject(std::string_view key) = 0;
  // HEAD. NotFound on 404.
  virtual absl::StatusOr<ObjectInfo> HeadObject(std::string_view key) = 0;
  // DELETE. OK also when absent (S3 semantics).
  virtual absl::Status DeleteObject(std::string_view key) = 0;
  // POST ?delete with up to 1000 keys per request (more are split into
  // several requests); quiet mode. The first per-key error is returned
  // (naming the key and S3's code), after every batch was tried.
  virtual absl::Status DeleteObjects(const std::vector<std::string>& keys) = 0;
  // One ListObjectsV2 page. `delimiter` "" = none; `max_keys` 0 = server default (1000).
  virtual absl::StatusOr<ListPage> ListObjects(std::string_view prefix, std::string_view delimiter,
                                               std::string_view continuation_token,
                                               int max_keys = 0) = 0;
  // Every object under `prefix` (all pages, no delimiter), in key order;
  // stops at and returns the first non-OK status of `fn`.
  virtual absl::Status ListAll(std::string_view prefix,
                               const std::function<absl::Status(const ObjectInfo&)>& fn) = 0;
  // HEAD on the bucket: OK if it exists and the credentials may use it.
  // NotFound "bucket B does not exist at ENDPOINT: create it first";
  // PermissionDenied "access to bucket B at ENDPOINT denied (403 CODE): check
  // AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"; Unavailable if unreachable.
  virtual absl::Status HeadBucket() = 0;
  // PUT on the bucket (tests and `arca init --s3-create-bucket`). OK if it
  // already exists and is ours (409 BucketAlreadyOwnedByYou).
  virtual absl::Status CreateBucket() = 0;

  virtual RequestCounts Counts() const = 0;
  // "s3://BUCKET at ENDPOINT", for messages.
  virtual std::string Describe() const = 0;
  virtual const std::string& bucket() const = 0;
};

// Status mapping used by every call (after retries are exhausted):
//   404 NoSuchKey → NotFound; 404 NoSuchBucket → NotFound naming the bucket;
//   403 → PermissionDenied (S3 code and message, never the credentials);
//   400 → InvalidArgument; 409 → FailedPrecondition; 412 (unexpected) →
//   FailedPrecondition; 5xx, 429, connection errors → Unavailable;
//   a refused TLS certificate (untrusted CA, wrong host) → FailedPrecondition
//   "TLS certificate of ENDPOINT not accepted (...): give the CA that signed
//   it with --s3-ca FILE ...", not retried; an unreadable ca_file →
//   FailedPrecondition; a failed TLS handshake → Unavailable, not retried;
//   timeout → DeadlineExceeded ("... timed out after N ms: raise --s3-timeout").
// Each message names the op, bucket, key (if any) and endpoint.

}  // namespace arca::s3

#endif  // ARCA_LIBS_S3_S3_CLIENT_H_
