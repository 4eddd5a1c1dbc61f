#include "libs/store/snapshot_page.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace arca {
namespace {

std::vector<v1::SnapshotInfo> Snapshots(int n) {
  std::vector<v1::SnapshotInfo> out;
  for (int i = n - 1; i >= 0; --i) {  // any order in
    v1::SnapshotInfo s;
    s.set_id("g/2026120" + std::to_string(i / 10) + "T0000" + std::to_string(i % 10) + "Z");
    out.push_back(s);
  }
  return out;
}

TEST(SnapshotPage, PagesCoverEverySnapshotOnceInIdOrder) {
  v1::ListSnapshotsRequest request;
  request.set_page_size(7);
  std::vector<std::string> seen;
  for (int pages = 0; pages < 10; ++pages) {
    absl::StatusOr<v1::ListSnapshotsResponse> page = PageOfSnapshots(Snapshots(30), request);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->snapshots_size(), 7);
    for (const auto& s : page->snapshots()) seen.push_back(s.id());
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  ASSERT_EQ(seen.size(), 30u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i - 1], seen[i]);
}

TEST(SnapshotPage, ZeroIsEverythingAndTokensBelongToTheirGroup) {
  v1::ListSnapshotsRequest request;
  absl::StatusOr<v1::ListSnapshotsResponse> all = PageOfSnapshots(Snapshots(30), request);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->snapshots_size(), 30);
  EXPECT_TRUE(all->next_page_token().empty());
  request.set_page_size(5);
  absl::StatusOr<v1::ListSnapshotsResponse> first = PageOfSnapshots(Snapshots(30), request);
  ASSERT_TRUE(first.ok());
  request.set_page_token(first->next_page_token());
  request.set_group("other");
  EXPECT_EQ(PageOfSnapshots(Snapshots(30), request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_group("");
  request.set_page_token("garbage!");
  EXPECT_EQ(PageOfSnapshots(Snapshots(30), request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_page_token("");
  request.set_page_size(-1);
  EXPECT_EQ(PageOfSnapshots(Snapshots(30), request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca
