// Runs a libFuzzer-style target (LLVMFuzzerTestOneInput) as a deterministic
// test: every file of the seed corpus given in ARCA_FUZZ_CORPUS (a directory,
// relative to the runfiles root) or argv[1], then mutations of each seed
// (bit flips, truncations, extensions, byte overwrites) from a fixed-seed
// PRNG. Under --config=asan any out-of-bounds read or UB aborts the test.
// With clang, the same target links with -fsanitize=fuzzer instead.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> LoadCorpus(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

void Run(const std::string& s) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  if (argc > 1) dir = argv[1];
  if (const char* env = std::getenv("ARCA_FUZZ_CORPUS"); dir.empty() && env) dir = env;
  std::vector<std::string> corpus = LoadCorpus(dir);
  // Seeds the target itself may generate: the empty input and a few bytes.
  corpus.push_back("");
  corpus.push_back(std::string(64, '\0'));
  int iterations = 2000;
  if (const char* env = std::getenv("ARCA_FUZZ_ITERATIONS")) iterations = std::atoi(env);

  std::mt19937_64 rng(0xa7ca);
  size_t runs = 0;
  for (const std::string& seed : corpus) {
    Run(seed);
    ++runs;
    for (int i = 0; i < iterations; ++i) {
      std::string m = seed;
      int kind = static_cast<int>(rng() % 5);
      if (m.empty()) kind = 3;
      switch (kind) {
        case 0:  // flip one bit
          m[rng() % m.size()] ^= static_cast<char>(1u << (rng() % 8));
          break;
        case 1:  // truncate
          m.resize(rng() % m.size());
          break;
        case 2:  // overwrite a byte with an extreme value
          m[rng() % m.size()] = static_cast<char>((rng() & 1) ? 0xff : 0x00);
          break;
        case 3:  // extend with random bytes
          for (int k = static_cast<int>(rng() % 64); k >= 0; --k)
            m.push_back(static_cast<char>(rng()));
          break;
        default: {  // overwrite 8 bytes (a length or offset field) with random data
          size_t at = rng() % m.size();
          for (size_t k = 0; k < 8 && at + k < m.size(); ++k) m[at + k] = static_cast<char>(rng());
        }
      }
      Run(m);
      ++runs;
    }
  }
  std::printf("fuzz driver: %zu inputs (%zu seeds) ran without a crash\n", runs, corpus.size());
  return 0;
}
