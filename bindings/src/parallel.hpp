// Splitting the build-time kernels' work over the machine's cores: plain std::threads, one per part.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "usable_cores.hpp"

namespace vaf {

// Threads to use: VAF_THREADS when set (1..64), else the cores this process may use (its affinity and CPU
// quota, usable_cores.hpp), at most 16.
inline size_t worker_count() {
    if (const char *given = std::getenv("VAF_THREADS")) {
        char *end = nullptr;
        const long n = std::strtol(given, &end, 10);
        if (end == given || *end != '\0' || n < 1 || n > 64)
            throw std::invalid_argument(std::string("VAF_THREADS must be a whole number from 1 to 64, got '") + given + "'");
        return size_t(n);
    }
    return std::min<size_t>(usable_cores(), 16);
}

// Calls task(t) for every t in [0, parts), each on its own thread (the last on the calling one), and
// returns when all are done; where the system gives no more threads, the calling one does the rest.
// Tasks must not throw.
template <typename Task>
void run_parallel(size_t parts, Task task) {
    std::vector<std::thread> threads;
    threads.reserve(parts);
    size_t t = 0;
    try {
        for (; t + 1 < parts; ++t) threads.emplace_back(task, t);
    } catch (const std::system_error &) {
    }
    for (; t < parts; ++t) task(t);
    for (auto &thread : threads) thread.join();
}

// Cuts items [0, n) into `parts` contiguous ranges of about equal work, given cumulative work
// (n + 1 ascending values, cumulative[0] = 0). Returns parts + 1 boundaries from 0 to n.
inline std::vector<size_t> balanced_cuts(const std::vector<size_t> &cumulative, size_t parts) {
    const size_t n = cumulative.size() - 1;
    std::vector<size_t> cut(parts + 1, n);
    cut[0] = 0;
    for (size_t t = 1; t < parts; ++t) {
        const size_t goal = cumulative.back() / parts * t;
        cut[t] = std::max(cut[t - 1], size_t(std::lower_bound(cumulative.begin(), cumulative.end(), goal) - cumulative.begin()));
        cut[t] = std::min(cut[t], n);
    }
    return cut;
}

}  // namespace vaf
