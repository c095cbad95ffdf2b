#!/usr/bin/env python3
"""Turns measure_gpu.py's cases.csv into rows of measurements.csv (fixed cases) and
fit_measurements.csv (--fit on cases). Usage: cases_to_rows.py CASES_CSV BUILD > rows (both kinds;
fixed rows first, then a line '#fit', then the fit rows)."""
import csv
import sys


def spec(opts):
    toks = opts.split()
    items = []
    for k, v in zip(toks[::2], toks[1::2]):
        items.append(f"{k[2:]}={v}")
    return "spec:" + ";".join(items)


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    build = sys.argv[2]
    fixed, fit = [], []
    for r in rows:
        if not r["status"].startswith("ok") and not r["status"].startswith("prompt failed"):
            continue
        after = r["smi_prompt_mib"] if r["status"].startswith("ok") else ""
        num = lambda k: r[k] if r[k] else "0"
        if r["kind"] == "fixed":
            fixed.append([spec(r["spec"]), r["arch"], r["file_mib"], r["ctx"], r["ctk"], r["ctv"], r["fa"],
                          r["ngl"], r["n_cpu_moe"], r["parallel"], num("cuda_model_mib"),
                          num("cuda_kv_mib"), num("cuda_compute_mib"), r["smi_load_mib"], build,
                          r["swa_full"], num("cuda_rs_mib"), after])
        else:
            off = r["offloaded"].split("/")
            fit.append([spec(r["spec"]), r["arch"], r["file_mib"], r["ctx"] if r["ctx"] != "" else "unset",
                        r["fit_free_target_mib"], r["fit_margin_mib"], r["free_before_mib"], r["n_ctx"],
                        off[0] if off else "", num("cuda_model_mib"), num("cuda_kv_mib"),
                        num("cuda_rs_mib"), num("cuda_compute_mib"), r["smi_load_mib"], after, build])
    w = csv.writer(sys.stdout, lineterminator="\n")
    for f in fixed:
        w.writerow(f)
    print("#fit")
    for f in fit:
        w.writerow(f)


main()
