"""Reference evaluator for the differential tests: the OSV schema's
evaluation algorithm, written independently of Rivet, with the real version
comparison of the distribution's own tools (librpm's labelCompare through
python3-rpm, dpkg's through python3-apt).

    reference_osv.py rpm|deb ADVISORIES QUERIES

ADVISORIES is an OSV all.zip or a JSON list of OSV records; QUERIES has one
`ECOSYSTEM<TAB>NAME<TAB>VERSION` line per question. For each query one line
is printed: the affecting advisories as `DOCUMENT=FIXED` (FIXED is `-` when
no fix is known), sorted, separated by spaces; an empty line when none.
A DOCUMENT is `ID@MEMBER` for an archive member, `ID@ID.json` for a list.
"""

import functools
import json
import sys
import zipfile


def rpm_compare():
    import rpm

    def parse(s):
        i = 0
        while i < len(s) and s[i].isdigit():
            i += 1
        if i < len(s) and s[i] == ":":
            epoch, rest = (s[:i] or "0"), s[i + 1:]
        else:
            epoch, rest = None, s
        if "-" in rest:
            version, release = rest.rsplit("-", 1)
        else:
            version, release = rest, None
        return (epoch, version, release)

    return lambda a, b: rpm.labelCompare(parse(a), parse(b))


def deb_compare():
    import apt_pkg

    apt_pkg.init()

    def compare(a, b):
        c = apt_pkg.version_compare(a, b)
        return (c > 0) - (c < 0)

    return compare


def load(path):
    """(document key, record) pairs."""
    if path.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            for member in z.namelist():
                if member.endswith(".json"):
                    record = json.loads(z.read(member))
                    yield "%s@%s" % (record["id"], member), record
    else:
        with open(path) as f:
            for record in json.load(f):
                yield "%s@%s.json" % (record["id"], record["id"]), record


def in_range(cmp, v, events):
    """None when v is outside the range, else (True, fixed or None)."""
    limits = [e["limit"] for e in events if "limit" in e]
    if limits and not any(l == "*" or cmp(v, l) < 0 for l in limits):
        return None
    points = []
    for e in events:
        for kind in ("introduced", "fixed", "last_affected"):
            if kind in e:
                points.append((kind, e[kind]))

    def order(a, b):
        a0 = a[0] == "introduced" and a[1] == "0"
        b0 = b[0] == "introduced" and b[1] == "0"
        if a0 or b0:
            return (b0 - a0)
        return cmp(a[1], b[1])

    points.sort(key=functools.cmp_to_key(order))
    vulnerable = False
    for kind, x in points:
        if kind == "introduced" and (x == "0" or cmp(v, x) >= 0):
            vulnerable = True
        elif kind == "fixed" and cmp(v, x) >= 0:
            vulnerable = False
        elif kind == "last_affected" and cmp(v, x) > 0:
            vulnerable = False
    if not vulnerable:
        return None
    for kind, x in points:
        if kind == "fixed" and cmp(v, x) < 0:
            return (True, x)
        if kind == "last_affected" and cmp(v, x) <= 0:
            return (True, None)
    return (True, None)


def highest(cmp, a, b):
    if a is None or b is None:
        return None
    return b if cmp(a, b) < 0 else a


def main():
    scheme, advisories, queries = sys.argv[1:4]
    cmp = rpm_compare() if scheme == "rpm" else deb_compare()
    # (ecosystem, name) -> [(document, entry)]
    entries = {}
    for document, record in load(advisories):
        if record.get("withdrawn"):
            continue
        for entry in record.get("affected", []):
            package = entry.get("package", {})
            key = (package.get("ecosystem"), package.get("name"))
            entries.setdefault(key, []).append((document, entry))
    out = []
    with open(queries) as f:
        for line in f:
            ecosystem, name, v = line.rstrip("\n").split("\t")
            found = {}
            for document, entry in entries.get((ecosystem, name), []):
                hit = False
                fixed = "unset"
                for r in entry.get("ranges", []):
                    if r["type"] == "GIT":
                        continue
                    inside = in_range(cmp, v, r["events"])
                    if inside is not None:
                        fixed = inside[1] if fixed == "unset" else highest(cmp, fixed, inside[1])
                        hit = True
                if not hit and any(cmp(v, x) == 0 for x in entry.get("versions", [])):
                    fixes = [e["fixed"] for r in entry.get("ranges", []) if r["type"] != "GIT"
                             for e in r["events"] if "fixed" in e and cmp(e["fixed"], v) > 0]
                    fixed = None
                    for x in fixes:
                        if fixed is None or cmp(x, fixed) < 0:
                            fixed = x
                    hit = True
                if not hit:
                    continue
                if document in found:
                    found[document] = highest(cmp, found[document], fixed)
                else:
                    found[document] = fixed
            out.append(" ".join(sorted("%s=%s" % (d, "-" if x is None else x)
                                       for d, x in found.items())))
    sys.stdout.write("\n".join(out) + "\n")


main()
