"""Scoring candidate pairs: comparison levels, Fellegi–Sunter weights estimated by EM, decisions.

**Comparisons.** Each attribute compares a pair into a *level*, strongest first (see
:func:`comparisons`): e.g. first name exact → nickname of the same name → one or two edits
(Levenshtein) → same Soundex code or an initial → different. Level 0 is *missing* (either side
null) and weighs nothing. Only Spark built-ins are used (``levenshtein``, ``soundex``, date
parts); no UDF.

**Weights.** Fellegi–Sunter: a level's weight is ``log2(m / u)``, with ``m`` = P(level | same
person) and ``u`` = P(level | different people). ``u`` comes from pairs of records drawn at
random (a deterministic hash sample, where almost no pair is a match); the exact level's ``u``
from the value frequencies of the whole table (two random records share an email far less often
than a 2000-record sample can show). ``m`` is estimated without labels by
expectation–maximisation over the candidate pairs, aggregated to their distinct comparison
patterns (a few thousand rows, iterated on the driver). A pair was chosen *because* it agrees on
its blocking keys, so, as splink trains, there is one EM session per blocking rule over the
pairs that rule found, with the comparisons the rule blocks on masked as missing; a
comparison's m is the mean over the sessions that did not mask it. (One EM over all candidates
takes the shared surname of every surname-blocked pair for evidence and calls the whole
candidate set a match.) Then ``λ``, the match share among the candidates, is estimated with m
fixed, and the prior for scoring is the match share among *all* pairs, ``λ × candidates /
(n(n-1)/2)`` (every match assumed to be a candidate), so every comparison, blocked on or not,
counts once as evidence. The match probability is ``1 / (1 + 2^-w)`` with
``w = log2(prior/(1-prior)) + Σ weights``.

**Decisions** (:func:`classify`), thresholds from the architecture docs:

* *deterministic*: the same normalised email or phone and nothing contradicting it → score 1.0;
* score ≥ ``auto_merge`` (0.95) → ``auto_merge``; ``review`` (0.75) ≤ score < ``auto_merge`` →
  ``review``; below → ``no_link``;
* a *high-risk conflict* (two different government ids; configurable) never merges: a pair that
  would merge or be reviewed goes to review with reason ``high_risk_conflict``;
* an *identity conflict* — first names that are not the same name in any form, or birth dates
  that differ by more than a transposition or a typo — caps a pair at review, deterministic or
  not: family members share emails, phones and addresses, and correlated household attributes
  would otherwise add up to a confident merge of two people.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakejobs.config import BlockingRule, DedupeThresholds

log = logging.getLogger(__name__)

MISSING = 0
AUTO_MERGE, REVIEW, NO_LINK = "auto_merge", "review", "no_link"
PAIR_KEYS = ("left_key", "right_key")
PROBABILITY_FLOOR = 1e-6  # no m or u is taken as zero: one unseen level must not be infinite


@dataclass(frozen=True)
class Comparison:
    """One attribute's comparison: level names strongest first, the last one "different"."""

    name: str
    present: Column
    levels: tuple[tuple[str, Column], ...]

    @property
    def gamma(self) -> str:
        return f"g_{self.name}"

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("missing", *(name for name, _ in self.levels), "different")

    def column(self) -> Column:
        expr = F.when(~self.present, F.lit(MISSING))
        for i, (_, condition) in enumerate(self.levels, start=1):
            expr = expr.when(condition, F.lit(i))
        return expr.otherwise(F.lit(len(self.levels) + 1)).alias(self.gamma)


def _l(c: str) -> Column:
    return F.col(f"l_{c}")


def _r(c: str) -> Column:
    return F.col(f"r_{c}")


def _both(c: str) -> Column:
    return _l(c).isNotNull() & _r(c).isNotNull()


def _edits(c: str) -> Column:
    return F.levenshtein(_l(c), _r(c))


def _shorter(c: str) -> Column:
    return F.least(F.length(_l(c)), F.length(_r(c)))


def _similarity(c: str) -> Column:
    return 1 - _edits(c) / F.greatest(F.length(_l(c)), F.length(_r(c)))


