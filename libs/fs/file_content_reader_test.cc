#include "libs/fs/file_content_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/fs/fault_injection_file_system.h"
#include "libs/fs/file_system.h"
#include "libs/fs/test_files.h"
#include "libs/fs/tree_walker.h"

namespace arca::fs {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint64_t kGiB = uint64_t{1} << 30;

class FileContentReaderTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::MakeScratchDir("reader"); }
  std::string P(const std::string& rel) { return dir_ + "/" + rel; }

  // The walker's entry for dir_/rel.
  v1::Entry Listed(const std::string& rel) {
    absl::StatusOr<std::unique_ptr<TreeWalker>> w = TreeWalker::Open(&posix_, dir_, {});
    EXPECT_TRUE(w.ok()) << w.status();
    v1::Entry entry;
    while (w.ok()) {
      absl::StatusOr<bool> more = (*w)->Next(&entry);
      if (!more.ok() || !*more) break;
      if (entry.path() == rel) return entry;
    }
    ADD_FAILURE() << rel << " not listed";
    return v1::Entry();
  }

  // Reads everything with `buf_size` buffers.
  absl::StatusOr<std::string> ReadAll(FileContentReader* reader, size_t buf_size = 1 << 20) {
    std::string out;
    std::vector<uint8_t> buf(buf_size);
    for (;;) {
      absl::StatusOr<size_t> n = reader->Read(buf);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      out.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    return out;
  }

  PosixFileSystem posix_;
  std::string dir_;
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_F(FileContentReaderTest, DenseFileInSmallAndLargeBuffers) {
  const std::string content = RandomBytes(3 * 1000 * 1000 + 17, 1);
  test::WriteFile(P("f"), content);
  v1::Entry listed = Listed("f");
  for (size_t buf_size : {size_t{1}, size_t{4096}, size_t{1000003}, size_t{8} << 20}) {
    if (buf_size == 1) continue;  // 3 M syscalls: too slow to be useful
    absl::StatusOr<std::unique_ptr<FileContentReader>> reader =
        FileContentReader::Open(&posix_, P("f"), listed);
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_FALSE((*reader)->sparse());
    ASSERT_EQ((*reader)->extents().size(), 1u);
    EXPECT_EQ((*reader)->extents()[0].offset(), 0u);
    EXPECT_EQ((*reader)->extents()[0].length(), content.size());
    EXPECT_EQ((*reader)->data_length(), content.size());
    absl::StatusOr<std::string> data = ReadAll(reader->get(), buf_size);
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_TRUE(*data == content) << "buffer " << buf_size;
    EXPECT_TRUE((*reader)->CheckUnchanged().ok());
  }
}

TEST_F(FileContentReaderTest, FillsBufferFully) {
  test::WriteFile(P("f"), "abcdefghij");
  absl::StatusOr<std::unique_ptr<FileContentReader>> reader =
      FileContentReader::Open(&posix_, P("f"), Listed("f"));
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<uint8_t> buf(4);
  EXPECT_EQ(*(*reader)->Read(buf), 4u);
  EXPECT_EQ(*(*reader)->Read(buf), 4u);
  EXPECT_EQ(*(*reader)->Read(buf), 2u);
  EXPECT_EQ(buf[0], 'i');
  EXPECT_EQ(*(*reader)->Read(buf), 0u);
  EXPECT_EQ(*(*reader)->Read(buf), 0u);
}

TEST_F(FileContentReaderTest, EmptyFile) {
  test::WriteFile(P("empty"), "");
  absl::StatusOr<std::unique_ptr<FileContentReader>> reader =
      FileContentReader::Open(&posix_, P("empty"), Listed("empty"));
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->extents().empty());
  EXPECT_FALSE((*reader)->sparse());
  EXPECT_EQ((*reader)->data_length(), 0u);
  std::vector<uint8_t> buf(16);
  EXPECT_EQ(*(*reader)->Read(buf), 0u);
  EXPECT_TRUE((*reader)->CheckUnchanged().ok());
}

