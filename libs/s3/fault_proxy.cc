#include "libs/s3/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace arca::s3 {
namespace {

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads one request (headers and a Content-Length body) from `fd`.
bool ReadRequest(int fd) {
  std::string buf;
  char tmp[65536];
  size_t header_end = std::string::npos;
  while (header_end == std::string::npos) {
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
    header_end = buf.find("\r\n\r\n");
  }
  uint64_t length = 0;
  std::string headers = absl::AsciiStrToLower(buf.substr(0, header_end));
  size_t at = headers.find("\r\ncontent-length:");
  if (at != std::string::npos) {
    size_t eol = headers.find("\r\n", at + 2);
    std::string value(absl::StripAsciiWhitespace(headers.substr(at + 17, eol - at - 17)));
    if (!absl::SimpleAtoi(value, &length)) return false;
  }
  uint64_t have = buf.size() - header_end - 4;
  while (have < length) {
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    have += static_cast<uint64_t>(n);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FaultProxy>> FaultProxy::Start(std::string upstream_host,
                                                              int upstream_port) {
  std::unique_ptr<FaultProxy> p(new FaultProxy());
  p->upstream_host_ = std::move(upstream_host);
  p->upstream_port_ = upstream_port;
  p->listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (p->listen_fd_ < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(p->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(p->listen_fd_, 64) != 0 ||
      getsockname(p->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(absl::StrCat("bind/listen: ", strerror(errno)));
  }
  p->port_ = ntohs(addr.sin_port);
  p->acceptor_ = std::thread([raw = p.get()] { raw->AcceptLoop(); });
  return p;
}

FaultProxy::~FaultProxy() {
  stopping_.store(true);
  shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  close(listen_fd_);
  // Connection threads are detached; wait for them to notice `stopping_`.
  for (int i = 0; i < 200 && active_.load() > 0; ++i) absl::SleepFor(absl::Milliseconds(10));
}

void FaultProxy::Arm(int n) {
  faults_left_.store(n);
  CloseForwarded();
}

void FaultProxy::Stall(bool on) {
  stall_.store(on);
  CloseForwarded();
}

void FaultProxy::CloseForwarded() {
  absl::MutexLock lock(&mu_);
  for (int fd : forwarding_) shutdown(fd, SHUT_RDWR);
}

std::string FaultProxy::endpoint() const { return absl::StrCat("http://127.0.0.1:", port_); }

void FaultProxy::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    active_.fetch_add(1);
    connections_.fetch_add(1);
    std::thread([this, fd] {
      Serve(fd);
      close(fd);
      active_.fetch_sub(1);
    }).detach();
  }
}

void FaultProxy::Serve(int client_fd) {
  if (stall_.load()) {
    if (!ReadRequest(client_fd)) return;
    char buf[4096];
    while (!stopping_.load()) {
      pollfd pfd{client_fd, POLLIN, 0};
      if (poll(&pfd, 1, 100) > 0 && recv(client_fd, buf, sizeof(buf), 0) <= 0) return;
    }
    return;
  }
  int left = faults_left_.load();
  while (left > 0 && !faults_left_.compare_exchange_weak(left, left - 1)) {
  }
  if (left > 0) {
    if (!ReadRequest(client_fd)) return;
    std::string body =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
        "<Message>Please reduce your request rate.</Message></Error>";
    WriteAll(client_fd, absl::StrCat("HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                                     "Content-Length: ",
                                     body.size(), "\r\nConnection: close\r\n\r\n", body));
    refused_.fetch_add(1);
    return;
  }
  int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
  inet_pton(AF_INET, upstream_host_.c_str(), &addr.sin_addr);
  if (up < 0 || connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (up >= 0) close(up);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    forwarding_.insert(client_fd);
  }
  pollfd fds[2] = {{client_fd, POLLIN, 0}, {up, POLLIN, 0}};
  char buf[65536];
  while (!stopping_.load()) {
    int r = poll(fds, 2, 100);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    bool done = false;
    for (int i = 0; i < 2 && !done; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t n = recv(fds[i].fd, buf, sizeof(buf), 0);
      if (n <= 0 || !WriteAll(fds[1 - i].fd, std::string_view(buf, static_cast<size_t>(n)))) {
        done = true;
      }
    }
    if (done) break;
  }
  {
    absl::MutexLock lock(&mu_);
    forwarding_.erase(client_fd);
  }
  close(up);
}

}  // namespace arca::s3
