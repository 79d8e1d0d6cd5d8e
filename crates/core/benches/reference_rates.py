"""Comparisons per second of apt_pkg.version_compare and rpm.labelCompare on
the same pairs rivet-core's benchmark uses (median of 7 timed passes).

Usage: /usr/bin/python3 reference_rates.py DEB_SET RPM_SET
The rpm pairs are split into (e, v, r) with rpm.ver before timing, so the
librpm figure covers labelCompare alone; apt_pkg parses as it compares.
"""

import statistics
import sys
import time


def pairs(path):
    out = []
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("//"):
            continue
        f = line.split()
        if len(f) == 3:
            out.append((f[0], f[2]))
    return out


def rate(fn, items, passes=7):
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        for a, b in items:
            fn(a, b)
        times.append(time.perf_counter() - start)
    return len(items) / statistics.median(times)


def main():
    deb_path, rpm_path = sys.argv[1], sys.argv[2]
    try:
        import apt_pkg

        apt_pkg.init()
        deb = pairs(deb_path)
        print("reference apt_pkg.version_compare: %.0f comparisons/s (median, %d pairs)"
              % (rate(apt_pkg.version_compare, deb), len(deb)))
    except ImportError as e:
        print("apt_pkg unavailable: %s" % e)
    try:
        import rpm

        def evr(s):
            v = rpm.ver(s)
            return (v.e, v.v, v.r)

        split = [(evr(a), evr(b)) for a, b in pairs(rpm_path)]
        print("reference rpm.labelCompare: %.0f comparisons/s (median, %d pairs)"
              % (rate(rpm.labelCompare, split), len(split)))
    except ImportError as e:
        print("rpm unavailable: %s" % e)


main()
