// Packs partitions' images into the boot package the hypervisor loads.
//
//   pack --manifest=manifest.dtb --out=package.bin
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "tools/pack/pack.h"

ABSL_FLAG(std::string, manifest, "", "compiled manifest (dtc output)");
ABSL_FLAG(std::string, base_dir, "", "directory relative image paths are resolved against (default: none)");
ABSL_FLAG(std::string, out, "", "package to write");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Packs partition images into the hypervisor's boot package.");
  absl::ParseCommandLine(argc, argv);
  std::ifstream in(absl::GetFlag(FLAGS_manifest), std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "pack: cannot read manifest '%s'\n", absl::GetFlag(FLAGS_manifest).c_str());
    return 1;
  }
  const std::string dtb(std::istreambuf_iterator<char>(in), {});
  auto manifest = hyp::tools::parse_manifest(dtb, absl::GetFlag(FLAGS_base_dir));
  if (!manifest.ok()) {
    std::fprintf(stderr, "pack: %s\n", std::string(manifest.status().message()).c_str());
    return 1;
  }
  auto package = hyp::tools::build_package(*manifest);
  if (!package.ok()) {
    std::fprintf(stderr, "pack: %s\n", std::string(package.status().message()).c_str());
    return 1;
  }
  std::ofstream out(absl::GetFlag(FLAGS_out), std::ios::binary);
  out.write(package->data(), static_cast<std::streamsize>(package->size()));
  if (!out) {
    std::fprintf(stderr, "pack: cannot write '%s'\n", absl::GetFlag(FLAGS_out).c_str());
    return 1;
  }
  return 0;
}
