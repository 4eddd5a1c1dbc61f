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
  (*request.mutable_labels())["env"] = "prod";  // another selector: refused too
  EXPECT_EQ(PageOfSnapshots(Snapshots(30), request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.mutable_labels()->clear();
  request.set_page_token("garbage!");
  EXPECT_EQ(PageOfSnapshots(Snapshots(30), request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_page_token("");
  request.set_page_size(-1);
  EXPECT_EQ(PageOfSnapshots(Snapshots(30), request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SnapshotPage, LabelsFilterBeforePaging) {
  std::vector<v1::SnapshotInfo> all = Snapshots(30);
  // Every third snapshot is env=prod; the others env=dev or none.
  for (size_t i = 0; i < all.size(); ++i) {
    if (i % 3 == 0) {
      (*all[i].mutable_labels())["env"] = "prod";
      (*all[i].mutable_labels())["team"] = "a";
    } else if (i % 3 == 1) {
      (*all[i].mutable_labels())["env"] = "dev";
    }
  }
  v1::ListSnapshotsRequest request;
  (*request.mutable_labels())["env"] = "prod";
  request.set_page_size(4);
  std::vector<std::string> seen;
  for (int pages = 0; pages < 10; ++pages) {
    absl::StatusOr<v1::ListSnapshotsResponse> page = PageOfSnapshots(all, request);
    ASSERT_TRUE(page.ok()) << page.status();
    // Full pages: the filter runs before the page is cut.
    if (!page->next_page_token().empty()) EXPECT_EQ(page->snapshots_size(), 4);
    for (const auto& s : page->snapshots()) {
      EXPECT_EQ(s.labels().at("env"), "prod") << s.id();
      seen.push_back(s.id());
    }
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  EXPECT_EQ(seen.size(), 10u);

  // Every label must match.
  v1::ListSnapshotsRequest both;
  (*both.mutable_labels())["env"] = "prod";
  (*both.mutable_labels())["team"] = "b";
  absl::StatusOr<v1::ListSnapshotsResponse> none = PageOfSnapshots(all, both);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->snapshots_size(), 0);
  std::vector<v1::SnapshotInfo> copy = all;
  ASSERT_TRUE(SelectSnapshotsByLabels(copy, both).ok());
  EXPECT_TRUE(copy.empty());

  // Invalid syntax from the network: INVALID_ARGUMENT naming the field.
  v1::ListSnapshotsRequest bad;
  (*bad.mutable_labels())["-bad"] = "x";
  absl::Status st = PageOfSnapshots(all, bad).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("labels"), std::string::npos) << st;
  copy = all;
  EXPECT_EQ(SelectSnapshotsByLabels(copy, bad).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca
