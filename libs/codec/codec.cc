#include "libs/codec/codec.h"

#include <lzma.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace arca {
namespace {

// Decoder memory limit for xz streams. Level 9 (64 MiB dictionary) needs about
// 65 MiB; arca's encoder never uses a dictionary larger than its input.
constexpr uint64_t kXzMemlimit = 256ull << 20;

// Thread-local encoders/decoders whose memory use exceeds this are released
// after the call instead of being kept for the next one, so that one large
// input (e.g. a 64 MiB chunk at xz -9) does not pin hundreds of MiB per thread.
constexpr uint64_t kKeepXzMemory = 64ull << 20;

// ---------------------------------------------------------------- zstd

struct ZstdContexts {
  ZSTD_CCtx* cctx = nullptr;
  ZSTD_DCtx* dctx = nullptr;
  ~ZstdContexts() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }
};

ZstdContexts& ThreadZstd() {
  thread_local ZstdContexts contexts;
  return contexts;
}

absl::Status ZstdError(absl::string_view what, size_t code) {
  return absl::InternalError(absl::StrCat("zstd ", what, " failed: ", ZSTD_getErrorName(code)));
}

absl::Status CompressZstd(int level, std::span<const uint8_t> input, std::string* out,
                          int threads) {
  ZstdContexts& z = ThreadZstd();
  if (z.cctx == nullptr) {
    z.cctx = ZSTD_createCCtx();
    if (z.cctx == nullptr) return absl::InternalError("zstd: out of memory");
  }
  ZSTD_CCtx* cctx = z.cctx;
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  size_t rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  if (ZSTD_isError(rc)) return ZstdError("setting the level", rc);
  rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  if (ZSTD_isError(rc)) return ZstdError("enabling the checksum", rc);
  if (threads > 1 && input.size() >= kMinParallelCompressInput) {
    // A libzstd built without multithreading refuses nbWorkers: then the
    // input is simply compressed by this thread.
    if (!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, threads))) {
      // zstd's default job is several windows long, i.e. larger than a
      // chunk: split the input evenly among the workers instead.
      size_t job = (input.size() + threads - 1) / threads;
      job = std::max<size_t>(job, 512 << 10);  // ZSTDMT_JOBSIZE_MIN
      ZSTD_CCtx_setParameter(cctx, ZSTD_c_jobSize, static_cast<int>(job));
    }
  }
  const size_t old_size = out->size();
  const size_t bound = ZSTD_compressBound(input.size());
  out->resize(old_size + bound);
  rc = ZSTD_compress2(cctx, out->data() + old_size, bound, input.data(), input.size());
  if (ZSTD_isError(rc)) {
    out->resize(old_size);
    return ZstdError("compression", rc);
  }
  out->resize(old_size + rc);
  return absl::OkStatus();
}

