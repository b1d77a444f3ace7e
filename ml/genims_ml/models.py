"""Models, scores and leakage checks on machine-steps (hours, or ten minutes).

- The supervised model: scikit-learn's histogram gradient boosting, one binary classifier
  per pattern, balanced classes, three of them (folds by machine over the training plants
  together). Its threshold is chosen on the training plants alone (the probability that
  maximises F1 over the folds' out-of-fold predictions), never on the test plant, and
  applied to the median of the three folds' predictions of the test plant (`fit_predict`):
  a test row is flagged where two of the three models reach the cut.
- The unsupervised baseline: an IsolationForest on the same features, scored against all
  episodes (any pattern), at the training plants' share of episode hours.
- Baselines on the same hours: a static threshold (one sensor role beyond its warning
  limit for half the hour, from the is_below/above_warning flags every PLC has; the role
  and side chosen per pattern on the training plants) and random (a seeded coin with the
  pattern's training prevalence).
- Leakage checks, fit and cut as the supervised model is (`fit_predict`: three fold models
  by machine, the cut from their out-of-fold predictions): shuffled labels, over SHUFFLES
  seeded permutations (`shuffled_labels`), and a model of shortcut features only (machine,
  machine type, line, hour of day, day of week, fault rate), beside the flags on every step
  of the machine types the pattern happens on (`applicable`). Every raw column alone, one
  quick model each (`quick`: a cut from its own training predictions).
- The model's errors on the test plant (`errors`): each missed episode, and each false
  flag's likely cause (the pattern's own onset or aftermath, another pattern's episode);
  and its precision and F1 with the onset's flags counted early, as `genims evaluate`
  counts them (`early_not_false`).

On ten-minute steps a model trains on every positive row and a seeded sixth of the
negative ones (`fit_rows`: as many rows as an hourly plant has), and is scored — out of
fold and on the test plant — on every row.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.model_selection import GroupKFold
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from .features import HOUR, phase_holds_at_end

SEED = 20251219
# Boosting rounds at most (early stopping on a tenth of the training rows ends most
# sooner); `--quick` (the smoke test) and the one-column models of the ablation use fewer.
ROUNDS = {"full": 150, "quick": 30}
FOLDS = 3  # out-of-fold folds (by machine) for the supervised threshold
# Permutations of the labels the shuffled check is fit on; it reports their mean F1. (One
# permutation, cut in sample, once put 628 of robot positioning's 1,770 test positives on
# the few machines its model flagged: F1 0.15, where two others scored 0.00 and 0.002.)
SHUFFLES = {"full": 3, "quick": 2}
QUICK = False  # set by --quick
CHUNK = 100_000  # rows predicted at once (scikit-learn copies them as float64)


def classifier(rounds: int, y: np.ndarray) -> HistGradientBoostingClassifier:
    """A boosted classifier for labels `y` (early stopping needs a few positives to hold out)."""
    return HistGradientBoostingClassifier(
        max_iter=rounds,
        learning_rate=0.1,
        max_leaf_nodes=31,
        class_weight="balanced",
        early_stopping=bool(y.sum() >= 50),
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=SEED,
    )


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability threshold that maximises F1 on (y, p), over every distinct score.

    F1 = 2 TP / (flagged + positives) for a cut at each distinct score at once, from the
    scores sorted from the highest: a cut flags every row scoring at least as much. (A grid
    of quantiles up to the 99.95th cannot flag fewer than a two-thousandth of the rows: on a
    ten-minute plant 230 of 459,556, against 35 coolant-failure steps.)"""
    if y.sum() == 0:
        return 0.5
    order = np.argsort(-p, kind="stable")
    ranked = p[order]
    tp = np.cumsum(np.asarray(y)[order] != 0)
    # The last row of each run of equal scores: a cut at that score flags the whole run.
    last = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    f1 = 2 * tp[last] / (last + 1 + tp[-1])
    return float(ranked[last[int(np.argmax(f1))]])


def fit_rows(y: np.ndarray, negatives: float, key: int = 0) -> np.ndarray:
    """The rows a model is fit on: every positive, and each negative with probability
    `negatives` (seeded; all of them at 1)."""
    if negatives >= 1:
        return np.arange(len(y))
    keep = (y != 0) | (np.random.default_rng([SEED, key]).random(len(y)) < negatives)
    return np.flatnonzero(keep)


