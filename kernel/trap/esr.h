// Typed views of the exception syndrome (ESR_EL2, Arm ARM D17.2.37): the
// exception class and the ISS encodings the trap handlers read. No handler
// shifts syndrome bits itself.
#pragma once

#include <cstdint>

namespace hyp {

enum class Ec : uint8_t {
  kUnknown = 0x00,
  kWfx = 0x01,
  kFpAccess = 0x07,
  kIllegalState = 0x0e,
  kSvc64 = 0x15,
  kHvc64 = 0x16,
  kSmc64 = 0x17,
  kSysreg = 0x18,
  kSveAccess = 0x19,
  kPacFail = 0x1c,
  kSmeAccess = 0x1d,
  kInstAbortLower = 0x20,
  kInstAbortSame = 0x21,
  kPcAlignment = 0x22,
  kDataAbortLower = 0x24,
  kDataAbortSame = 0x25,
  kSpAlignment = 0x26,
  kSError = 0x2f,
  kBreakpointLower = 0x30,
  kSoftwareStepLower = 0x32,
  kWatchpointLower = 0x34,
  kBrk64 = 0x3c,
};

inline constexpr int kEcCount = 64;

// A short name of the class, for reports; null for a class without one.
constexpr const char* ec_short_name(Ec ec) {
  switch (ec) {
    case Ec::kUnknown:
      return "unknown";
    case Ec::kWfx:
      return "wfx";
    case Ec::kFpAccess:
      return "fp";
    case Ec::kIllegalState:
      return "illegal-state";
    case Ec::kSvc64:
      return "svc";
    case Ec::kHvc64:
      return "hvc";
    case Ec::kSmc64:
      return "smc";
    case Ec::kSysreg:
      return "sysreg";
    case Ec::kSveAccess:
      return "sve";
    case Ec::kPacFail:
      return "pac";
    case Ec::kSmeAccess:
      return "sme";
    case Ec::kInstAbortLower:
      return "iabt";
    case Ec::kInstAbortSame:
      return "iabt-el2";
    case Ec::kPcAlignment:
      return "pc-align";
    case Ec::kDataAbortLower:
      return "dabt";
    case Ec::kDataAbortSame:
      return "dabt-el2";
    case Ec::kSpAlignment:
      return "sp-align";
    case Ec::kSError:
      return "serror-sync";
    case Ec::kBreakpointLower:
      return "bkpt";
    case Ec::kSoftwareStepLower:
      return "step";
    case Ec::kWatchpointLower:
      return "wpt";
    case Ec::kBrk64:
      return "brk";
  }
  return nullptr;
}

class Esr {
 public:
  constexpr explicit Esr(uint64_t raw) : raw_(raw) {}
  constexpr uint64_t raw() const { return raw_; }
  constexpr Ec ec() const { return static_cast<Ec>((raw_ >> 26) & 0x3f); }
  constexpr bool il() const { return ((raw_ >> 25) & 1) != 0; }  // 32-bit instruction
  constexpr uint32_t iss() const { return static_cast<uint32_t>(raw_ & 0x1ff'ffff); }

 protected:
  constexpr uint64_t bits(int lo, int width) const { return (raw_ >> lo) & ((uint64_t{1} << width) - 1); }

 private:
  uint64_t raw_;
};

// Data abort ISS (D17.2.37.14).
class EsrDataAbort : public Esr {
 public:
  constexpr explicit EsrDataAbort(Esr e) : Esr(e) {}
  constexpr bool isv() const { return bits(24, 1) != 0; }  // the fields below up to `ar` are valid
  constexpr unsigned access_bytes() const { return 1u << bits(22, 2); }
  constexpr bool sign_extend() const { return bits(21, 1) != 0; }
  constexpr unsigned srt() const { return static_cast<unsigned>(bits(16, 5)); }  // register; 31 = XZR/WZR
  constexpr bool sixty_four() const { return bits(15, 1) != 0; }                // SF: Xt, not Wt
  constexpr bool acquire_release() const { return bits(14, 1) != 0; }
  constexpr bool far_not_valid() const { return bits(10, 1) != 0; }
  constexpr bool cache_maintenance() const { return bits(8, 1) != 0; }
  constexpr bool s1ptw() const { return bits(7, 1) != 0; }  // fault on a stage-1 table walk
  constexpr bool write() const { return bits(6, 1) != 0; }
  constexpr unsigned dfsc() const { return static_cast<unsigned>(bits(0, 6)); }
  // Translation or access-flag fault at any level: the IPA is not backed.
  constexpr bool is_translation_fault() const { return (dfsc() & 0x3c) == 0x04; }
  constexpr bool is_permission_fault() const { return (dfsc() & 0x3c) == 0x0c; }
};

// Trapped MSR/MRS/system instruction ISS (D17.2.37.23).
class EsrSysreg : public Esr {
 public:
  constexpr explicit EsrSysreg(Esr e) : Esr(e) {}
  constexpr unsigned op0() const { return static_cast<unsigned>(bits(20, 2)); }
  constexpr unsigned op2() const { return static_cast<unsigned>(bits(17, 3)); }
  constexpr unsigned op1() const { return static_cast<unsigned>(bits(14, 3)); }
  constexpr unsigned crn() const { return static_cast<unsigned>(bits(10, 4)); }
  constexpr unsigned rt() const { return static_cast<unsigned>(bits(5, 5)); }
  constexpr unsigned crm() const { return static_cast<unsigned>(bits(1, 4)); }
  constexpr bool read() const { return bits(0, 1) != 0; }  // MRS
  // The register's encoding with Rt and direction masked out.
  constexpr uint32_t key() const { return static_cast<uint32_t>(iss() & 0x3f'fc1e); }
};

// The key EsrSysreg::key() yields for a register, from its encoding.
constexpr uint32_t sysreg_key(unsigned op0, unsigned op1, unsigned crn, unsigned crm, unsigned op2) {
  return (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (crm << 1);
}

// HVC/SMC ISS: the immediate.
class EsrCall : public Esr {
 public:
  constexpr explicit EsrCall(Esr e) : Esr(e) {}
  constexpr uint16_t imm16() const { return static_cast<uint16_t>(bits(0, 16)); }
};

}  // namespace hyp
