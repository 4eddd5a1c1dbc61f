#include "libs/pipeline/tar_export.h"

#include <errno.h>
#include <lzma.h>
#include <unistd.h>
#include <zstd.h>

#include <span>
#include <thread>

#include "absl/strings/str_cat.h"
#include "libs/archive/chunk_index.h"
#include "libs/archive/metadata_stream.h"
#include "libs/archive/stream_reader.h"
#include "libs/base/bytes.h"
#include "libs/base/status_macros.h"
#include "libs/pipeline/pax_writer.h"
#include "libs/pipeline/repository_chunk_source.h"
#include "libs/pipeline/restore_selection.h"

namespace arca {
namespace {

absl::Status WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "export: writing the archive");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

class PlainOutput final : public TarOutput {
 public:
  explicit PlainOutput(int fd) : fd_(fd) {}
  absl::Status Write(absl::string_view d) override {
    buf_.append(d.data(), d.size());
    if (buf_.size() >= (1u << 20)) return Flush();
    return absl::OkStatus();
  }
  absl::Status Finish() override { return Flush(); }

 private:
  absl::Status Flush() {
    absl::Status st = WriteAll(fd_, buf_.data(), buf_.size());
    buf_.clear();
    return st;
  }
  int fd_;
  std::string buf_;
};

class ZstdOutput final : public TarOutput {
 public:
  ZstdOutput(int fd, int threads)
      : fd_(fd), cctx_(ZSTD_createCCtx()), out_(ZSTD_CStreamOutSize(), '\0') {
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, 3);
    // Fails harmlessly (single-threaded) on a libzstd built without threads.
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_nbWorkers, threads);
  }
  ~ZstdOutput() override { ZSTD_freeCCtx(cctx_); }
  absl::Status Write(absl::string_view d) override {
    if (d.empty()) return absl::OkStatus();
    return Run(d, ZSTD_e_continue);
  }
  absl::Status Finish() override { return Run("", ZSTD_e_end); }

 private:
  absl::Status Run(absl::string_view d, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{d.data(), d.size(), 0};
    while (true) {
      ZSTD_outBuffer o{out_.data(), out_.size(), 0};
      size_t left = ZSTD_compressStream2(cctx_, &o, &in, mode);
      if (ZSTD_isError(left)) {
        return absl::InternalError(absl::StrCat("export: zstd: ", ZSTD_getErrorName(left)));
      }
      RETURN_IF_ERROR(WriteAll(fd_, out_.data(), o.pos));
      if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) return absl::OkStatus();
    }
  }
  int fd_;
  ZSTD_CCtx* cctx_;
  std::string out_;
};

class XzOutput final : public TarOutput {
 public:
  XzOutput(int fd, lzma_stream s) : fd_(fd), strm_(s), out_(1 << 16, '\0') {}
  ~XzOutput() override { lzma_end(&strm_); }
  absl::Status Write(absl::string_view d) override {
    // liblzma reports LZMA_BUF_ERROR after two calls that make no progress.
    if (d.empty()) return absl::OkStatus();
    return Run(d, LZMA_RUN);
  }
  absl::Status Finish() override { return Run("", LZMA_FINISH); }

 private:
  absl::Status Run(absl::string_view d, lzma_action action) {
    strm_.next_in = reinterpret_cast<const uint8_t*>(d.data());
    strm_.avail_in = d.size();
    while (true) {
      strm_.next_out = reinterpret_cast<uint8_t*>(out_.data());
      strm_.avail_out = out_.size();
      lzma_ret r = lzma_code(&strm_, action);
      if (r != LZMA_OK && r != LZMA_STREAM_END) {
        return absl::InternalError(absl::StrCat("export: xz encoder error ", r));
      }
      RETURN_IF_ERROR(WriteAll(fd_, out_.data(), out_.size() - strm_.avail_out));
      if (action == LZMA_FINISH ? r == LZMA_STREAM_END
                                : strm_.avail_in == 0 && strm_.avail_out != 0) {
        return absl::OkStatus();
      }
    }
  }
  int fd_;
  lzma_stream strm_;
  std::string out_;
};

}  // namespace