def chunked(score, x: np.ndarray) -> np.ndarray:
    """`score` of every row of `x`, CHUNK rows at a time (scikit-learn copies its input as
    float64: a whole ten-minute plant at once would double its memory)."""
    return np.concatenate([score(x[i : i + CHUNK]) for i in range(0, len(x), CHUNK)] or [np.zeros(0)])


def proba(model, x: np.ndarray) -> np.ndarray:
    """The model's probability of the positive class for every row."""
    return chunked(lambda rows: model.predict_proba(rows)[:, 1], x)


def fit_predict(
    train_x: list[np.ndarray], train_y: list[np.ndarray], test_x: np.ndarray, quick: bool = False,
    groups: list[np.ndarray] | None = None, negatives: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Trains on every training plant and predicts the test rows: (probability, flag).

    Three models, each fit on two thirds of the training machines (folds by machine:
    `groups` holds each row's machine, unique across plants, so a fold's model has seen
    every plant but never the machines it predicts). Their predictions of the machines each
    left out choose the probability threshold that maximises F1 — never the test plant.
    A test row's score is the median of the three models' — one model's score, on the scale
    the cut was chosen on — so it is flagged where two of the three reach the cut. (The
    mean of three is less extreme than one model: at a high cut it flagged 6 test hours of
    tool wear where the same cut flagged 250 training hours out of fold; FIDELITY.md. A
    model refit on every training machine scores on yet another scale when positives are
    rare.) (`quick`: one model, a threshold from its own training predictions, for the
    column ablation's hundreds of one-column models.) Each model is fit on
    `fit_rows(…, negatives)` of its rows; out-of-fold and test predictions cover them all."""
    rounds = ROUNDS["quick"] if quick or QUICK else ROUNDS["full"]
    x, y = np.vstack(train_x), np.concatenate(train_y)
    if y.sum() == 0:
        return np.zeros(len(test_x)), np.zeros(len(test_x), dtype=bool)
    if groups is not None and not quick:
        held = np.zeros(len(y))
        tested = []
        g = np.concatenate(groups)
        for k, (fold_rows, held_rows) in enumerate(GroupKFold(n_splits=FOLDS).split(x, y, g)):
            fold_rows = fold_rows[fit_rows(y[fold_rows], negatives, k)]
            if y[fold_rows].sum() == 0:
                continue
            fold = classifier(rounds, y[fold_rows]).fit(x[fold_rows], y[fold_rows])
            held[held_rows] = proba(fold, x[held_rows])
            tested.append(proba(fold, test_x))
        p = np.median(tested, axis=0)
        return p, p >= best_threshold(y, held)
    rows = fit_rows(y, negatives)
    model = classifier(rounds, y[rows]).fit(x[rows], y[rows])
    t = best_threshold(y, proba(model, x))
    p = proba(model, test_x)
    return p, p >= t


def shuffled_labels(
    train_x: list[np.ndarray], train_y: list[np.ndarray], test_x: np.ndarray, test_y: np.ndarray,
    groups: list[np.ndarray], negatives: float, key: int,
) -> dict:
    """The shuffled-label check: SHUFFLES models (fewer with `--quick`), each fit as the
    supervised one is (`fit_predict` with folds by machine) on labels permuted within each
    training plant (seeded by `key` and the permutation), scored on the test plant's true
    labels. Their mean precision, recall and F1, and each permutation's F1
    (`permutations`)."""
    runs = []
    for i in range(shuffles()):
        rng = np.random.default_rng([SEED, key, i])
        shuffled = [rng.permutation(y) for y in train_y]
        _, flag = fit_predict(train_x, shuffled, test_x, groups=groups, negatives=negatives)
        runs.append(scores(test_y, flag))
    out = {k: float(np.mean([r[k] for r in runs])) for k in ("precision", "recall", "f1")}
    return out | {"permutations": [round(r["f1"], 4) for r in runs]}


def shuffles() -> int:
    """How many label permutations the shuffled check fits (SHUFFLES, by --quick)."""
    return SHUFFLES["quick" if QUICK else "full"]


def applicable(train, train_y: list[np.ndarray], test) -> np.ndarray:
    """Every test step of a machine whose type holds a labelled step of the pattern on a
    training plant, flagged: what a model learns from the machine type alone when a pattern
    happens only on some types (a bearing failure needs a spindle bearing). The reference
    beside the shortcut-feature check."""
    types = set().union(*(set(p.context["machine_type"][y != 0]) for p, y in zip(train, train_y)))
    return np.isin(test.context["machine_type"], sorted(types))


def all_flagged_f1(y: np.ndarray) -> float:
    """F1 of flagging every step: the best F1 of any flags that know nothing of the steps
    (2p / (1 + p) at prevalence p, where a coin at the prevalence scores p). A check cut at
    its best F1 on predictions that carry nothing flags every step and scores this."""
    p = float(np.mean(y)) if len(y) else 0.0
    return 2 * p / (1 + p) if p else 0.0


def scores(y: np.ndarray, flag: np.ndarray, p: np.ndarray | None = None) -> dict:
    out = {
        "precision": float(precision_score(y, flag, zero_division=0)),
        "recall": float(recall_score(y, flag, zero_division=0)),
        "f1": float(f1_score(y, flag, zero_division=0)),
    }
    if p is not None and y.sum() > 0:
        out["pr_auc"] = float(average_precision_score(y, p))
    return out


def episodes_caught(plant, pattern: str, flag: np.ndarray) -> dict:
    """Episode recall (an episode is caught if a step whose last instant is in its warning or
    critical phase is flagged: `phase_holds_at_end`) and the median lead time, from the end of
    the first flagged step to the fault, in hours. An episode whose phase holds no step's
    last instant is not counted."""
    leads, total = [], 0
    for e, rows in _scored_episodes(plant, pattern):
        total += 1
        hit = rows[flag[rows]]
        if len(hit):
            leads.append((e["fault"] - plant.hour[hit].min() - plant.step) / 3600)
    return {
        "episodes": total,
        "episode_recall": (len(leads) / total) if total else None,
        "median_lead_h": float(np.median(leads)) if leads else None,
    }


AFTER_FAULT = 24 * 3600  # a flag this soon after its machine's fault is of the fault's aftermath
ONSET = "onset before its warning"  # a false flag's cause: the pattern's own onset phase


def errors(plant, pattern: str, flag: np.ndarray, prob: np.ndarray) -> dict:
    """What the model got wrong on the test plant, for the report to say why from the data.

    - `missed`: each scored episode of `pattern` with no flagged step (`episodes_caught`'s
      rule): its machine and machine type, warning and fault instants, the steps labelled
      and the highest score among them.
    - `false_flags`: flagged steps labelled 0, each given one cause by where its last
      instant falls on its machine: in the onset before this pattern's warning, up to
      AFTER_FAULT after this pattern's fault, inside another pattern's episode (from its
      onset to AFTER_FAULT after its fault: the confusion), or in no episode; with the
      machines holding the most of them.
    - `lowest_flagged`: the lowest score flagged (the cut lies at or below it)."""
    y = plant.labels.get(pattern, np.zeros(len(plant.hour), dtype=np.int8))
    end = plant.hour + plant.step
    kind = dict(zip(plant.context["machine_id"], plant.context["machine_type"]))
    missed = []
    for e, rows in _scored_episodes(plant, pattern):
        if not flag[rows].any():
            missed.append({
                "machine": str(e["machine"]), "machine_type": str(kind.get(e["machine"], "")),
                "warning": int(e["warning"]), "fault": int(e["fault"]), "steps": int(len(rows)),
                "best_score": round(float(prob[rows].max()), 3),
            })
    wrong = np.flatnonzero(flag & (y == 0))
    causes: dict[str, int] = {}
    machines: dict[str, int] = {}
    by_machine: dict[str, list[dict]] = {}
    for e in plant.episodes:
        by_machine.setdefault(e["machine"], []).append(e)
    for r in wrong:
        cause = _false_flag_cause(pattern, int(end[r]), by_machine.get(plant.machine[r], []))
        causes[cause] = causes.get(cause, 0) + 1
        machines[str(plant.machine[r])] = machines.get(str(plant.machine[r]), 0) + 1
    top = sorted(machines.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return {
        "missed": missed,
        "false_flags": {
            "steps": int(len(wrong)),
            "causes": dict(sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))),
            "machines": [{"machine": m, "machine_type": str(kind.get(m, "")), "steps": n} for m, n in top],
        },
        "lowest_flagged": round(float(prob[flag].min()), 3) if flag.any() else None,
    }


def early_not_false(entry: dict) -> dict:
    """The model's precision and F1 with its flags in the pattern's own onset before the
    warning counted as early detections, not false ones, as `genims evaluate` counts them
    (the onset is when the signature already grows; the label begins at the warning band).
    From a cross-plant entry: its scores, labelled steps and `errors`; recall is unchanged
    (onset steps are negatives)."""
    m, ff = entry["model"], entry["errors"]["false_flags"]
    tp = round(m["recall"] * entry["test_rows"])
    false = ff["steps"] - ff["causes"].get(ONSET, 0)
    precision = tp / (tp + false) if tp + false else 0.0
    f1 = 2 * precision * m["recall"] / (precision + m["recall"]) if precision + m["recall"] else 0.0
    return {"precision": precision, "f1": f1, "early": ff["causes"].get(ONSET, 0)}


def _false_flag_cause(pattern: str, end: int, episodes: list[dict]) -> str:
    """Why a step of one machine ending at `end` and labelled 0 may look like `pattern`."""
    for e in episodes:
        if e["pattern"] == pattern and e["onset"] < end <= e["warning"]:
            return ONSET
    for e in episodes:
        if e["pattern"] == pattern and e["fault"] < end <= e["fault"] + AFTER_FAULT:
            return "after its fault"
    for e in episodes:
        if e["pattern"] != pattern and min(e["onset"], e["warning"]) < end <= e["fault"] + AFTER_FAULT:
            return f"in a {e['pattern']} episode"
    return "no episode"


def _scored_episodes(plant, pattern: str):
    """Each episode of `pattern` with its rows: the steps whose last instant is in its warning
    or critical phase (`phase_holds_at_end`); an episode with none (its phase lies outside the
    window, or inside one step) is left out."""
    end = plant.hour + plant.step
    for e in plant.episodes:
        if e["pattern"] != pattern:
            continue
        rows = np.flatnonzero((plant.machine == e["machine"]) & phase_holds_at_end(end, e))
        if len(rows):
            yield e, rows


def static_threshold(train, train_y: list[np.ndarray], test) -> tuple[np.ndarray, str]:
    """The static rule a dashboard would pick with hindsight on the training plants: one
    sensor role beyond its warning limit (above or below) for at least half of the step,
    the role and side whose flags score the best F1 on the training plants."""
    y = np.concatenate(train_y)
    best = (-1.0, None, None)
    for column, side in (("sensor_data.is_above_warning", "above"), ("sensor_data.is_below_warning", "below")):
        roles = sorted(set().union(*(p.columns.get(column, {}) for p in train)))
        for role in roles:
            flag = np.concatenate([_beyond(p, column, role) for p in train])
            score = f1_score(y, flag, zero_division=0) if y.sum() else 0.0
            if score > best[0]:
                best = (score, column, role, side)
    if best[1] is None:
        return np.zeros(len(test.hour), dtype=bool), "none"
    _, column, role, side = best
    step = "hour" if test.step == HOUR else f"{test.step // 60} minutes"
    return _beyond(test, column, role), f"{role} {side} its warning limit for half the {step}"


def _beyond(plant, column: str, role: str) -> np.ndarray:
    share = plant.columns.get(column, {}).get(role)
    return np.zeros(len(plant.hour), dtype=bool) if share is None else np.nan_to_num(share) >= 0.5


def random_flags(n: int, rate: float, key: int) -> np.ndarray:
    return np.random.default_rng([SEED, key]).random(n) < rate


def isolation_forest(
    train_x: list[np.ndarray], train_any: list[np.ndarray], test_x: np.ndarray, share_of_rows: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Anomaly scores of the test rows and flags at the training plants' episode-step share
    (fit on a seeded `share_of_rows` of the training rows: each tree samples 256 anyway)."""
    y = np.concatenate(train_any)
    rows = np.flatnonzero(np.random.default_rng(SEED).random(len(y)) < share_of_rows) if share_of_rows < 1 else slice(None)
    x = np.nan_to_num(np.vstack(train_x)[rows])
    share = float(y.mean()) or 0.01
    model = IsolationForest(n_estimators=200, contamination=min(max(share, 0.001), 0.5), random_state=SEED).fit(x)
    del x
    score = chunked(lambda rows: -model.score_samples(np.nan_to_num(rows)), test_x)
    return score, score > -model.offset_


def shortcut_features(plant, vocab: dict[str, dict]) -> np.ndarray:
    """Machine id, machine type and line as codes; hour of day; day of week; fault rate."""
    cols = []
    for key in ("machine_id", "machine_type", "line_id"):
        codes = vocab.setdefault(key, {})
        cols.append(np.array([codes.setdefault(v, len(codes)) for v in plant.context[key]], dtype=float))
    cols.append(plant.context["hour_of_day"].astype(float))
    cols.append(plant.context["day_of_week"].astype(float))
    cols.append(np.full(len(plant.hour), plant.fault_rate))
    return np.column_stack(cols)
