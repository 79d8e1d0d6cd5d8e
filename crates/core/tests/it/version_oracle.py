"""Reference answers for rivet-core's differential version test.

Run with Debian's /usr/bin/python3 and one argument, the scheme:
  deb     apt_pkg.version_compare (python3-apt)
  rpm     rpm.labelCompare on the parts rpm.ver splits (python3-rpm)
  pep440  packaging.version.Version (python3-packaging)
Reads lines "A<TAB>B" on stdin and prints one line each: -1, 0, 1, or E when
the reference refuses a side. Prints "ready" first, or "missing: <why>" and
exits 3 when the reference module cannot be imported.
"""

import sys


def sign(n):
    return (n > 0) - (n < 0)


def main():
    scheme = sys.argv[1]
    try:
        if scheme == "deb":
            import apt_pkg

            apt_pkg.init()

            def cmp(a, b):
                return apt_pkg.version_compare(a, b)

        elif scheme == "rpm":
            import rpm

            def cmp(a, b):
                va, vb = rpm.ver(a), rpm.ver(b)
                return rpm.labelCompare((va.e, va.v, va.r), (vb.e, vb.v, vb.r))

        elif scheme == "pep440":
            from packaging.version import Version

            def cmp(a, b):
                va, vb = Version(a), Version(b)
                return (va > vb) - (va < vb)

        else:
            sys.exit("unknown scheme " + scheme)
    except ImportError as e:
        print("missing: " + str(e), flush=True)
        sys.exit(3)
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        a, b = line.rstrip("\n").split("\t")
        try:
            out.write("%d\n" % sign(cmp(a, b)))
        except Exception:
            out.write("E\n")
    out.flush()


main()
