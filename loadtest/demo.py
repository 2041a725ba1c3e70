"""`make demo`: the whole pipeline end to end on the embedded AWS stack.

Until the receiver and consumer land this runs what exists: it starts the embedded AWS stack,
shows what it provisioned, and stops it.
"""

from __future__ import annotations

import sys

from app.embedded_aws import embedded_aws


def main() -> int:
    with embedded_aws() as aws:
        print("embedded AWS stack is up:")
        for key, value in aws.env().items():
            print(f"  {key}={value}")
    print("embedded AWS stack stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
