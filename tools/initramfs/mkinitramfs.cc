// Writes an initramfs (a newc cpio archive) from a list of entries
// (tools/initramfs/cpio.h):
//
//   mkinitramfs --list=FILE --out=FILE
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "tools/initramfs/cpio.h"

ABSL_FLAG(std::string, list, "", "the entries, one per line");
ABSL_FLAG(std::string, out, "", "the archive to write");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string list_path = absl::GetFlag(FLAGS_list);
  const std::string out_path = absl::GetFlag(FLAGS_out);
  if (list_path.empty() || out_path.empty()) {
    std::fprintf(stderr, "mkinitramfs: --list and --out are needed\n");
    return 2;
  }
  std::ifstream in(list_path);
  if (!in) {
    std::fprintf(stderr, "mkinitramfs: cannot read %s\n", list_path.c_str());
    return 1;
  }
  std::ostringstream list;
  list << in.rdbuf();
  auto entries = hyp::tools::parse_entries(list.str());
  if (!entries.ok()) {
    std::fprintf(stderr, "mkinitramfs: %s: %s\n", list_path.c_str(), std::string(entries.status().message()).c_str());
    return 1;
  }
  auto archive = hyp::tools::build_cpio(*entries);
  if (!archive.ok()) {
    std::fprintf(stderr, "mkinitramfs: %s\n", std::string(archive.status().message()).c_str());
    return 1;
  }
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  out.write(archive->data(), static_cast<std::streamsize>(archive->size()));
  if (!out) {
    std::fprintf(stderr, "mkinitramfs: cannot write %s\n", out_path.c_str());
    return 1;
  }
  return 0;
}
