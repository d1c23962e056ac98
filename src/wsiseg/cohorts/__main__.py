"""Print a cohort's inventory without running anything: ``python -m wsiseg.cohorts <folder> [<folder> ...]``.

What is found per dataset, subset and centre (slides, labelled, annotated, per label), then every file left
out with its reason. ``--json inventory.json`` also writes it all; ``--group-role Metastasis=tumor`` maps an
annotation group the CAMELYON names lack; ``--no-open`` skips opening the slides (faster, fewer checks).
"""

from __future__ import annotations

import argparse
import logging
import sys

from wsiseg.cohorts.options import CohortOptions
from wsiseg.cohorts.read import read_inventory
from wsiseg.errors import WsisegError


def main(argv: list[str] | None = None) -> int:
    """Print the inventory of the folders in ``argv``; exit status 1 when a file is left out, 2 on an error."""
    what = "Print what cohort folders hold (slides, labels, annotations) and every file left out, with why."
    parser = argparse.ArgumentParser(prog="python -m wsiseg.cohorts", description=what)
    parser.add_argument("folders", nargs="+", help="cohort folders (as downloaded, or the synthetic cohort)")
    parser.add_argument("--labels", help="a labels file the folders lack (stage_labels.csv, reference.csv, labels.csv)")
    parser.add_argument("--group-role", action="append", default=[], metavar="GROUP=ROLE",
                        help="an annotation group's role: tumor, exclude or ignore (repeatable)")  # fmt: skip
    parser.add_argument("--only", action="append", metavar="PATTERN", help="a slide-name pattern to keep, e.g. "
                        "'patient_0?0_*' (repeatable)")  # fmt: skip
    parser.add_argument("--no-open", action="store_true", help="do not open the slides")
    parser.add_argument("--json", help="also write the whole inventory to this JSON file")
    parser.add_argument("--all", action="store_true", help="list every file left out, not the first five per reason")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        roles = dict(item.split("=", 1) for item in args.group_role)
        options = CohortOptions(group_roles=roles, labels=args.labels, only=args.only)
        inventory = read_inventory(args.folders, options, check_slides=not args.no_open)
    except (OSError, ValueError, WsisegError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(inventory.table(details=10**9 if args.all else 5))
    if args.json:
        print(f"written: {inventory.write(args.json)}")
    return 1 if inventory.excluded else 0


if __name__ == "__main__":
    sys.exit(main())
