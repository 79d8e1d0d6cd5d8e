"""Checks Rivet's exports with independent tools: the CycloneDX 1.5 JSON
schema (cyclonedx-python-lib's strict validator, formats included),
packageurl-python's purl parser, and Python's csv reader.

Usage: sbom_check.py SBOM.json PACKAGES.csv [SBOM.json PACKAGES.csv …]
(one process for several exports: loading the schema takes seconds).
Prints a JSON list with one object per pair: schema_errors (messages with their JSON path), purls
(each component's purl as packageurl-python parses it) and csv_rows. Exits 3
when cyclonedx-python-lib[json-validation] is not installed.
"""

import csv
import json
import sys

try:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from packageurl import PackageURL
except ImportError as e:
    print(f"missing: {e}", file=sys.stderr)
    sys.exit(3)

validator = JsonStrictValidator(SchemaVersion.V1_5)


def check(sbom_path, csv_path):
    with open(sbom_path, encoding="utf-8") as f:
        text = f.read()
    errors = validator.validate_str(text, all_errors=True) or []
    schema_errors = [
        f"{'/'.join(str(p) for p in e.data.absolute_path)}: {e.data.message}" for e in errors
    ]
    purls = []
    for component in json.loads(text).get("components", []):
        if "purl" in component:
            p = PackageURL.from_string(component["purl"])
            purls.append({
                "type": p.type,
                "namespace": p.namespace,
                "name": p.name,
                "version": p.version,
                "qualifiers": p.qualifiers or {},
            })
    with open(csv_path, encoding="utf-8", newline="") as f:
        csv_rows = list(csv.reader(f, strict=True))
    return {"schema_errors": schema_errors, "purls": purls, "csv_rows": csv_rows}


args = sys.argv[1:]
json.dump([check(args[i], args[i + 1]) for i in range(0, len(args), 2)], sys.stdout)
