"""genims-ml: train on some plants, test on another, check for leakage, write the report.

usage: python -m genims_ml --train DIR [DIR ...] --test DIR --fault-rate R
                           [--report REPORT.md] [--json report.json] [--no-ablation] [--quick]
                           [--ablate COLUMNS] [--patterns PATTERNS]

Each DIR is a plant: `parquet/` (`genims backfill --out parquet`) and `master.json`
(`genims seed --out json`) of one seed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from . import features, models, report

MARGIN = 0.05  # how far above random a shortcut or shuffled model may score
# A pattern whose training episodes spend under this many hours in their warning and
# critical phases (the median episode) labels a handful of hours each: it is learnt and
# scored on ten-minute steps, six times the labelled instants of the same episodes.
FINE_BELOW_HOURS = 6.0
# So is a pattern of long episodes with a sudden variant: when at least this share of its
# training episodes spends under SHORT_HOURS in those phases, an hourly step holds only part
# of each such episode (robot positioning's 46-minute episode held 21 minutes of one hour).
SHORT_HOURS = 1.0
SHORT_SHARE = 0.25
STARTED = time.time()


def say(what: str) -> None:
    """A progress line on stderr, with the seconds since the start."""
    print(f"genims-ml: {time.time() - STARTED:7.1f} s  {what}", file=sys.stderr, flush=True)


def load(dir_: str, rate: float, step: int = features.HOUR) -> features.Plant:
    say(f"features of {dir_}" + ("" if step == features.HOUR else f" on {step // 60}-minute steps"))
    plant = features.load(
        os.path.join(dir_, "parquet"), os.path.join(dir_, "master.json"), os.path.basename(dir_.rstrip("/")),
        step=step, raw=None if step == features.HOUR else features.STATIC_COLUMNS,
    )
    plant.fault_rate = rate
    return plant


def fine_patterns(train: list[features.Plant], patterns: list[str]) -> list[str]:
    """The patterns learnt on ten-minute steps: those whose median training episode spends
    under FINE_BELOW_HOURS in its warning and critical phases, or whose episodes spend under
    SHORT_HOURS there in at least SHORT_SHARE of them (read from the training plants' fault
    labels only)."""
    out = []
    for pattern in patterns:
        spans = np.array([(e["fault"] - e["warning"]) / 3600 for p in train for e in p.episodes if e["pattern"] == pattern])
        if len(spans) and (np.median(spans) < FINE_BELOW_HOURS or np.mean(spans < SHORT_HOURS) >= SHORT_SHARE):
            out.append(pattern)
    return out


def cross_plant(train: list[features.Plant], test: features.Plant, patterns: list[str]) -> dict:
    """The supervised model, its baselines and its leakage checks, per pattern."""
    out = {}
    vocab: dict = {}
    short_train = [models.shortcut_features(p, vocab) for p in train]
    short_test = models.shortcut_features(test, vocab)
    any_train = [np.max([p.labels.get(k, np.zeros(len(p.hour))) for k in patterns], axis=0) for p in train]
    negatives = test.negatives
    train_x = [p.features for p in train]
    if_score, if_flag = models.isolation_forest(train_x, any_train, test.features, negatives)
    groups = _machines(train)
    for k, pattern in enumerate(patterns):
        say(f"cross-plant: {pattern}" + ("" if test.step == features.HOUR else f" on {test.step // 60}-minute steps"))
        ys = [p.labels.get(pattern, np.zeros(len(p.hour), dtype=np.int8)) for p in train]
        y = test.labels.get(pattern, np.zeros(len(test.hour), dtype=np.int8))
        prob, flag = models.fit_predict(train_x, ys, test.features, groups=groups, negatives=negatives)
        static, static_rule = models.static_threshold(train, ys, test)
        prevalence = float(np.concatenate(ys).mean())
        shuffled = models.shuffled_labels(train_x, ys, test.features, y, groups=groups, negatives=negatives, key=k)
        short_prob, short_flag = models.fit_predict(short_train, ys, short_test, groups=groups, negatives=negatives)
        random_flag = models.random_flags(len(y), prevalence, k)
        out[pattern] = {
            "step_minutes": test.step // 60,
            "test_rows": int(y.sum()),
            "static_rule": static_rule,
            "model": models.scores(y, flag, prob) | models.episodes_caught(test, pattern, flag),
            "static_threshold": models.scores(y, static) | models.episodes_caught(test, pattern, static),
            "random": models.scores(y, random_flag),
            "all_flagged_f1": models.all_flagged_f1(y),
            "applicable": models.scores(y, models.applicable(train, ys, test)),
            "isolation_forest": models.scores(y, if_flag, if_score) | models.episodes_caught(test, pattern, if_flag),
            "shuffled_labels": shuffled,
            "shortcut_features": models.scores(y, short_flag, short_prob),
            "errors": models.errors(test, pattern, flag, prob),
        }
        r = out[pattern]
        r["model_early_not_false"] = models.early_not_false(r)
        r["leak_shuffled"] = r["shuffled_labels"]["f1"] > r["random"]["f1"] + MARGIN
        r["leak_shortcut"] = r["shortcut_features"]["f1"] > r["random"]["f1"] + MARGIN
    return out


def time_split(plants: list[features.Plant], patterns: list[str], share: float = 0.7) -> dict:
    """Each plant's first `share` of steps trains, the rest tests (all plants pooled)."""
    out = {}
    cuts = [np.quantile(p.hour, share) for p in plants]
    for pattern in patterns:
        say(f"time split: {pattern}")
        tx, ty, vx, vy = [], [], [], []
        for p, c in zip(plants, cuts):
            y = p.labels.get(pattern, np.zeros(len(p.hour), dtype=np.int8))
            early = p.hour < c
            tx.append(p.features[early])
            ty.append(y[early])
            vx.append(p.features[~early])
            vy.append(y[~early])
        groups = [np.char.add(f"{p.name}/", p.machine[p.hour < c].astype(str)) for p, c in zip(plants, cuts)]
        prob, flag = models.fit_predict(tx, ty, np.vstack(vx), groups=groups, negatives=plants[0].negatives)
        out[pattern] = models.scores(np.concatenate(vy), flag, prob) | {"step_minutes": plants[0].step // 60}
    return out


def ablation(train: list[features.Plant], test: features.Plant, patterns: list[str], only=None) -> dict:
    """Every raw column alone (or those in `only`), per pattern: its F1 on the test plant,
    and the columns that predict a pattern better than the readings' own value does (and
    than random). A sensor_data column is given role by role (one feature per sensor role),
    as the readings are in the reference `sensor_data.measurement_value`. On hours, for
    every pattern."""
    columns = sorted(set(test.columns) & set.intersection(*(set(p.columns) for p in train)))
    columns = [c for c in columns if only is None or c in only]
    roles = {c: sorted(set().union(*(p.columns[c] for p in train + [test]))) for c in columns}
    table: dict[str, dict[str, float]] = {}
    for c in columns:
        say(f"ablation: {c}")
        table[c] = {}
        for pattern in patterns:
            ys = [p.labels.get(pattern, np.zeros(len(p.hour), dtype=np.int8)) for p in train]
            y = test.labels.get(pattern, np.zeros(len(test.hour), dtype=np.int8))
            _, flag = models.fit_predict([_column(p, c, roles[c]) for p in train], ys, _column(test, c, roles[c]), quick=True)
            table[c][pattern] = round(float(models.scores(y, flag)["f1"]), 3)
    reference = table.get("sensor_data.measurement_value", {})
    random_f1 = {}
    for k, pattern in enumerate(patterns):
        ys = [p.labels.get(pattern, np.zeros(len(p.hour), dtype=np.int8)) for p in train]
        y = test.labels.get(pattern, np.zeros(len(test.hour), dtype=np.int8))
        random_f1[pattern] = models.scores(y, models.random_flags(len(y), float(np.concatenate(ys).mean()), k))["f1"]
    flagged = [
        {"column": c, "pattern": p, "f1": f1, "measurement_value_f1": reference.get(p, 0.0)}
        for c, row in table.items()
        for p, f1 in row.items()
        if c != "sensor_data.measurement_value"
        and f1 > reference.get(p, 0.0) + MARGIN
        and f1 > random_f1[p] + MARGIN
    ]
    return {"f1": table, "beyond_the_readings": flagged}


def main(argv: list[str] | None = None) -> int:
    a = argparse.ArgumentParser(prog="genims-ml")
    a.add_argument("--train", nargs="+", required=True)
    a.add_argument("--test", required=True)
    a.add_argument("--fault-rate", type=float, required=True)
    a.add_argument("--report", default="REPORT.md")
    a.add_argument("--json", default="report.json")
    a.add_argument("--no-ablation", action="store_true")
    a.add_argument("--quick", action="store_true", help="fewer boosting rounds (the smoke test)")
    a.add_argument("--ablate", help="the columns the ablation tries (comma-separated; default: every column)")
    a.add_argument("--patterns", help="the patterns to learn (comma-separated; default: every labelled one)")
    args = a.parse_args(argv)
    models.QUICK = args.quick
    started = time.time()
    train = [load(d, args.fault_rate) for d in args.train]
    test = load(args.test, args.fault_rate)
    names = test.feature_names
    for p in train:
        p.features = _align(p, names)
    patterns = sorted(set(test.labels) | set().union(*(p.labels for p in train)))
    if args.patterns:
        asked = set(args.patterns.split(","))
        patterns = [p for p in patterns if p in asked]
    fine = fine_patterns(train, patterns)
    hourly = [p for p in patterns if p not in fine]
    result = {
        "train": [p.name for p in train],
        "test": test.name,
        "fault_rate": args.fault_rate,
        "rows": {p.name: int(len(p.hour)) for p in train + [test]},
        "features": len(names),
        "fine_below_hours": FINE_BELOW_HOURS,
        "fine_short": {"hours": SHORT_HOURS, "share": SHORT_SHARE},
        "shuffles": models.shuffles(),
        "cross_plant": cross_plant(train, test, hourly),
        "time_split": time_split(train + [test], hourly),
    }
    if not args.no_ablation:
        only = set(args.ablate.split(",")) if args.ablate else None
        result["ablation"] = ablation(train, test, patterns, only)
    if fine:
        del train, test  # the hourly plants' memory, before six times the rows
        train = [load(d, args.fault_rate, features.FINE) for d in args.train]
        test = load(args.test, args.fault_rate, features.FINE)
        for p in train + [test]:
            p.features = _align(p, names)
        result["rows_fine"] = {p.name: int(len(p.hour)) for p in train + [test]}
        result["cross_plant"] |= cross_plant(train, test, fine)
        result["time_split"] |= time_split(train + [test], fine)
    result["seconds"] = round(time.time() - started, 1)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    with open(args.report, "w") as f:
        f.write(report.markdown(result))
    print(f"genims-ml: wrote {args.report} and {args.json} in {result['seconds']} s", file=sys.stderr)
    return 0


def _machines(plants: list[features.Plant]) -> list[np.ndarray]:
    """Each row's machine, named by plant so that machine ids of two plants never meet."""
    return [np.char.add(f"{p.name}/", p.machine.astype(str)) for p in plants]


def _column(plant: features.Plant, column: str, roles: list[str]) -> np.ndarray:
    """A raw column's per-role aggregates as a matrix (NaN for a role the plant lacks)."""
    empty = np.full(len(plant.hour), np.nan)
    return np.column_stack([plant.columns[column].get(r, empty) for r in roles])


def _align(plant: features.Plant, names: list[str]) -> np.ndarray:
    """The plant's features in the order of `names` (NaN for a feature it lacks)."""
    at = {n: i for i, n in enumerate(plant.feature_names)}
    if plant.feature_names == names:
        return plant.features
    out = np.full((len(plant.hour), len(names)), np.nan, dtype=plant.features.dtype)
    for j, n in enumerate(names):
        if n in at:
            out[:, j] = plant.features[:, at[n]]
    return out


if __name__ == "__main__":
    sys.exit(main())