def comparisons() -> tuple[Comparison, ...]:
    """The comparisons, on columns ``l_<attribute>`` and ``r_<attribute>`` of a pair."""
    swapped = (_l("first_name") == _r("last_name")) & (_l("last_name") == _r("first_name"))
    one_edit_or_two_if_long = (_edits("first_name") <= 1) | (
        (_edits("first_name") <= 2) & (_shorter("first_name") >= 6))
    initial = ((F.length(_l("first_name")) == 1) | (F.length(_r("first_name")) == 1)) & (
        _l("first_initial") == _r("first_initial"))
    prefix = (_shorter("first_name") >= 3) & (
        _l("first_name").startswith(_r("first_name")) | _r("first_name").startswith(_l("first_name")))
    birth = ("birth_date",)
    transposed = ((F.dayofmonth(_l(*birth)) == F.month(_r(*birth)))
                  & (F.month(_l(*birth)) == F.dayofmonth(_r(*birth)))
                  & (F.year(_l(*birth)) == F.year(_r(*birth))))
    date_typo = F.levenshtein(_l(*birth).cast("string"), _r(*birth).cast("string")) <= 1
    local_part = F.substring_index(_l("email"), "@", 1) == F.substring_index(_r("email"), "@", 1)
    place_present = ((_l("address").isNotNull() | _l("postcode").isNotNull())
                     & (_r("address").isNotNull() | _r("postcode").isNotNull()))
    same_address = (_l("address") == _r("address")) & (
        (_l("postcode") == _r("postcode")) | _l("postcode").isNull() | _r("postcode").isNull())
    return (
        Comparison("first_name", _both("first_name"), (
            ("exact", (_l("first_name") == _r("first_name")) | swapped),
            ("nickname", _l("first_name_canonical") == _r("first_name_canonical")),
            ("fuzzy", one_edit_or_two_if_long | prefix),
            ("phonetic_or_initial", (_l("first_name_soundex") == _r("first_name_soundex"))
             | initial),
        )),
        Comparison("last_name", _both("last_name"), (
            ("exact", (_l("last_name") == _r("last_name")) | swapped),
            ("fuzzy", (_edits("last_name") <= 1)
             | ((_edits("last_name") <= 2) & (_shorter("last_name") >= 7))),
            ("phonetic_or_part", (_l("last_name_soundex") == _r("last_name_soundex"))
             | ((_shorter("last_name") >= 4) & (_l("last_name").contains(_r("last_name"))
                                                | _r("last_name").contains(_l("last_name"))))),
        )),
        Comparison("birth_date", _both("birth_date"), (
            ("exact", _l("birth_date") == _r("birth_date")),
            ("transposed", transposed),
            ("typo", date_typo),
        )),
        Comparison("email", _both("email"), (
            ("exact", _l("email") == _r("email")),
            ("fuzzy", local_part | (_edits("email") <= 2)),
        )),
        Comparison("phone", _both("phone"), (
            ("exact", _l("phone") == _r("phone")),
            ("fuzzy", _edits("phone") <= 1),
        )),
        Comparison("address", place_present, (
            ("exact", same_address),
            ("postcode", _l("postcode") == _r("postcode")),
            ("fuzzy", _both("address") & (_similarity("address") >= 0.8)),
            ("district_or_city", (_l("postcode_district") == _r("postcode_district"))
             | (_l("city") == _r("city"))),
        )),
        Comparison("government_id", _both("government_id"), (
            ("exact", _l("government_id") == _r("government_id")),
        )),
    )


# blocking key → the comparison whose agreement it implies (masked in the EM)
BLOCKING_COMPARISON = {
    "email": "email", "phone": "phone", "government_id": "government_id",
    "first_name": "first_name", "first_name_canonical": "first_name",
    "first_name_soundex": "first_name", "first_initial": "first_name",
    "last_name": "last_name", "last_name_soundex": "last_name",
    "birth_date": "birth_date", "birth_year": "birth_date",
    "postcode": "address", "postcode_district": "address", "address": "address",
    "city": "address",
}

def pair_records(pairs: DataFrame, identities: DataFrame) -> DataFrame:
    """The pairs with every column of both records, prefixed ``l_`` and ``r_``."""
    left = identities.select(*[F.col(c).alias(f"l_{c}") for c in identities.columns])
    right = identities.select(*[F.col(c).alias(f"r_{c}") for c in identities.columns])
    return (pairs.join(left, pairs.left_key == left.l_identity_key, "inner")
            .join(right, pairs.right_key == right.r_identity_key, "inner"))


def with_gammas(comps: Sequence[Comparison]):
    """Add ``g_<comparison>``: the level index of each comparison (0 = missing)."""

    def transform(pairs: DataFrame) -> DataFrame:
        return pairs.select("*", *[c.column() for c in comps])

    return transform