absl::Status DecompressZstd(std::span<const uint8_t> input, uint64_t raw_length, std::string* out) {
  if (input.empty()) {
    return absl::DataLossError("zstd stream is empty (truncated)");
  }
  // The frame header states the content size: reject a mismatch before
  // allocating anything. (arca writes one frame; a stream of several frames
  // is only checked by decoding it.)
  const unsigned long long declared = ZSTD_getFrameContentSize(input.data(), input.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) {
    return absl::DataLossError("zstd stream is corrupt or truncated (bad frame header)");
  }
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != raw_length) {
    const size_t frame = ZSTD_findFrameCompressedSize(input.data(), input.size());
    if (!ZSTD_isError(frame) && frame == input.size()) {
      return absl::DataLossError(
          absl::StrCat("zstd stream declares ", declared, " bytes, expected ", raw_length));
    }
  }
  ZstdContexts& z = ThreadZstd();
  if (z.dctx == nullptr) {
    z.dctx = ZSTD_createDCtx();
    if (z.dctx == nullptr) return absl::InternalError("zstd: out of memory");
  }
  const size_t old_size = out->size();
  out->resize(old_size + raw_length);
  const size_t rc =
      ZSTD_decompressDCtx(z.dctx, out->data() + old_size, raw_length, input.data(), input.size());
  if (ZSTD_isError(rc)) {
    out->resize(old_size);
    if (ZSTD_getErrorCode(rc) == ZSTD_error_dstSize_tooSmall) {
      return absl::DataLossError(
          absl::StrCat("zstd stream decodes to more than the expected ", raw_length, " bytes"));
    }
    return absl::DataLossError(absl::StrCat("zstd stream is corrupt: ", ZSTD_getErrorName(rc)));
  }
  if (rc != raw_length) {
    out->resize(old_size);
    return absl::DataLossError(
        absl::StrCat("zstd stream decodes to ", rc, " bytes, expected ", raw_length));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- xz

// An lzma_stream that is kept for the next call of the same thread; liblzma
// reuses its allocations when the same kind of coder is initialised again.
struct XzStream {
  lzma_stream strm = LZMA_STREAM_INIT;
  ~XzStream() { lzma_end(&strm); }
  // Frees the coder when it holds a lot of memory.
  void Trim() {
    if (lzma_memusage(&strm) > kKeepXzMemory) lzma_end(&strm);
  }
};

XzStream& ThreadXzEncoder() {
  thread_local XzStream s;
  return s;
}
XzStream& ThreadXzMtEncoder() {
  thread_local XzStream s;
  return s;
}
XzStream& ThreadXzDecoder() {
  thread_local XzStream s;
  return s;
}

const char* LzmaRetName(lzma_ret r) {
  switch (r) {
    case LZMA_MEM_ERROR:
      return "out of memory";
    case LZMA_MEMLIMIT_ERROR:
      return "needs more decoder memory than the 256 MiB limit";
    case LZMA_FORMAT_ERROR:
      return "not an xz stream";
    case LZMA_OPTIONS_ERROR:
      return "unsupported options";
    case LZMA_DATA_ERROR:
      return "corrupt data";
    case LZMA_BUF_ERROR:
      return "truncated";
    case LZMA_PROG_ERROR:
      return "invalid arguments";
    default:
      return "error";
  }
}

// Smallest dictionary that covers `n` bytes (liblzma's minimum is 4 KiB).
uint32_t DictFor(uint64_t n) {
  return static_cast<uint32_t>(std::bit_ceil(std::clamp<uint64_t>(n, 4096, 1u << 30)));
}

absl::Status CompressXz(int level, std::span<const uint8_t> input, std::string* out, int threads) {
  lzma_options_lzma opt;
  if (lzma_lzma_preset(&opt, static_cast<uint32_t>(level))) {
    return absl::InternalError(absl::StrCat("xz: preset ", level, " failed"));
  }
  const bool parallel = threads > 1 && input.size() >= kMinParallelCompressInput;
  uint64_t block_size = 0;
  if (parallel) {
    block_size = std::max<uint64_t>((input.size() + threads - 1) / threads, 1 << 20);
    opt.dict_size = std::min(opt.dict_size, DictFor(block_size));
  } else {
    // A dictionary larger than the input only costs memory and set-up time.
    opt.dict_size = std::min(opt.dict_size, DictFor(input.size()));
  }
  lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &opt}, {LZMA_VLI_UNKNOWN, nullptr}};
  XzStream& xs = parallel ? ThreadXzMtEncoder() : ThreadXzEncoder();
  lzma_stream* strm = &xs.strm;
  lzma_ret r;
  if (parallel) {
    lzma_mt mt;
    std::memset(&mt, 0, sizeof(mt));
    mt.threads = static_cast<uint32_t>(threads);
    mt.block_size = block_size;
    mt.timeout = 0;
    mt.filters = filters;
    mt.check = LZMA_CHECK_CRC32;
    r = lzma_stream_encoder_mt(strm, &mt);
  } else {
    r = lzma_stream_encoder(strm, filters, LZMA_CHECK_CRC32);
  }
  if (r != LZMA_OK) {
    lzma_end(strm);
    return absl::InternalError(absl::StrCat("xz encoder set-up failed: ", LzmaRetName(r)));
  }
  const size_t old_size = out->size();
  // lzma_stream_buffer_bound is the worst case of a single-threaded stream;
  // the MT encoder adds a block header per block, so leave room for growth.
  size_t capacity = lzma_stream_buffer_bound(input.size()) + 4096;
  out->resize(old_size + capacity);
  strm->next_in = input.data();
  strm->avail_in = input.size();
  strm->next_out = reinterpret_cast<uint8_t*>(out->data() + old_size);
  strm->avail_out = capacity;
  for (;;) {
    r = lzma_code(strm, LZMA_FINISH);
    if (r == LZMA_STREAM_END) break;
    if (r != LZMA_OK) {
      out->resize(old_size);
      lzma_end(strm);
      return absl::InternalError(absl::StrCat("xz compression failed: ", LzmaRetName(r)));
    }
    if (strm->avail_out == 0) {
      const size_t used = capacity;
      capacity *= 2;
      out->resize(old_size + capacity);
      strm->next_out = reinterpret_cast<uint8_t*>(out->data() + old_size + used);
      strm->avail_out = capacity - used;
    }
  }
  out->resize(old_size + capacity - strm->avail_out);
  xs.Trim();
  return absl::OkStatus();
}

