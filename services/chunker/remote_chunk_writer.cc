#include "services/chunker/remote_chunk_writer.h"

#include <algorithm>
#include <chrono>
#include <span>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/client_context.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/slice.h"
#include "libs/base/phase_status.h"
#include "libs/blob/sealed_blob.h"
#include "libs/hash/crc32c.h"
#include "libs/rpc/status_convert.h"

namespace arca::services {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;

}  // namespace

grpc::ByteBuffer EncodeCompressRequest(v1::Codec codec, int level, v1::StreamKind stream,
                                       const Digest* digest, ByteBuffer plaintext, bool keyed_id) {
  const uint64_t n = plaintext.size();
  v1::ChunkRef ref;
  if (digest != nullptr) ref.set_digest(std::string(digest->Raw()));
  ref.set_raw_length(n);
  const size_t ref_size = ref.ByteSizeLong();
  size_t chunk_size = 0;  // RawChunk: stream (1), ref (2), data (3)
  if (stream != 0) chunk_size += 1 + CodedOutputStream::VarintSize32(stream);
  chunk_size += 1 + CodedOutputStream::VarintSize32(static_cast<uint32_t>(ref_size)) + ref_size;
  chunk_size += 1 + CodedOutputStream::VarintSize64(n) + n;
  std::string header;
  {
    google::protobuf::io::StringOutputStream sos(&header);
    CodedOutputStream out(&sos);
    // CompressRequest: codec (1), level (2), chunk (3).
    if (codec != 0) {
      out.WriteTag(WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT));
      out.WriteVarint32SignExtended(codec);
    }
    if (level != 0) {
      out.WriteTag(WireFormatLite::MakeTag(2, WireFormatLite::WIRETYPE_VARINT));
      out.WriteVarint32SignExtended(level);
    }
    if (digest == nullptr || keyed_id) {
      // data_crc32c (5): the compressor checks no digest.
      out.WriteTag(WireFormatLite::MakeTag(5, WireFormatLite::WIRETYPE_FIXED32));
      out.WriteLittleEndian32(Crc32c(plaintext.span()));
    }
    if (digest == nullptr) {
      // caller_names_blob (6) = true.
      out.WriteTag(WireFormatLite::MakeTag(6, WireFormatLite::WIRETYPE_VARINT));
      out.WriteVarint32(1);
    }
    if (keyed_id) {
      // keyed_id (7) = true.
      out.WriteTag(WireFormatLite::MakeTag(7, WireFormatLite::WIRETYPE_VARINT));
      out.WriteVarint32(1);
    }
    out.WriteTag(WireFormatLite::MakeTag(3, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    out.WriteVarint64(chunk_size);
    if (stream != 0) {
      out.WriteTag(WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT));
      out.WriteVarint32SignExtended(stream);
    }
    out.WriteTag(WireFormatLite::MakeTag(2, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    out.WriteVarint32(static_cast<uint32_t>(ref_size));
    ref.SerializeWithCachedSizes(&out);
    out.WriteTag(WireFormatLite::MakeTag(3, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    out.WriteVarint64(n);
  }
  // The plaintext is not copied: the slice owns it until gRPC has sent it
  // and the caller dropped the buffer.
  auto* owner = new ByteBuffer(std::move(plaintext));
  grpc::Slice slices[2] = {
      grpc::Slice(header.data(), header.size()),
      grpc::Slice(
          owner->data(), n, [](void* p) { delete static_cast<ByteBuffer*>(p); }, owner)};
  return grpc::ByteBuffer(slices, n == 0 ? 1 : 2);
}

grpc::ByteBuffer NameBlob(const grpc::ByteBuffer& blob, const Digest& digest) {
  // Blob.ref (2) { digest (1) }: a parser merges a repeated message field
  // into the one before it, so this sets ref.digest and keeps the rest.
  std::string suffix;
  {
    google::protobuf::io::StringOutputStream sos(&suffix);
    CodedOutputStream out(&sos);
    const auto raw = digest.Raw();
    const uint32_t ref_size = static_cast<uint32_t>(
        1 + CodedOutputStream::VarintSize32(static_cast<uint32_t>(raw.size())) + raw.size());
    out.WriteTag(WireFormatLite::MakeTag(2, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    out.WriteVarint32(ref_size);
    out.WriteTag(WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    out.WriteVarint32(static_cast<uint32_t>(raw.size()));
    out.WriteRaw(raw.data(), static_cast<int>(raw.size()));
  }
  std::vector<grpc::Slice> slices;
  (void)blob.Dump(&slices);  // references, not copies
  slices.emplace_back(suffix.data(), suffix.size());
  return grpc::ByteBuffer(slices.data(), slices.size());
}

absl::StatusOr<BlobView> ReadBlobView(grpc::ByteBuffer* blob) {
  BlobView view;
  grpc::ProtoBufferReader reader(blob);
  CodedInputStream in(&reader);
  in.SetTotalBytesLimit(INT_MAX);
  bool have_ref = false;
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const bool len =
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (field == 2 && len) {  // ref
      uint32_t size = 0;
      std::string ref;
      if (!in.ReadVarint32(&size) || !in.ReadString(&ref, static_cast<int>(size)) ||
          !view.ref.ParseFromString(ref)) {
        return absl::DataLossError("a blob whose ref does not parse");
      }
      have_ref = true;
    } else if (field == 3 && len) {  // data
      uint32_t size = 0;
      if (!in.ReadVarint32(&size) || !in.Skip(static_cast<int>(size))) {
        return absl::DataLossError("a blob whose data is cut short");
      }
      view.data_bytes = size;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return absl::DataLossError("a blob that does not parse");
    }
  }
  if (!have_ref) return absl::DataLossError("a blob without ref");
  return view;
}

struct RemoteChunkWriter::Item {
  v1::StreamKind stream = v1::STREAM_KIND_UNSPECIFIED;
  uint64_t seq = 0;
  uint64_t length = 0;
  Digest digest;
  bool hashed = true;             // false: compress-first, not joined yet (see JoinCompressFirst)
  bool compressed_first = false;  // sent to the compressor before it was hashed
  bool known = false;
  // Compress-first: the chunker's own SHA-256 (computed while the compress
  // request is in flight) and the compressor's answer, joined by whichever
  // arrives second.
  bool own_digest_ready = false;
  bool blob_back = false;
  std::string compressor_digest;  // raw, as the compressor's blob says
  size_t compressor = 0;          // the replica that answered (for messages)
  ByteBuffer plain;               // until hashed
  grpc::ByteBuffer request;       // encoded CompressRequest, until compressed (for a resend)
  grpc::ByteBuffer blob;          // encoded Blob from the compressor, until acked (for a resend)
  uint64_t blob_bytes = 0;        // stored size of the blob
};

struct RemoteChunkWriter::Lane {
  bool compress = false;
  size_t replica = 0;
  grpc::ClientContext ctx;
  std::unique_ptr<CallRegistry::Scoped> registration;
  std::unique_ptr<grpc::internal::RpcMethod> method;
  // Messages travel encoded: chunks are sent from the archive's buffers and
  // blobs forwarded from compressor to uploader without re-serialisation.
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> cstream;
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, v1::PutChunkAck>> ustream;
  // Guarded by the writer's mu_.
  std::deque<ItemPtr> inflight;
  bool dead = false;   // no more work for this stream
  bool ended = false;  // its receiver returned
  absl::Time last_progress;
};

RemoteChunkWriter::RemoteChunkWriter(ReplicaSet* compressors, ReplicaSet* uploaders,
                                     CallRegistry* calls, WorkerPool* hash_pool,
                                     RemoteChunkWriterOptions options)
    : compressors_(compressors),
      uploaders_(uploaders),
      calls_(calls),
      hash_pool_(hash_pool),
      options_(options) {
  compress_first_ = options_.compress_first;
  StartLanes();
}

RemoteChunkWriter::~RemoteChunkWriter() {
  if (!joined_) Abort(absl::CancelledError("the backup stopped"));
}

void RemoteChunkWriter::StartLanes() {
  auto add = [&](bool compress, size_t replica) {
    auto lane = std::make_unique<Lane>();
    lane->compress = compress;
    lane->replica = replica;
    lane->ctx.set_deadline(absl::ToChronoTime(options_.stream_deadline));
    lane->registration = std::make_unique<CallRegistry::Scoped>(calls_, &lane->ctx);
    lanes_.push_back(std::move(lane));
  };
  for (size_t i = 0; i < compressors_->size(); ++i) add(true, i);
  for (size_t i = 0; i < uploaders_->size(); ++i) {
    for (size_t k = 0; k < std::max<size_t>(options_.streams_per_uploader, 1); ++k) add(false, i);
  }
  for (auto& lane : lanes_) {
    Lane* l = lane.get();
    if (l->compress) {
      const std::shared_ptr<grpc::Channel>& channel = compressors_->channel(l->replica);
      l->method = std::make_unique<grpc::internal::RpcMethod>(
          "/arca.v1.Compressor/Compress", grpc::internal::RpcMethod::BIDI_STREAMING, channel);
      l->cstream.reset(
          grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
              channel.get(), *l->method, &l->ctx));
      threads_.emplace_back([this, l] { CompressSender(l); });
      threads_.emplace_back([this, l] { CompressReceiver(l); });
    } else {
      const std::shared_ptr<grpc::Channel>& channel = uploaders_->channel(l->replica);
      l->method = std::make_unique<grpc::internal::RpcMethod>(
          "/arca.v1.Uploader/PutChunks", grpc::internal::RpcMethod::BIDI_STREAMING, channel);
      l->ustream.reset(
          grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, v1::PutChunkAck>::Create(
              channel.get(), *l->method, &l->ctx));
      threads_.emplace_back([this, l] { UploadSender(l); });
      threads_.emplace_back([this, l] { UploadReceiver(l); });
    }
  }
  threads_.emplace_back([this] { HasLoop(); });
  threads_.emplace_back([this] { MonitorLoop(); });
}

absl::Status RemoteChunkWriter::error() const {
  absl::MutexLock lock(&mu_);
  return error_;
}

void RemoteChunkWriter::Fail(absl::Status status) {
  if (error_.ok()) error_ = std::move(status);
  for (auto& lane : lanes_) lane->ctx.TryCancel();
  if (has_ctx_ != nullptr) has_ctx_->TryCancel();
}

void RemoteChunkWriter::Done(const ItemPtr& item, bool held_ticket) {
  if (held_ticket) {
    --tickets_;
    if (options_.metrics != nullptr) options_.metrics->chunks_in_flight.Decrement();
  }
  --outstanding_;
  item->plain = ByteBuffer();
  item->request.Clear();
  item->blob.Clear();
}

void RemoteChunkWriter::CountDeduplicated(uint64_t bytes) {
  if (options_.metrics != nullptr) {
    options_.metrics->deduplicated_bytes.Increment(static_cast<double>(bytes));
  }
}

absl::Status RemoteChunkWriter::Consume(PendingChunk chunk) {
  auto item = std::make_shared<Item>();
  item->stream = chunk.stream;
  item->seq = chunk.seq;
  item->length = chunk.length();
  if (chunk.known) {
    item->known = true;
    item->digest = chunk.known_digest;
    absl::MutexLock lock(&mu_);
    if (!error_.ok()) return absl::AbortedError("pipeline stopped");
    std::vector<Slot>& slots = slots_[item->stream];
    if (slots.size() <= item->seq) slots.resize(item->seq + 1);
    slots[item->seq] = Slot{item->digest, item->length, true};
    seen_.insert(item->digest);
    stats_.chunks_total++;
    stats_.chunks_reused++;
    stats_.bytes_reused += item->length;
    if (options_.metrics != nullptr) options_.metrics->chunks.Increment();
    ++outstanding_;
    has_queue_.push_back(std::move(item));
    return absl::OkStatus();
  }
  item->plain = std::move(chunk.data);
  bool first;  // compress-first or hash-first, decided per chunk
  {
    absl::MutexLock lock(&mu_);
    auto room = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return !error_.ok() || tickets_ < options_.max_chunks_in_flight;
    };
    mu_.Await(absl::Condition(&room));
    if (!error_.ok()) return absl::AbortedError("pipeline stopped");
    ++tickets_;
    ++outstanding_;
    ++hashing_;
    first = compress_first_;
    if (options_.metrics != nullptr) {
      options_.metrics->input_bytes.Increment(static_cast<double>(item->length));
      options_.metrics->chunks.Increment();
      options_.metrics->chunks_in_flight.Increment();
    }
  }
  if (first) {
    hash_pool_->Submit(
        [this, item = std::move(item)]() mutable { EncodeUnhashed(std::move(item)); });
  } else {
    hash_pool_->Submit([this, item = std::move(item)]() mutable { Hash(std::move(item)); });
  }
  return absl::OkStatus();
}

void RemoteChunkWriter::EncodeUnhashed(ItemPtr item) {
  {
    absl::MutexLock lock(&mu_);
    if (!error_.ok()) {
      Done(item, true);
      --hashing_;
      return;
    }
  }
  item->hashed = false;
  // The encoded request (with the plaintext's CRC32C) owns the plaintext.
  item->request = EncodeCompressRequest(options_.codec, options_.level, item->stream, nullptr,
                                        std::move(item->plain), options_.key != nullptr);
  // References to the request's slices keep the plaintext alive for the
  // hash below even once the compressor answered and the request is dropped.
  std::vector<grpc::Slice> slices;
  (void)item->request.Dump(&slices);
  {
    absl::MutexLock lock(&mu_);
    if (!error_.ok()) {
      --hashing_;
      Done(item, true);
      return;
    }
    stats_.chunks_compressed_first++;
    compress_queue_.push_back(item);
  }
  // The chunk travels to a compressor while this thread hashes it: the
  // digest is always the chunker's own (JoinCompressFirst compares it with
  // the compressor's).
  const auto t0 = std::chrono::steady_clock::now();
  const Digest digest =
      slices.size() == 2
          ? ChunkIdOf(std::span<const uint8_t>(slices[1].begin(), slices[1].size()), options_.key)
          : ChunkIdOf(std::span<const uint8_t>(), options_.key);
  const double hash_s = SecondsSince(t0);
  slices.clear();
  absl::MutexLock lock(&mu_);
  --hashing_;
  stats_.hash_seconds += hash_s;
  item->digest = digest;
  item->own_digest_ready = true;
  if (item->blob_back) JoinCompressFirst(item);
}

void RemoteChunkWriter::JoinCompressFirst(const ItemPtr& item) {
  if (!error_.ok()) return;  // the job is stopping anyway
  if (!item->compressor_digest.empty() && item->compressor_digest != item->digest.Raw()) {
    absl::StatusOr<Digest> claimed = Digest::FromRaw(item->compressor_digest);
    Fail(WithPhase(
        absl::DataLossError(absl::StrCat(
            "compressor ", compressors_->address(item->compressor), " answered chunk ",
            item->digest.Hex(), " (", item->length, " bytes, ", v1::StreamKind_Name(item->stream),
            " stream, ", options_.key != nullptr ? "keyed id" : "SHA-256",
            " computed by the chunker) with a blob named ",
            claimed.ok() ? claimed->Hex() : std::string("<malformed digest>"),
            ": the compressor's answer did not match, nothing of it was stored; the compressor "
            "is faulty or compromised: check or replace it, then run the backup again")),
        v1::PHASE_COMPRESSION));
    return;
  }
  if (item->compressor_digest.empty()) {
    // caller_names_blob: the blob goes to the uploader under the chunker's
    // digest, which the uploader checks by decoding it.
    item->blob = NameBlob(item->blob, item->digest);
  }
  item->hashed = true;
  std::vector<Slot>& slots = slots_[item->stream];
  if (slots.size() <= item->seq) slots.resize(item->seq + 1);
  slots[item->seq] = Slot{item->digest, item->length, true};
  stats_.chunks_total++;
  if (!seen_.insert(item->digest).second) {  // a copy earlier in the job
    stats_.bytes_deduplicated += item->length;
    CountDeduplicated(item->length);
    CountCompressedDuplicate();
    Done(item, true);
    return;
  }
  item->compressed_first = true;
  upload_queue_.push_back(item);
}

void RemoteChunkWriter::CountCompressedDuplicate() {
  stats_.duplicates_compressed++;
  if (compress_first_ && stats_.chunks_compressed_first >= options_.compress_first_probe &&
      stats_.duplicates_compressed * 8 > stats_.chunks_compressed_first) {
    compress_first_ = false;
    stats_.switched_to_hash_first = true;
  }
}

void RemoteChunkWriter::Hash(ItemPtr item) {
  const auto t0 = std::chrono::steady_clock::now();
  {
    absl::MutexLock lock(&mu_);
    if (!error_.ok()) {
      Done(item, true);
      --hashing_;
      return;
    }
  }
  item->digest = ChunkIdOf(item->plain.span(), options_.key);
  const double hash_s = SecondsSince(t0);
  bool claimed;
  {
    absl::MutexLock lock(&mu_);
    std::vector<Slot>& slots = slots_[item->stream];
    if (slots.size() <= item->seq) slots.resize(item->seq + 1);
    slots[item->seq] = Slot{item->digest, item->length, true};
    claimed = seen_.insert(item->digest).second;
    stats_.chunks_total++;
    stats_.hash_seconds += hash_s;
    if (!claimed) {
      stats_.bytes_deduplicated += item->length;
      CountDeduplicated(item->length);
      Done(item, true);
      --hashing_;
      return;
    }
  }
  // The encoded compress request owns the plaintext from here on.
  item->request = EncodeCompressRequest(options_.codec, options_.level, item->stream, &item->digest,
                                        std::move(item->plain), options_.key != nullptr);
  absl::MutexLock lock(&mu_);
  --hashing_;
  if (!error_.ok()) {
    Done(item, true);
    return;
  }
  has_queue_.push_back(std::move(item));
}

void RemoteChunkWriter::HasLoop() {
  while (true) {
    std::vector<ItemPtr> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stop_ || !error_.ok() || !has_queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_ || !error_.ok()) return;
      const size_t n = std::min(has_queue_.size(), std::max<size_t>(options_.has_batch, 1));
      batch.assign(std::make_move_iterator(has_queue_.begin()),
                   std::make_move_iterator(has_queue_.begin() + n));
      has_queue_.erase(has_queue_.begin(), has_queue_.begin() + n);
    }
    v1::HasChunksRequest req;
    req.set_may_miss(true);  // only to skip compressing: a wrong "absent" costs a compression
    for (const ItemPtr& item : batch) req.add_digests(std::string(item->digest.Raw()));
    v1::HasChunksResponse resp;
    absl::Status st = uploaders_->Run(
        [&](size_t i) -> absl::Status {
          grpc::ClientContext ctx;
          ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
          CallRegistry::Scoped reg(calls_, &ctx);
          {
            absl::MutexLock lock(&mu_);
            if (!error_.ok()) return error_;
            has_ctx_ = &ctx;
          }
          resp.Clear();
          absl::Status s = rpc::FromGrpcStatus(
              v1::Uploader::NewStub(uploaders_->channel(i))->HasChunks(&ctx, req, &resp));
          {
            absl::MutexLock lock(&mu_);
            has_ctx_ = nullptr;
          }
          if (s.ok() && resp.present_size() != req.digests_size()) {
            s = absl::InternalError(absl::StrCat("uploader ", uploaders_->address(i), " answered ",
                                                 resp.present_size(), " of ", req.digests_size(),
                                                 " HasChunks digests"));
          }
          if (!s.ok()) {
            s = absl::Status(s.code(), absl::StrCat("HasChunks on uploader ",
                                                    uploaders_->address(i), ": ", s.message()));
          }
          return s;
        },
        [this] {
          absl::MutexLock lock(&mu_);
          return error_.ok() ? calls_->status() : error_;
        });
    absl::MutexLock lock(&mu_);
    if (!error_.ok()) return;
    if (!st.ok()) {
      Fail(WithPhase(st, v1::PHASE_UPLOAD));
      return;
    }
    for (size_t k = 0; k < batch.size(); ++k) {
      ItemPtr& item = batch[k];
      const bool present = resp.present(static_cast<int>(k));
      if (item->known) {
        if (!present) {
          Fail(WithPhase(absl::DataLossError(absl::StrCat(
                             "chunk ", item->digest.Hex(),
                             " of the parent snapshot is missing from the repository: run a "
                             "verify job, or back up with metadata change detection off")),
                         v1::PHASE_ARCHIVE));
          return;
        }
        Done(item, false);
      } else if (present) {
        stats_.bytes_deduplicated += item->length;
        CountDeduplicated(item->length);
        Done(item, true);
      } else {
        compress_queue_.push_back(std::move(item));
      }
    }
  }
}

void RemoteChunkWriter::MonitorLoop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(200));
    const absl::Time now = absl::Now();
    for (auto& lane : lanes_) {
      if (!lane->dead && !lane->inflight.empty() &&
          now - lane->last_progress > options_.stall_timeout) {
        // The receiver sees the cancellation and hands the chunks on.
        lane->ctx.TryCancel();
      }
    }
  }
}

