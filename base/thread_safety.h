// Clang thread-safety annotations (-Wthread-safety). A lock is a capability;
// functions name the locks they need, so the compiler checks lock discipline.
#pragma once

#define HYP_CAPABILITY(x) __attribute__((capability(x)))
#define HYP_SCOPED_CAPABILITY __attribute__((scoped_lockable))
#define HYP_GUARDED_BY(x) __attribute__((guarded_by(x)))
#define HYP_REQUIRES(...) __attribute__((requires_capability(__VA_ARGS__)))
#define HYP_ACQUIRE(...) __attribute__((acquire_capability(__VA_ARGS__)))
#define HYP_RELEASE(...) __attribute__((release_capability(__VA_ARGS__)))
#define HYP_TRY_ACQUIRE(...) __attribute__((try_acquire_capability(__VA_ARGS__)))
#define HYP_RETURN_CAPABILITY(x) __attribute__((lock_returned(x)))
// For the few functions whose locking the analysis cannot follow (an order
// chosen at run time); their callers are still checked.
#define HYP_NO_THREAD_SAFETY_ANALYSIS __attribute__((no_thread_safety_analysis))