TEST_F(FileContentReaderTest, OneGibSparseFile) {
  const uint64_t off1 = 123 * 4096 + 100;
  const uint64_t off2 = 700ull * 1024 * 1024 + 7;
  {
    int fd = ::open(P("sparse").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, kGiB), 0);
    ASSERT_EQ(::pwrite(fd, "first", 5, off1), 5);
    ASSERT_EQ(::pwrite(fd, "second", 6, off2), 6);
    ::close(fd);
  }
  v1::Entry listed = Listed("sparse");
  EXPECT_EQ(listed.size(), kGiB);
  absl::StatusOr<std::unique_ptr<FileContentReader>> reader =
      FileContentReader::Open(&posix_, P("sparse"), listed);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->sparse());
  const std::vector<v1::Extent>& extents = (*reader)->extents();
  ASSERT_EQ(extents.size(), 2u);
  EXPECT_LE(extents[0].offset(), off1);
  EXPECT_GE(extents[0].offset() + extents[0].length(), off1 + 5);
  EXPECT_LE(extents[1].offset(), off2);
  EXPECT_GE(extents[1].offset() + extents[1].length(), off2 + 6);
  EXPECT_LE((*reader)->data_length(), 2u * 65536);  // small: a block or so
  EXPECT_EQ((*reader)->data_length(), extents[0].length() + extents[1].length());

  absl::StatusOr<std::string> data = ReadAll(reader->get());
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->size(), (*reader)->data_length());
  // The data regions, concatenated; holes inside a region read as zeros.
  std::string expected(data->size(), '\0');
  expected.replace(off1 - extents[0].offset(), 5, "first");
  expected.replace(extents[0].length() + off2 - extents[1].offset(), 6, "second");
  EXPECT_TRUE(*data == expected);
  EXPECT_TRUE((*reader)->CheckUnchanged().ok());
}

TEST_F(FileContentReaderTest, AllHoleFile) {
  {
    int fd = ::open(P("hole").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 10 << 20), 0);
    ::close(fd);
  }
  absl::StatusOr<std::unique_ptr<FileContentReader>> reader =
      FileContentReader::Open(&posix_, P("hole"), Listed("hole"));
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->sparse());
  EXPECT_TRUE((*reader)->extents().empty());
  EXPECT_EQ((*reader)->data_length(), 0u);
  std::vector<uint8_t> buf(16);
  EXPECT_EQ(*(*reader)->Read(buf), 0u);
}

TEST_F(FileContentReaderTest, ChangedBetweenListingAndReading) {
  test::WriteFile(P("grown"), "12345");
  test::WriteFile(P("touched"), "12345");
  test::WriteFile(P("replaced"), "12345");
  v1::Entry grown = Listed("grown");
  v1::Entry touched = Listed("touched");
  v1::Entry replaced = Listed("replaced");

  test::WriteFile(P("grown"), "123456");
  test::SetTimesNs(P("touched"), 0, touched.mtime_ns() + 1);
  // (Created before the old one goes, so its inode number is not reused.)
  test::WriteFile(P("other"), "12345");
  ASSERT_EQ(::rename(P("other").c_str(), P("replaced").c_str()), 0);
  // Same size and mtime, other inode.
  test::SetTimesNs(P("replaced"), 0, replaced.mtime_ns());

  for (auto [name, listed, why] : std::vector<std::tuple<std::string, v1::Entry, std::string>>{
           {"grown", grown, "size 5 -> 6"},
           {"touched", touched, "mtime"},
           {"replaced", replaced, "replaced by another file"}}) {
    absl::StatusOr<std::unique_ptr<FileContentReader>> reader =
        FileContentReader::Open(&posix_, P(name), listed);
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kFailedPrecondition) << name;
    EXPECT_THAT(std::string(reader.status().message()),
                StartsWith(P(name) + " changed between listing and reading"));
    EXPECT_THAT(reader.status().message(), HasSubstr(why));
  }

  // Replaced by a fifo: not opened blocking, reported as changed.
  v1::Entry fifo_listed = Listed("grown");
  ASSERT_EQ(::unlink(P("grown").c_str()), 0);
  ASSERT_EQ(::mkfifo(P("grown").c_str(), 0644), 0);
  absl::StatusOr<std::unique_ptr<FileContentReader>> fifo =
      FileContentReader::Open(&posix_, P("grown"), fifo_listed);
  EXPECT_EQ(fifo.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(fifo.status().message(), HasSubstr("no longer a regular file"));

  // Replaced by a symlink: O_NOFOLLOW refuses it.
  v1::Entry link_listed = Listed("touched");
  ASSERT_EQ(::unlink(P("touched").c_str()), 0);
  test::MakeSymlink("replaced", P("touched"));
  absl::StatusOr<std::unique_ptr<FileContentReader>> link =
      FileContentReader::Open(&posix_, P("touched"), link_listed);
  EXPECT_EQ(link.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(link.status().message()),
              StartsWith(P("touched") + " changed between listing and reading"));
}

TEST_F(FileContentReaderTest, VanishedIsNotFound) {
  test::WriteFile(P("f"), "data");
  v1::Entry listed = Listed("f");
  ASSERT_EQ(::unlink(P("f").c_str()), 0);
  absl::StatusOr<std::unique_ptr<FileContentReader>> reader =
      FileContentReader::Open(&posix_, P("f"), listed);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(reader.status().message(), HasSubstr(P("f")));
}