@dataclass(frozen=True)
class MatchModel:
    """Estimated parameters: ``lam``, the match share among the candidate pairs, ``prior``,
    among all pairs, and per comparison the m and u of each level (index 0, missing, unused)."""

    lam: float
    m: dict[str, tuple[float, ...]]
    u: dict[str, tuple[float, ...]]
    iterations: int
    prior: float = 0.0

    def weights(self, name: str) -> tuple[float, ...]:
        """log2(m/u) per level; 0 for missing."""
        return (0.0, *(math.log2(m / u) for m, u in zip(self.m[name][1:], self.u[name][1:],
                                                       strict=True)))

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def as_dict(self, comps: Sequence[Comparison]) -> dict:
        return {"lambda": round(self.lam, 6), "prior": self.prior, "prior_weight": round(
            self.prior_weight, 3), "iterations": self.iterations, "comparisons": {
            c.name: {lvl: {"m": round(self.m[c.name][i], 6), "u": round(self.u[c.name][i], 8),
                           "weight": round(self.weights(c.name)[i], 3)}
                     for i, lvl in enumerate(c.level_names) if i > 0}
            for c in comps}}


def patterns(scored: DataFrame, comps: Sequence[Comparison]) -> list[tuple[tuple[int, ...], int]]:
    """Distinct comparison patterns and how many pairs have each (collected: small)."""
    gammas = [c.gamma for c in comps]
    rows = scored.groupBy(*gammas).agg(F.count("*").alias("n")).collect()
    # sorted: the EM sums in a fixed order, so reruns give bit-identical scores
    return sorted((tuple(int(r[g]) for g in gammas), int(r.n)) for r in rows)


def random_pairs(identities: DataFrame, records: int, sample_records: int) -> DataFrame:
    """Pairs of a deterministic hash sample of about ``sample_records`` of the ``records``
    identities (for u)."""
    share = min(1.0, sample_records / max(records, 1))
    bucket = F.abs(F.xxhash64("identity_key", F.lit("u-sample"))) % 1_000_000
    sample = identities.where(bucket < int(share * 1_000_000)).localCheckpoint()
    pairs = (sample.select(F.col("identity_key").alias("left_key"))
             .crossJoin(sample.select(F.col("identity_key").alias("right_key")))
             .where(F.col("left_key") < F.col("right_key")))
    return pair_records(pairs, sample)


def exact_agreement(identities: DataFrame, attributes: Sequence[str]) -> dict[str, float | None]:
    """Per attribute, P(two distinct records with it present share its value), from value
    frequencies (one aggregation for every attribute)."""
    values = F.explode(F.array(*[
        F.struct(F.lit(a).alias("attribute"), F.col(a).cast("string").alias("value"))
        for a in attributes]))
    rows = (identities.select(values.alias("v")).select("v.*").where(F.col("value").isNotNull())
            .groupBy("attribute", "value").count().groupBy("attribute")
            .agg(F.sum(F.col("count") * (F.col("count") - 1)).alias("same"),
                 F.sum("count").alias("n")).collect())
    found = {r.attribute: r for r in rows}
    result: dict[str, float | None] = {}
    for a in attributes:
        row = found.get(a)
        result[a] = (None if row is None or row.n < 2
                     else max(float(row.same) / (float(row.n) * (row.n - 1)), PROBABILITY_FLOOR))
    return result


def estimate_u(
    sample_patterns: list[tuple[tuple[int, ...], int]],
    comps: Sequence[Comparison],
    exact: dict[str, float | None],
) -> dict[str, tuple[float, ...]]:
    """u per level from the random-pair patterns (add-one smoothed); the exact level's from
    value frequencies where known, the other levels rescaled to the rest."""
    u = {}
    for j, comp in enumerate(comps):
        k = len(comp.level_names)
        counts = [0.0] * k
        for pattern, n in sample_patterns:
            counts[pattern[j]] += n
        present = sum(counts[1:]) + (k - 1)
        probs = [0.0] + [(counts[i] + 1) / present for i in range(1, k)]
        freq = exact.get(comp.name)
        if freq is not None:
            rest = sum(probs[2:])
            probs = [0.0, freq] + [p * (1 - freq) / rest for p in probs[2:]]
        u[comp.name] = tuple(max(p, PROBABILITY_FLOOR) if i else 0.0 for i, p in enumerate(probs))
    return u


def _initial_m(k: int) -> tuple[float, ...]:
    """Prior m: most matches agree exactly, few differ."""
    if k == 3:
        return (0.0, 0.9, 0.1)
    middle = 0.15 / (k - 3)
    return (0.0, 0.8, *([middle] * (k - 3)), 0.05)


