#include "usable_cores.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifdef __linux__
#include <sched.h>
#endif

namespace vaf {

namespace {

size_t hardware_cores() { return std::max(1u, std::thread::hardware_concurrency()); }

#ifdef __linux__

std::vector<std::string> split(const std::string &text, char sep) {
    std::vector<std::string> parts;
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, sep);) parts.push_back(part);
    return parts;
}

bool contains(const std::vector<std::string> &items, const std::string &item) {
    return std::find(items.begin(), items.end(), item) != items.end();
}

size_t affinity_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return hardware_cores();
    return std::max(1, CPU_COUNT(&set));
}

// One mounted cgroup hierarchy that holds the cpu controller: where this process's cgroup lies in it.
struct CpuCgroup {
    bool v2 = false;
    std::string own_dir;     // this process's cgroup, a folder under `mount_dir`
    std::string mount_dir;   // where the hierarchy (or the part of it this namespace sees) is mounted
};

// This process's cgroup path per hierarchy: "" for v2, "cpu" for the v1 hierarchy holding the cpu controller.
bool own_cgroup_path(bool v2, std::string &path) {
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; std::getline(in, line);) {
        const size_t a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        const std::string controllers = line.substr(a + 1, b - a - 1);
        if (v2 ? controllers.empty() : contains(split(controllers, ','), "cpu")) {
            path = line.substr(b + 1);
            return true;
        }
    }
    return false;
}

// Reads /proc/self/mountinfo ("id parent dev root mount_point options [optional...] - fstype source super_options").
bool find_cpu_cgroup(bool v2, CpuCgroup &found) {
    std::string path;
    if (!own_cgroup_path(v2, path)) return false;
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);) {
        const size_t dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        const std::vector<std::string> head = split(line.substr(0, dash), ' '), tail = split(line.substr(dash + 3), ' ');
        if (head.size() < 5 || tail.size() < 3) continue;
        if (v2 ? tail[0] != "cgroup2" : (tail[0] != "cgroup" || !contains(split(tail[2], ','), "cpu"))) continue;
        const std::string &root = head[3], &mount_point = head[4];
        found.v2 = v2;
        found.mount_dir = mount_point;
        // The mount shows the hierarchy from `root` down; a path outside it (another namespace's view) means
        // the mount itself is this process's cgroup, as in a container.
        const bool inside = root == "/" || path == root || path.compare(0, root.size() + 1, root + "/") == 0;
        found.own_dir = inside ? mount_point + (root == "/" ? path : path.substr(root.size())) : mount_point;
        while (found.own_dir.size() > 1 && found.own_dir.back() == '/') found.own_dir.pop_back();
        return true;
    }
    return false;
}

// CPU time this cgroup folder grants, in cores (infinity when unlimited or unreadable).
double quota_in(const CpuCgroup &cgroup, const std::string &dir) {
    const double none = std::numeric_limits<double>::infinity();
    double quota = -1.0, period = 0.0;
    if (cgroup.v2) {
        std::ifstream in(dir + "/cpu.max");
        std::string max;
        if (!(in >> max >> period) || max == "max") return none;
        quota = std::strtod(max.c_str(), nullptr);
    } else {
        std::ifstream q(dir + "/cpu.cfs_quota_us"), p(dir + "/cpu.cfs_period_us");
        if (!(q >> quota) || !(p >> period)) return none;
    }
    return quota > 0.0 && period > 0.0 ? quota / period : none;
}

// The tightest quota from this process's cgroup up to the mount: a parent's quota binds its children too.
double quota_cores() {
    double cores = std::numeric_limits<double>::infinity();
    for (bool v2 : {false, true}) {
        CpuCgroup cgroup;
        if (!find_cpu_cgroup(v2, cgroup)) continue;
        for (std::string dir = cgroup.own_dir;; dir = dir.substr(0, dir.rfind('/'))) {
            cores = std::min(cores, quota_in(cgroup, dir));
            if (dir.size() <= cgroup.mount_dir.size() || dir.rfind('/') == std::string::npos) break;
        }
    }
    return cores;
}

#endif

}  // namespace

size_t usable_cores() {
    // Read once per process (~0.1 ms of /proc and /sys reads): the kernels ask for every view they render.
    static const size_t cores = [] {
#ifdef __linux__
        const double quota = quota_cores();
        const size_t affinity = affinity_cores();
        return std::isfinite(quota) ? std::clamp<size_t>(size_t(std::ceil(quota)), 1, affinity) : affinity;
#else
        return hardware_cores();
#endif
    }();
    return cores;
}

}  // namespace vaf
