// S3Client against a real Ceph RGW (libs/testing:rgw_server, started with
// TLS and `rgw dns name = localhost`); faults come from a TCP proxy in front
// of it (fault_proxy), never from a mock.
#include "libs/s3/s3_client.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/s3/fault_proxy.h"
#include "libs/testing/rgw_environment.h"
#include "libs/testing/rgw_server.h"

namespace arca::s3 {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

testing::RgwServer* Rgw() { return testing::SharedRgw(); }

struct RecordingObserver : S3Observer {
  void OnRequest(const RequestEvent& e) override {
    absl::MutexLock lock(&mu);
    events.push_back({std::string(e.op), e.http_code, e.will_retry});
  }
  struct Event {
    std::string op;
    int http_code;
    bool will_retry;
  };
  std::vector<Event> Take() {
    absl::MutexLock lock(&mu);
    return std::move(events);
  }
  absl::Mutex mu;
  std::vector<Event> events;
};

S3Options Options(std::string endpoint = "") {
  S3Options o;
  o.endpoint = endpoint.empty() ? Rgw()->endpoint() : endpoint;
  o.region = Rgw()->region();
  o.access_key_id = Rgw()->access_key();
  o.secret_access_key = Rgw()->secret_key();
  o.backoff_base_ms = 1;
  o.backoff_cap_ms = 5;
  o.timeout_ms = 20000;
  o.connect_timeout_ms = 2000;
  return o;
}

std::unique_ptr<S3Client> Client(const std::string& bucket, S3Options options = Options(),
                                 S3Observer* observer = nullptr) {
  auto c = S3Client::Create(std::move(options), bucket, observer);
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(c).value();
}

// A bucket of our own for each test.
std::unique_ptr<S3Client> FreshBucket(std::string_view name, S3Observer* observer = nullptr) {
  auto c = Client(std::string(name), Options(), observer);
  absl::Status s = c->CreateBucket();
  EXPECT_TRUE(s.ok()) << s;
  return c;
}

std::string Blob(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1103515245 + 12345;
    s[i] = static_cast<char>(seed >> 24);
  }
  return s;
}