absl::StatusOr<TarFormat> ParseTarFormat(absl::string_view name) {
  if (name == "tar") return TarFormat::kTar;
  if (name == "tar.zst") return TarFormat::kTarZstd;
  if (name == "tar.xz") return TarFormat::kTarXz;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown --format '", std::string(name), "': use tar, tar.zst or tar.xz"));
}

absl::StatusOr<std::unique_ptr<TarOutput>> NewTarOutput(TarFormat format, int fd, int threads) {
  if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
  switch (format) {
    case TarFormat::kTar:
      return std::unique_ptr<TarOutput>(new PlainOutput(fd));
    case TarFormat::kTarZstd:
      return std::unique_ptr<TarOutput>(new ZstdOutput(fd, threads));
    case TarFormat::kTarXz: {
      lzma_stream s = LZMA_STREAM_INIT;
      lzma_mt mt = {};
      mt.threads = threads;
      mt.preset = LZMA_PRESET_DEFAULT;
      mt.check = LZMA_CHECK_CRC64;
      lzma_ret r = lzma_stream_encoder_mt(&s, &mt);
      if (r != LZMA_OK)
        return absl::InternalError(absl::StrCat("export: xz encoder setup error ", r));
      return std::unique_ptr<TarOutput>(new XzOutput(fd, s));
    }
  }
  return absl::InvalidArgumentError("export: unknown format");
}

absl::StatusOr<TarExportResult> ExportTar(Repository& repo, absl::string_view snapshot,
                                          const TarExportOptions& options, TarOutput* out,
                                          const CancelToken* cancel) {
  ASSIGN_OR_RETURN(LoadedSnapshot loaded, repo.LoadSnapshot(std::string(snapshot)));
  const std::string& id = loaded.manifest.id();
  ASSIGN_OR_RETURN(ChunkIndex metadata_index,
                   ChunkIndex::Decode(AsBytes(loaded.metadata_index), v1::STREAM_KIND_METADATA,
                                      absl::StrCat(id, "/metadata.aidx")));
  ASSIGN_OR_RETURN(ChunkIndex payload_index,
                   ChunkIndex::Decode(AsBytes(loaded.payload_index), v1::STREAM_KIND_PAYLOAD,
                                      absl::StrCat(id, "/payload.aidx")));
  ASSIGN_OR_RETURN(RestoreSelection selection, RestoreSelection::Create(options.includes, id));
  RepositoryChunkSource source(repo.chunks(), repo.key());
  StreamReader meta(&metadata_index, &source);
  StreamReader payload(&payload_index, &source, 8);
  MetadataStreamReader reader(&meta);
  TarExportResult result;
  std::vector<uint8_t> buf(1u << 20);
  v1::Entry entry;
  std::vector<v1::Entry> selected;
  while (true) {
    if (cancel != nullptr && cancel->cancelled()) return cancel->Check("export");
    ASSIGN_OR_RETURN(bool more, reader.Next(&entry));
    if (!more) break;
    selected.clear();
    RETURN_IF_ERROR(selection.Select(entry, &selected));
    for (const v1::Entry& e : selected) {
      ASSIGN_OR_RETURN(PaxMember m, EncodePaxMember(e));
      RETURN_IF_ERROR(out->Write(m.header));
      RETURN_IF_ERROR(out->Write(m.data_prefix));
      uint64_t off = e.payload().offset();
      uint64_t left = m.payload_bytes;
      while (left > 0) {
        if (cancel != nullptr && cancel->cancelled()) return cancel->Check("export");
        const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
        ASSIGN_OR_RETURN(size_t n, payload.ReadAt(off, std::span<uint8_t>(buf.data(), want)));
        if (n == 0) {
          return absl::DataLossError(absl::StrCat("export: snapshot ", id, ": the payload of '",
                                                  e.path(), "' ends early at stream offset ", off));
        }
        RETURN_IF_ERROR(out->Write(absl::string_view(reinterpret_cast<char*>(buf.data()), n)));
        off += n;
        left -= n;
        result.bytes += n;
      }
      RETURN_IF_ERROR(out->Write(TarPadding(m.data_size)));
      ++result.entries;
    }
  }
  RETURN_IF_ERROR(out->Write(TarTrailer()));
  RETURN_IF_ERROR(out->Finish());
  return result;
}

}  // namespace arca