def estimate_m(
    candidate_patterns: list[tuple[tuple[int, ...], int]],
    comps: Sequence[Comparison],
    u: dict[str, tuple[float, ...]],
    iterations: int,
    *,
    m: dict[str, tuple[float, ...]] | None = None,
    update_m: bool = True,
    tolerance: float = 1e-7,
) -> MatchModel:
    """EM for λ and m (unless ``update_m`` is false: λ only) with u fixed, over patterns.

    Without any pattern (no candidate pair) the starting m and λ are returned: nothing will be
    scored with them."""
    names = [c.name for c in comps]
    m = dict(m) if m is not None else {c.name: _initial_m(len(c.level_names)) for c in comps}
    lam, done = 0.1, 0
    log_u = [[math.log(p) if p > 0 else 0.0 for p in u[n]] for n in names]
    for done in range(1, iterations + 1 if candidate_patterns else 1):
        log_m = [[math.log(p) if p > 0 else 0.0 for p in m[n]] for n in names]
        sums = [[0.0] * len(m[n]) for n in names]
        matched = total = 0.0
        for pattern, n in candidate_patterns:
            lm = sum(log_m[j][g] for j, g in enumerate(pattern) if g)
            lu = sum(log_u[j][g] for j, g in enumerate(pattern) if g)
            diff = math.log(1 - lam) + lu - math.log(lam) - lm
            p = 1.0 / (1.0 + math.exp(min(diff, 700.0)))
            matched += p * n
            total += n
            for j, g in enumerate(pattern):
                if g:
                    sums[j][g] += p * n
        new_m = {name: _normalised(sums[j]) for j, name in enumerate(names)} if update_m else m
        new_lam = min(max(matched / total, 1e-6), 1 - 1e-6)
        change = max(abs(new_lam - lam), *(abs(a - b) for n in names
                                           for a, b in zip(new_m[n], m[n], strict=True)))
        m, lam = new_m, new_lam
        if change < tolerance:
            break
    return MatchModel(lam=lam, m=m, u=u, iterations=done)


def _normalised(sums: list[float]) -> tuple[float, ...]:
    k, present = len(sums), sum(sums[1:])
    return tuple(0.0 if i == 0 else max((sums[i] + 1e-3) / (present + 1e-3 * (k - 1)),
                                        PROBABILITY_FLOOR) for i in range(k))


def masked_comparisons(rule: BlockingRule) -> set[str]:
    """The comparisons whose agreement ``rule`` implies."""
    return {BLOCKING_COMPARISON[key] for key in rule.keys}


def rule_patterns(candidates: DataFrame, comps: Sequence[Comparison],
                  rules: Sequence[BlockingRule]) -> dict[str, list[tuple[tuple[int, ...], int]]]:
    """Per blocking rule, the patterns of the pairs it found with its own comparisons masked
    as missing (one aggregation; collected: small)."""
    gammas = [c.gamma for c in comps]
    per_rule = candidates.select(F.explode("blocked_by").alias("rule"), *gammas)
    masked = []
    for comp in comps:
        rules_on = sorted(r.name for r in rules if comp.name in masked_comparisons(r))
        hit = F.col("rule").isin(*rules_on) if rules_on else F.lit(False)
        masked.append(F.when(hit, F.lit(MISSING)).otherwise(F.col(comp.gamma)).alias(comp.gamma))
    rows = per_rule.select("rule", *masked).groupBy("rule", *gammas).agg(
        F.count("*").alias("n")).collect()
    found: dict[str, list[tuple[tuple[int, ...], int]]] = {}
    for r in rows:
        found.setdefault(r.rule, []).append((tuple(int(r[g]) for g in gammas), int(r.n)))
    return {rule: sorted(p) for rule, p in sorted(found.items())}


def train(
    candidates: DataFrame, identities: DataFrame, records: int, comps: Sequence[Comparison],
    rules: Sequence[BlockingRule], *, sample_records: int, iterations: int,
) -> MatchModel:
    """u from random pairs and frequencies; m by one EM per blocking rule over that rule's pairs
    with its own comparisons masked, averaged over the rules that did not mask it; then λ over
    every candidate pair (m fixed) and the prior among all pairs (``records`` identities).

    Each comparison's exact-level u comes from the value frequencies of the attribute of the
    same name."""
    sample = random_pairs(identities, records, sample_records).transform(with_gammas(comps))
    exact = exact_agreement(identities, [c.name for c in comps])
    u = estimate_u(patterns(sample, comps), comps, exact)
    by_rule = {r.name: r for r in rules}
    estimates: dict[str, list[tuple[float, ...]]] = {c.name: [] for c in comps}
    for rule, found in rule_patterns(candidates, comps, rules).items():
        session = estimate_m(found, comps, u, iterations)
        masked = masked_comparisons(by_rule[rule])
        for comp in comps:
            if comp.name not in masked:
                estimates[comp.name].append(session.m[comp.name])
    m = {}
    for comp in comps:
        runs = estimates[comp.name]
        if not runs:  # every rule blocks on it: keep the prior m
            m[comp.name] = _initial_m(len(comp.level_names))
            continue
        m[comp.name] = tuple(statistics.fmean(r[i] for r in runs)
                             for i in range(len(comp.level_names)))
    everything = patterns(candidates, comps)
    model = estimate_m(everything, comps, u, iterations, m=m, update_m=False)
    candidate_count = sum(n for _, n in everything)
    all_pairs = max(records * (records - 1) / 2, 1)
    prior = min(max(model.lam * candidate_count / all_pairs, 1e-12), 0.5)
    model = replace(model, prior=prior)
    log.info("match model: λ=%.4f among %d candidate pairs, prior %.3g", model.lam,
             candidate_count, prior)
    return model


