// `arca mount [SNAPSHOT|REPO] MOUNTPOINT --repo DIR [--allow-other]`: a
// read-only FUSE file system (libfuse3, low-level API) over
// libs/mount/mount_view.h, run in the foreground until it is unmounted
// (fusermount3 -u MOUNTPOINT) or the process gets SIGINT (Ctrl-C), SIGTERM
// or SIGHUP, which unmount it and exit 0.
//
// What is mounted:
// - SNAPSHOT (an id, "latest" or GROUP/latest): that snapshot's tree at the
//   mount point;
// - no SNAPSHOT, or REPO (the repository itself: the same location as
//   --repo / ARCA_REPO, or, when neither is set, an existing directory or
//   an s3:// location): every snapshot of the repository as
//   MOUNTPOINT/<group>/<snapshot time>/.
//
// Threads: the FUSE requests are served by one thread (MountView is not
// thread-safe); each open file reads ahead on its own threads; one more
// thread waits for the signals above and stops the loop.
#ifndef ARCA_TOOLS_ARCA_MOUNT_H_
#define ARCA_TOOLS_ARCA_MOUNT_H_

#include <string>
#include <vector>

namespace arca::cli {

// The whole command: `argv` is what follows "mount". Returns the exit code:
// 0 after a clean unmount; 2 usage errors (arguments, a MOUNTPOINT that is
// not a directory, an unknown snapshot); 4 the repository cannot be opened
// or listed; 8 damaged snapshot metadata; 1 the FUSE mount itself failed
// (no /dev/fuse, not permitted) or its loop failed. Messages go to stderr;
// once mounted, one line "arca: mounted ... at MOUNTPOINT" is written there.
int RunMount(const std::vector<std::string>& argv);

}  // namespace arca::cli

#endif  // ARCA_TOOLS_ARCA_MOUNT_H_
