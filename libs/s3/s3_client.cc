// S3Client over libcurl 7.88 (see README.md for how requests are signed and
// retried).
#include "libs/s3/s3_client.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/hash/digest.h"
#include "libs/s3/s3_url.h"
#include "libs/s3/s3_xml.h"

namespace arca::s3 {
namespace {

// PUT bodies of all threads of one client share `rate` bytes per second. A
// taker may drive the bucket into debt and then sleeps it off, so large bodies
// pass and later takers queue behind them.
class TokenBucket {
 public:
  explicit TokenBucket(uint64_t rate) : rate_(rate), tokens_(static_cast<double>(rate)) {}

  void Take(uint64_t bytes) {
    if (rate_ == 0 || bytes == 0) return;
    absl::Duration wait;
    {
      absl::MutexLock lock(&mu_);
      absl::Time now = absl::Now();
      tokens_ = std::min(static_cast<double>(rate_),
                         tokens_ + absl::ToDoubleSeconds(now - last_) * static_cast<double>(rate_));
      last_ = now;
      tokens_ -= static_cast<double>(bytes);
      if (tokens_ < 0) wait = absl::Seconds(-tokens_ / static_cast<double>(rate_));
    }
    absl::SleepFor(wait);
  }

 private:
  const uint64_t rate_;
  absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_) = absl::Now();
};

enum class Method { kGet, kHead, kPut, kPost, kDelete };

struct Request {
  std::string_view op;  // a string literal (kept by RequestEvent)
  Method method = Method::kGet;
  std::string_view key;  // "" = a request on the bucket itself
  std::string query;     // canonical, without '?'
  std::optional<std::string_view> body;
  std::string content_type;
  std::vector<std::string> headers;  // "Name: value"
};

struct Response {
  CURLcode curl = CURLE_OK;
  std::string curl_error;
  long http_code = 0;
  std::string body;
  std::string etag;
  std::string last_modified;
  int64_t content_length = -1;
  S3ErrorDocument error;  // parsed from `body` for non-2xx answers
  int attempts = 0;
};

bool RetryableCurl(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
      return true;
    default:
      return false;
  }
}

// The server's certificate was refused: not signed by a trusted CA, or not
// for the host of the endpoint.
bool TlsVerification(CURLcode c) {
  return c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_ISSUER_ERROR ||
         c == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

bool RetryableHttp(const Response& r) {
  return r.http_code >= 500 || r.http_code == 429 || r.error.code == "SlowDown";
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  static_cast<Response*>(user)->body.append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {  // a new response (after 100 Continue)
    r->etag.clear();
    r->last_modified.clear();
    r->content_length = -1;
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = absl::AsciiStrToLower(std::string(line.substr(0, colon)));
  std::string value_str(line.substr(colon + 1));
  absl::string_view value = absl::StripAsciiWhitespace(value_str);
  if (name == "etag") {
    r->etag = std::string(value);
    if (r->etag.size() >= 2 && r->etag.front() == '"' && r->etag.back() == '"') {
      r->etag = r->etag.substr(1, r->etag.size() - 2);
    }
  } else if (name == "last-modified") {
    r->last_modified = std::string(value);
  } else if (name == "content-length") {
    int64_t v;
    if (absl::SimpleAtoi(value, &v)) r->content_length = v;
  }
  return size * n;
}

std::string ContentMd5Base64(std::string_view body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(body.data(), body.size(), md, &len, EVP_md5(), nullptr);
  return absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(md), len));
}

absl::StatusCode CodeForDeleteError(std::string_view code) {
  if (code == "AccessDenied") return absl::StatusCode::kPermissionDenied;
  if (code == "SlowDown" || code == "InternalError" || code == "ServiceUnavailable") {
    return absl::StatusCode::kUnavailable;
  }
  if (code == "NoSuchBucket") return absl::StatusCode::kNotFound;
  return absl::StatusCode::kFailedPrecondition;
}

class CurlS3Client final : public S3Client {
 public:
  CurlS3Client(S3Options options, std::string bucket, std::string scheme, std::string host,
               S3Observer* observer)
      : options_(std::move(options)),
        bucket_(std::move(bucket)),
        scheme_(std::move(scheme)),
        host_(std::move(host)),
        observer_(observer),
        upload_limit_(options_.limit_upload_bytes_per_second),
        sigv4_(absl::StrCat("aws:amz:", options_.region, ":s3")) {}

