#include "io/atomic_file.hpp"

#include <fer/error.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace fer::detail {

namespace {

std::string folder_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

void write_file_atomic(const std::string& path, std::initializer_list<ByteSpan> parts, const std::string& what) {
  // A temporary name of this write alone (two processes or threads writing the
  // same file, e.g. runs sharing a dataset cache, never write into each
  // other's), created new: an existing file or link there is not followed.
  static std::atomic<uint64_t> writes{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(writes++);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw Error(Status::IoError, "cannot write " + what + " " + tmp + ": " + std::strerror(errno));
  auto fail = [&](const char* step) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(Status::IoError, std::string(step) + " " + what + " " + tmp + " failed: " + std::strerror(err) +
                                     (err == ENOSPC || err == EFBIG || err == EDQUOT ? " (disk full?)" : "") +
                                     "; " + path + " was left as it was");
  };
  for (const ByteSpan& part : parts) {
    const char* p = static_cast<const char*>(part.data);
    size_t left = part.size;
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("writing");
      p += n;
      left -= size_t(n);
    }
  }
  if (::fsync(fd) != 0) fail("flushing");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(Status::IoError, "closing " + what + " " + tmp + " failed: " + std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(Status::IoError, "cannot rename " + tmp + " to " + path + ": " + std::strerror(err));
  }
  sync_directory(folder_of(path));
}

void sync_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    throw Error(Status::IoError, "cannot flush " + path + " to disk: " + std::strerror(err));
  }
  ::close(fd);
}

void sync_directory(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace fer::detail
