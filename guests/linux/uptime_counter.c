// Prints the virtual counter (CNTVCT_EL0, which Linux lets EL0 read) in
// milliseconds and microseconds. On bare QEMU it counts from QEMU's start; under the
// hypervisor from when the guest was built, whose offset the hypervisor
// reports (hyp.bench), so that //tests/bench:linux_boot compares the
// two boots to the same point. Static, no C library: two system calls.
typedef unsigned long u64;

static long sys3(long nr, long a, long b, long c) {
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
}

// Appends the decimal digits of `v` at buf[len]; the new length.
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

// "counter: N ms (U us)".
void _start(void) {
  u64 count, freq;
  __asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(count));
  __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(freq));
  const u64 ms = freq >= 1000 ? count / (freq / 1000) : 0;
  const u64 us = freq >= 1000000 ? count / (freq / 1000000) : 0;
  char buf[80];
  int len = put_text(buf, 0, "counter: ");
  len = put_number(buf, len, ms);
  len = put_text(buf, len, " ms (");
  len = put_number(buf, len, us);
  len = put_text(buf, len, " us)\n");
  sys3(64, 1, (long)buf, len);  // write(1, buf, len)
  sys3(93, 0, 0, 0);            // exit(0)
  for (;;) {
  }
}