TEST(S3ClientCreate, RefusesBadOptions) {
  S3Options o = Options();
  o.endpoint = "127.0.0.1:7480";
  EXPECT_EQ(S3Client::Create(o, "bucket").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(S3Client::Create(Options(), "Bad_Bucket").status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options();
  o.secret_access_key = "";
  EXPECT_EQ(S3Client::Create(o, "bucket").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(S3Client, PutGetHeadDelete) {
  RecordingObserver observer;
  auto c = FreshBucket("basic", &observer);
  EXPECT_TRUE(c->CreateBucket().ok());  // already ours: OK
  EXPECT_TRUE(c->HeadBucket().ok());
  // Over 1 MiB: curl would add "Expect: 100-continue" on its own.
  std::string body = Blob(3 << 20, 1);
  auto put = c->PutObject("dir/obj", body, false);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_TRUE(*put);
  auto got = c->GetObject("dir/obj");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == body);
  auto head = c->HeadObject("dir/obj");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->key, "dir/obj");
  EXPECT_EQ(head->size, body.size());
  EXPECT_EQ(head->etag.size(), 32u);
  EXPECT_NEAR(static_cast<double>(head->last_modified_unix_ns) / 1e9,
              absl::ToUnixSeconds(absl::Now()), 120);
  // Empty body, overwrite.
  ASSERT_TRUE(c->PutObject("dir/obj", "", false).ok());
  EXPECT_EQ(*c->GetObject("dir/obj"), "");
  EXPECT_EQ(c->HeadObject("dir/obj")->size, 0u);

  ASSERT_TRUE(c->DeleteObject("dir/obj").ok());
  EXPECT_TRUE(c->DeleteObject("dir/obj").ok());  // absent: still OK
  auto missing = c->GetObject("dir/obj");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(
      missing.status().message(),
      HasSubstr(absl::StrCat("object dir/obj not found in bucket basic at ", Rgw()->endpoint())));
  EXPECT_EQ(c->HeadObject("dir/obj").status().code(), absl::StatusCode::kNotFound);

  std::vector<RecordingObserver::Event> events = observer.Take();
  ASSERT_FALSE(events.empty());
  for (const auto& e : events) EXPECT_FALSE(e.will_retry) << e.op;
  EXPECT_EQ(events.back().op, "HeadObject");
  EXPECT_EQ(events.back().http_code, 404);
  RequestCounts counts = c->Counts();
  EXPECT_EQ(counts.total, events.size());
  EXPECT_EQ(counts.retries, 0u);
  ASSERT_FALSE(counts.by_op.empty());
  EXPECT_TRUE(std::is_sorted(counts.by_op.begin(), counts.by_op.end()));
  EXPECT_EQ(c->Describe(), absl::StrCat("s3://basic at ", Rgw()->endpoint()));
}

TEST(S3Client, ConditionalPut) {
  auto c = FreshBucket("conditional");
  ASSERT_TRUE(c->DeleteObject("k").ok());
  auto first = c->PutObject("k", "one", true);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  auto second = c->PutObject("k", "two", true);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(*second);
  EXPECT_EQ(*c->GetObject("k"), "one");
  auto overwrite = c->PutObject("k", "three", false);
  ASSERT_TRUE(overwrite.ok());
  EXPECT_EQ(*c->GetObject("k"), "three");
}

TEST(S3Client, ListPaginationAndDelimiter) {
  auto c = FreshBucket("listing");
  std::vector<std::string> keys;
  for (int i = 0; i < 7; ++i) keys.push_back(absl::StrCat("list/f", i));
  keys.push_back("list/d1/x");
  keys.push_back("list/d2/y");
  keys.push_back("other/z");
  for (const auto& k : keys) ASSERT_TRUE(c->PutObject(k, k, false).ok()) << k;

  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  while (true) {
    auto page = c->ListObjects("list/", "", token, 2);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    EXPECT_LE(page->objects.size(), 2u);
    for (const auto& o : page->objects) {
      seen.push_back(o.key);
      EXPECT_EQ(o.size, o.key.size());
      EXPECT_GT(o.last_modified_unix_ns, 0);
      EXPECT_FALSE(o.etag.empty());
    }
    if (!page->truncated) break;
    token = page->next_continuation_token;
  }
  EXPECT_GE(pages, 5);
  std::vector<std::string> expected(keys.begin(), keys.end() - 1);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(seen, expected);

  auto top = c->ListObjects("list/", "/", "", 0);
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_THAT(top->common_prefixes, ::testing::ElementsAre("list/d1/", "list/d2/"));
  EXPECT_EQ(top->objects.size(), 7u);
  EXPECT_FALSE(top->truncated);

  std::vector<std::string> all;
  ASSERT_TRUE(c->ListAll("", [&](const ObjectInfo& o) {
                 all.push_back(o.key);
                 return absl::OkStatus();
               }).ok());
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(all, sorted);
  int calls = 0;
  absl::Status stop = c->ListAll("list/", [&](const ObjectInfo&) {
    ++calls;
    return absl::CancelledError("enough");
  });
  EXPECT_EQ(stop.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

TEST(S3Client, DeleteObjectsInBatches) {
  RecordingObserver observer;
  auto c = FreshBucket("bulk", &observer);
  std::vector<std::string> keys;
  for (int i = 0; i < 1005; ++i)
    keys.push_back(absl::StrCat("bulk/", i, i % 3 == 0 ? " & <x>" : ""));
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < static_cast<int>(keys.size()); i = next++) {
        if (!c->PutObject(keys[i], "x", false).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  observer.Take();
  absl::Status s = c->DeleteObjects(keys);
  ASSERT_TRUE(s.ok()) << s;
  std::vector<RecordingObserver::Event> events = observer.Take();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].op, "DeleteObjects");
  EXPECT_EQ(events[0].http_code, 200);
  int left = 0;
  ASSERT_TRUE(c->ListAll("bulk/", [&](const ObjectInfo&) {
                 ++left;
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(left, 0);
  EXPECT_TRUE(c->DeleteObjects({}).ok());
}

TEST(S3Client, TrickyKeys) {
  auto c = FreshBucket("tricky");
  const std::vector<std::string> keys = {
      "with space/and  two",
      "plus+equals=amp&q?hash#pct%20",
      "ünïcødé/日本語/ß",
      "a//double/slash",
      "semi;colon:comma,at@dollar$bang!",
      "tilde~star*paren(1)'quote\"back\\slash",
      "<xml>&amp;",
      "trailing space ",
      "dots/./and/../up",
  };
  for (const auto& k : keys) {
    std::string body = absl::StrCat("body of ", k);
    auto put = c->PutObject(k, body, false);
    ASSERT_TRUE(put.ok()) << k << ": " << put.status();
    auto got = c->GetObject(k);
    ASSERT_TRUE(got.ok()) << k << ": " << got.status();
    EXPECT_EQ(*got, body) << k;
    auto head = c->HeadObject(k);
    ASSERT_TRUE(head.ok()) << k << ": " << head.status();
    EXPECT_EQ(head->size, body.size());
    auto page = c->ListObjects(k, "", "", 0);
    ASSERT_TRUE(page.ok()) << k << ": " << page.status();
    ASSERT_FALSE(page->objects.empty()) << k;
    EXPECT_EQ(page->objects[0].key, k);
  }
  auto listed = c->ListObjects("", "/", "", 0);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_TRUE(c->DeleteObject(keys[0]).ok());
  EXPECT_EQ(c->GetObject(keys[0]).status().code(), absl::StatusCode::kNotFound);
  std::vector<std::string> rest(keys.begin() + 1, keys.end());
  absl::Status s = c->DeleteObjects(rest);
  ASSERT_TRUE(s.ok()) << s;
  auto empty = c->ListObjects("", "", "", 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->objects.empty());
}

TEST(S3Client, WrongSecretIsPermissionDeniedWithoutTheSecret) {
  FreshBucket("secret");
  S3Options o = Options();
  o.secret_access_key = "wrong-secret-Zq8Lm3";
  auto c = Client("secret", o);
  absl::Status head = c->HeadBucket();
  EXPECT_EQ(head.code(), absl::StatusCode::kPermissionDenied) << head;
  EXPECT_THAT(head.message(), HasSubstr("access to bucket secret at"));
  EXPECT_THAT(head.message(), HasSubstr("AWS_SECRET_ACCESS_KEY"));
  auto put = c->PutObject("k", "v", false);
  EXPECT_EQ(put.status().code(), absl::StatusCode::kPermissionDenied) << put.status();
  EXPECT_THAT(put.status().message(), HasSubstr("SignatureDoesNotMatch"));
  auto get = c->GetObject("k");
  EXPECT_EQ(get.status().code(), absl::StatusCode::kPermissionDenied);
  for (const absl::Status& s : {head, put.status(), get.status()}) {
    EXPECT_THAT(s.message(), Not(HasSubstr("wrong-secret-Zq8Lm3")));
    EXPECT_THAT(s.message(), Not(HasSubstr(Rgw()->secret_key())));
    EXPECT_THAT(s.message(), Not(HasSubstr("Authorization")));
    EXPECT_THAT(s.message(), Not(HasSubstr("Signature=")));
  }
  EXPECT_EQ(c->Counts().retries, 0u);
}

TEST(S3Client, MissingBucketIsNotFoundNamingBucketAndEndpoint) {
  auto c = Client("no-such-bucket");
  std::string expected = absl::StrCat("bucket no-such-bucket does not exist at ", Rgw()->endpoint(),
                                      ": create it first");
  absl::Status head = c->HeadBucket();
  EXPECT_EQ(head.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(head.message(), HasSubstr(expected));
  auto get = c->GetObject("k");
  EXPECT_EQ(get.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(get.status().message(), HasSubstr(expected));
  auto list = c->ListObjects("", "", "", 0);
  EXPECT_EQ(list.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(list.status().message(), HasSubstr(expected));
  auto put = c->PutObject("k", "v", false);
  EXPECT_EQ(put.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(put.status().message(), HasSubstr(expected));
}

TEST(S3Client, Injected503sAreRetriedAndCounted) {
  FreshBucket("flaky");
  std::string endpoint = Rgw()->endpoint();
  size_t colon = endpoint.rfind(':');
  auto proxy = FaultProxy::Start("127.0.0.1", std::atoi(endpoint.c_str() + colon + 1));
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  RecordingObserver observer;
  S3Options o = Options((*proxy)->endpoint());
  o.max_retries = 3;
  auto c = Client("flaky", o, &observer);

  (*proxy)->Arm(2);
  auto put = c->PutObject("k", "v", false);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ((*proxy)->refused(), 2);
  std::vector<RecordingObserver::Event> events = observer.Take();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].http_code, 503);
  EXPECT_TRUE(events[0].will_retry);
  EXPECT_EQ(events[1].http_code, 503);
  EXPECT_TRUE(events[1].will_retry);
  EXPECT_EQ(events[2].http_code, 200);
  EXPECT_FALSE(events[2].will_retry);
  RequestCounts counts = c->Counts();
  EXPECT_EQ(counts.total, 3u);
  EXPECT_EQ(counts.retries, 2u);
  ASSERT_EQ(counts.by_op.size(), 1u);
  EXPECT_EQ(counts.by_op[0], (std::pair<std::string, uint64_t>("PutObject", 3)));

  (*proxy)->Arm(100);
  auto get = c->GetObject("k");
  EXPECT_EQ(get.status().code(), absl::StatusCode::kUnavailable) << get.status();
  EXPECT_THAT(get.status().message(), HasSubstr("503 SlowDown"));
  EXPECT_THAT(get.status().message(), HasSubstr("after 4 attempts"));
  EXPECT_THAT(get.status().message(), HasSubstr("GetObject of 'k' in s3://flaky at"));
  events = observer.Take();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_FALSE(events.back().will_retry);
  EXPECT_EQ(c->Counts().retries, 5u);
  (*proxy)->Arm(0);
}

TEST(S3Client, TimeoutIsDeadlineExceededAfterRetries) {
  FreshBucket("slow");
  std::string endpoint = Rgw()->endpoint();
  size_t colon = endpoint.rfind(':');
  auto proxy = FaultProxy::Start("127.0.0.1", std::atoi(endpoint.c_str() + colon + 1));
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  RecordingObserver observer;
  S3Options o = Options((*proxy)->endpoint());
  o.max_retries = 1;
  o.timeout_ms = 300;
  auto c = Client("slow", o, &observer);
  ASSERT_TRUE(c->PutObject("k", "v", false).ok());
  observer.Take();
  (*proxy)->Stall(true);
  auto get = c->GetObject("k");
  EXPECT_EQ(get.status().code(), absl::StatusCode::kDeadlineExceeded) << get.status();
  EXPECT_THAT(get.status().message(), HasSubstr("GetObject of 'k' in s3://slow at "));
  EXPECT_THAT(get.status().message(),
              HasSubstr("timed out after 300 ms: raise --s3-timeout (after 2 attempts)"));
  std::vector<RecordingObserver::Event> events = observer.Take();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].http_code, 0);
  EXPECT_TRUE(events[0].will_retry);
  EXPECT_FALSE(events[1].will_retry);
  (*proxy)->Stall(false);
  auto again = c->GetObject("k");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, "v");
}

TEST(S3Client, ConnectionsAreReused) {
  FreshBucket("reuse");
  std::string endpoint = Rgw()->endpoint();
  size_t colon = endpoint.rfind(':');
  auto proxy = FaultProxy::Start("127.0.0.1", std::atoi(endpoint.c_str() + colon + 1));
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  S3Options o = Options((*proxy)->endpoint());
  o.max_connections = 2;
  auto c = Client("reuse", o);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(c->PutObject(absl::StrCat("k", i), "v", false).ok());
    ASSERT_TRUE(c->GetObject(absl::StrCat("k", i)).ok());
  }
  EXPECT_EQ((*proxy)->connections(), 1);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (!c->HeadObject(absl::StrCat("k", i)).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE((*proxy)->connections(), 2);
  EXPECT_EQ(c->Counts().total, 60u);
}

TEST(S3Client, UploadLimitIsSharedByThreads) {
  FreshBucket("limited");
  S3Options o = Options();
  o.limit_upload_bytes_per_second = 1 << 20;
  o.max_connections = 2;
  auto c = Client("limited", o);
  std::string body = Blob(256 << 10, 7);
  absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        if (!c->PutObject(absl::StrCat("t", t, "/", i), body, false).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  // 3 MiB at 1 MiB/s with a 1 MiB burst: at least 2 s.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(1900));
}

// HTTPS to RGW's beast ssl_endpoint with the fixture's throw-away CA: the
// same bucket and objects as over http (one gateway, two listeners).
TEST(S3Client, TlsHttpsWithTheTestCaPutsGetsAndLists) {
  ASSERT_FALSE(Rgw()->https_endpoint().empty());
  ASSERT_THAT(Rgw()->https_endpoint(), ::testing::StartsWith("https://127.0.0.1:"));
  S3Options o = Options(Rgw()->https_endpoint());
  o.ca_file = Rgw()->ca_file();
  RecordingObserver observer;
  auto c = Client("tls-basic", o, &observer);
  ASSERT_TRUE(c->CreateBucket().ok());
  EXPECT_TRUE(c->HeadBucket().ok());
  std::string body = Blob(3 << 20, 7);  // over 1 MiB: Expect: 100-continue over TLS too
  auto put = c->PutObject("over/tls", body, false);
  ASSERT_TRUE(put.ok()) << put.status();
  auto got = c->GetObject("over/tls");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == body);
  auto page = c->ListObjects("over/", "", "", 0);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "over/tls");
  for (const auto& e : observer.Take()) EXPECT_FALSE(e.will_retry) << e.op;
  // The http listener of the same gateway sees what went in over https.
  auto plain = Client("tls-basic")->GetObject("over/tls");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(*plain == body);
  // The certificate also names "localhost".
  S3Options by_name = o;
  by_name.endpoint = absl::StrCat("https://localhost:", Rgw()->https_port());
  auto named = Client("tls-basic", by_name)->HeadObject("over/tls");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->size, body.size());
}

// Without ca_file curl trusts only the system CAs, which did not sign the
// fixture's certificate: FailedPrecondition telling to use --s3-ca, once.
TEST(S3Client, TlsSystemCasRefuseTheCertificateOnceWithAHintAtS3Ca) {
  S3Options with_ca = Options(Rgw()->https_endpoint());
  with_ca.ca_file = Rgw()->ca_file();
  ASSERT_TRUE(Client("tls-noca", with_ca)->CreateBucket().ok());
  RecordingObserver observer;
  auto c = Client("tls-noca", Options(Rgw()->https_endpoint()), &observer);
  auto get = c->GetObject("k");
  EXPECT_EQ(get.status().code(), absl::StatusCode::kFailedPrecondition) << get.status();
  EXPECT_THAT(get.status().message(),
              HasSubstr(absl::StrCat("GetObject of 'k' in s3://tls-noca at ",
                                     Rgw()->https_endpoint(), " failed: TLS certificate of ",
                                     Rgw()->https_endpoint(), " not accepted")));
  EXPECT_THAT(get.status().message(), HasSubstr("certificate problem"));  // curl's reason
  EXPECT_THAT(get.status().message(), HasSubstr("--s3-ca FILE"));
  absl::Status put = c->PutObject("k", "v", false).status();
  EXPECT_EQ(put.code(), absl::StatusCode::kFailedPrecondition) << put;
  std::vector<RecordingObserver::Event> events = observer.Take();
  ASSERT_EQ(events.size(), 2u);  // not retried
  for (const auto& e : events) {
    EXPECT_EQ(e.http_code, 0);
    EXPECT_FALSE(e.will_retry);
  }
  EXPECT_EQ(c->Counts().retries, 0u);
  // Nothing was written through the refused connection.
  EXPECT_EQ(Client("tls-noca", with_ca)->GetObject("k").status().code(),
            absl::StatusCode::kNotFound);
}

// The right CA but a host the certificate does not name (it names
// 127.0.0.1 and localhost; curl resolves wrong.localhost to loopback).
TEST(S3Client, TlsCertificateForAnotherHostIsRefused) {
  S3Options o = Options(absl::StrCat("https://wrong.localhost:", Rgw()->https_port()));
  o.ca_file = Rgw()->ca_file();
  RecordingObserver observer;
  auto c = Client("tls-host", o, &observer);
  absl::Status s = c->CreateBucket();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("not accepted"));
  EXPECT_THAT(s.message(), HasSubstr("'wrong.localhost'"));  // curl: no subject name matches
  EXPECT_THAT(s.message(), HasSubstr("names the host of the endpoint"));
  std::vector<RecordingObserver::Event> events = observer.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].will_retry);
  // The bucket was not created behind the refusal.
  EXPECT_EQ(Client("tls-host")->HeadBucket().code(), absl::StatusCode::kNotFound);
}