void RemoteChunkWriter::CompressSender(Lane* lane) {
  while (true) {
    ItemPtr item;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stop_ || !error_.ok() || lane->dead || (finishing_ && outstanding_ == 0) ||
               (!compress_queue_.empty() &&
                lane->inflight.size() < options_.per_compressor_in_flight);
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_ || !error_.ok() || lane->dead) return;
      if (finishing_ && outstanding_ == 0) break;
      item = compress_queue_.front();
      compress_queue_.pop_front();
      if (lane->inflight.empty()) lane->last_progress = absl::Now();
      lane->inflight.push_back(item);
    }
    // The item stays alive in lane->inflight until answered or requeued.
    if (!lane->cstream->Write(item->request)) return;  // the receiver sees why
  }
  lane->cstream->WritesDone();
}

void RemoteChunkWriter::CompressReceiver(Lane* lane) {
  grpc::ByteBuffer blob;
  while (lane->cstream->Read(&blob)) {
    absl::StatusOr<BlobView> view = ReadBlobView(&blob);
    absl::MutexLock lock(&mu_);
    auto matches = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      if (!view.ok() || lane->inflight.empty()) return false;
      const Item& front = *lane->inflight.front();
      // Answers come in order. Hash-first: the digest is compared below;
      // compress-first: with the chunker's own hash (JoinCompressFirst).
      if (front.hashed) return true;
      // (caller_names_blob: no digest; a compressor that sends one anyway
      // must send the chunker's.)
      return view->ref.raw_length() == front.length;
    };
    if (!matches()) {
      Fail(WithPhase(absl::InternalError(
                         absl::StrCat("compressor ", compressors_->address(lane->replica),
                                      " answered with a blob that matches no chunk sent (",
                                      view.ok() ? "out of order?" : view.status().message(), ")")),
                     v1::PHASE_COMPRESSION));
      break;
    }
    if (const Item& front = *lane->inflight.front();
        front.hashed && view->ref.digest() != front.digest.Raw()) {
      absl::StatusOr<Digest> claimed = Digest::FromRaw(view->ref.digest());
      Fail(WithPhase(
          absl::DataLossError(absl::StrCat(
              "compressor ", compressors_->address(lane->replica), " answered chunk ",
              front.digest.Hex(), " with a blob named ",
              claimed.ok() ? claimed->Hex() : std::string("<malformed digest>"),
              ": the compressor's answer did not match, nothing of it was stored; the "
              "compressor is faulty or compromised: check or replace it, then run the backup "
              "again")),
          v1::PHASE_COMPRESSION));
      break;
    }
    ItemPtr item = std::move(lane->inflight.front());
    lane->inflight.pop_front();
    lane->last_progress = absl::Now();
    item->request.Clear();  // the plaintext is no longer needed
    item->compressor = lane->replica;
    if (!item->hashed) {
      item->compressor_digest = view->ref.digest();
      item->blob_bytes = view->data_bytes;
      item->blob.Swap(&blob);
      blob.Clear();
      item->blob_back = true;
      if (item->own_digest_ready) JoinCompressFirst(item);
      continue;  // else the hash task joins it
    }
    item->blob_bytes = view->data_bytes;
    item->blob.Swap(&blob);
    blob.Clear();
    upload_queue_.push_back(std::move(item));
  }
  absl::Status st = rpc::FromGrpcStatus(lane->cstream->Finish());
  absl::MutexLock lock(&mu_);
  LaneEnded(lane, std::move(st));
}