TEST_F(FileContentReaderTest, NotARegularEntry) {
  test::MakeDir(P("d"));
  absl::StatusOr<std::unique_ptr<FileContentReader>> reader =
      FileContentReader::Open(&posix_, P("d"), Listed("d"));
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reader.status().message(), HasSubstr("ENTRY_TYPE_DIRECTORY"));
}

TEST_F(FileContentReaderTest, ShrunkWhileRead) {
  const std::string content = RandomBytes(3 << 20, 2);
  test::WriteFile(P("f"), content);
  absl::StatusOr<std::unique_ptr<FileContentReader>> reader =
      FileContentReader::Open(&posix_, P("f"), Listed("f"));
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<uint8_t> buf(1 << 20);
  absl::StatusOr<size_t> n = (*reader)->Read(buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, buf.size());
  ASSERT_EQ(::truncate(P("f").c_str(), (3 << 20) / 2), 0);
  n = (*reader)->Read(buf);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(n.status().message()), StartsWith(P("f") + " changed while being read"));
}

TEST_F(FileContentReaderTest, ModifiedWhileReadFailsCheckUnchanged) {
  test::WriteFile(P("size"), "0123456789");
  test::WriteFile(P("mtime"), "0123456789");
  test::WriteFile(P("ctime"), "0123456789");
  for (const char* name : {"size", "mtime", "ctime"}) {
    v1::Entry listed = Listed(name);
    absl::StatusOr<std::unique_ptr<FileContentReader>> reader =
        FileContentReader::Open(&posix_, P(name), listed);
    ASSERT_TRUE(reader.ok()) << reader.status();
    absl::StatusOr<std::string> data = ReadAll(reader->get());
    ASSERT_TRUE(data.ok());
    EXPECT_EQ(*data, "0123456789");
    if (std::string(name) == "size") {
      int fd = ::open(P(name).c_str(), O_WRONLY | O_APPEND);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::write(fd, "more", 4), 4);
      ::close(fd);
    } else if (std::string(name) == "mtime") {
      int fd = ::open(P(name).c_str(), O_WRONLY);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::pwrite(fd, "X", 1, 3), 1);  // same size, new content
      ::close(fd);
      test::SetTimesNs(P(name), 0, listed.mtime_ns() + 1000);
    } else {
      ASSERT_EQ(::chmod(P(name).c_str(), 0600), 0);  // only ctime moves
    }
    absl::Status s = (*reader)->CheckUnchanged();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << name;
    EXPECT_THAT(std::string(s.message()), StartsWith(P(name) + " changed while being read"));
    EXPECT_THAT(s.message(), HasSubstr(name));
  }
}

TEST_F(FileContentReaderTest, FaultInjection) {
  test::WriteFile(P("gone"), "data");
  test::WriteFile(P("bad"), std::string(100000, 'b'));
  test::WriteFile(P("denied"), "x");
  FaultInjectionFileSystem fs(&posix_);
  fs.Vanish(P("gone"));
  fs.FailRead(P("bad"), absl::UnavailableError("read " + P("bad") + ": Input/output error"), 65536);
  fs.FailOpen(P("denied"), absl::PermissionDeniedError("open denied"));

  // The walker still lists the vanished file.
  absl::StatusOr<std::unique_ptr<TreeWalker>> w = TreeWalker::Open(&fs, dir_, {});
  ASSERT_TRUE(w.ok());
  std::map<std::string, v1::Entry> listed;
  v1::Entry entry;
  while (*(*w)->Next(&entry)) listed[entry.path()] = entry;
  ASSERT_TRUE(listed.count("gone"));

  absl::StatusOr<std::unique_ptr<FileContentReader>> gone =
      FileContentReader::Open(&fs, P("gone"), listed["gone"]);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(gone.status().message(), HasSubstr(P("gone")));

  absl::StatusOr<std::unique_ptr<FileContentReader>> denied =
      FileContentReader::Open(&fs, P("denied"), listed["denied"]);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);

  absl::StatusOr<std::unique_ptr<FileContentReader>> bad =
      FileContentReader::Open(&fs, P("bad"), listed["bad"]);
  ASSERT_TRUE(bad.ok()) << bad.status();
  std::vector<uint8_t> buf(65536);
  absl::StatusOr<size_t> n = (*bad)->Read(buf);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 65536u);
  n = (*bad)->Read(buf);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(n.status().message(), HasSubstr("Input/output error"));

  EXPECT_EQ(fs.open_count(), 3u);
  EXPECT_EQ(fs.open_count(P("gone")), 1u);
}

}  // namespace
}  // namespace arca::fs
