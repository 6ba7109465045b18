// The newc layout checked byte for byte against what the kernel's unpacker
// reads (init/initramfs.c: 110-byte header of 13 8-digit hex fields after
// "070701", name with its NUL, both padded to 4 bytes), and the list's
// errors.
#include "tools/initramfs/cpio.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace hyp::tools {
namespace {

std::string header(uint32_t ino, uint32_t mode, uint32_t nlink, uint32_t size, uint32_t rmaj, uint32_t rmin,
                   const std::string& name) {
  char buf[16];
  std::string h = "070701";
  for (uint32_t v : {ino, mode, 0u, 0u, nlink, 0u, size, 0u, 0u, rmaj, rmin, static_cast<uint32_t>(name.size() + 1),
                     0u}) {
    std::snprintf(buf, sizeof(buf), "%08X", v);
    h += buf;
  }
  h += name;
  h.push_back('\0');
  while (h.size() % 4 != 0) h.push_back('\0');
  return h;
}

TEST(CpioTest, EntriesAreLaidOutAsTheKernelReadsThem) {
  const std::string src = ::testing::TempDir() + "/payload";
  std::ofstream(src, std::ios::binary) << "hello";
  auto entries = parse_entries("# an image\n\ndir /bin 0755\nfile /bin/x " + src +
                               " 0750\nslink /init bin/x\nnod /dev0 0600 c 5 1\n");
  ASSERT_TRUE(entries.ok()) << entries.status();
  auto cpio = build_cpio(*entries);
  ASSERT_TRUE(cpio.ok()) << cpio.status();
  std::string want = header(1, 0040755, 2, 0, 0, 0, "bin");
  want += header(2, 0100750, 1, 5, 0, 0, "bin/x") + std::string("hello\0\0\0", 8);
  want += header(3, 0120777, 1, 5, 0, 0, "init") + std::string("bin/x\0\0\0", 8);
  want += header(4, 0020600, 1, 0, 5, 1, "dev0");
  want += header(0, 0, 1, 0, 0, 0, "TRAILER!!!");
  want.resize((want.size() + 511) / 512 * 512, '\0');
  EXPECT_EQ(*cpio, want);
}

TEST(CpioTest, ListErrorsAreReportedWithTheirLine) {
  auto bad = [](const std::string& list) {
    auto e = parse_entries(list);
    if (!e.ok()) return std::string(e.status().message());
    auto c = build_cpio(*e);
    return c.ok() ? std::string() : std::string(c.status().message());
  };
  EXPECT_NE(bad("dir bin 0755").find("line 1"), std::string::npos) << "relative path";
  EXPECT_NE(bad("dir /a/../b 0755").find("not plain"), std::string::npos);
  EXPECT_NE(bad("dir /a 0855").find("bad mode"), std::string::npos);
  EXPECT_NE(bad("dir /a 17777").find("out of range"), std::string::npos);
  EXPECT_NE(bad("\ndir /a").find("line 2"), std::string::npos);
  EXPECT_NE(bad("file /a /nonexistent/file 0644").find("cannot read"), std::string::npos);
  EXPECT_NE(bad("nod /c 0600 x 1 2").find("c or b"), std::string::npos);
  EXPECT_NE(bad("chardev /c 0600").find("unknown entry"), std::string::npos);
  EXPECT_NE(bad("dir /a 0755\ndir /a 0755").find("twice"), std::string::npos);
  EXPECT_NE(bad("slink /a/b c").find("before its directory"), std::string::npos);
  EXPECT_EQ(bad("dir /a 0755\nslink /a/b c"), "");
}

}  // namespace
}  // namespace hyp::tools