void RemoteChunkWriter::UploadSender(Lane* lane) {
  while (true) {
    ItemPtr item;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stop_ || !error_.ok() || lane->dead || (finishing_ && outstanding_ == 0) ||
               (!upload_queue_.empty() && lane->inflight.size() < options_.per_uploader_in_flight);
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_ || !error_.ok() || lane->dead) return;
      if (finishing_ && outstanding_ == 0) break;
      item = upload_queue_.front();
      upload_queue_.pop_front();
      if (lane->inflight.empty()) lane->last_progress = absl::Now();
      lane->inflight.push_back(item);
    }
    if (!lane->ustream->Write(item->blob)) return;
  }
  lane->ustream->WritesDone();
}

void RemoteChunkWriter::UploadReceiver(Lane* lane) {
  v1::PutChunkAck ack;
  while (lane->ustream->Read(&ack)) {
    absl::MutexLock lock(&mu_);
    if (lane->inflight.empty() || ack.digest() != lane->inflight.front()->digest.Raw()) {
      Fail(WithPhase(absl::InternalError(
                         absl::StrCat("uploader ", uploaders_->address(lane->replica),
                                      " acknowledged a chunk that was not sent (out of order?)")),
                     v1::PHASE_UPLOAD));
      break;
    }
    ItemPtr item = std::move(lane->inflight.front());
    lane->inflight.pop_front();
    lane->last_progress = absl::Now();
    stats_.chunks_acked++;
    if (ack.already_present()) {
      stats_.bytes_deduplicated += item->length;
      CountDeduplicated(item->length);
      if (item->compressed_first) CountCompressedDuplicate();
    } else {
      stats_.chunks_new++;
      stats_.bytes_new_raw += item->length;
      if (options_.metrics != nullptr) {
        options_.metrics->new_chunks.Increment();
        options_.metrics->new_bytes.Increment(static_cast<double>(item->length));
      }
      stats_.bytes_new_stored += ack.stored_bytes() != 0 ? ack.stored_bytes() : item->blob_bytes;
    }
    Done(item, true);
  }
  absl::Status st = rpc::FromGrpcStatus(lane->ustream->Finish());
  absl::MutexLock lock(&mu_);
  LaneEnded(lane, std::move(st));
}

