"""AWS list prices and billing rules for the function and its HTTP API, in one place.

Every figure is a `Price` that names the page it comes from, the day it was read and how sure the
reading is (`basis`): AWS's own pricing pages render their rate tables client-side, so a stored
copy of a page may not show the number; such a figure says which page did show it. The findings
behind each one, with quotes, are in ../notes/lambda_facts.md (outside the repository).

Scope: us-east-1, on-demand invocations, first pricing tier only (the x86_64 rate holds for the
first 6 billion GB-s a month, arm64 for the first 7.5 billion), no free tier, no Savings Plans,
no ephemeral storage above the free 512 MB, no data transfer. The HTTP API's price is kept apart
from Lambda's: `invocations_cost` includes it only when asked.

The functions are pure: the same arguments give the same dollars, and nothing is read from the
environment, the clock or the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

#: the day every figure below was (re-)read
READ_ON = date(2026, 12, 1)
MILLION = 1_000_000

ARCHITECTURES = ("x86_64", "arm64")
#: Lambda's MemorySize range in MB (1 MB steps)
MEMORY_MB_MIN, MEMORY_MB_MAX = 128, 10_240
#: Lambda's GB for pricing is MemorySize / 1024 (AWS's worked examples: "512MB/1024")
MB_PER_GB = 1024

LAMBDA_PRICING_URL = "https://aws.amazon.com/lambda/pricing/"
HTTP_API_PRICING_URL = "https://aws.amazon.com/api-gateway/pricing/"
INIT_BILLING_URL = "https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/"


@dataclass(frozen=True)
class Price:
    """One list price: `usd` for every `per` units of `unit`, from `url`, read on `read_on`.

    `basis` says what the figure rests on: "aws" when the stored copy of AWS's page showed it,
    otherwise which other page showed it and why AWS's did not. `page_date` is the page's own
    date when it shows one (None otherwise)."""

    usd: float
    per: int
    unit: str
    url: str
    read_on: date
    basis: str
    page_date: str | None = None

    def cost(self, units: float) -> float:
        """USD for `units` of `unit` (no tiers, no free allowance)."""
        if units < 0:
            raise ValueError(f"units must be >= 0, not {units!r}")
        return self.usd * units / self.per


#: Lambda duration, first tier, per GB-second, by architecture
LAMBDA_GB_SECOND: dict[str, Price] = {
    "x86_64": Price(
        0.0000166667, 1, "GB-second (first 6 billion GB-s/month)", LAMBDA_PRICING_URL, READ_ON,
        basis="AWS's page renders its rate table client-side (no number in the stored copy); "
              "the figure is from AWS's whitepaper 'How AWS Pricing Works' ($0.00001667, "
              "rounded) and third-party transcriptions of the page (cloudchipr.com 2024, "
              "artillery's prices.js)"),
    "arm64": Price(
        0.0000133334, 1, "GB-second (first 7.5 billion GB-s/month)", LAMBDA_PRICING_URL, READ_ON,
        basis="not shown in the stored copy of AWS's page; from third-party transcriptions "
              "(cloudchipr.com 2024, artillery's prices.js): 20% below x86_64"),
}

#: Lambda requests (the same for both architectures)
LAMBDA_REQUEST = Price(
    0.20, MILLION, "request", LAMBDA_PRICING_URL, READ_ON,
    basis="aws (the page's worked example: '$0.20 per 1 million requests')")

#: API Gateway HTTP API requests, first tier; a request is metered per 512 KB
HTTP_API_REQUEST = Price(
    1.00, MILLION, "request (first 300 million/month; metered in 512 KB increments)",
    HTTP_API_PRICING_URL, READ_ON,
    basis="AWS's page excerpt shows no number; from learnaws.org (2021-01-10) and "
          "awsforengineers.com (2025-05-19); the 512 KB metering from AWS's whitepaper "
          "'Best practices for API Gateway private APIs integration'")

#: SnapStart (Python, .NET): snapshot cache, per GB-second of MemorySize while a version is cached
SNAPSTART_CACHE_GB_SECOND = Price(
    0.0000015046, 1, "GB-second of snapshot cache (MemorySize x time the version is cached)",
    LAMBDA_PRICING_URL, READ_ON,
    basis="not shown in the stored copy of AWS's page; from awsnegotiations.com "
          "('Lambda SnapStart Cost Impact', May 2026)")

#: SnapStart (Python, .NET): restoring a snapshot, per GB of MemorySize restored
SNAPSTART_RESTORE_GB = Price(
    0.0001397998, 1, "GB restored (MemorySize, per restore)", LAMBDA_PRICING_URL, READ_ON,
    basis="not shown in the stored copy of AWS's page; from awsnegotiations.com "
          "('Lambda SnapStart Cost Impact', May 2026), which also calls it per GB-second; "
          "taken here as per GB restored, as the page's other version says")

#: billed duration is rounded up to a multiple of this (ms)
BILLING_GRANULARITY_MS = 1
BILLING_GRANULARITY_SOURCE = (LAMBDA_PRICING_URL, READ_ON,
                              "'rounded up to the nearest 1 ms' (AWS's page, stored copy)")

#: since this day INIT is billed for on-demand zip functions on managed runtimes too; images,
#: custom runtimes and provisioned concurrency were billed for it before
INIT_BILLED_FOR_ALL_SINCE = date(2025, 8, 1)
INIT_BILLING_SOURCE = (INIT_BILLING_URL, READ_ON,
                       "'Effective August 1, 2025, AWS will standardize billing for the "
                       "initialization (INIT) phase across all AWS Lambda function "
                       "configurations.' (AWS Compute Blog, April 2025)")

PACKAGE_TYPES = ("Zip", "Image")


def _check(memory_mb: float, architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {architecture!r}")
    if not MEMORY_MB_MIN <= memory_mb <= MEMORY_MB_MAX:
        raise ValueError(f"memory_mb must be {MEMORY_MB_MIN}..{MEMORY_MB_MAX}, not {memory_mb!r}")


def billed_ms(duration_ms: float) -> int:
    """A measured duration as Lambda bills it: rounded up to the billing granularity (1 ms).
    A duration that is already a whole multiple stays as it is (differences below a nanosecond,
    float noise, are ignored); negative durations are refused."""
    if duration_ms < 0:
        raise ValueError(f"duration_ms must be >= 0, not {duration_ms!r}")
    steps = math.ceil(round(duration_ms / BILLING_GRANULARITY_MS, 6))
    return steps * BILLING_GRANULARITY_MS


def init_is_billed(package_type: str, *, managed_runtime: bool = True,
                   on: date = READ_ON) -> bool:
    """Whether an on-demand cold start's INIT is billed, for a function of `package_type`
    ("Zip" or "Image") on day `on`: always for images and custom runtimes; for zip functions on
    a managed runtime from INIT_BILLED_FOR_ALL_SINCE (2025-08-01) on."""
    if package_type not in PACKAGE_TYPES:
        raise ValueError(f"package_type must be one of {PACKAGE_TYPES}, not {package_type!r}")
    if package_type == "Image" or not managed_runtime:
        return True
    return on >= INIT_BILLED_FOR_ALL_SINCE


def gb_seconds(memory_mb: float, billed_duration_ms: float) -> float:
    """GB-seconds of one billed duration at `memory_mb` (GB = MB / 1024)."""
    if billed_duration_ms < 0:
        raise ValueError(f"billed_duration_ms must be >= 0, not {billed_duration_ms!r}")
    return memory_mb / MB_PER_GB * billed_duration_ms / 1000


@dataclass(frozen=True)
class InvocationsCost:
    """What a number of invocations costs, by item (USD). `http_api_usd` is None unless the
    HTTP API's price was asked for; `lambda_usd` never includes it, `total_usd` does."""

    invocations: int
    requests_usd: float
    duration_usd: float
    init_usd: float
    gb_seconds: float
    http_api_usd: float | None = None

    @property
    def lambda_usd(self) -> float:
        """Lambda's own bill: requests, invocation duration and billed INIT."""
        return self.requests_usd + self.duration_usd + self.init_usd

    @property
    def total_usd(self) -> float:
        """Lambda's bill plus the HTTP API's requests when they were priced."""
        return self.lambda_usd + (self.http_api_usd or 0.0)

    def per_million(self) -> float:
        """`total_usd` scaled to a million invocations (0 for no invocations)."""
        return self.total_usd * MILLION / self.invocations if self.invocations else 0.0


