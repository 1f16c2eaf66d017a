// How many cores this process may really use, which std::thread::hardware_concurrency does not say: a
// container started with --cpus=2 (a cgroup CPU quota) or pinned with taskset (the CPU affinity) on a
// 64-core host still counts 64 there.
#pragma once

#include <cstddef>

namespace vaf {

// The CPUs of this process's affinity, fewer where its cgroup (v1 cpu.cfs_quota_us / cpu.cfs_period_us,
// or v2 cpu.max, at its own level or any above) grants less CPU time: the quota rounded up to whole cores.
// At least 1. Off Linux: std::thread::hardware_concurrency. Counted at the first call: a process moved to another
// cgroup later keeps its first count.
size_t usable_cores();

}  // namespace vaf
