#include "io/atomic_file.hpp"

#include <fer/error.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
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
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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

void sync_directory(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace fer::detail
