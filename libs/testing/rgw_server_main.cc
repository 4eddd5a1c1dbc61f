// rgw_server_main --dir DIR [--bucket NAME]... [--tls] [--ignore-stdin]
//
// Starts a throw-away Ceph RADOS Gateway (rgw_server.h) under DIR, creates
// the buckets, prints
//   AWS_ENDPOINT_URL=http://127.0.0.1:PORT
//   AWS_ACCESS_KEY_ID=...
//   AWS_SECRET_ACCESS_KEY=...
//   AWS_REGION=us-east-1
//   ARCA_S3_HTTPS_ENDPOINT=https://127.0.0.1:SSLPORT   (--tls only)
//   AWS_CA_BUNDLE=DIR/tls/ca.pem                       (--tls only)
//   READY
// to stdout and runs until SIGTERM or SIGINT, or until its standard input
// reaches end of file (so a shell script that holds a pipe to it cannot leave
// it behind); --ignore-stdin waits for a signal only (for `... </dev/null &`).
// Then it stops every daemon and exits 0. Exit 1 when the server does not
// start, 2 on a usage error.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "libs/base/cli_flags.h"
#include "libs/testing/rgw_server.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = arca::cli::ParseArgs(args, {{"dir", "bucket"}, {"ignore-stdin", "tls"}});
  if (!parsed.ok() || !parsed->Last("dir").has_value() || !parsed->positional.empty()) {
    std::cerr << "usage: rgw_server_main --dir DIR [--bucket NAME]... [--tls] [--ignore-stdin]\n";
    if (!parsed.ok()) std::cerr << parsed.status().message() << "\n";
    return 2;
  }
  // Block the stop signals before any thread or child exists; they are read
  // from a signalfd below (children start with an empty mask).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  int signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    perror("signalfd");
    return 1;
  }

  arca::testing::RgwServerOptions options;
  options.tls = parsed->Has("tls");
  auto server = arca::testing::RgwServer::Start(*parsed->Last("dir"), options);
  if (!server.ok()) {
    std::cerr << "rgw_server_main: " << server.status() << "\n";
    return 1;
  }
  for (const std::string& bucket : parsed->All("bucket")) {
    absl::Status status = (*server)->CreateBucket(bucket);
    if (!status.ok()) {
      std::cerr << "rgw_server_main: " << status << "\n";
      return 1;
    }
  }
  std::cout << "AWS_ENDPOINT_URL=" << (*server)->endpoint() << "\n"
            << "AWS_ACCESS_KEY_ID=" << (*server)->access_key() << "\n"
            << "AWS_SECRET_ACCESS_KEY=" << (*server)->secret_key() << "\n"
            << "AWS_REGION=" << (*server)->region() << "\n";
  if (options.tls) {
    std::cout << "ARCA_S3_HTTPS_ENDPOINT=" << (*server)->https_endpoint() << "\n"
              << "AWS_CA_BUNDLE=" << (*server)->ca_file() << "\n";
  }
  std::cout << "READY" << std::endl;

  const bool watch_stdin = !parsed->Has("ignore-stdin");
  pollfd fds[2] = {{signal_fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
  for (;;) {
    int n = poll(fds, watch_stdin ? 2 : 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (fds[0].revents != 0) break;  // SIGTERM or SIGINT
    if (watch_stdin && fds[1].revents != 0) {
      char buf[4096];
      ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
      if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) break;  // EOF
    }
  }
  server->reset();  // stops every daemon
  std::cerr << "rgw_server_main: stopped\n";
  return 0;
}
