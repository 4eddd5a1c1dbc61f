// Writes seed inputs for manifest_fuzz and config_fuzz into
// DIR/manifest_corpus and DIR/config_corpus:
//   bazel run //libs/store:make_seed_corpus -- $PWD/libs/store/testdata
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "libs/store/repository.h"

namespace {

void Write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  std::printf("wrote %s (%zu bytes)\n", path.c_str(), text.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir / "manifest_corpus");
  std::filesystem::create_directories(dir / "config_corpus");

  arca::v1::Manifest m;
  m.set_format_version(1);
  m.set_id("myhost_usr_share_doc/20240102T030405.123456789Z");
  m.set_group("myhost_usr_share_doc");
  m.set_host("myhost");
  m.add_sources("/usr/share/doc");
  m.set_time_unix_ns(1704164645123456789);
  m.set_repository_id("0123456789abcdef0123456789abcdef");
  for (auto [kind, name] : {std::pair{arca::v1::STREAM_KIND_METADATA, "metadata.aidx"},
                            std::pair{arca::v1::STREAM_KIND_PAYLOAD, "payload.aidx"}}) {
    arca::v1::IndexFileInfo* i = m.add_indexes();
    i->set_name(name);
    i->set_stream(kind);
    i->set_size(4096);
    i->set_sha256(std::string(64, 'a'));
    i->set_stream_length(1ull << 33);
    i->set_chunk_count(1234);
  }
  (*m.mutable_options())["compression"] = "zstd";
  (*m.mutable_options())["level"] = "3";
  arca::v1::BackupStats* s = m.mutable_stats();
  s->set_files(64000);
  s->set_bytes_collected(1000000000);
  s->set_bytes_new_raw(900000000);
  s->set_bytes_new_stored(300000000);
  s->set_compression_ratio(0.333);
  (*s->mutable_phase_seconds())["collection"] = 1.5;
  s->set_parent_snapshot("myhost_usr_share_doc/20240101T000000.000000000Z");
  arca::v1::Warning* w = m.add_warnings();
  w->set_phase(arca::v1::PHASE_COLLECTION);
  w->set_path("bad\xff/name");
  w->set_message("permission denied");
  arca::v1::CommandResult* c = m.add_commands();
  c->set_name("dpkg");
  c->set_command_line("dpkg -l");
  c->set_critical(true);
  c->mutable_payload()->set_length(100);
  (*m.mutable_labels())["env"] = "prod";
  (*m.mutable_labels())["example.com/team"] = "storage";
  Write(dir / "manifest_corpus" / "full.json", arca::ManifestToJson(m).value());

  arca::v1::Manifest minimal;
  minimal.set_format_version(1);
  minimal.set_id("h_x/19700101T000000.000000000Z");
  Write(dir / "manifest_corpus" / "minimal.json", arca::ManifestToJson(minimal).value());
  Write(dir / "manifest_corpus" / "compact.json",
        "{\"format_version\":1,\"id\":\"g/t\",\"indexes\":[{\"name\":\"payload.aidx\","
        "\"stream\":\"STREAM_KIND_PAYLOAD\",\"size\":\"12\"}],\"options\":{\"a\":\"b\"},"
        "\"stats\":{\"compression_ratio\":\"NaN\",\"phase_seconds\":{\"x\":1e308}},"
        "\"unknownField\":[1,{\"n\":null}]}");

  arca::v1::RepositoryConfig config;
  config.set_format_version(1);
  config.mutable_payload_chunker()->set_min_size(256 << 10);
  config.mutable_payload_chunker()->set_avg_size(1 << 20);
  config.mutable_payload_chunker()->set_max_size(4 << 20);
  config.mutable_metadata_chunker()->set_min_size(64 << 10);
  config.mutable_metadata_chunker()->set_avg_size(256 << 10);
  config.mutable_metadata_chunker()->set_max_size(1 << 20);
  config.set_default_codec(arca::v1::CODEC_ZSTD);
  config.set_default_level(3);
  config.set_repository_id("0123456789abcdef0123456789abcdef");
  config.set_created_unix_ns(1704164645123456789);
  config.set_chunker_seed(42);
  Write(dir / "config_corpus" / "full.json", arca::RepositoryConfigToJson(config).value());
  Write(dir / "config_corpus" / "compact.json",
        "{\"format_version\":1,\"defaultCodec\":2,\"payload_chunker\":{\"avg_size\":1048576}}");
  return 0;
}
