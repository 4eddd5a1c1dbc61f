// Equality of two repeated protobuf message fields, element by element
// (MessageDifferencer::Equals on each): parent-snapshot change detection and
// snapshot diff compare xattrs, ACLs and extents with it.
#ifndef ARCA_LIBS_PIPELINE_SAME_REPEATED_H_
#define ARCA_LIBS_PIPELINE_SAME_REPEATED_H_

#include "google/protobuf/util/message_differencer.h"

namespace arca {

template <typename Repeated>
bool SameRepeated(const Repeated& a, const Repeated& b) {
  if (a.size() != b.size()) return false;
  for (int i = 0; i < a.size(); ++i) {
    if (!google::protobuf::util::MessageDifferencer::Equals(a.Get(i), b.Get(i))) return false;
  }
  return true;
}

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_SAME_REPEATED_H_