def with_probability(model: MatchModel, comps: Sequence[Comparison]):
    """Add ``match_weight`` and ``match_probability`` from the gammas."""

    def transform(pairs: DataFrame) -> DataFrame:
        weight = F.lit(model.prior_weight)
        for comp in comps:
            table = F.array(*[F.lit(w) for w in model.weights(comp.name)])
            weight = weight + F.element_at(table, F.col(comp.gamma) + 1)
        return (pairs.withColumn("match_weight", weight)
                .withColumn("match_probability", 1 / (1 + F.pow(F.lit(2.0), -F.col("match_weight")))))

    return transform


def with_conflicts(comps: Sequence[Comparison], high_risk: Sequence[str]):
    """Add ``deterministic``, ``identity_conflict`` and ``high_risk_conflict`` (see the module
    docstring) from the gammas."""
    different = {c.name: len(c.level_names) - 1 for c in comps}

    def differs(name: str) -> Column:
        return F.col(f"g_{name}") == different[name]

    def transform(pairs: DataFrame) -> DataFrame:
        identity_conflict = differs("first_name") | differs("birth_date")
        high = F.lit(False)
        for name in high_risk:
            high = high | differs(name)
        shared_contact = (F.col("g_email") == 1) | (F.col("g_phone") == 1)
        return (pairs.withColumn("identity_conflict", identity_conflict)
                .withColumn("high_risk_conflict", high)
                .withColumn("deterministic", shared_contact & ~identity_conflict))

    return transform


def classify(thresholds: DedupeThresholds):
    """Add ``score``, ``decision`` and ``reason`` from ``match_probability``, ``deterministic``,
    ``identity_conflict`` and ``high_risk_conflict``."""
    auto, review = thresholds.auto_merge, thresholds.review

    def transform(pairs: DataFrame) -> DataFrame:
        det, p = F.col("deterministic"), F.col("match_probability")
        score = F.when(det, F.lit(1.0)).otherwise(p)
        linked = det | (p >= review)
        decision = (
            F.when(linked & F.col("high_risk_conflict"), F.lit(REVIEW))
            .when(det, F.lit(AUTO_MERGE))
            .when((p >= auto) & ~F.col("identity_conflict"), F.lit(AUTO_MERGE))
            .when(p >= review, F.lit(REVIEW))
            .otherwise(F.lit(NO_LINK))
        )
        reason = (
            F.when(linked & F.col("high_risk_conflict"), F.lit("high_risk_conflict"))
            .when(det, F.lit("deterministic"))
            .when((p >= auto) & F.col("identity_conflict"), F.lit("identity_conflict"))
            .when(p >= auto, F.lit("probabilistic"))
            .when(p >= review, F.lit("review_band"))
            .otherwise(F.lit("below_review"))
        )
        return pairs.withColumn("score", score).withColumn("decision", decision).withColumn(
            "reason", reason)

    return transform


def comparison_detail(comps: Sequence[Comparison], model: MatchModel) -> Column:
    """Per attribute: level name, weight, left and right value (for the review queue)."""
    items = []
    for comp in comps:
        names = F.array(*[F.lit(n) for n in comp.level_names])
        weights = F.array(*[F.lit(round(w, 3)) for w in model.weights(comp.name)])
        idx = F.col(comp.gamma) + 1
        items.append(F.struct(
            F.lit(comp.name).alias("attribute"), F.element_at(names, idx).alias("level"),
            F.element_at(weights, idx).alias("weight"),
            _l(comp.name).cast("string").alias("left_value"),
            _r(comp.name).cast("string").alias("right_value"),
        ))
    return F.array(*items)