void RemoteChunkWriter::LaneEnded(Lane* lane, absl::Status status) {
  lane->ended = true;
  ReplicaSet* replicas = lane->compress ? compressors_ : uploaders_;
  const v1::Phase phase = lane->compress ? v1::PHASE_COMPRESSION : v1::PHASE_UPLOAD;
  const std::string& address = replicas->address(lane->replica);
  if (status.ok() && lane->inflight.empty() && finishing_ && outstanding_ == 0) {
    lane->dead = true;  // closed normally
    return;
  }
  lane->dead = true;
  if (!error_.ok() || stop_) return;  // the job is stopping anyway
  if (calls_->cancelled()) {
    Fail(calls_->status());
    return;
  }
  if (status.ok()) {
    status = absl::UnavailableError(
        absl::StrCat(replicas->what(), " ", address, " closed the stream with work outstanding"));
  }
  if (!lane->compress && absl::IsDataLoss(status)) {
    // Every blob an uploader gets comes from a compressor: one that does
    // not decode to its digest is the compressor's fault.
    Fail(WithPhase(UploaderRefusedBlob(*lane, status), v1::PHASE_COMPRESSION));
    return;
  }
  if (!IsReplicaFailure(status)) {
    // An answer about the chunk itself: another replica would say the same.
    Fail(WithPhase(absl::Status(status.code(), absl::StrCat(replicas->what(), " ", address, ": ",
                                                            status.message())),
                   phase));
    return;
  }
  replicas->MarkDown(lane->replica, status);
  // Every stream of that replica stops; the chunks they hold go elsewhere.
  for (auto& other : lanes_) {
    if (other->compress != lane->compress || other->replica != lane->replica) continue;
    other->dead = true;
    other->ctx.TryCancel();
  }
  std::deque<ItemPtr>& queue = lane->compress ? compress_queue_ : upload_queue_;
  stats_.chunks_resent += lane->inflight.size();
  queue.insert(queue.begin(), std::make_move_iterator(lane->inflight.begin()),
               std::make_move_iterator(lane->inflight.end()));
  lane->inflight.clear();
  bool any_live = false;
  for (auto& other : lanes_) {
    if (other->compress == lane->compress && !other->dead) any_live = true;
  }
  if (!any_live) Fail(replicas->NoneLeft());
}