absl::Status DecompressXz(std::span<const uint8_t> input, uint64_t raw_length, std::string* out) {
  XzStream& xs = ThreadXzDecoder();
  lzma_stream* strm = &xs.strm;
  lzma_ret r = lzma_stream_decoder(strm, kXzMemlimit, 0);
  if (r != LZMA_OK) {
    lzma_end(strm);
    return absl::InternalError(absl::StrCat("xz decoder set-up failed: ", LzmaRetName(r)));
  }
  const size_t old_size = out->size();
  out->resize(old_size + raw_length);
  strm->next_in = input.data();
  strm->avail_in = input.size();
  strm->next_out = reinterpret_cast<uint8_t*>(out->data() + old_size);
  strm->avail_out = raw_length;
  // Once the expected bytes are out, decoding continues into `extra`: any byte
  // landing there means the stream is longer than raw_length.
  uint8_t extra[1];
  bool past_end = false;
  absl::Status status;
  for (;;) {
    r = lzma_code(strm, LZMA_FINISH);
    if (r == LZMA_STREAM_END) break;
    if (r != LZMA_OK) {
      status = absl::DataLossError(absl::StrCat("xz stream is corrupt: ", LzmaRetName(r)));
      break;
    }
    if (strm->avail_out == 0) {
      if (past_end) break;
      past_end = true;
      strm->next_out = extra;
      strm->avail_out = sizeof(extra);
    }
  }
  if (status.ok()) {
    if (past_end && strm->avail_out == 0) {
      status = absl::DataLossError(
          absl::StrCat("xz stream decodes to more than the expected ", raw_length, " bytes"));
    } else if (!past_end && strm->avail_out != 0) {
      status = absl::DataLossError(absl::StrCat(
          "xz stream decodes to ", raw_length - strm->avail_out, " bytes, expected ", raw_length));
    } else if (strm->avail_in != 0) {
      status = absl::DataLossError(
          absl::StrCat("xz stream is followed by ", strm->avail_in, " trailing bytes"));
    }
  }
  if (!status.ok()) {
    out->resize(old_size);
    lzma_end(strm);
    return status;
  }
  xs.Trim();
  return absl::OkStatus();
}

absl::Status UnknownCodec(Codec codec) {
  return absl::InvalidArgumentError(
      absl::StrCat("unknown codec value ", static_cast<int>(codec), ": use zstd, xz or none"));
}

}  // namespace

absl::StatusOr<Codec> ParseCodec(absl::string_view name) {
  if (name == "none") return Codec::kNone;
  if (name == "zstd") return Codec::kZstd;
  if (name == "xz") return Codec::kXz;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown compression '", name, "': use zstd, xz or none"));
}

std::string_view CodecName(Codec codec) {
  switch (codec) {
    case Codec::kNone:
      return "none";
    case Codec::kZstd:
      return "zstd";
    case Codec::kXz:
      return "xz";
  }
  return "unknown";
}

int DefaultLevel(Codec codec) {
  switch (codec) {
    case Codec::kZstd:
      return 3;
    case Codec::kXz:
      return 6;
    case Codec::kNone:
      return 0;
  }
  return 0;
}

absl::Status ValidateLevel(Codec codec, int level) {
  int lo = 0, hi = 0;
  switch (codec) {
    case Codec::kNone:
      lo = hi = 0;
      break;
    case Codec::kZstd:
      lo = 1;
      hi = 19;
      break;
    case Codec::kXz:
      lo = 0;
      hi = 9;
      break;
    default:
      return UnknownCodec(codec);
  }
  if (level < lo || level > hi) {
    if (codec == Codec::kNone) {
      return absl::InvalidArgumentError(
          absl::StrCat("compression level ", level, " is invalid for none: it takes only level 0"));
    }
    return absl::InvalidArgumentError(absl::StrCat("compression level ", level, " is invalid for ",
                                                   std::string(CodecName(codec)), ": use ", lo,
                                                   "..", hi));
  }
  return absl::OkStatus();
}

absl::Status Compress(Codec codec, int level, std::span<const uint8_t> input, std::string* out,
                      int threads) {
  if (absl::Status s = ValidateLevel(codec, level); !s.ok()) return s;
  if (threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("compression threads must be at least 1, got ", threads));
  }
  switch (codec) {
    case Codec::kNone:
      out->append(reinterpret_cast<const char*>(input.data()), input.size());
      return absl::OkStatus();
    case Codec::kZstd:
      return CompressZstd(level, input, out, threads);
    case Codec::kXz:
      return CompressXz(level, input, out, threads);
  }
  return UnknownCodec(codec);
}

absl::Status Decompress(Codec codec, std::span<const uint8_t> input, uint64_t raw_length,
                        std::string* out) {
  if (raw_length > kMaxDecompressedLength) {
    return absl::InvalidArgumentError(absl::StrCat("decompressed length ", raw_length,
                                                   " exceeds the limit ", kMaxDecompressedLength));
  }
  switch (codec) {
    case Codec::kNone:
      if (input.size() != raw_length) {
        return absl::DataLossError(absl::StrCat("uncompressed payload has ", input.size(),
                                                " bytes, expected ", raw_length));
      }
      out->append(reinterpret_cast<const char*>(input.data()), input.size());
      return absl::OkStatus();
    case Codec::kZstd:
      return DecompressZstd(input, raw_length, out);
    case Codec::kXz:
      return DecompressXz(input, raw_length, out);
  }
  return UnknownCodec(codec);
}

}  // namespace arca