def invocations_cost(invocations: int, memory_mb: float, architecture: str,
                     mean_billed_ms: float, *, cold_start_share: float = 0.0,
                     init_billed_ms: float = 0.0, init_billed: bool = True,
                     with_http_api: bool = False) -> InvocationsCost:
    """The list price of `invocations` on-demand invocations of a function of `memory_mb` MB on
    `architecture` ("x86_64" or "arm64"), each billed `mean_billed_ms` ms on average (the
    REPORT lines' Billed Duration without INIT; round measured durations with `billed_ms`).

    A share `cold_start_share` (0..1) of the invocations are cold starts, each adding
    `init_billed_ms` ms of INIT, charged at the same GB-second rate when `init_billed` (see
    `init_is_billed`: True for every package type on managed runtimes since 2025-08-01).
    `with_http_api` adds one HTTP API request per invocation, in `http_api_usd` only.

    First pricing tier, no free tier; raises ValueError on arguments outside Lambda's ranges."""
    _check(memory_mb, architecture)
    if invocations < 0:
        raise ValueError(f"invocations must be >= 0, not {invocations!r}")
    if not 0.0 <= cold_start_share <= 1.0:
        raise ValueError(f"cold_start_share must be 0..1, not {cold_start_share!r}")
    if init_billed_ms < 0:
        raise ValueError(f"init_billed_ms must be >= 0, not {init_billed_ms!r}")
    rate = LAMBDA_GB_SECOND[architecture]
    invoke_gb_s = invocations * gb_seconds(memory_mb, mean_billed_ms)
    init_gb_s = (invocations * cold_start_share * gb_seconds(memory_mb, init_billed_ms)
                 if init_billed else 0.0)
    return InvocationsCost(
        invocations=invocations,
        requests_usd=LAMBDA_REQUEST.cost(invocations),
        duration_usd=rate.cost(invoke_gb_s),
        init_usd=rate.cost(init_gb_s),
        gb_seconds=invoke_gb_s + init_gb_s,
        http_api_usd=HTTP_API_REQUEST.cost(invocations) if with_http_api else None,
    )


def snapstart_cost(memory_mb: float, architecture: str, *, restores: float,
                   billed_restore_ms: float = 0.0, cached_seconds: float = 0.0,
                   cached_versions: int = 1) -> float:
    """USD that SnapStart adds for a function of `memory_mb` MB (Python or .NET): `restores`
    snapshot restores (each charged per GB of MemorySize, plus its Billed Restore Duration
    `billed_restore_ms` at the duration rate of `architecture`), and `cached_versions`
    versions' snapshots cached for `cached_seconds` each (per GB-second of MemorySize).
    The invocations themselves are priced by `invocations_cost` (with no INIT on restores)."""
    _check(memory_mb, architecture)
    if restores < 0 or cached_seconds < 0 or cached_versions < 0:
        raise ValueError("restores, cached_seconds and cached_versions must be >= 0")
    gb = memory_mb / MB_PER_GB
    restore = SNAPSTART_RESTORE_GB.cost(restores * gb)
    restore_duration = LAMBDA_GB_SECOND[architecture].cost(
        restores * gb_seconds(memory_mb, billed_restore_ms))
    cache = SNAPSTART_CACHE_GB_SECOND.cost(cached_versions * gb * cached_seconds)
    return restore + restore_duration + cache