absl::Status RemoteChunkWriter::UploaderRefusedBlob(const Lane& lane,
                                                    const absl::Status& status) const {
  // The chunk the uploader names (its message starts "blob <hex>: ...").
  std::string made_by = "a compressor";
  for (const ItemPtr& item : lane.inflight) {
    if (absl::StrContains(status.message(), item->digest.Hex())) {
      made_by = absl::StrCat("compressor ", compressors_->address(item->compressor));
      break;
    }
  }
  return absl::DataLossError(absl::StrCat(
      "uploader ", uploaders_->address(lane.replica), " refused a blob made by ", made_by,
      " (it does not decode to its digest): ", status.message(),
      "; nothing of it was stored; the compressor is faulty or compromised: check or replace "
      "it, then run the backup again"));
}

absl::Status RemoteChunkWriter::Finish() {
  absl::Status st;
  {
    absl::MutexLock lock(&mu_);
    finishing_ = true;
    auto done = [this]()
                    ABSL_NO_THREAD_SAFETY_ANALYSIS { return !error_.ok() || outstanding_ == 0; };
    mu_.Await(absl::Condition(&done));
    st = error_;
  }
  if (!st.ok()) {
    Abort(st);
    return st;
  }
  // Every chunk is durable: the senders close their streams; wait for the
  // receivers to see the ends, then stop the rest.
  {
    absl::MutexLock lock(&mu_);
    auto closed = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      for (auto& lane : lanes_) {
        if (!lane->ended) return false;
      }
      return true;
    };
    mu_.AwaitWithTimeout(absl::Condition(&closed), absl::Seconds(30));
    stop_ = true;
    for (auto& lane : lanes_) {
      if (!lane->ended) lane->ctx.TryCancel();
    }
  }
  JoinAll();
  return absl::OkStatus();
}

