"""infra/'s autoscaling follows the capacity plan (docs/capacity.md, generated from make bench).

The plan names the task counts the design point needs and the request rate at which the
receiver's request policy agrees with its CPU policy; infra/variables.tf's defaults must allow
those counts and must not scale on requests long before the CPU needs it. Regenerating the plan
from a new bench run (`make capacity`) re-checks infra/ against it.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.capacity_plan import Infra

DOC = Path(__file__).resolve().parents[2] / "docs" / "capacity.md"


def test_the_maxima_allow_the_plans_design_point() -> None:
    found = re.search(
        r"receiver max_count >= (\d+), consumer max_count >= (\d+)", DOC.read_text(encoding="utf-8")
    )
    assert found, "docs/capacity.md names no autoscaling maxima: run make capacity"
    infra = Infra.load()
    assert float(infra.receiver["max_count"]) >= int(found.group(1))
    assert float(infra.consumer["max_count"]) >= int(found.group(2))


def test_the_request_target_is_below_what_a_task_serves_at_the_cpu_target() -> None:
    found = re.search(
        r"([\d,]+) a minute: that is the `requests_per_target`", DOC.read_text(encoding="utf-8")
    )
    assert found, "docs/capacity.md names no requests_per_target: run make capacity"
    agree = int(found.group(1).replace(",", ""))
    target = float(Infra.load().receiver["requests_per_target"])
    assert 0.3 * agree <= target <= agree  # scales out before the CPU would, but not at a tenth of it
