#include "libs/archive/test_entries.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>

namespace arca::testing {
namespace {

class TreeBuilder {
 public:
  TreeBuilder(size_t n, uint64_t seed) : n_(n), rng_(seed) {}

  std::vector<v1::Entry> Build() {
    v1::Entry root = Base("", v1::ENTRY_TYPE_DIRECTORY);
    root.set_mode(0755);
    Emit(std::move(root));
    for (int d = 0; out_.size() < n_; ++d) {
      char name[32];
      std::snprintf(name, sizeof(name), "dir%06d", d);
      Directory(name, 1);
    }
    out_.resize(n_);
    return std::move(out_);
  }

 private:
  uint64_t R(uint64_t bound) { return rng_() % bound; }

  v1::Entry Base(std::string path, v1::EntryType type) {
    v1::Entry e;
    e.set_path(std::move(path));
    e.set_type(type);
    e.set_mode(static_cast<uint32_t>(R(2) ? 0644 : R(010000)));
    e.set_uid(static_cast<uint32_t>(R(3) ? 1000 : R(100000)));
    e.set_gid(static_cast<uint32_t>(R(3) ? 1000 : R(100000)));
    const int64_t t = 1'700'000'000'000'000'000 + static_cast<int64_t>(R(1'000'000'000'000'000));
    e.set_mtime_ns(t);
    e.set_atime_ns(t + static_cast<int64_t>(R(1'000'000'000)));
    e.set_ctime_ns(t + static_cast<int64_t>(R(1'000'000'000)));
    e.set_dev(2049);
    e.set_ino(++ino_);
    e.set_nlink(1);
    if (R(20) == 0) {
      auto* x = e.add_xattrs();
      x->set_name("user.a");
      x->set_value(std::string("v\0\xff", 3));
      x = e.add_xattrs();
      x->set_name("user.comment");
      x->set_value("hello");
    }
    if (R(30) == 0) {
      for (uint32_t tag : {1u, 2u, 4u, 16u, 32u}) {
        auto* a = e.add_acl_access();
        a->set_tag(tag);
        a->set_id(tag == 2 ? 1001 : 0);
        a->set_perm(7);
      }
      if (type == v1::ENTRY_TYPE_DIRECTORY) {
        auto* a = e.add_acl_default();
        a->set_tag(1);
        a->set_perm(7);
      }
    }
    return e;
  }

  void Emit(v1::Entry e) {
    if (out_.size() < n_) out_.push_back(std::move(e));
  }

  void Regular(const std::string& path) {
    v1::Entry e = Base(path, v1::ENTRY_TYPE_REGULAR);
    const uint64_t size = R(4) == 0 ? 0 : R(200000);
    e.set_size(size);
    if (size > 0) {
      e.mutable_payload()->set_offset(payload_offset_);
      e.mutable_payload()->set_length(size);
      payload_offset_ += size;
    }
    Emit(std::move(e));
  }

  void Sparse(const std::string& path) {
    v1::Entry e = Base(path, v1::ENTRY_TYPE_REGULAR);
    const uint64_t size = 1ull << 30;
    e.set_size(size);
    e.set_sparse(true);
    uint64_t data = 0;
    for (uint64_t off : {0ull, 1ull << 20, (1ull << 30) - 4096}) {
      if (off == 0 && R(2)) continue;  // some start with a hole
      auto* x = e.add_extents();
      x->set_offset(off);
      x->set_length(4096);
      data += 4096;
    }
    e.mutable_payload()->set_offset(payload_offset_);
    e.mutable_payload()->set_length(data);
    payload_offset_ += data;
    Emit(std::move(e));
  }

  void Directory(const std::string& path, int depth) {
    if (out_.size() >= n_) return;
    v1::Entry dir = Base(path, v1::ENTRY_TYPE_DIRECTORY);
    Emit(std::move(dir));
    std::vector<std::string> names = {"a",
                                      "a-b",
                                      "a b",
                                      "\xc3\xa9t\xc3\xa9",
                                      std::string("\x01\x7f\xff", 3),
                                      "new\nline",
                                      "back\\slash",
                                      std::string(255, 'n'),
                                      ".hidden",
                                      "..x"};
    const int files = depth == 1 ? 90 : 8;
    for (int i = 0; i < files; ++i) {
      char name[32];
      std::snprintf(name, sizeof(name), "f%03d", i);
      names.push_back(name);
    }
    std::sort(names.begin(), names.end());  // bytewise (char_traits compare as unsigned)
    std::string first_regular;
    for (const std::string& name : names) {
      if (out_.size() >= n_) return;
      const std::string child = path + "/" + name;
      // "a" is always a directory so that "a/..." and "a-b" interleave.
      const uint64_t kind = name == "a" ? 99 : R(100);
      if (kind < 55 || (kind >= 99 && depth >= 3)) {
        Regular(child);
        if (first_regular.empty()) first_regular = child;
      } else if (kind < 60) {
        Sparse(child);
      } else if (kind < 72) {
        v1::Entry e = Base(child, v1::ENTRY_TYPE_SYMLINK);
        e.set_symlink_target(R(2) ? "../" + name : "/etc/passwd");
        e.set_size(e.symlink_target().size());
        Emit(std::move(e));
      } else if (kind < 78 && !first_regular.empty()) {
        v1::Entry e = Base(child, v1::ENTRY_TYPE_HARDLINK);
        e.set_hardlink_target(first_regular);
        e.set_nlink(2);
        Emit(std::move(e));
      } else if (kind < 82) {
        Emit(Base(child, v1::ENTRY_TYPE_FIFO));
      } else if (kind < 86) {
        v1::Entry e = Base(child, v1::ENTRY_TYPE_CHAR_DEVICE);
        e.set_rdev((1u << 8) | 3u);
        Emit(std::move(e));
      } else if (kind < 88) {
        v1::Entry e = Base(child, v1::ENTRY_TYPE_BLOCK_DEVICE);
        e.set_rdev((8u << 8) | 1u);
        Emit(std::move(e));
      } else if (depth < 3) {
        Directory(child, depth + 1);
      } else {
        Emit(Base(child, v1::ENTRY_TYPE_DIRECTORY));  // empty directory
      }
    }
  }

  size_t n_;
  std::mt19937_64 rng_;
  std::vector<v1::Entry> out_;
  uint64_t payload_offset_ = 0;
  uint64_t ino_ = 1;
};

}  // namespace

std::vector<v1::Entry> MakeTestEntries(size_t n, uint64_t seed) {
  return TreeBuilder(n, seed).Build();
}

}  // namespace arca::testing