void RemoteChunkWriter::Abort(absl::Status why) {
  {
    absl::MutexLock lock(&mu_);
    if (why.ok()) why = absl::CancelledError("the backup stopped");
    Fail(std::move(why));
    stop_ = true;
  }
  JoinAll();
}

void RemoteChunkWriter::JoinAll() {
  if (joined_) return;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  // Hash tasks still queued on the shared pool refer to this writer.
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return hashing_ == 0; };
  mu_.Await(absl::Condition(&idle));
  joined_ = true;
  // Chunks dropped by a failed job still hold their window slot: they are
  // no longer in flight.
  if (options_.metrics != nullptr && tickets_ > 0) {
    options_.metrics->chunks_in_flight.Decrement(static_cast<double>(tickets_));
    tickets_ = 0;
  }
}

absl::StatusOr<ChunkIndex> RemoteChunkWriter::BuildIndex(v1::StreamKind stream) const {
  absl::MutexLock lock(&mu_);
  ChunkIndex index;
  const std::vector<Slot>& slots = slots_[stream];
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i].filled) {
      return WithPhase(absl::InternalError(absl::StrCat("chunk ", i, " of stream ", stream,
                                                        " was never processed")),
                       v1::PHASE_ARCHIVE);
    }
    index.Append(slots[i].digest, slots[i].length);
  }
  return index;
}

RemoteChunkWriterStats RemoteChunkWriter::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

ChunkSinkTotals RemoteChunkWriter::totals() const { return TotalsOf(stats()); }

}  // namespace arca::services