  ~CurlS3Client() override {
    absl::MutexLock lock(&pool_mu_);
    for (CURL* h : free_handles_) curl_easy_cleanup(h);
  }

  absl::StatusOr<bool> PutObject(std::string_view key, std::string_view body,
                                 bool if_none_match) override {
    if (key.empty()) return EmptyKey("PutObject");
    Request req{.op = "PutObject", .method = Method::kPut, .key = key, .body = body};
    req.content_type = "application/octet-stream";
    if (if_none_match) req.headers.push_back("If-None-Match: *");
    Response r = Execute(req);
    if (r.curl == CURLE_OK && r.http_code / 100 == 2) return true;
    if (if_none_match && r.curl == CURLE_OK && r.http_code == 412) return false;
    return ErrorStatus(req, r);
  }

  absl::StatusOr<std::string> GetObject(std::string_view key) override {
    if (key.empty()) return EmptyKey("GetObject");
    Request req{.op = "GetObject", .method = Method::kGet, .key = key};
    Response r = Execute(req);
    if (r.curl == CURLE_OK && r.http_code / 100 == 2) return std::move(r.body);
    return ErrorStatus(req, r);
  }

  absl::StatusOr<ObjectInfo> HeadObject(std::string_view key) override {
    if (key.empty()) return EmptyKey("HeadObject");
    Request req{.op = "HeadObject", .method = Method::kHead, .key = key};
    Response r = Execute(req);
    if (r.curl != CURLE_OK || r.http_code / 100 != 2) return ErrorStatus(req, r);
    ObjectInfo info;
    info.key = std::string(key);
    info.size = r.content_length < 0 ? 0 : static_cast<uint64_t>(r.content_length);
    info.etag = r.etag;
    if (!r.last_modified.empty()) {
      time_t t = curl_getdate(r.last_modified.c_str(), nullptr);
      if (t != -1) info.last_modified_unix_ns = static_cast<int64_t>(t) * 1000000000;
    }
    return info;
  }

  absl::Status DeleteObject(std::string_view key) override {
    if (key.empty()) return EmptyKey("DeleteObject");
    Request req{.op = "DeleteObject", .method = Method::kDelete, .key = key};
    Response r = Execute(req);
    if (r.curl == CURLE_OK && (r.http_code / 100 == 2 || r.http_code == 404) &&
        r.error.code != "NoSuchBucket") {
      return absl::OkStatus();
    }
    return ErrorStatus(req, r);
  }

  absl::Status DeleteObjects(const std::vector<std::string>& keys) override {
    constexpr size_t kBatch = 1000;
    absl::Status first_error;
    for (size_t start = 0; start < keys.size(); start += kBatch) {
      std::vector<std::string> batch(keys.begin() + start,
                                     keys.begin() + std::min(keys.size(), start + kBatch));
      absl::Status s = DeleteBatch(batch);
      if (!s.ok() && first_error.ok()) first_error = s;
    }
    return first_error;
  }

  absl::StatusOr<ListPage> ListObjects(std::string_view prefix, std::string_view delimiter,
                                       std::string_view continuation_token, int max_keys) override {
    std::vector<std::pair<std::string, std::string>> params = {{"list-type", "2"}};
    if (!prefix.empty()) params.emplace_back("prefix", std::string(prefix));
    if (!delimiter.empty()) params.emplace_back("delimiter", std::string(delimiter));
    if (!continuation_token.empty()) {
      params.emplace_back("continuation-token", std::string(continuation_token));
    }
    if (max_keys > 0) params.emplace_back("max-keys", absl::StrCat(max_keys));
    Request req{.op = "ListObjectsV2", .method = Method::kGet, .query = CanonicalQuery(params)};
    Response r = Execute(req);
    if (r.curl != CURLE_OK || r.http_code / 100 != 2) return ErrorStatus(req, r, prefix);
    auto page = ParseListObjectsV2(r.body);
    if (!page.ok()) {
      return absl::InternalError(
          Scrub(absl::StrCat("ListObjectsV2 of prefix '", std::string(prefix), "' in ", Describe(),
                             ": bad response: ", page.status().message())));
    }
    return page;
  }

  absl::Status ListAll(std::string_view prefix,
                       const std::function<absl::Status(const ObjectInfo&)>& fn) override {
    std::string token;
    while (true) {
      auto page = ListObjects(prefix, "", token, 0);
      if (!page.ok()) return page.status();
      for (const ObjectInfo& info : page->objects) {
        absl::Status s = fn(info);
        if (!s.ok()) return s;
      }
      if (!page->truncated) return absl::OkStatus();
      if (page->next_continuation_token == token) {
        return absl::InternalError(absl::StrCat("ListObjectsV2 of prefix '", std::string(prefix),
                                                "' in ", Describe(),
                                                ": the server repeated a continuation token"));
      }
      token = std::move(page->next_continuation_token);
    }
  }

  absl::Status HeadBucket() override {
    Request req{.op = "HeadBucket", .method = Method::kHead};
    Response r = Execute(req);
    if (r.curl == CURLE_OK && r.http_code / 100 == 2) return absl::OkStatus();
    return ErrorStatus(req, r);
  }

  absl::Status CreateBucket() override {
    std::string body;
    if (options_.region != "us-east-1") {
      body = absl::StrCat(
          "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
          "<LocationConstraint>",
          XmlEscape(options_.region), "</LocationConstraint></CreateBucketConfiguration>");
    }
    Request req{.op = "CreateBucket", .method = Method::kPut, .body = std::string_view(body)};
    req.content_type = "application/xml";
    Response r = Execute(req);
    if (r.curl == CURLE_OK && r.http_code / 100 == 2) return absl::OkStatus();
    if (r.curl == CURLE_OK && r.http_code == 409 && r.error.code == "BucketAlreadyOwnedByYou") {
      return absl::OkStatus();
    }
    return ErrorStatus(req, r);
  }

  RequestCounts Counts() const override {
    absl::MutexLock lock(&counts_mu_);
    RequestCounts c;
    c.by_op.assign(by_op_.begin(), by_op_.end());
    c.total = total_;
    c.retries = retries_;
    return c;
  }

  std::string Describe() const override {
    return absl::StrCat("s3://", bucket_, " at ", options_.endpoint);
  }

  const std::string& bucket() const override { return bucket_; }

 private:
  absl::Status EmptyKey(std::string_view op) const {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(op), " in ", Describe(), ": the key is empty"));
  }

  // Never lets the secret out, even if a server were to echo it.
  std::string Scrub(std::string message) const {
    if (options_.secret_access_key.size() >= 4) {
      absl::StrReplaceAll({{options_.secret_access_key, "[secret]"}}, &message);
    }
    if (options_.session_token.size() >= 4) {
      absl::StrReplaceAll({{options_.session_token, "[token]"}}, &message);
    }
    return message;
  }

  std::string Url(const Request& req) const {
    std::string url;
    if (options_.addressing == Addressing::kVirtual) {
      url = absl::StrCat(scheme_, "://", bucket_, ".", host_, "/");
    } else {
      url = absl::StrCat(scheme_, "://", host_, "/", bucket_);
      if (!req.key.empty()) url += '/';
    }
    url += UriEncode(req.key, /*keep_slash=*/true);
    if (!req.query.empty()) absl::StrAppend(&url, "?", req.query);
    return url;
  }

  // "PutObject of 'a/b' in s3://B at E" / "HeadBucket of s3://B at E".
  std::string What(const Request& req, std::string_view prefix = {}) const {
    if (!req.key.empty()) {
      return absl::StrCat(std::string(req.op), " of '", std::string(req.key), "' in ", Describe());
    }
    if (req.op == "ListObjectsV2") {
      return absl::StrCat("ListObjectsV2 of prefix '", std::string(prefix), "' in ", Describe());
    }
    return absl::StrCat(std::string(req.op), " of ", Describe());
  }

  absl::Status ErrorStatus(const Request& req, const Response& r,
                           std::string_view prefix = {}) const {
    std::string what = What(req, prefix);
    std::string attempts = r.attempts > 1 ? absl::StrCat(" (after ", r.attempts, " attempts)") : "";
    if (r.curl != CURLE_OK) {
      if (r.curl == CURLE_OPERATION_TIMEDOUT) {
        return absl::DeadlineExceededError(
            Scrub(absl::StrCat(what, " timed out after ", options_.timeout_ms,
                               " ms: raise --s3-timeout", attempts, " (", r.curl_error, ")")));
      }
      if (TlsVerification(r.curl)) {
        // Not retried: the same certificate fails the same way.
        return absl::FailedPreconditionError(Scrub(absl::StrCat(
            what, " failed: TLS certificate of ", options_.endpoint, " not accepted (",
            r.curl_error, "): ",
            options_.ca_file.empty()
                ? "give the CA that signed it with --s3-ca FILE (only the system CAs were "
                  "trusted), and check"
                : absl::StrCat("check that the CA in --s3-ca ", options_.ca_file, " signed it and"),
            " that it names the host of the endpoint")));
      }
      if (r.curl == CURLE_SSL_CACERT_BADFILE) {
        return absl::FailedPreconditionError(
            Scrub(absl::StrCat(what, " failed: cannot use the CA file '", options_.ca_file,
                               "' (--s3-ca): ", r.curl_error)));
      }
      std::string m = absl::StrCat(what, " failed: ", r.curl_error, attempts);
      if (r.curl == CURLE_SSL_CONNECT_ERROR) {
        return absl::UnavailableError(Scrub(absl::StrCat(
            m, ": TLS handshake failed (does ", options_.endpoint, " serve https on that port?)")));
      }
      if (r.curl == CURLE_URL_MALFORMAT) return absl::InvalidArgumentError(Scrub(m));
      return absl::UnavailableError(Scrub(m));
    }
    const std::string& code = r.error.code;
    std::string detail = absl::StrCat(r.http_code, code.empty() ? "" : " ", code,
                                      r.error.message.empty() ? "" : ": ", r.error.message);
    if (r.http_code == 404) {
      if (code == "NoSuchBucket" || (req.key.empty() && code.empty())) {
        return absl::NotFoundError(
            Scrub(absl::StrCat(std::string(req.op), ": bucket ", bucket_, " does not exist at ",
                               options_.endpoint, ": create it first")));
      }
      if (code == "NoSuchKey" || (code.empty() && !req.key.empty())) {
        return absl::NotFoundError(
            Scrub(absl::StrCat(std::string(req.op), ": object ", std::string(req.key),
                               " not found in bucket ", bucket_, " at ", options_.endpoint)));
      }
      return absl::NotFoundError(Scrub(absl::StrCat(what, " failed: ", detail)));
    }
    if (r.http_code == 403 || r.http_code == 401) {
      return absl::PermissionDeniedError(Scrub(absl::StrCat(
          what, ": access to bucket ", bucket_, " at ", options_.endpoint, " denied (", r.http_code,
          " ", code.empty() ? "Forbidden" : code, ")", r.error.message.empty() ? "" : ": ",
          r.error.message, ": check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY")));
    }
    std::string m = absl::StrCat(what, " failed: HTTP ", detail, attempts);
    if (r.http_code >= 500 || r.http_code == 429 || code == "SlowDown") {
      return absl::UnavailableError(Scrub(m));
    }
    if (r.http_code == 400) return absl::InvalidArgumentError(Scrub(m));
    if (r.http_code == 409 || r.http_code == 412 || r.http_code / 100 == 4) {
      return absl::FailedPreconditionError(Scrub(m));
    }
    return absl::UnknownError(Scrub(m));
  }

  absl::Status DeleteBatch(const std::vector<std::string>& keys) {
    auto body = BuildDeleteObjectsBody(keys);
    if (!body.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("DeleteObjects in ", Describe(), ": ", body.status().message()));
    }
    Request req{.op = "DeleteObjects",
                .method = Method::kPost,
                .query = "delete=",
                .body = std::string_view(*body)};
    req.content_type = "application/xml";
    req.headers.push_back(absl::StrCat("Content-MD5: ", ContentMd5Base64(*body)));
    Response r = Execute(req);
    if (r.curl != CURLE_OK || r.http_code / 100 != 2) return ErrorStatus(req, r);
    auto errors = ParseDeleteResult(r.body);
    if (!errors.ok()) {
      return absl::InternalError(Scrub(absl::StrCat(
          "DeleteObjects in ", Describe(), ": bad response: ", errors.status().message())));
    }
    if (errors->empty()) return absl::OkStatus();
    const DeleteError& e = errors->front();
    return absl::Status(
        CodeForDeleteError(e.code),
        Scrub(absl::StrCat(
            "DeleteObjects of '", e.key, "' in ", Describe(), " failed: ", e.code,
            e.message.empty() ? "" : ": ", e.message,
            errors->size() > 1 ? absl::StrCat(" (and ", errors->size() - 1, " more keys)") : "")));
  }

  CURL* TakeHandle() {
    absl::MutexLock lock(&pool_mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool_mu_) {
      return !free_handles_.empty() || created_ < std::max(1, options_.max_connections);
    };
    pool_mu_.Await(absl::Condition(&available));
    if (!free_handles_.empty()) {
      CURL* h = free_handles_.back();
      free_handles_.pop_back();
      return h;
    }
    CURL* h = curl_easy_init();
    if (h != nullptr) ++created_;
    return h;
  }

  void ReturnHandle(CURL* h) {
    absl::MutexLock lock(&pool_mu_);
    free_handles_.push_back(h);
  }

  absl::Duration Backoff(int retry) const {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    int64_t ceiling = options_.backoff_base_ms;
    for (int i = 1; i < retry && ceiling < options_.backoff_cap_ms; ++i) ceiling *= 2;
    ceiling = std::max<int64_t>(0, std::min(ceiling, options_.backoff_cap_ms));
    std::uniform_int_distribution<int64_t> dist(0, ceiling);
    return absl::Milliseconds(dist(rng));
  }

  void Record(const RequestEvent& event) {
    {
      absl::MutexLock lock(&counts_mu_);
      ++by_op_[std::string(event.op)];
      ++total_;
      if (event.will_retry) ++retries_;
    }
    if (observer_ != nullptr) observer_->OnRequest(event);
  }

  // Runs `req` until it succeeds, fails for good, or retries are exhausted.
  Response Execute(const Request& req) {
    std::string body_sha = Sha256(req.body.value_or(std::string_view())).Hex();
    std::string url = Url(req);
    Response r;
    for (int attempt = 0;; ++attempt) {
      r = Response();
      r.attempts = attempt + 1;
      if (req.method == Method::kPut && req.body.has_value()) upload_limit_.Take(req.body->size());
      RequestEvent event;
      event.op = req.op;
      absl::Time start = absl::Now();
      Attempt(req, url, body_sha, &r, &event);
      event.seconds = absl::ToDoubleSeconds(absl::Now() - start);
      event.http_code = static_cast<int>(r.http_code);
      if (r.curl == CURLE_OK && r.http_code / 100 != 2 && !r.body.empty()) {
        auto doc = ParseErrorDocument(r.body);
        if (doc.ok()) r.error = *std::move(doc);
      }
      bool retryable =
          r.curl != CURLE_OK ? RetryableCurl(r.curl) : (r.http_code / 100 != 2 && RetryableHttp(r));
      event.will_retry = retryable && attempt < options_.max_retries;
      Record(event);
      if (!event.will_retry) return r;
      absl::SleepFor(Backoff(attempt + 1));
    }
  }

  void Attempt(const Request& req, const std::string& url, const std::string& body_sha, Response* r,
               RequestEvent* event) {
    CURL* h = TakeHandle();
    if (h == nullptr) {
      r->curl = CURLE_FAILED_INIT;
      r->curl_error = "curl_easy_init failed";
      return;
    }
    curl_easy_reset(h);
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout_ms));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4_.c_str());
    curl_easy_setopt(h, CURLOPT_USERNAME, options_.access_key_id.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, options_.secret_access_key.c_str());
    if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    switch (req.method) {
      case Method::kGet:
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        break;
      case Method::kHead:
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        break;
      case Method::kDelete:
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
        break;
      case Method::kPut:
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        break;
      case Method::kPost:
        break;
    }
    if (req.method == Method::kPut || req.method == Method::kPost) {
      // curl 7.88's SigV4 hashes CURLOPT_POSTFIELDS as the payload.
      std::string_view body = req.body.value_or(std::string_view());
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    curl_slist* headers = nullptr;
    auto add = [&headers](const std::string& line) {
      headers = curl_slist_append(headers, line.c_str());
    };
    add("x-amz-content-sha256: " + body_sha);
    if (!options_.session_token.empty()) add("x-amz-security-token: " + options_.session_token);
    if (req.method == Method::kPut || req.method == Method::kPost) {
      // A real Content-Type replaces curl's form-urlencoded default. curl's
      // "Expect: 100-continue" (bodies over 1 MiB) stays: curl 7.88 adds it
      // after signing, which S3 accepts, while removing it ("Expect:") makes
      // curl sign an "expect" header it never sends (SignatureDoesNotMatch).
      add("Content-Type: " +
          (req.content_type.empty() ? std::string("application/octet-stream") : req.content_type));
    }
    for (const std::string& line : req.headers) add(line);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

    r->curl = curl_easy_perform(h);
    if (r->curl != CURLE_OK) {
      r->curl_error = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(r->curl);
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->http_code);
    if (r->curl != CURLE_OK) r->http_code = 0;
    curl_off_t sent = 0, received = 0;
    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &sent);
    curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &received);
    event->bytes_sent = static_cast<uint64_t>(sent);
    event->bytes_received = static_cast<uint64_t>(received);
    // Nothing of this request may outlive it in the handle.
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    curl_slist_free_all(headers);
    ReturnHandle(h);
  }

  const S3Options options_;
  const std::string bucket_;
  const std::string scheme_;
  const std::string host_;  // host[:port]
  S3Observer* const observer_;
  TokenBucket upload_limit_;
  const std::string sigv4_;

  absl::Mutex pool_mu_;
  std::vector<CURL*> free_handles_ ABSL_GUARDED_BY(pool_mu_);
  int created_ ABSL_GUARDED_BY(pool_mu_) = 0;

  mutable absl::Mutex counts_mu_;
  std::map<std::string, uint64_t> by_op_ ABSL_GUARDED_BY(counts_mu_);
  uint64_t total_ ABSL_GUARDED_BY(counts_mu_) = 0;
  uint64_t retries_ ABSL_GUARDED_BY(counts_mu_) = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<S3Client>> S3Client::Create(S3Options options, std::string bucket,
                                                           S3Observer* observer) {
  std::string_view endpoint = options.endpoint;
  std::string scheme;
  if (endpoint.starts_with("http://")) {
    scheme = "http";
  } else if (endpoint.starts_with("https://")) {
    scheme = "https";
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("S3 endpoint '", options.endpoint, "' must start with http:// or https://"));
  }
  std::string_view host = endpoint.substr(scheme.size() + 3);
  while (!host.empty() && host.back() == '/') host.remove_suffix(1);
  if (host.empty() || host.find_first_of("/?#@ ") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("S3 endpoint '", options.endpoint,
                                                   "' must be SCHEME://HOST[:PORT] with no path"));
  }
  if (!ValidBucketName(bucket)) {
    return absl::InvalidArgumentError(
        absl::StrCat("S3 bucket name '", bucket,
                     "' is invalid: 3-63 characters of a-z, 0-9, '.', '-', starting and ending "
                     "with a letter or digit"));
  }
  if (options.region.empty() || options.region.find_first_of(": /") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("S3 region '", options.region, "' is invalid"));
  }
  if (options.access_key_id.empty() || options.secret_access_key.empty()) {
    return absl::InvalidArgumentError(
        "S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  if (options.max_retries < 0 || options.backoff_base_ms < 0 || options.backoff_cap_ms < 0 ||
      options.timeout_ms <= 0 || options.connect_timeout_ms <= 0 || options.max_connections < 1) {
    return absl::InvalidArgumentError(
        "S3 options: retries and backoff must be >= 0, timeouts > 0, max_connections >= 1");
  }
  static std::once_flag curl_init;
  static CURLcode init_result = CURLE_OK;
  std::call_once(curl_init, [] { init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init_result != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init failed: ", curl_easy_strerror(init_result)));
  }
  std::string host_str(host);
  options.endpoint = absl::StrCat(scheme, "://", host_str);
  return std::unique_ptr<S3Client>(new CurlS3Client(
      std::move(options), std::move(bucket), std::move(scheme), std::move(host_str), observer));
}

}  // namespace arca::s3
