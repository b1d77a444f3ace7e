"""The report: REPORT.md from the result the run wrote as JSON."""

from __future__ import annotations

import time


def _f(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def markdown(r: dict) -> str:
    lines = [
        "# genims-ml report",
        "",
        f"Trained on {', '.join(r['train'])}; tested on {r['test']} (fault rate {r['fault_rate']}). "
        f"Machine-hours: {', '.join(f'{k} {v:,}' for k, v in r['rows'].items())}"
        + (f"; machine-ten-minutes: {', '.join(f'{k} {v:,}' for k, v in r['rows_fine'].items())}" if "rows_fine" in r else "")
        + f"; {r['features']} features. {r['seconds']} s.",
        "",
        "## Cross-plant test",
        "",
        "Per pattern, step by step (label: the machine is in the pattern's warning or critical phase over the "
        "step's last instant, warning < end <= fault), and per episode (caught if a step so labelled is flagged; "
        "lead time from the end of the first flagged step to the fault). A step is an hour, or ten minutes "
        f"for a pattern whose median training episode spends under {r.get('fine_below_hours', 0):g} h in its "
        "warning and critical phases"
        + (f", or of which {r['fine_short']['share']:.0%} of the training episodes or more spend under "
           f"{r['fine_short']['hours']:g} h there" if "fine_short" in r else "")
        + ".",
        "",
        "The column *F1, onset early* counts the model's flags in the pattern's own onset, before its warning, "
        "as early detections rather than false ones, as `genims evaluate` does (recall unchanged).",
        "",
        "| pattern | step min | test steps | episodes | model P | R | F1 | PR-AUC | F1, onset early | episode recall "
        "| median lead h | static F1 | random F1 | IsolationForest F1 / PR-AUC | shuffled F1 | shortcut F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p, x in sorted(r["cross_plant"].items()):
        m = x["model"]
        lines.append(
            f"| {p} | {x['step_minutes']} | {x['test_rows']} | {m['episodes']} | {_f(m['precision'])} | {_f(m['recall'])} | "
            f"**{_f(m['f1'])}** | {_f(m.get('pr_auc'))} | {_f(x.get('model_early_not_false', {}).get('f1'))} | "
            f"{_f(m['episode_recall'])} | {_f(m['median_lead_h'], 1)} | "
            f"{_f(x['static_threshold']['f1'])} | {_f(x['random']['f1'])} | "
            f"{_f(x['isolation_forest']['f1'])} / {_f(x['isolation_forest'].get('pr_auc'))} | "
            f"{_f(x['shuffled_labels']['f1'])} | {_f(x['shortcut_features']['f1'])} |"
        )
    leaks = [
        f"- {p}: {'shuffled labels' if x['leak_shuffled'] else ''}{' and ' if x['leak_shuffled'] and x['leak_shortcut'] else ''}"
        f"{'shortcut features' if x['leak_shortcut'] else ''} beyond random + 0.05" + _within_applicability(x)
        for p, x in sorted(r["cross_plant"].items())
        if x["leak_shuffled"] or x["leak_shortcut"]
    ]
    lines += ["", "## Leakage checks", "",
              "The shuffled-label and shortcut-feature models are fit and cut as the supervised model is: three "
              "models over folds by machine, the cut chosen on their out-of-fold predictions. The shuffled F1 is "
              "the mean over permutations of the training labels. A check fails beyond random + 0.05. Flagging "
              "every step is the best F1 that knows nothing of the steps (2p / (1 + p) at prevalence p; the coin "
              "of *random* scores about p): a check whose predictions carry nothing may be cut there. *Its machine "
              "types flagged*: every step of the machine types with a labelled step of the pattern on a training "
              "plant, what the machine type alone tells where a pattern happens only on some types.", "",
              "| pattern | random F1 | every step flagged F1 | shuffled F1, each permutation | mean | shortcut F1 "
              "| its machine types flagged F1 |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for p, x in sorted(r["cross_plant"].items()):
        each = " / ".join(_f(f, 3) for f in x["shuffled_labels"].get("permutations", []))
        lines.append(f"| {p} | {_f(x['random']['f1'], 3)} | {_f(x.get('all_flagged_f1'), 3)} | {each or '–'} | "
                     f"{_f(x['shuffled_labels']['f1'], 3)} | {_f(x['shortcut_features']['f1'], 3)} | "
                     f"{_f(x.get('applicable', {}).get('f1'), 3)} |")
    lines.append("")
    lines += leaks or ["- Shuffled labels and shortcut features (machine, machine type, line, hour of day, "
                       "day of week, fault rate) stay within random + 0.05 on every pattern."]
    if "ablation" in r:
        flagged = r["ablation"]["beyond_the_readings"]
        tried = sorted(r["ablation"]["f1"])
        lines += ["", "### Every column alone", "", f"On hours, every pattern. {len(tried)} columns tried: "
                  f"{', '.join(f'`{c}`' for c in tried)}.", ""]
        if flagged:
            lines += [
                "Columns that alone predict a pattern better than the readings' own value "
                "(`sensor_data.measurement_value`) does, by more than 0.05 F1:",
                "",
                "| column | pattern | F1 alone | measurement_value alone |",
                "|---|---|---:|---:|",
            ]
            lines += [f"| {x['column']} | {x['pattern']} | {x['f1']:.2f} | {x['measurement_value_f1']:.2f} |" for x in flagged]
        else:
            lines.append("No column alone predicts a pattern better than the readings' own value does.")
    lines += _errors(r["cross_plant"])
    lines += ["", "## Time split", "", "Each plant's first 70 % of steps trains, the last 30 % tests.", "",
              "| pattern | step min | P | R | F1 | PR-AUC |", "|---|---:|---:|---:|---:|---:|"]
    for p, x in sorted(r["time_split"].items()):
        lines.append(
            f"| {p} | {x['step_minutes']} | {_f(x['precision'])} | {_f(x['recall'])} | {_f(x['f1'])} | {_f(x.get('pr_auc'))} |"
        )
    return "\n".join(lines) + "\n"


def _within_applicability(x: dict) -> str:
    """For a shortcut model that fails the check: whether it scores no more than 0.05 above
    flagging every step of the pattern's machine types, its applicability."""
    applicable = x.get("applicable", {}).get("f1")
    if not x["leak_shortcut"] or applicable is None or x["shortcut_features"]["f1"] > applicable + 0.05:
        return ""
    return (f" — no more than 0.05 above its applicability: shortcut F1 {x['shortcut_features']['f1']:.2f}, "
            f"every step of the machine types the pattern happens on flagged {applicable:.2f}")


def _when(t: int) -> str:
    return time.strftime("%m-%d %H:%M", time.gmtime(t))


def _errors(cross: dict) -> list[str]:
    """Per pattern, the supervised model's missed episodes and the causes of its false flags
    on the test plant (`models.errors`)."""
    lines = ["", "## What the model got wrong", "",
             "Per pattern on the test plant: each episode no flagged step caught (its highest score against the "
             "lowest score flagged), and the false flags by where they fall on their machine: the pattern's own "
             "onset before the warning, the day after its fault, another pattern's episode (onset to a day after "
             "its fault), or no episode.", ""]
    for p, x in sorted(cross.items()):
        e = x.get("errors")
        if e is None:
            continue
        ff = e["false_flags"]
        if not e["missed"] and not ff["steps"]:
            lines.append(f"- **{p}**: no episode missed, no false flag.")
            continue
        missed = "; ".join(
            f"{m['machine']} ({m['machine_type']}, warning {_when(m['warning'])}, fault {_when(m['fault'])}, "
            f"{m['steps']} step{'s' if m['steps'] != 1 else ''}, best {m['best_score']:.2f})"
            for m in e["missed"]
        )
        causes = ", ".join(f"{n} {c}" for c, n in ff["causes"].items())
        where = ", ".join(f"{m['machine']} ({m['machine_type']}) {m['steps']}" for m in ff["machines"])
        lines.append(
            f"- **{p}** (lowest score flagged {_f(e['lowest_flagged'])}): "
            + (f"missed {missed}. " if missed else "no episode missed. ")
            + (f"{ff['steps']} false flags: {causes}; most on {where}." if ff["steps"] else "No false flag.")
        )
    return lines
