#include "libs/testing/repo_damage.h"

#include <filesystem>
#include <fstream>
#include <iterator>

namespace arca::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

std::string FirstMetadataChunkFile(const std::string& repo) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(repo + "/snapshots")) {
    if (e.path().filename() != "metadata.aidx") continue;
    const std::string index = ReadAll(e.path().string());
    if (index.size() < 72) return "";
    static const char kHex[] = "0123456789abcdef";
    std::string hex;
    for (size_t i = 40; i < 72; ++i) {
      const auto b = static_cast<unsigned char>(index[i]);
      hex += kHex[b >> 4];
      hex += kHex[b & 15];
    }
    return repo + "/chunks/" + hex.substr(0, 2) + "/" + hex.substr(2, 2) + "/" + hex;
  }
  return "";
}

void FlipMiddleBit(const std::string& path) {
  std::string data = ReadAll(path);
  if (data.empty()) return;
  data[data.size() / 2] ^= 0x01;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

}  // namespace arca::testing
