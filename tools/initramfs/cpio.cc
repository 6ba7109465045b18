#include "tools/initramfs/cpio.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace hyp::tools {
namespace {

constexpr uint32_t kIfDir = 0040000;
constexpr uint32_t kIfReg = 0100000;
constexpr uint32_t kIfLnk = 0120000;
constexpr uint32_t kIfChr = 0020000;
constexpr uint32_t kIfBlk = 0060000;

absl::StatusOr<uint32_t> octal(absl::string_view text, int line) {
  uint32_t v = 0;
  if (text.empty() || text.size() > 5) return absl::InvalidArgumentError(absl::StrCat("line ", line, ": bad mode"));
  for (char c : text) {
    if (c < '0' || c > '7') return absl::InvalidArgumentError(absl::StrCat("line ", line, ": bad mode '", text, "'"));
    v = v * 8 + static_cast<uint32_t>(c - '0');
  }
  if (v > 07777) return absl::InvalidArgumentError(absl::StrCat("line ", line, ": mode out of range"));
  return v;
}

absl::StatusOr<std::string> image_path(absl::string_view text, int line) {
  if (text.size() < 2 || text[0] != '/' || text.back() == '/') {
    return absl::InvalidArgumentError(absl::StrCat("line ", line, ": path '", text, "' must be absolute"));
  }
  for (absl::string_view part : absl::StrSplit(text.substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") {
      return absl::InvalidArgumentError(absl::StrCat("line ", line, ": path '", text, "' is not plain"));
    }
  }
  return std::string(text.substr(1));
}

void append_padded(std::string& out, absl::string_view bytes) {
  out.append(bytes.data(), bytes.size());
  while (out.size() % 4 != 0) out.push_back('\0');
}

void append_header(std::string& out, uint32_t ino, uint32_t mode, uint32_t nlink, uint64_t size, uint32_t rmajor,
                   uint32_t rminor, const std::string& name) {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
  // rdevmajor, rdevminor, namesize (with its NUL), check
  out.append("070701");
  for (uint64_t v : {uint64_t{ino}, uint64_t{mode}, uint64_t{0}, uint64_t{0}, uint64_t{nlink}, uint64_t{0}, size,
                     uint64_t{0}, uint64_t{0}, uint64_t{rmajor}, uint64_t{rminor}, uint64_t{name.size() + 1},
                     uint64_t{0}}) {
    out.append(absl::StrFormat("%08X", v));
  }
  out.append(name);
  out.push_back('\0');
  while (out.size() % 4 != 0) out.push_back('\0');
}

}  // namespace

absl::StatusOr<std::vector<CpioEntry>> parse_entries(const std::string& list) {
  std::vector<CpioEntry> entries;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(list, '\n')) {
    ++line_no;
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.empty() || f[0][0] == '#') continue;
    CpioEntry e;
    auto need = [&](size_t n) -> absl::Status {
      if (f.size() != n) {
        return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": '", f[0], "' takes ", n - 1, " fields"));
      }
      return absl::OkStatus();
    };
    if (f[0] == "dir") {
      if (auto s = need(3); !s.ok()) return s;
      e.kind = CpioEntry::Kind::kDir;
    } else if (f[0] == "file") {
      if (auto s = need(4); !s.ok()) return s;
      e.kind = CpioEntry::Kind::kFile;
      std::ifstream in(std::string(f[2]), std::ios::binary);
      if (!in) return absl::NotFoundError(absl::StrCat("line ", line_no, ": cannot read '", f[2], "'"));
      std::ostringstream bytes;
      bytes << in.rdbuf();
      e.data = bytes.str();
    } else if (f[0] == "slink") {
      if (auto s = need(3); !s.ok()) return s;
      e.kind = CpioEntry::Kind::kSymlink;
      e.data = std::string(f[2]);
      e.mode = 0777;
    } else if (f[0] == "nod") {
      if (auto s = need(6); !s.ok()) return s;
      if (f[3] != "c" && f[3] != "b") return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": c or b"));
      e.kind = f[3] == "c" ? CpioEntry::Kind::kCharDev : CpioEntry::Kind::kBlockDev;
      if (!absl::SimpleAtoi(f[4], &e.major) || !absl::SimpleAtoi(f[5], &e.minor) || e.major > 4095 ||
          e.minor > 0xfffff) {
        return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": bad device numbers"));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": unknown entry '", f[0], "'"));
    }
    auto path = image_path(f[1], line_no);
    if (!path.ok()) return path.status();
    e.path = *std::move(path);
    if (e.kind != CpioEntry::Kind::kSymlink) {
      auto mode = octal(f[e.kind == CpioEntry::Kind::kFile ? 3 : 2], line_no);
      if (!mode.ok()) return mode.status();
      e.mode = *mode;
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

absl::StatusOr<std::string> build_cpio(const std::vector<CpioEntry>& entries) {
  std::string out;
  std::set<std::string> seen;
  std::set<std::string> dirs;
  uint32_t ino = 1;
  for (const CpioEntry& e : entries) {
    if (!seen.insert(e.path).second) return absl::InvalidArgumentError(absl::StrCat("'/", e.path, "' listed twice"));
    const size_t slash = e.path.rfind('/');
    if (slash != std::string::npos && dirs.count(e.path.substr(0, slash)) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("'/", e.path, "' comes before its directory"));
    }
    uint32_t type = kIfReg;
    uint32_t nlink = 1;
    absl::string_view data;
    switch (e.kind) {
      case CpioEntry::Kind::kDir:
        type = kIfDir;
        nlink = 2;
        dirs.insert(e.path);
        break;
      case CpioEntry::Kind::kFile:
        data = e.data;
        break;
      case CpioEntry::Kind::kSymlink:
        type = kIfLnk;
        data = e.data;
        break;
      case CpioEntry::Kind::kCharDev:
        type = kIfChr;
        break;
      case CpioEntry::Kind::kBlockDev:
        type = kIfBlk;
        break;
    }
    if (data.size() > 0xffff'ffffu) return absl::InvalidArgumentError(absl::StrCat("'/", e.path, "' too large"));
    append_header(out, ino++, type | (e.mode & 07777), nlink, data.size(), e.major, e.minor, e.path);
    append_padded(out, data);
  }
  append_header(out, 0, 0, 1, 0, 0, 0, "TRAILER!!!");
  while (out.size() % 512 != 0) out.push_back('\0');
  return out;
}

}  // namespace hyp::tools
