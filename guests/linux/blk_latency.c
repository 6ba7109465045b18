// Reads /dev/vda 4 KiB at a time with O_DIRECT, 4,000 times from the
// start (wrapping at 16 MiB), and prints the longest and the mean time
// one read took, in microseconds of the virtual counter:
// "latency: 4000 reads, mean U us, max M us". //tests/bench:virtio_blk runs
// it while the block server is restarted under it: the longest read is
// the stall a restart costs the guest. Static, no C library.
typedef unsigned long u64;

static long sys4(long nr, long a, long b, long c, long d) {
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
}

static u64 now_us(void) {
  u64 count, freq;
  __asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(count));
  __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(freq));
  return freq >= 1000000 ? count / (freq / 1000000) : 0;
}

static int put_number(char* buf, int len, u64 v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) buf[len++] = digits[--n];
  return len;
}

static int put_text(char* buf, int len, const char* text) {
  for (int i = 0; text[i] != 0; ++i) buf[len++] = text[i];
  return len;
}

static char block[4096] __attribute__((aligned(4096)));

void _start(void) {
  enum { kReads = 4000, kOpenat = 56, kPread = 67, kWrite = 64, kExit = 93 };
  const long at_fdcwd = -100;
  const long o_direct = 0x10000;  // arm64's O_DIRECT; O_RDONLY is 0
  const long fd = sys4(kOpenat, at_fdcwd, (long)"/dev/vda", o_direct, 0);
  if (fd < 0) {
    sys4(kWrite, 1, (long)"latency: cannot open /dev/vda\n", 30, 0);
    sys4(kExit, 1, 0, 0, 0);
  }
  u64 total = 0, longest = 0;
  for (u64 i = 0; i < kReads; ++i) {
    const u64 from = now_us();
    if (sys4(kPread, fd, (long)block, sizeof(block), (long)((i % 4096) * sizeof(block))) != (long)sizeof(block)) {
      sys4(kWrite, 1, (long)"latency: a read failed\n", 23, 0);
      sys4(kExit, 1, 0, 0, 0);
    }
    const u64 took = now_us() - from;
    total += took;
    if (took > longest) longest = took;
  }
  char buf[96];
  int len = put_text(buf, 0, "latency: ");
  len = put_number(buf, len, kReads);
  len = put_text(buf, len, " reads, mean ");
  len = put_number(buf, len, total / kReads);
  len = put_text(buf, len, " us, max ");
  len = put_number(buf, len, longest);
  len = put_text(buf, len, " us\n");
  sys4(kWrite, 1, (long)buf, len, 0);
  sys4(kExit, 0, 0, 0, 0);
  for (;;) {
  }
}
