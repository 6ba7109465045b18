#include "tools/qemu/disk.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace hyp::tools {
namespace {

std::string temp(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

TEST(DiskTest, ParsesTheOption) {
  auto d = parse_disk("a.img");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->path, "a.img");
  EXPECT_EQ(d->size, 64u << 20);
  EXPECT_EQ(d->format, "raw");
  EXPECT_FALSE(d->read_only);
  d = parse_disk("b.qcow2,size=1G,readonly");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->format, "qcow2") << "from the name";
  EXPECT_EQ(d->size, 1u << 30);
  EXPECT_TRUE(d->read_only);
  d = parse_disk("c,format=qcow2,size=512K");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->format, "qcow2");
  EXPECT_EQ(d->size, 512u << 10);
  for (const char* bad : {"", ",size=1M", "a,size=", "a,size=0", "a,size=100", "a,size=-1M", "a,size=9999999999G",
                          "a,format=vmdk", "a,colour=blue"}) {
    EXPECT_FALSE(parse_disk(bad).ok()) << bad;
  }
}

TEST(DiskTest, CreatesAMissingRawDiskOfItsSizeAndKeepsAnExistingOne) {
  const std::string path = temp("raw.img");
  std::remove(path.c_str());
  auto args = prepare_disk(*parse_disk(path + ",size=3M"));
  ASSERT_TRUE(args.ok()) << args.status();
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 3 << 20);
  ASSERT_EQ(args->size(), 4u);
  EXPECT_EQ((*args)[1], "file=" + path + ",if=none,id=disk0,format=raw");
  EXPECT_EQ((*args)[3], "virtio-blk-device,drive=disk0,bus=virtio-mmio-bus.0");
  { std::ofstream(path, std::ios::binary | std::ios::in | std::ios::out) << "kept"; }
  args = prepare_disk(*parse_disk(path + ",size=5M,readonly"));
  ASSERT_TRUE(args.ok());
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 3 << 20) << "an existing disk is not resized";
  std::ifstream in(path, std::ios::binary);
  std::string first(4, '\0');
  in.read(first.data(), 4);
  EXPECT_EQ(first, "kept");
  EXPECT_EQ((*args)[1], "file=" + path + ",if=none,id=disk0,format=raw,readonly=on");
  EXPECT_FALSE(prepare_disk(*parse_disk(temp("missing.img") + ",readonly")).ok()) << "nothing to read";
  EXPECT_FALSE(prepare_disk(*parse_disk(std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp"))).ok())
      << "a directory";
}

TEST(DiskTest, CreatesQcow2WithQemuImg) {
  if (system("qemu-img --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no qemu-img (Debian's qemu-utils)";
  const std::string path = temp("disk.qcow2");
  std::remove(path.c_str());
  auto args = prepare_disk(*parse_disk(path + ",size=8M"));
  ASSERT_TRUE(args.ok()) << args.status();
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  EXPECT_EQ(std::string(magic, 4), "QFI\xfb") << "a qcow2 header";
  EXPECT_EQ((*args)[1], "file=" + path + ",if=none,id=disk0,format=qcow2");
  EXPECT_FALSE(prepare_disk(*parse_disk(temp("other.qcow2")), "/nonexistent/qemu-img").ok());
}

}  // namespace
}  // namespace hyp::tools
