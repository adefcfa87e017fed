"""benchmarks.prices: known arithmetic, the INIT billing rule, rounding, and refused arguments."""

from __future__ import annotations

from datetime import date

import pytest

from benchmarks import prices
from benchmarks.prices import (
    HTTP_API_REQUEST,
    LAMBDA_GB_SECOND,
    LAMBDA_REQUEST,
    billed_ms,
    gb_seconds,
    init_is_billed,
    invocations_cost,
    snapstart_cost,
)

X86 = 0.0000166667
ARM = 0.0000133334


def test_a_million_100_ms_requests_at_1024_mb_on_x86() -> None:
    cost = invocations_cost(1_000_000, 1024, "x86_64", 100)
    assert cost.gb_seconds == pytest.approx(100_000)
    assert cost.requests_usd == pytest.approx(0.20)
    assert cost.duration_usd == pytest.approx(100_000 * X86)
    assert cost.init_usd == 0.0
    assert cost.lambda_usd == pytest.approx(0.20 + 1.66667)
    assert cost.http_api_usd is None
    assert cost.total_usd == cost.lambda_usd
    assert cost.per_million() == pytest.approx(1.86667)


def test_arm64_is_the_arm_rate_and_requests_cost_the_same() -> None:
    x86 = invocations_cost(1_000_000, 1024, "x86_64", 100)
    arm = invocations_cost(1_000_000, 1024, "arm64", 100)
    assert arm.duration_usd == pytest.approx(100_000 * ARM)
    assert arm.requests_usd == x86.requests_usd
    assert arm.duration_usd / x86.duration_usd == pytest.approx(0.8, abs=1e-5)


def test_cold_starts_add_init_at_the_same_rate_when_billed() -> None:
    # 1% cold starts of 2,000 ms INIT at 1769 MB: 10,000 cold starts x 2 s x 1769/1024 GB
    cost = invocations_cost(1_000_000, 1769, "x86_64", 5, cold_start_share=0.01,
                            init_billed_ms=2000)
    init_gb_s = 10_000 * 2 * 1769 / 1024
    invoke_gb_s = 1_000_000 * 0.005 * 1769 / 1024
    assert cost.init_usd == pytest.approx(init_gb_s * X86)
    assert cost.gb_seconds == pytest.approx(init_gb_s + invoke_gb_s)
    unbilled = invocations_cost(1_000_000, 1769, "x86_64", 5, cold_start_share=0.01,
                                init_billed_ms=2000, init_billed=False)
    assert unbilled.init_usd == 0.0
    assert unbilled.duration_usd == cost.duration_usd


def test_the_http_api_is_priced_apart_and_only_when_asked() -> None:
    cost = invocations_cost(2_000_000, 512, "arm64", 10, with_http_api=True)
    assert cost.http_api_usd == pytest.approx(2.00)
    assert cost.total_usd == pytest.approx(cost.lambda_usd + 2.00)
    assert HTTP_API_REQUEST.cost(300_000_000) == pytest.approx(300.0)


def test_no_invocations_cost_nothing() -> None:
    cost = invocations_cost(0, 128, "x86_64", 0, with_http_api=True)
    assert (cost.total_usd, cost.per_million()) == (0.0, 0.0)


def test_billed_duration_rounds_up_to_the_millisecond() -> None:
    assert billed_ms(0) == 0
    assert billed_ms(1.0001) == 2
    assert billed_ms(3.0) == 3
    assert billed_ms(99.000000001) == 99  # float noise on a whole ms is not a whole extra ms
    assert billed_ms(2.4) == 3
    with pytest.raises(ValueError):
        billed_ms(-1)


def test_gb_seconds_use_mb_over_1024() -> None:
    # AWS's worked example: 512 MB for 1 s is 0.5 GB-s
    assert gb_seconds(512, 1000) == 0.5
    assert gb_seconds(10_240, 1) == pytest.approx(0.01)


def test_init_billing_rule_by_package_and_day() -> None:
    before, since = date(2025, 7, 31), date(2025, 8, 1)
    assert init_is_billed("Image", on=before)
    assert init_is_billed("Zip", managed_runtime=False, on=before)
    assert not init_is_billed("Zip", on=before)
    assert init_is_billed("Zip", on=since)
    assert init_is_billed("Zip")  # as read on 2026-12-01
    with pytest.raises(ValueError):
        init_is_billed("zip")


def test_snapstart_adds_restores_their_billed_duration_and_the_cache() -> None:
    restores = snapstart_cost(1024, "x86_64", restores=1000)
    assert restores == pytest.approx(1000 * 0.0001397998)
    with_hooks = snapstart_cost(1024, "x86_64", restores=1000, billed_restore_ms=100)
    assert with_hooks - restores == pytest.approx(1000 * 0.1 * X86)
    day = snapstart_cost(2048, "arm64", restores=0, cached_seconds=86_400, cached_versions=2)
    assert day == pytest.approx(2 * 2 * 86_400 * 0.0000015046)


@pytest.mark.parametrize("kwargs", [
    {"memory_mb": 127}, {"memory_mb": 10_241}, {"architecture": "aarch64"},
    {"invocations": -1}, {"cold_start_share": 1.5}, {"init_billed_ms": -1},
    {"mean_billed_ms": -1},
])
def test_arguments_outside_lambdas_ranges_are_refused(kwargs: dict) -> None:
    args = {"invocations": 10, "memory_mb": 1024, "architecture": "x86_64",
            "mean_billed_ms": 10} | kwargs
    with pytest.raises(ValueError):
        invocations_cost(**args)


def test_every_price_names_its_page_its_day_and_its_basis() -> None:
    figures = [*LAMBDA_GB_SECOND.values(), LAMBDA_REQUEST, HTTP_API_REQUEST,
               prices.SNAPSTART_CACHE_GB_SECOND, prices.SNAPSTART_RESTORE_GB]
    for price in figures:
        assert price.url.startswith("https://aws.amazon.com/")
        assert price.read_on == date(2026, 12, 1)
        assert price.basis and price.usd > 0 and price.per >= 1
    assert set(LAMBDA_GB_SECOND) == set(prices.ARCHITECTURES)
