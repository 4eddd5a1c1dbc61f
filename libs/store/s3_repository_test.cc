// The S3 backend against a real Ceph RGW (libs/testing:rgw_server), one per
// test binary: the ChunkStore conformance suite, then what S3Repository adds
// (init/open errors, commit/list/load/forget, locks and the writer/gc
// exclusion, gc, the digest index and its invalidation).
#include "libs/store/s3_repository.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/archive/chunk_index.h"
#include "libs/store/chunk_store_conformance.h"
#include "libs/store/gc.h"
#include "libs/store/open_repository.h"
#include "libs/testing/rgw_environment.h"

namespace arca {
namespace {

using conformance::Blob;
using conformance::ChunkStoreConformance;
using conformance::D;
using conformance::Implementation;
using conformance::StoreUnderTest;
using ::testing::HasSubstr;
using ::testing::Not;

int bucket_counter = 0;

testing::RgwServer* Rgw() { return testing::SharedRgw(); }

const bool kRgwRegistered = [] {
  testing::RegisterSharedRgw();
  return true;
}();

s3::S3Options Options() {
  s3::S3Options o;
  o.endpoint = Rgw()->endpoint();
  o.region = Rgw()->region();
  o.access_key_id = Rgw()->access_key();
  o.secret_access_key = Rgw()->secret_key();
  o.backoff_base_ms = 1;
  o.backoff_cap_ms = 5;
  o.max_retries = 2;
  o.timeout_ms = 20000;
  o.connect_timeout_ms = 2000;
  return o;
}

std::string NewBucket() {
  const std::string name = absl::StrCat("t", ++bucket_counter, "-", ::getpid());
  absl::Status st = Rgw()->CreateBucket(name);
  EXPECT_TRUE(st.ok()) << st;
  return name;
}

std::unique_ptr<s3::S3Client> Client(const std::string& bucket, s3::S3Options o = Options()) {
  auto c = s3::S3Client::Create(std::move(o), bucket);
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(c).value();
}

// An S3ChunkStore that owns its client.
struct OwningS3Store {
  std::unique_ptr<s3::S3Client> client;
  std::unique_ptr<S3ChunkStore> store;
};

std::vector<Implementation> S3Implementations() {
  return {{"S3", [] {
             const std::string bucket = NewBucket();
             auto* owned = new OwningS3Store;  // lives until the binary exits
             owned->client = Client(bucket);
             owned->store = std::make_unique<S3ChunkStore>(owned->client.get(), "p/",
                                                           absl::StrCat("s3://", bucket, "/p"));
             StoreUnderTest s;
             s.base = std::unique_ptr<ChunkStore>(new FaultInjectionChunkStore(owned->store.get()));
             return s;
           }}};
}

INSTANTIATE_TEST_SUITE_P(S3, ChunkStoreConformance, ::testing::ValuesIn(S3Implementations()),
                         [](const ::testing::TestParamInfo<Implementation>& info) {
                           return info.param.name;
                         });

v1::RepositoryConfig Config() {
  v1::RepositoryConfig c;
  c.mutable_payload_chunker()->set_min_size(1024);
  c.mutable_payload_chunker()->set_avg_size(4096);
  c.mutable_payload_chunker()->set_max_size(16384);
  return c;
}

RepositoryLocation Loc(const std::string& bucket, const std::string& prefix = "repo") {
  return RepositoryLocation{RepositoryLocation::Kind::kS3, "", bucket, prefix};
}

std::unique_ptr<S3Repository> InitRepo(const std::string& bucket,
                                       const std::string& prefix = "repo") {
  auto r = S3Repository::Init(Client(bucket), Loc(bucket, prefix), Config());
  EXPECT_TRUE(r.ok()) << r.status();
  return std::unique_ptr<S3Repository>(static_cast<S3Repository*>(r->release()));
}

std::unique_ptr<S3Repository> OpenRepo(const std::string& bucket,
                                       const std::string& prefix = "repo") {
  auto r = S3Repository::Open(Client(bucket), Loc(bucket, prefix));
  EXPECT_TRUE(r.ok()) << r.status();
  return std::unique_ptr<S3Repository>(static_cast<S3Repository*>(r->release()));
}

v1::Manifest NewManifest(const std::string& host = "h", int64_t time_ns = 0) {
  v1::Manifest m;
  m.set_host(host);
  m.add_sources("/src");
  m.set_time_unix_ns(time_ns);
  return m;
}

TEST(S3Repository, InitOpenAndRefusals) {
  const std::string bucket = NewBucket();
  std::unique_ptr<S3Repository> repo = InitRepo(bucket);
  EXPECT_EQ(repo->path(), absl::StrCat("s3://", bucket, "/repo"));
  EXPECT_EQ(repo->config().format_version(), 1u);
  EXPECT_EQ(repo->config().repository_id().size(), 32u);
  std::unique_ptr<S3Repository> again = OpenRepo(bucket);
  EXPECT_EQ(again->config().repository_id(), repo->config().repository_id());

  auto twice = S3Repository::Init(Client(bucket), Loc(bucket), Config());
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(twice.status().message(), HasSubstr("already contains an arca repository"));
  // A prefix with strangers in it is not empty.
  ASSERT_TRUE(Client(bucket)->PutObject("other/x", "x", false).ok());
  auto busy = S3Repository::Init(Client(bucket), Loc(bucket, "other"), Config());
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(busy.status().message(), HasSubstr("is not empty"));

  auto none = S3Repository::Open(Client(bucket), Loc(bucket, "nothing-here"));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("no arca repository at s3://"));
  EXPECT_THAT(none.status().message(), HasSubstr("arca init"));
}

TEST(S3Repository, MissingBucketAndWrongSecretAreClearWithoutTheSecret) {
  auto missing = S3Repository::Open(Client("no-such-bucket-x"), Loc("no-such-bucket-x"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("no-such-bucket-x"));
  EXPECT_THAT(missing.status().message(), HasSubstr(Rgw()->endpoint()));

  const std::string bucket = NewBucket();
  InitRepo(bucket);
  s3::S3Options wrong = Options();
  wrong.secret_access_key = "wrong-secret-do-not-print";
  auto denied = S3Repository::Open(Client(bucket, wrong), Loc(bucket));
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << denied.status();
  EXPECT_THAT(denied.status().message(), HasSubstr(bucket));
  EXPECT_THAT(denied.status().message(), Not(HasSubstr("wrong-secret-do-not-print")));
  EXPECT_THAT(denied.status().message(), Not(HasSubstr(Rgw()->secret_key())));
}

TEST(S3Repository, CommitListLoadForget) {
  const std::string bucket = NewBucket();
  std::unique_ptr<S3Repository> repo = InitRepo(bucket);
  const int64_t t = 1700000000123456789;
  auto a = repo->CommitSnapshot(NewManifest("h", t), "meta-a", "payload-a");
  ASSERT_TRUE(a.ok()) << a.status();
  // The same time again: the id is taken, the nanoseconds are bumped.
  auto b = repo->CommitSnapshot(NewManifest("h", t), "meta-b", "payload-b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(a->id(), b->id());
  EXPECT_EQ(b->time_unix_ns(), t + 1);

  auto list = repo->ListSnapshots();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id(), a->id());
  auto latest = repo->LoadSnapshot("latest");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->manifest.id(), b->id());
  EXPECT_EQ(latest->metadata_index, "meta-b");
  EXPECT_EQ(latest->payload_index, "payload-b");

  // An index changed through the S3 API: DataLoss naming the object.
  const std::string key = absl::StrCat("repo/snapshots/", a->id(), "/payload.aidx");
  ASSERT_TRUE(repo->client()->PutObject(key, "payload-X", false).ok());
  auto bad = repo->LoadSnapshot(a->id());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(bad.status().message(), HasSubstr(absl::StrCat("s3://", bucket, "/", key)));

  // A snapshot without a manifest (a crashed commit) is invisible.
  ASSERT_TRUE(
      repo->client()
          ->PutObject("repo/snapshots/h_src/20990101T000000.000000000Z/metadata.aidx", "m", true)
          .ok());
  EXPECT_EQ(repo->ListSnapshots()->size(), 2u);

  ASSERT_TRUE(repo->ForgetSnapshot(a->id()).ok());
  EXPECT_EQ(repo->ListSnapshots()->size(), 1u);
  EXPECT_EQ(repo->ForgetSnapshot(a->id()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repo->ForgetSnapshot("latest").code(), absl::StatusCode::kInvalidArgument);
  auto left = repo->client()->ListObjects(absl::StrCat("repo/snapshots/", a->id(), "/"), "", "");
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->objects.empty());
}

TEST(S3Repository, WritersAndGcExcludeEachOther) {
  const std::string bucket = NewBucket();
  std::unique_ptr<S3Repository> repo = InitRepo(bucket);
  auto live = [](const WriterLockInfo&) { return std::string(); };
  auto writer = repo->LockForWrite("backup");
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_TRUE((*writer)->Held().ok());
  auto locks = repo->ListWriterLocks();
  ASSERT_TRUE(locks.ok());
  ASSERT_EQ(locks->size(), 1u);
  EXPECT_EQ((*locks)[0].description, "backup");
  EXPECT_EQ((*locks)[0].pid, ::getpid());

  std::vector<std::string> stale;
  auto gc = repo->LockForGc(live, &stale);
  EXPECT_EQ(gc.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(gc.status().message(), HasSubstr("backup"));
  writer->reset();  // released
  gc = repo->LockForGc(live, &stale);
  ASSERT_TRUE(gc.ok()) << gc.status();
  auto blocked = repo->LockForWrite("backup 2");
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(blocked.status().message(), HasSubstr("a gc is running"));
  EXPECT_TRUE(repo->ListWriterLocks()->empty());  // the refused writer removed its lock
  gc->reset();
  EXPECT_TRUE(repo->LockForWrite("backup 3").ok());

  // A stale writer lock is removed by the gc and reported.
  auto old = repo->LockForWrite("stuck");
  ASSERT_TRUE(old.ok());
  stale.clear();
  auto gc2 = repo->LockForGc([](const WriterLockInfo& l) { return std::string("stale"); }, &stale);
  ASSERT_TRUE(gc2.ok()) << gc2.status();
  EXPECT_EQ(stale.size(), 1u);
  EXPECT_EQ((*old)->Held().code(), absl::StatusCode::kAborted);
}

TEST(S3Repository, GcRemovesGarbageAndWritersDropTheirIndex) {
  const std::string bucket = NewBucket();
  std::unique_ptr<S3Repository> repo = InitRepo(bucket);
  ChunkStore* chunks = repo->chunks();
  const std::string keep = Blob(1), drop = Blob(2);
  ASSERT_TRUE(chunks->Put(D(keep), keep).ok());
  ASSERT_TRUE(chunks->Put(D(drop), drop).ok());
  // A snapshot references `keep`; `drop` is garbage.
  ChunkIndex meta, payload;
  payload.Append(D(keep), keep.size());
  ASSERT_TRUE(repo->CommitSnapshot(NewManifest(), meta.Encode(v1::STREAM_KIND_METADATA),
                                   payload.Encode(v1::STREAM_KIND_PAYLOAD))
                  .ok());
  // A second handle (another uploader) builds its index now.
  std::unique_ptr<S3Repository> other = OpenRepo(bucket);
  ASSERT_TRUE(*other->chunks()->Has(D(drop)));
  EXPECT_EQ(other->s3_chunks()->index_builds(), 1u);
  // An orphan snapshot object (crashed commit).
  ASSERT_TRUE(
      repo->client()
          ->PutObject("repo/snapshots/h_src/20990101T000000.000000000Z/payload.aidx", "p", true)
          .ok());

  GcOptions dry;
  dry.dry_run = true;
  auto would = RunGc(*repo, dry);
  ASSERT_TRUE(would.ok()) << would.status();
  EXPECT_EQ(would->chunks_removed, 1u);
  EXPECT_EQ(would->chunks_kept, 1u);
  EXPECT_EQ(would->orphans_removed.size(), 1u);
  EXPECT_TRUE(*chunks->Has(D(drop)));

  // A live writer stops the gc.
  auto writer = other->LockForWrite("backup");
  ASSERT_TRUE(writer.ok());
  auto refused = RunGc(*repo, GcOptions{});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  writer->reset();

  auto done = RunGc(*repo, GcOptions{});
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->snapshots, 1u);
  EXPECT_EQ(done->chunks_removed, 1u);
  EXPECT_EQ(done->bytes_removed, drop.size());
  EXPECT_TRUE(*chunks->Has(D(keep)));
  EXPECT_TRUE(chunks->Get(D(keep)).ok());
  EXPECT_EQ(done->orphans_removed.size(), 1u);
  EXPECT_FALSE(*chunks->Has(D(drop)));
  // The other handle still believes in `drop` until it takes a writer lock,
  // which sees the new gc-epoch and drops its index.
  EXPECT_TRUE(*other->chunks()->Has(D(drop)));
  auto writer2 = other->LockForWrite("backup");
  ASSERT_TRUE(writer2.ok()) << writer2.status();
  EXPECT_FALSE(*other->chunks()->Has(D(drop)));
  EXPECT_EQ(other->s3_chunks()->index_builds(), 2u);
  // Put stores it again.
  EXPECT_TRUE(*other->chunks()->Put(D(drop), drop));
}

TEST(S3Repository, HasFindsAChunkAnotherWriterStoredAfterTheListing) {
  // Two uploader replicas on one bucket: `a` built its index before `b`
  // stored the chunk, and a's commit must still find it.
  const std::string bucket = NewBucket();
  std::unique_ptr<S3Repository> a = InitRepo(bucket);
  std::unique_ptr<S3Repository> b = OpenRepo(bucket);
  const std::string early = Blob(1), late = Blob(2);
  ASSERT_TRUE(a->chunks()->Put(D(early), early).ok());
  ASSERT_TRUE(*a->chunks()->Has(D(early)));
  EXPECT_FALSE(*a->chunks()->Has(D(late)));
  ASSERT_TRUE(*b->chunks()->Put(D(late), late));
  EXPECT_TRUE(*a->chunks()->Has(D(late)));
  EXPECT_EQ(a->s3_chunks()->index_builds(), 1u);
  // Remembered: no further request.
  const uint64_t before = a->client()->Counts().total;
  EXPECT_TRUE(*a->chunks()->Has(D(late)));
  EXPECT_EQ(a->client()->Counts().total, before);
}

TEST(S3Repository, TheIndexSavesRequests) {
  const std::string bucket = NewBucket();
  std::unique_ptr<S3Repository> repo = InitRepo(bucket);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(repo->chunks()->Put(D(Blob(i)), Blob(i)).ok());
  std::unique_ptr<S3Repository> reader = OpenRepo(bucket);
  const uint64_t before = reader->client()->Counts().total;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(*reader->chunks()->Has(D(Blob(i))));
      ASSERT_FALSE(*reader->chunks()->Put(D(Blob(i)), Blob(i)));  // dedup: no request
    }
  }
  // One GET of the gc-epoch and one listing page, not 300 HEADs or PUTs.
  EXPECT_LE(reader->client()->Counts().total - before, 3u);
  // New digests: HasCheap answers from the index (no request); Has asks.
  const uint64_t before_new = reader->client()->Counts().total;
  for (int i = 100; i < 110; ++i) ASSERT_FALSE(*reader->chunks()->HasCheap(D(Blob(i))));
  EXPECT_EQ(reader->client()->Counts().total, before_new);
  ASSERT_FALSE(*reader->chunks()->Has(D(Blob(100))));
  EXPECT_EQ(reader->client()->Counts().total, before_new + 1);  // one HEAD
}

TEST(S3Repository, OpenRepositoryAtNeedsEndpointAndCredentials) {
  const std::string bucket = NewBucket();
  InitRepo(bucket);
  RepositoryOpenOptions options;
  options.s3 = Options();
  ::unsetenv("AWS_ENDPOINT_URL");
  auto ok = OpenRepositoryAt(absl::StrCat("s3://", bucket, "/repo"), options);
  ASSERT_TRUE(ok.ok()) << ok.status();
  RepositoryOpenOptions no_endpoint;
  no_endpoint.s3.access_key_id = "a";
  no_endpoint.s3.secret_access_key = "b";
  auto e = OpenRepositoryAt(absl::StrCat("s3://", bucket, "/repo"), no_endpoint);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("AWS_ENDPOINT_URL"));
}

}  // namespace
}  // namespace arca
