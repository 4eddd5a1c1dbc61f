#include "libs/pipeline/space_check.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"
#include "libs/base/phase_status.h"

namespace arca {
namespace {

TEST(SpaceCheckTest, EnoughSpaceIsOk) {
  // 1000 bytes x 0.5 x 1.5 = 750 needed.
  EXPECT_TRUE(CheckFreeSpace({1000, 0.5}, 750, 1.5, "/repo").ok());
  EXPECT_TRUE(CheckFreeSpace({1000, 0.5}, 1u << 30, 1.5, "/repo").ok());
  EXPECT_TRUE(CheckFreeSpace({0, 1.0}, 0, 100, "/repo").ok());
  EXPECT_DOUBLE_EQ(BytesNeeded({1000, 0.5}, 1.5), 750);
}

TEST(SpaceCheckTest, NotEnoughIsResourceExhaustedInSetupWithBothNumbers) {
  absl::Status st = CheckFreeSpace({3u << 20, 1.0}, 749, 1.5, "uploader 127.0.0.1:1 (/mnt/repo)");
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_EQ(PhaseOf(st), v1::PHASE_SETUP);
  EXPECT_EQ(std::string(st.message()),
            "not enough free space in uploader 127.0.0.1:1 (/mnt/repo): the backup needs an "
            "estimated 4.5 MiB (3145728 bytes to collect x compression ratio 1 x safety factor "
            "1.5) but only 749 B (749 bytes) are free; free space or lower "
            "--space-safety-factor");
}

TEST(SpaceCheckTest, OneByteShortFails) {
  EXPECT_EQ(CheckFreeSpace({1000, 0.5}, 749, 1.5, "/r").code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(SpaceCheckTest, SafetyFactorScalesTheNeed) {
  EXPECT_TRUE(CheckFreeSpace({1000, 1.0}, 1000, 1.0, "/r").ok());
  absl::Status st = CheckFreeSpace({1000, 1.0}, 1000, 100, "/r");
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("97.6 KiB"), absl::string_view::npos) << st;
  EXPECT_NE(st.message().find("safety factor 100"), absl::string_view::npos) << st;
}

TEST(SpaceCheckTest, InvalidFactorIsInvalidArgumentNeverOk) {
  for (double f :
       {0.0, 0.99, -1.0, 100.5, 1e300, std::nan(""), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    absl::Status v = ValidateSpaceSafetyFactor(f, "plan.space_safety_factor");
    EXPECT_EQ(v.code(), absl::StatusCode::kInvalidArgument) << f;
    EXPECT_NE(v.message().find("plan.space_safety_factor"), absl::string_view::npos) << v;
    EXPECT_NE(v.message().find("between 1 and 100"), absl::string_view::npos) << v;
    absl::Status c = CheckFreeSpace({1, 1.0}, 1u << 30, f, "/r");
    EXPECT_EQ(c.code(), absl::StatusCode::kInvalidArgument) << f;
    EXPECT_EQ(PhaseOf(c), v1::PHASE_SETUP);
  }
  EXPECT_TRUE(ValidateSpaceSafetyFactor(1.0, "f").ok());
  EXPECT_TRUE(ValidateSpaceSafetyFactor(100.0, "f").ok());
  EXPECT_TRUE(ValidateSpaceSafetyFactor(kDefaultSpaceSafetyFactor, "f").ok());
}

TEST(SpaceCheckTest, NanRatioDoesNotPass) {
  EXPECT_EQ(CheckFreeSpace({10, std::nan("")}, 1u << 30, 1.5, "/r").code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(SpaceCheckTest, HumanBytes) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(2.0 * (1u << 20)), "2 MiB");
  EXPECT_EQ(HumanBytes(5.0 * (1ull << 50)), "5120 TiB");
}

}  // namespace
}  // namespace arca