TEST(S3Client, TlsHttpsToThePlainPortAndAMissingCaFileAreClearErrors) {
  auto handshake =
      Client("tls-misc", Options(absl::StrCat("https://127.0.0.1:", Rgw()->port())))->HeadBucket();
  EXPECT_EQ(handshake.code(), absl::StatusCode::kUnavailable) << handshake;
  EXPECT_THAT(handshake.message(), HasSubstr("TLS handshake failed"));
  S3Options o = Options(Rgw()->https_endpoint());
  o.ca_file = Rgw()->work_dir() + "/no-such-ca.pem";
  absl::Status missing = Client("tls-misc", o)->HeadBucket();
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition) << missing;
  EXPECT_THAT(missing.message(), HasSubstr("cannot use the CA file '" + o.ca_file + "' (--s3-ca)"));
}

// Virtual-host addressing: http://BUCKET.localhost:PORT/KEY. The fixture's
// radosgw has `rgw dns name = localhost`, so it takes the bucket from the
// Host header; libcurl resolves *.localhost to loopback on its own.
TEST(S3Client, VirtualHostPutGetListDeleteAgreeWithPathStyle) {
  S3Options o = Options(absl::StrCat("http://localhost:", Rgw()->port()));
  o.addressing = Addressing::kVirtual;
  RecordingObserver observer;
  auto v = Client("vhost", o, &observer);
  ASSERT_TRUE(v->CreateBucket().ok());
  EXPECT_TRUE(v->HeadBucket().ok());
  const std::vector<std::string> keys = {"dir/a b+c=d", "dir/sub/x", "dir/y~z", "top"};
  for (size_t i = 0; i < keys.size(); ++i) {
    auto put = v->PutObject(keys[i], Blob(1000 + i, static_cast<uint32_t>(i)), false);
    ASSERT_TRUE(put.ok()) << keys[i] << ": " << put.status();
  }
  auto created = v->PutObject("top", "again", /*if_none_match=*/true);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE(*created);
  for (size_t i = 0; i < keys.size(); ++i) {
    auto got = v->GetObject(keys[i]);
    ASSERT_TRUE(got.ok()) << keys[i] << ": " << got.status();
    EXPECT_TRUE(*got == Blob(1000 + i, static_cast<uint32_t>(i))) << keys[i];
  }
  auto page = v->ListObjects("dir/", "/", "", 0);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "dir/a b+c=d");
  EXPECT_EQ(page->objects[1].key, "dir/y~z");
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"dir/sub/"});
  for (const auto& e : observer.Take()) EXPECT_FALSE(e.will_retry) << e.op;

  // A path-style client on 127.0.0.1 sees the same bucket with exactly these
  // keys: had the requests gone out path style to BUCKET.localhost, RGW would
  // have stored "vhost/dir/..." (or found no bucket).
  auto p = Client("vhost");
  std::vector<std::string> listed;
  ASSERT_TRUE(p->ListAll("", [&](const ObjectInfo& info) {
                 listed.push_back(info.key);
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(listed, keys);
  auto cross = p->GetObject("dir/sub/x");
  ASSERT_TRUE(cross.ok()) << cross.status();
  EXPECT_TRUE(*cross == Blob(1001, 1));

  ASSERT_TRUE(v->DeleteObject("top").ok());
  ASSERT_TRUE(v->DeleteObjects({"dir/a b+c=d", "dir/y~z"}).ok());
  EXPECT_EQ(p->HeadObject("top").status().code(), absl::StatusCode::kNotFound);
  auto rest = v->ListObjects("", "", "", 0);
  ASSERT_TRUE(rest.ok()) << rest.status();
  ASSERT_EQ(rest->objects.size(), 1u);
  EXPECT_EQ(rest->objects[0].key, "dir/sub/x");
  // A missing bucket is named as such in virtual-host style too.
  absl::Status none = Client("vhost-missing", o)->HeadBucket();
  EXPECT_EQ(none.code(), absl::StatusCode::kNotFound) << none;
  // Path style on http://localhost:PORT (the dns name itself) still works.
  auto by_name = Client("vhost", Options(absl::StrCat("http://localhost:", Rgw()->port())))
                     ->GetObject("dir/sub/x");
  ASSERT_TRUE(by_name.ok()) << by_name.status();
}

// Last: stops the gateway (and starts it again).
TEST(S3Client, ZGatewayStoppedIsUnavailableAfterRetries) {
  FreshBucket("stopped");
  RecordingObserver observer;
  S3Options o = Options();
  o.max_retries = 2;
  o.connect_timeout_ms = 500;
  auto c = Client("stopped", o, &observer);
  ASSERT_TRUE(c->HeadBucket().ok());
  observer.Take();
  ASSERT_TRUE(Rgw()->StopGateway().ok());
  absl::Status s = c->HeadBucket();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("HeadBucket of s3://stopped at"));
  EXPECT_THAT(s.message(), HasSubstr("after 3 attempts"));
  std::vector<RecordingObserver::Event> events = observer.Take();
  ASSERT_EQ(events.size(), 3u);
  for (const auto& e : events) EXPECT_EQ(e.http_code, 0);
  EXPECT_TRUE(events[0].will_retry);
  EXPECT_TRUE(events[1].will_retry);
  EXPECT_FALSE(events[2].will_retry);
  ASSERT_TRUE(Rgw()->StartGateway().ok());
  absl::Status again = c->HeadBucket();
  EXPECT_TRUE(again.ok()) << again;
}

}  // namespace
}  // namespace arca::s3

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  arca::testing::RgwServerOptions options;
  options.tls = true;  // https_endpoint() and ca_file() for the TLS tests
  arca::testing::RegisterSharedRgw(options);
  return RUN_ALL_TESTS();
}
